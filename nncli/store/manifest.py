"""The checkpoint manifest: one schema for all a checkpoint holds beside its arrays.

Three nested views of the same JSON object, each what one reader needs: the `Header` that
opens every checkpoint (read before any array is trusted), the `ModelManifest` a Model is
rebuilt from, and the `Manifest` an exact resume continues from. Fields later versions
added have the defaults that mean "written before": a run without a data fingerprint
resumes unchecked, one without a resume history has none.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from nncli.config.load import resolved_dict
from nncli.config.sections import Config
from nncli.errors import CheckpointError

FORMAT = "nncli-checkpoint"
VERSION = 1
MAX_EPOCH = 10**9  # a training state counting this many epochs is damaged, not long

# Config keys whose default changed, with the one of the runs saved before: a saved config
# without the key (written before it existed) was trained under that default, not today's.
FORMER_DEFAULTS: dict[str, Any] = {
    "data.missing": "error",  # impute since issue 13; before, error (or no key: a strict read)
}


class _Schema(BaseModel):
    """Keys this version does not know are ignored (every reader of a file is lenient)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- what every checkpoint opens with ----------------------------------------------------------


class Header(_Schema):
    """The format's name and version, and the names of the arrays stored beside it."""

    format: Literal["nncli-checkpoint"]
    version: int = Field(strict=True, ge=1, le=VERSION)  # older versions stay readable
    arrays: list[StrictStr]  # `<group>/<name>`, exactly the arrays in the file


# --- what a Model is rebuilt from --------------------------------------------------------------


class Output(_Schema):
    """The output layer the data decided on (build.OutputInfo): activation and loss specs."""

    activation: dict[str, Any]
    loss: dict[str, Any]


class ModelManifest(Header):
    """The resolved config (the architecture is rebuilt from it), the preprocessing state
    (owned and checked with its arrays by data.Preprocessor.from_state), the output layer
    and the versions that wrote it."""

    config: Config
    preprocessing: dict[str, Any]
    output: Output | None = None
    nncli_version: str | None = None
    numpy_version: str | None = None
    saved: str | None = None  # local time, ISO 8601

    @field_validator("config", mode="before")
    @classmethod
    def _as_trained(cls, value: Any) -> Any:
        return with_former_defaults(value)

    def to_meta(self) -> dict[str, Any]:
        """The JSON object save_checkpoint stores (the config compact, as config.yaml has it)."""
        meta = self.model_dump(mode="json", exclude={"config"})
        return {**meta, "config": resolved_dict(self.config)}


def with_former_defaults(config: Any) -> Any:
    """A saved config (JSON) with each key of FORMER_DEFAULTS it lacks set to that former
    default, so it reads as the config the run was trained under."""
    if not isinstance(config, dict):
        return config
    config = dict(config)
    for dotted, value in FORMER_DEFAULTS.items():
        section, key = dotted.split(".")
        part = config.get(section)
        if isinstance(part, dict) and key not in part:
            config[section] = {**part, key: value}
    return config


# --- what an exact resume continues from -------------------------------------------------------


