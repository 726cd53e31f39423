"""A run's training state in its checkpoints: saved every epoch, restored by --resume."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nncli import __version__
from nncli.config.load import resolved_dict
from nncli.config.sections import Config
from nncli.engine.optimizers import DamagedState
from nncli.errors import CheckpointError, ConfigError
from nncli.store.checkpoint import (
    SUFFIX,
    check_epoch_counts,
    checked_resumes,
    load_checkpoint,
    save_checkpoint,
)
from nncli.store.model import load_arrays
from nncli.training.resume import (
    check_resumable,
    check_same_monitor,
    clean_stale_files,
    describe,
    run_folder,
    type_changes,
)

if TYPE_CHECKING:
    from nncli.training.trainer import Trainer

STREAMS = ("split", "init", "shuffle", "dropout")


def generators(seed: int) -> dict[str, np.random.Generator]:
    """Independent streams from one seed, so adding dropout never changes the initial weights."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, children, strict=True)}


@dataclass
class StopState:
    """Early-stopping bookkeeping, saved in every checkpoint for an exact resume."""

    monitor: str
    mode: str
    best_value: float | None = None
    best_epoch: int = 0
    wait: int = 0

    def improved(self, value: float, min_delta: float) -> bool:
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - min_delta
        return value > self.best_value + min_delta


def save_state(trainer: Trainer, folder: Path, name: str) -> None:
    """checkpoints/<name>.npz: the weights (the best ones for `best`, which has no optimizer
    arrays), the scaler, and a manifest holding all an exact resume needs."""
    optim_arrays, optim_scalars = trainer.optimizer.state_dict()
    prep_meta, prep_arrays = trainer.data.prep.to_state()
    params = (
        trainer.best_state
        if name == "best" and trainer.best_state
        else trainer.network.state_arrays()
    )
    meta = {
        "nncli_version": __version__,
        "numpy_version": np.__version__,
        "saved": datetime.now().isoformat(timespec="seconds"),
        "config": resolved_dict(trainer.config),
        "preprocessing": prep_meta,
        "output": {"activation": trainer.out.activation, "loss": trainer.out.loss},
        "training_state": {
            "epoch": trainer.epoch,
            "stop": {
                "monitor": trainer.stop.monitor,
                "mode": trainer.stop.mode,
                "best_value": trainer.stop.best_value,
                "best_epoch": trainer.stop.best_epoch,
                "wait": trainer.stop.wait,
            },
            "schedule": trainer.schedule.state_dict(),
            "optimizer": optim_scalars,
            "lr": trainer.optimizer.lr,
            "generators": {k: g.bit_generator.state for k, g in trainer.rngs.items()},
            "resumes": trainer.resumes,
            "data": data_fingerprint(trainer),
        },
    }
    groups = {"params": params, "optim": optim_arrays, "prep": prep_arrays}
    if name == "best":
        groups.pop("optim")
    if trainer.class_weights is not None:
        groups["head"] = {"class_weights": trainer.class_weights}
    save_checkpoint(folder / "checkpoints" / f"{name}{SUFFIX}", meta, groups)


def data_fingerprint(trainer: Trainer) -> dict | None:
    """What the run trains on, saved with its state so that --resume can tell the data
    changed: columns, classes, row counts and a CRC-32 of each data file's bytes (the
    training CSV, and a validation CSV). The bytes, not the arrays: those differ with
    training.dtype, and in their last bits across machines and NumPy versions. Computed once
    per run (some 0.1 s for 200 MB); None for data handed to the Trainer in memory."""
    if trainer.data_fingerprint is None and trainer.data_from_files:
        trainer.data_fingerprint = fingerprint(trainer)
    return trainer.data_fingerprint


def fingerprint(trainer: Trainer) -> dict:
    data, cfg = trainer.data, trainer.config.data
    files = {"data.train": cfg.train}
    if isinstance(cfg.validation, str) and cfg.validation:
        files["data.validation"] = cfg.validation
    return {
        "features": list(data.prep.features),
        "classes": None if data.prep.classes is None else list(data.prep.classes),
        "train_rows": len(data.train),
        "validation_rows": 0 if data.val is None else len(data.val),
        "crc32": {key: _file_crc32(path) for key, path in files.items()},
    }


