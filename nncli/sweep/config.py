"""The sweep file: its schema, and its expansion into trials whose configs are all validated."""

from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BeforeValidator,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from nncli.config.base import Strict
from nncli.config.load import config_from_raw
from nncli.config.messages import MAX_ERRORS, format_errors
from nncli.config.overrides import apply_override
from nncli.config.sections import Config
from nncli.config.yamlio import Marks, read_yaml
from nncli.engine.metrics import ALL_SCORES, metric_mode, unknown_metric
from nncli.errors import ConfigError

MAX_TRIALS = 10_000
METRICS = (
    "train_loss",
    "train_accuracy",
    *(f"{split}_{name}" for split in ("val", "test") for name in ("loss", *ALL_SCORES)),
)


# --- the schema ----------------------------------------------------------------------------------


class Choice(Strict):
    distribution: Literal["choice"]
    values: list[Any] = Field(min_length=1, description="grid values, or a random choice")


class _Interval(Strict):
    """low < high; each distribution narrows `distribution` to its own tag."""

    distribution: str
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> _Interval:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class Uniform(_Interval):
    distribution: Literal["uniform"]


class LogUniform(_Interval):
    distribution: Literal["log_uniform"]
    low: PositiveFloat
    high: PositiveFloat


class IntUniform(Strict):
    distribution: Literal["int_uniform"]
    low: int
    high: int = Field(description="inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> IntUniform:
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


def _list_is_choice(value: Any) -> Any:
    if isinstance(value, list):
        return {"distribution": "choice", "values": value}
    if not isinstance(value, dict):
        raise ValueError(
            f"got {value!r}: expected a list of values or a mapping with a 'distribution' key "
            "(a fixed value belongs in the base config)"
        )
    return value


ParameterSpec = Annotated[
    Choice | Uniform | LogUniform | IntUniform,
    Field(discriminator="distribution"),
    BeforeValidator(_list_is_choice),
]


class SweepFile(Strict):
    name: str | None = Field(None, description="default: the sweep file's stem")
    config: str = Field(description="the base config, relative to the sweep file")
    method: Literal["grid", "random"] = "grid"
    trials: PositiveInt | None = Field(None, description="method: random only")
    seeds: list[NonNegativeInt] | None = Field(
        None, min_length=1, description="run every trial once per seed (default: the config's)"
    )
    sample_seed: NonNegativeInt = Field(0, description="seeds the draws of method: random")
    metric: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    parameters: dict[str, ParameterSpec] = Field(min_length=1)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(
                unknown_metric(value, METRICS, f"unknown metric '{value}'", "expected one of")
            )
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("seeds must be distinct")
        return value


# --- the expansion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One training: a trial's parameter values with one seed."""

    trial: int
    seed: int
    params: dict[str, Any]
    config: Config

    @property
    def folder(self) -> str:
        return f"trial-{self.trial:03d}-seed-{self.seed}"


@dataclass(frozen=True)
class Sweep:
    name: str
    path: Path
    base_config: Path
    method: str
    metric: str
    mode: str  # min | max
    seeds: list[int]
    parameters: list[str]
    runs: list[Run]

    @property
    def n_trials(self) -> int:
        return len({run.trial for run in self.runs})


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file and validate the config of every trial before anything runs."""
    path = Path(path)
    raw, marks = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{marks.get((), path.name)}: a sweep file must be a YAML mapping")
    try:
        spec = SweepFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_without_echoes(format_errors(exc, raw, marks, SweepFile))) from None
    _check_method(spec, marks)
    mode = metric_mode(spec.metric) if spec.mode == "auto" else spec.mode
    base = (path.parent / spec.config).resolve()
    if not base.is_file():
        raise ConfigError(f"config: {base}: no such file ({marks.get(('config',), path.name)})")
    base_raw, base_marks = read_yaml(base)
    if not isinstance(base_raw, dict):
        raise ConfigError(f"{base}: a config must be a YAML mapping")
    combos = _grid(spec) if spec.method == "grid" else _random(spec)
    key_marks = {k: marks.get(("parameters", k, "<key>"), path.name) for k in spec.parameters}
    configs = _validate(combos, base_raw, base_marks, base, key_marks)
    _check_metric_is_logged(spec.metric, configs, marks.get(("metric",), path.name))
    seeds = spec.seeds or [configs[0].seed]
    runs = [
        Run(i + 1, seed, params, config.model_copy(update={"seed": seed}))
        for i, (params, config) in enumerate(zip(combos, configs, strict=True))
        for seed in seeds
    ]
    return Sweep(
        name=spec.name or path.stem,
        path=path,
        base_config=base,
        method=spec.method,
        metric=spec.metric,
        mode=mode,
        seeds=seeds,
        parameters=list(spec.parameters),
        runs=runs,
    )


def _without_echoes(message: str) -> str:
    """Drop "K: required key is missing" when another line already says "did you mean 'K'"."""
    lines = message.splitlines()
    meant = set(re.findall(r"did you mean '([^']+)'", message))
    kept = [line for line in lines if line.split(": required key is missing")[0] not in meant]
    return "\n".join(kept)


def _check_method(spec: SweepFile, marks: Marks) -> None:
    def at(*key: str | int) -> str:
        return marks.get(key) or marks.get((), "")

    if "seed" in spec.parameters:
        raise ConfigError(f"parameters.seed: list the seeds under 'seeds:' ({at('parameters')})")
    if spec.method == "random":
        if spec.trials is None:
            raise ConfigError(f"trials: required with method: random ({at('method')})")
        if spec.trials > MAX_TRIALS:
            raise ConfigError(f"trials: at most {MAX_TRIALS} ({at('trials')})")
        return
    if spec.trials is not None:
        raise ConfigError(
            f"trials: only for method: random; a grid runs every combination ({at('trials')})"
        )
    for key, dist in spec.parameters.items():
        if not isinstance(dist, Choice):
            raise ConfigError(
                f"parameters.{key}: a {dist.distribution} distribution needs method: random; "
                f"a grid takes a list of values ({at('parameters', key)})"
            )
    size = math.prod(len(values) for values in _grid_values(spec).values())
    if size > MAX_TRIALS:
        raise ConfigError(f"parameters: the grid has {size} combinations, at most {MAX_TRIALS}")


def _check_metric_is_logged(metric: str, configs: list[Config], where: str) -> None:
    split, key = metric.split("_", 1)[0], {"val": "validation", "test": "test"}
    if split in key and any(getattr(c.data, key[split]) is None for c in configs):
        raise ConfigError(
            f"metric: {metric} needs a {key[split]} set, but data.{key[split]} is null ({where})"
        )


def _grid_values(spec: SweepFile) -> dict[str, list[Any]]:
    """Each parameter's values (_check_method has made sure a grid has only choices)."""
    return {k: d.values for k, d in spec.parameters.items() if isinstance(d, Choice)}


def _grid(spec: SweepFile) -> list[dict[str, Any]]:
    grid = _grid_values(spec)
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _random(spec: SweepFile) -> list[dict[str, Any]]:
    """`trials` draws, the same ones on every re-run (seeded by sample_seed), file order."""
    rng = np.random.default_rng(spec.sample_seed)
    return [
        {key: _draw(dist, rng) for key, dist in spec.parameters.items()}
        for _ in range(spec.trials or 0)
    ]


def _draw(dist: Any, rng: np.random.Generator) -> Any:
    if isinstance(dist, Choice):
        return dist.values[int(rng.integers(len(dist.values)))]
    if isinstance(dist, IntUniform):
        return int(rng.integers(dist.low, dist.high, endpoint=True))
    if isinstance(dist, LogUniform):
        value = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
    else:
        value = rng.uniform(dist.low, dist.high)
    # 6 significant digits: what trials.csv shows is exactly what the trial ran with.
    return min(max(float(f"{value:.6g}"), dist.low), dist.high)


def _validate(
    combos: list[dict[str, Any]], raw: dict, marks: Marks, base: Path, key_marks: dict[str, str]
) -> list[Config]:
    """Every combination's config, or one ConfigError listing all the invalid ones."""
    configs: list[Config] = []
    problems: dict[str, list[int]] = {}
    for i, params in enumerate(combos):
        trial_raw, trial_marks = copy.deepcopy(raw), dict(marks)
        try:
            for key, value in params.items():
                try:
                    apply_override(
                        trial_raw, trial_marks, key, value, f"parameters.{key}", key_marks[key]
                    )
                except ConfigError as exc:
                    raise ConfigError(f"{exc} ({key_marks[key]})") from None
            configs.append(config_from_raw(trial_raw, trial_marks, base.parent, base.stem, {}))
        except ConfigError as exc:
            for line in str(exc).splitlines():
                problems.setdefault(line, []).append(i)
    if not problems:
        return configs
    lines = []
    for line, trials in sorted(problems.items(), key=lambda item: item[1][0]):
        if len(trials) == len(combos):
            lines.append(line)
            continue
        shown = ", ".join(f"{k}={v!r}" for k, v in combos[trials[0]].items())
        more = f" and {len(trials) - 1} more" if len(trials) > 1 else ""
        lines.append(f"trial {trials[0] + 1} ({shown}){more}: {line}")
    if len(lines) > MAX_ERRORS:
        lines = [*lines[:MAX_ERRORS], f"... and {len(lines) - MAX_ERRORS} more"]
    raise ConfigError("\n".join(lines))