class Stopping(_Schema):
    """Early stopping's bookkeeping: the best value of the monitored metric and its epoch,
    and the epochs waited since."""

    monitor: str
    mode: Literal["min", "max"]
    best_value: float | None
    best_epoch: int
    wait: int

    @field_validator("best_value", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if value is not None and (type(value) not in (int, float) or not math.isfinite(value)):
            raise ValueError(f"best value {_clip(value)}")
        return value

    @field_validator("best_epoch", "wait", mode="before")
    @classmethod
    def _counts(cls, value: Any, info: ValidationInfo) -> Any:
        return epoch_count("best epoch" if info.field_name == "best_epoch" else "wait", value)


class DataFingerprint(_Schema):
    """The data a run trained on: columns, classes, rows and a CRC-32 of each data file
    (None for one that could not be read twice, such as a pipe)."""

    features: list[str] | None
    classes: list[str] | None
    train_rows: int = Field(strict=True, ge=0)
    validation_rows: int = Field(strict=True, ge=0)
    crc32: dict[str, str | None]


class TrainingState(_Schema):
    """Everything beside the arrays that an exact resume needs."""

    epoch: int
    stop: Stopping
    schedule: dict[str, Any]  # the schedule's state_dict (its own load_state_dict checks it)
    optimizer: dict[str, Any]  # the optimizer's scalars, e.g. {"t": steps}
    lr: float | None = None
    generators: dict[str, dict[str, Any]]  # bit generator states, per random stream
    resumes: list[dict[str, Any]] = Field(default_factory=list)  # absent before resumes
    data: DataFingerprint | None = None  # None: written before fingerprints, or data in memory

    @field_validator("epoch", mode="before")
    @classmethod
    def _epoch(cls, value: Any) -> Any:
        return epoch_count("epoch", value)

    @field_validator("generators", mode="before")
    @classmethod
    def _generators(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name, state in value.items():
                try:
                    np.random.PCG64().state = state
                except (KeyError, TypeError, ValueError, OverflowError) as exc:
                    raise ValueError(f"generator {_clip(name)}: {_short(exc)}") from None
        return value

    @field_validator("resumes", mode="before")
    @classmethod
    def _resumes(cls, value: Any) -> Any:
        return _resume_list(value)

    @model_validator(mode="after")
    def _in_order(self) -> TrainingState:
        """Nothing can have happened after the last epoch."""
        check_epoch_counts(self.epoch, self.stop.wait, self.stop.best_epoch)
        checked_resumes(self.resumes, self.epoch)
        return self


class Manifest(ModelManifest):
    """A checkpoint's whole manifest: a ModelManifest and the training state."""

    training_state: TrainingState


# --- counts and histories (the rules the validators above apply) -------------------------------


def epoch_count(name: str, value: Any) -> int:
    """A count of epochs below MAX_EPOCH (an int, not a bool or a float); else ValueError."""
    if type(value) is not int or not 0 <= value < MAX_EPOCH:
        raise ValueError(f"{name} {_clip(value)} is not a count of epochs below {MAX_EPOCH}")
    return value


def check_epoch_counts(epoch: Any, wait: Any, best_epoch: Any) -> None:
    """A training state's epoch, early-stopping wait and best epoch: counts below MAX_EPOCH,
    neither of the last two beyond the epoch; else a ValueError saying which is wrong."""
    for name, value in (("epoch", epoch), ("wait", wait), ("best epoch", best_epoch)):
        epoch_count(name, value)
    if best_epoch > epoch:
        raise ValueError(f"best epoch {best_epoch} after epoch {epoch}")
    if wait > epoch:
        raise ValueError(f"early stopping has waited {wait} epochs after epoch {epoch}")


def checked_resumes(value: object, epoch: int) -> list[dict[str, Any]]:
    """A training state's `resumes` history: a list of mappings, each of one resume (its
    `epoch` a count no later than `epoch`, its `changes` a mapping); else a ValueError."""
    entries = _resume_list(value)
    for entry in entries:
        at, changes = entry.get("epoch", 0), entry.get("changes", {})
        if type(at) is not int or not 0 <= at <= epoch or not isinstance(changes, dict):
            raise ValueError(f"resumes entry {_clip(entry)} is not one of epoch <= {epoch}")
    return entries


def _resume_list(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ValueError(f"resumes {_clip(value)} is not a list")
    for entry in value:
        if not isinstance(entry, dict):
            raise ValueError(f"resumes entry {_clip(entry)} is not a mapping")
    return list(value)


# --- parsing: every failure one CheckpointError ------------------------------------------------


def parse_header(meta: Any, where: Path) -> Header:
    """The header of a manifest read from `where`; CheckpointError when it is no nncli
    checkpoint's, or of a newer format."""
    return _parse(Header, meta, where)


def parse_model_manifest(meta: Any, where: Path) -> ModelManifest:
    """What a Model is rebuilt from; a damaged training state does not stop a prediction."""
    return _parse(ModelManifest, meta, where)


def parse_manifest(meta: Any, where: Path) -> Manifest:
    """The whole manifest, training state included (for --resume)."""
    return _parse(Manifest, meta, where)


_Schema_T = TypeVar("_Schema_T", bound=Header)


def _parse(schema: type[_Schema_T], meta: Any, where: Path) -> _Schema_T:
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: damaged manifest (not a JSON object)")
    try:
        return schema.model_validate(meta)
    except ValidationError as exc:
        raise CheckpointError(f"{where}: {_message(exc.errors(include_url=False)[0])}") from None


def _message(error: ErrorDetails) -> str:
    """One line for the first thing wrong, worded as before the schema existed."""
    field, *rest = error["loc"] or ("",)
    value = None if error["type"] == "missing" else error.get("input")
    reason = _reason(error)
    if field == "format":
        return f"not an nncli checkpoint (format {value!r})"
    if field == "version":
        return f"checkpoint format version {value!r}; this nncli reads up to {VERSION}"
    if field == "arrays":
        return "damaged manifest (no list of arrays)"
    if field == "config":
        return f"damaged manifest: its config is invalid ({_loc(rest) or 'config'}: {error['msg']})"
    if field == "preprocessing":
        return "preprocessing state is not a mapping"
    if field == "training_state":
        own = "ctx" in error and isinstance(error["ctx"].get("error"), ValueError)
        detail = reason if own or not rest else f"{_loc(rest)}: {reason}"
        if not rest and error["type"] == "missing":
            detail = "the manifest has none"
        return f"damaged training state ({detail})"
    return f"damaged manifest ({_loc([field, *rest])}: {reason})"


def _reason(error: ErrorDetails) -> str:
    """A validator's own words, else pydantic's."""
    cause = error.get("ctx", {}).get("error")
    return str(cause) if isinstance(cause, ValueError) else error["msg"]


def _loc(parts: list[int | str]) -> str:
    return ".".join(str(p) for p in parts)


def _clip(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 120 else text[:117] + "..."