def _file_crc32(path: str | Path) -> str | None:
    """None for what cannot be read twice (a pipe) or is gone: that file goes unchecked."""
    crc = 0
    try:
        if not Path(path).is_file():
            return None
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                crc = zlib.crc32(block, crc)
    except OSError:
        return None
    return f"{crc:08x}"


def check_same_data(folder: Path, trainer: Trainer, saved: object) -> None:
    """Refuse to resume on data other than the run's (a CSV edited or replaced at the same
    path): the weights, scaler and class order were fit to the run's data."""
    now = data_fingerprint(trainer)
    if now is None:
        return
    if saved is None:  # a checkpoint written before runs kept a fingerprint of their data
        trainer.notes.append(
            "the run's checkpoint predates data fingerprints: that its data is unchanged "
            "is not checked"
        )
        return
    if not _well_formed(saved, now):
        raise CheckpointError(
            f"{folder / 'checkpoints' / ('last' + SUFFIX)}: damaged training state (its data "
            "fingerprint)"
        )
    cfg = trainer.config.data
    val_file = "data.validation" in now["crc32"]

    def refuse(key: str, what: str) -> None:
        path = cfg.validation if key == "data.validation" else cfg.train
        raise ConfigError(  # the config's data section names other data now
            f"--resume {folder}: {key} ({path}) differs from the data the run trained on "
            f"({what}); a resumed run trains on the same data (restore the file, or start a "
            "new run)"
        )

    for name in ("features", "classes"):
        if saved[name] != now[name]:
            refuse("data.train", f"{name} {now[name]} now, {saved[name]} in the run")
    rows = {"data.train": ("train_rows",), "data.validation": ()}
    rows["data.validation" if val_file else "data.train"] += ("validation_rows",)
    for key, names in rows.items():
        before, after = (sum(d[n] for n in names) for d in (saved, now))
        if names and before != after:
            refuse(key, f"{after} rows now, {before} in the run")
    for key, crc in now["crc32"].items():
        if None not in (crc, saved["crc32"].get(key)) and saved["crc32"][key] != crc:
            refuse(key, "the same number of rows, but other bytes")


def _well_formed(saved: object, now: dict) -> bool:
    """Whether a saved fingerprint has the fields and types this version writes."""
    return (
        isinstance(saved, dict)
        and saved.keys() == now.keys()
        and all(type(saved[n]) is int and saved[n] >= 0 for n in ("train_rows", "validation_rows"))
        and all(isinstance(saved[n], list | None) for n in ("features", "classes"))
        and isinstance(saved["crc32"], dict)
    )


