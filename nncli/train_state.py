"""A run's training state in its checkpoints: saved every epoch, restored by --resume."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nncli import __version__
from nncli.checkpoint import SUFFIX, load_checkpoint, save_checkpoint
from nncli.config import Config
from nncli.config_load import resolved_dict
from nncli.errors import CheckpointError, ConfigError
from nncli.model import load_arrays
from nncli.resume import check_resumable, clean_stale_files, describe

if TYPE_CHECKING:
    from nncli.train import Trainer

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
        },
    }
    groups = {"params": params, "optim": optim_arrays, "prep": prep_arrays}
    if name == "best":
        groups.pop("optim")
    if trainer.class_weights is not None:
        groups["head"] = {"class_weights": trainer.class_weights}
    save_checkpoint(folder / "checkpoints" / f"{name}{SUFFIX}", meta, groups)


def restore_state(trainer: Trainer, folder: Path) -> None:
    """Continue from a run's last checkpoint: weights, optimizer, schedule, generators,
    early stopping. Every piece is checked, so a damaged file is one CheckpointError."""
    if not folder.is_dir():
        raise CheckpointError(f"--resume {folder}: no such run folder")
    removed = clean_stale_files(folder)
    ckpt = load_checkpoint(folder / "checkpoints" / f"last{SUFFIX}")
    try:  # through the schema, so keys added since the run started get their defaults
        saved = resolved_dict(Config.model_validate(ckpt.meta.get("config")))
    except ValueError:
        raise CheckpointError(f"{ckpt.path}: damaged manifest (its config)") from None
    changed = check_resumable(folder, saved, resolved_dict(trainer.config))
    load_arrays(trainer.network, ckpt.group("params"), ckpt.path)
    try:
        state = ckpt.meta["training_state"]
        stop, epoch, gens = state["stop"], state["epoch"], state["generators"]
        counts = (epoch, stop["wait"], stop["best_epoch"])
        if not all(type(n) is int and n >= 0 for n in counts) or set(gens) != set(STREAMS):
            raise ValueError("bad epoch counts or generator names")
        best_value = stop["best_value"]
        if best_value is not None and not math.isfinite(best_value):
            raise ValueError(f"best value {best_value!r}")
        for name, gen_state in gens.items():
            trainer.rngs[name].bit_generator.state = gen_state
        resumes = list(state.get("resumes", []))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{ckpt.path}: damaged training state ({exc})") from None
    try:
        trainer.optimizer.load_state_dict(ckpt.group("optim"), state["optimizer"], trainer.params)
        trainer.schedule.load_state_dict(state["schedule"])
    except (KeyError, TypeError, ValueError) as exc:
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
    best = folder / "checkpoints" / f"best{SUFFIX}"
    if best.exists():
        best_ckpt = load_checkpoint(best)
        trainer.best_state = best_ckpt.group("params")
        shapes = {k: v.shape for k, v in trainer.network.state_arrays().items()}
        if {k: v.shape for k, v in trainer.best_state.items()} != shapes:
            raise CheckpointError(f"{best}: weights do not match the run's architecture")
    if changed:
        resumes.append({"epoch": epoch, "changes": {k: [old, new] for k, old, new in changed}})
    trainer.resumes = resumes
    trainer.notes.append(f"resuming after epoch {epoch}")
    if changed:
        trainer.notes.append(f"config changes since epoch {epoch}: {describe(changed)}")
    if removed:
        trainer.notes.append(f"removed {len(removed)} temporary file(s) of an interrupted save")