def restore_state(trainer: Trainer, folder: Path) -> None:
    """Continue from a run's last checkpoint: weights, optimizer, schedule, generators,
    early stopping. Every piece is checked, so a damaged file is one CheckpointError, and
    nothing in the folder changes before every check passed."""
    folder = run_folder(folder)
    ckpt = load_checkpoint(folder / "checkpoints" / f"last{SUFFIX}")
    try:  # through the schema, so keys added since the run started get their defaults
        saved = resolved_dict(Config.model_validate(ckpt.meta.get("config")))
    except ValueError:
        raise CheckpointError(f"{ckpt.path}: damaged manifest (its config)") from None
    changed = check_resumable(folder, saved, resolved_dict(trainer.config))
    state = ckpt.meta.get("training_state")
    if isinstance(state, dict):  # else: damaged, reported below
        check_same_data(folder, trainer, state.get("data"))
    load_arrays(trainer.network, ckpt.group("params"), ckpt.path)
    try:
        stop, epoch, gens = state["stop"], state["epoch"], state["generators"]
        check_epoch_counts(epoch, stop["wait"], stop["best_epoch"])
        if set(gens) != set(STREAMS):
            raise ValueError("bad generator names")
        best_value = stop["best_value"]
        if best_value is not None and not math.isfinite(best_value):
            raise ValueError(f"best value {best_value!r}")
        monitor = (stop["monitor"], stop["mode"])
        for name, gen_state in gens.items():
            trainer.rngs[name].bit_generator.state = gen_state
        resumes = checked_resumes(state.get("resumes", []), epoch)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{ckpt.path}: damaged training state ({exc})") from None
    check_same_monitor(folder, monitor, (trainer.stop.monitor, trainer.stop.mode), best_value)
    try:
        trainer.optimizer.load_state_dict(ckpt.group("optim"), state["optimizer"], trainer.params)
        trainer.schedule.load_state_dict(state["schedule"])
    except DamagedState as exc:  # impossible values: the file, whatever the config says
        raise CheckpointError(f"{ckpt.path}: damaged training state ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        retyped = type_changes(changed)
        if retyped:
            key, old, new = retyped[0]
            raise ConfigError(
                f"--resume {folder}: {key} is {_name(new)} in this config but {_name(old)} in "
                f"the run; the run's {key.split('.')[0]} state cannot carry over to another "
                "type (keep its type, or start a new run)"
            ) from None
        if not any(key.split(".")[0] in ("optimizer", "schedule") for key, _, _ in changed):
            raise CheckpointError(f"{ckpt.path}: damaged training state ({exc})") from None
        raise ConfigError(
            f"--resume {folder}: the run's optimizer or schedule state does not fit this "
            f"config's ({exc}); keep their types (or start a new run)"
        ) from None
    trainer.stop.best_value, trainer.stop.best_epoch, trainer.stop.wait = (
        best_value,
        stop["best_epoch"],
        stop["wait"],
    )
    trainer.epoch = epoch
    rewrite_best = _restore_best(trainer, folder, stop["best_epoch"], epoch)
    if changed:
        resumes.append({"epoch": epoch, "changes": {k: [old, new] for k, old, new in changed}})
    trainer.resumes = resumes
    trainer.notes.append(f"resuming after epoch {epoch}")
    if changed:
        trainer.notes.append(f"config changes since epoch {epoch}: {describe(changed)}")
    removed = clean_stale_files(folder)  # every check passed: the folder may change now
    if removed:
        trainer.notes.append(f"removed {len(removed)} temporary file(s) of an interrupted save")
    if rewrite_best:  # every check passed: repair the run folder
        save_state(trainer, folder, "best")
        trainer.notes.append(
            f"checkpoints/best{SUFFIX} was {rewrite_best}: rewritten from last{SUFFIX}, whose "
            f"epoch {epoch} is the run's best"
        )


def _restore_best(trainer: Trainer, folder: Path, best_epoch: int, epoch: int) -> str | None:
    """The best epoch's weights, from best.npz; when that file is missing or older than the
    run's best epoch (a kill between saving last and best), the last weights if the last
    epoch is the best (then returns why best.npz must be rewritten), else a CheckpointError:
    the best weights are gone, and restore_best would end the run with other ones."""
    if best_epoch == 0:
        return None
    best = folder / "checkpoints" / f"best{SUFFIX}"
    problem = "missing"
    if best.exists():
        best_ckpt = load_checkpoint(best)
        state = best_ckpt.meta.get("training_state")
        saved_at = state.get("epoch") if isinstance(state, dict) else None
        if saved_at is None or saved_at == best_epoch:  # None: written before it was checked
            trainer.best_state = best_ckpt.group("params")
            shapes = {k: v.shape for k, v in trainer.network.state_arrays().items()}
            if {k: v.shape for k, v in trainer.best_state.items()} != shapes:
                raise CheckpointError(f"{best}: weights do not match the run's architecture")
            return None
        problem = f"from epoch {saved_at}"
    if best_epoch == epoch:
        trainer.best_state = {k: v.copy() for k, v in trainer.network.state_arrays().items()}
        return problem
    which = "is missing" if problem == "missing" else f"holds epoch {saved_at}'s weights"
    raise CheckpointError(
        f"--resume {folder}: checkpoints/best{SUFFIX} {which}, but the run's best epoch is "
        f"{best_epoch}: its weights cannot be restored (restore the file, or start a new run)"
    )


def _name(value: object) -> str:
    return "none" if value is None else str(value.get("type") if isinstance(value, dict) else value)
