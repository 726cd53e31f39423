"""A run's state between epochs, and its checkpoints: saved every epoch, restored by --resume."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from nncli import __version__
from nncli.config.load import resolved_dict
from nncli.engine.base import Param, Sequential
from nncli.engine.optimizers import DamagedState, Optimizer
from nncli.engine.schedules import Schedule
from nncli.errors import CheckpointError, ConfigError
from nncli.store.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nncli.store.manifest import DataFingerprint, TrainingState
from nncli.store.model import Model, load_arrays
from nncli.store.run_folder import RunFolder
from nncli.training.fingerprint import check_same_data
from nncli.training.resume import (
    check_resumable,
    check_run_folder,
    check_same_monitor,
    clean_stale_files,
    describe,
    type_changes,
)
from nncli.training.stopping import EarlyStopping

STREAMS = ("split", "init", "shuffle", "dropout")


def generators(seed: int) -> dict[str, np.random.Generator]:
    """Independent streams from one seed, so adding dropout never changes the initial weights."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, children, strict=True)}


@dataclass
class RunState:
    """What a run carries from epoch to epoch beside the network, the optimizer and the
    schedule (which keep their own state); all but the notes and the signal go into every
    checkpoint, for an exact resume."""

    stopping: EarlyStopping
    rngs: dict[str, np.random.Generator]
    epoch: int = 0  # completed epochs
    best_weights: dict[str, np.ndarray] | None = None  # of stopping.best_epoch
    resumes: list[dict[str, Any]] = field(default_factory=list)  # epoch and config changes
    data: DataFingerprint | None = None  # of the data files (None: arrays handed in)
    notes: list[str] = field(default_factory=list)  # printed under the run's header line
    signal: int | None = None  # the first SIGINT/SIGTERM: the batch loop stops before its next


def save_state(
    path: Path,
    model: Model,
    optimizer: Optimizer,
    schedule: Schedule,
    run: RunState,
    class_weights: np.ndarray | None,
    best: bool = False,
    sync: bool = True,
) -> None:
    """One checkpoint: the weights (with `best`, the best epoch's and no optimizer arrays),
    the scaler, and a manifest holding all an exact resume needs; fsynced unless `sync` is
    off (the caller's SyncClock then does it)."""
    optim_arrays, optim_scalars = optimizer.state_dict()
    prep_meta, prep_arrays = model.prep.to_state()
    params = run.best_weights if best and run.best_weights else model.network.state_arrays()
    meta = {
        "nncli_version": __version__,
        "numpy_version": np.__version__,
        "saved": datetime.now().isoformat(timespec="seconds"),
        "config": resolved_dict(model.config),
        "preprocessing": prep_meta,
        "output": {"activation": model.out.activation, "loss": model.out.loss},
        "training_state": {
            "epoch": run.epoch,
            "stop": run.stopping.state_dict(),
            "schedule": schedule.state_dict(),
            "optimizer": optim_scalars,
            "lr": optimizer.lr,
            "generators": {k: g.bit_generator.state for k, g in run.rngs.items()},
            "resumes": run.resumes,
            "data": None if run.data is None else run.data.model_dump(),
        },
    }
    groups = {"params": params, "optim": optim_arrays, "prep": prep_arrays}
    if best:
        groups.pop("optim")
    if class_weights is not None:
        groups["head"] = {"class_weights": class_weights}
    save_checkpoint(path, meta, groups, sync)


def restore_state(
    folder: RunFolder,
    model: Model,
    optimizer: Optimizer,
    schedule: Schedule,
    params: list[Param],
    run: RunState,
) -> bool:
    """Continue from a run's last checkpoint: weights, optimizer, schedule, generators,
    early stopping. Every piece is checked, so a damaged file is one CheckpointError, and
    nothing in the folder changes before every check passed. True when best.npz must be
    rewritten from the restored weights (the caller saves it)."""
    check_run_folder(folder)
    ckpt = load_checkpoint(folder.last)
    manifest = ckpt.manifest()  # through the schema: damaged values are one CheckpointError
    saved = resolved_dict(manifest.config)  # keys added since the run started: defaults
    changed = check_resumable(folder.path, saved, resolved_dict(model.config))
    state = manifest.training_state
    note = check_same_data(folder, run.data, state.data, model.config.data)
    if note:
        run.notes.append(note)
    load_arrays(model.network, ckpt.group("params"), ckpt.path)
    wanted = (run.stopping.monitor, run.stopping.mode)
    _load_run_state(ckpt, state, run)
    epoch, resumes = state.epoch, list(state.resumes)
    stopping = run.stopping
    check_same_monitor(folder.path, (stopping.monitor, stopping.mode), wanted, stopping.best)
    _load_optimizer(folder.path, ckpt, state, optimizer, schedule, params, changed)
    run.epoch = epoch
    rewrite_best = _restore_best(folder, model.network, run)
    if changed:
        resumes.append({"epoch": epoch, "changes": {k: [old, new] for k, old, new in changed}})
    run.resumes = resumes
    run.notes.append(f"resuming after epoch {epoch}")
    if changed:
        run.notes.append(f"config changes since epoch {epoch}: {describe(changed)}")
    removed = clean_stale_files(folder)  # every check passed: the folder may change now
    if removed:
        run.notes.append(f"removed {len(removed)} temporary file(s) of an interrupted save")
    if rewrite_best:
        run.notes.append(
            f"{_relative(folder.best, folder)} was {rewrite_best}: rewritten from "
            f"{folder.last.name}, whose epoch {epoch} is the run's best"
        )
    return rewrite_best is not None


def _load_run_state(ckpt: Checkpoint, state: TrainingState, run: RunState) -> None:
    """Early stopping and the generators from the saved training state (the manifest's
    schema checked its values, these objects check them again: CheckpointError)."""
    try:
        run.stopping.load_state_dict(state.stop.model_dump())
        if set(state.generators) != set(STREAMS):
            raise ValueError("bad generator names")
        for name, gen_state in state.generators.items():
            run.rngs[name].bit_generator.state = gen_state
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{ckpt.path}: damaged training state ({exc})") from None


def _load_optimizer(
    folder: Path,
    ckpt: Checkpoint,
    state: TrainingState,
    optimizer: Optimizer,
    schedule: Schedule,
    params: list[Param],
    changed: list[tuple[str, Any, Any]],
) -> None:
    """The optimizer's and the schedule's state; one that does not fit is blamed on the
    file, unless the config changed their type (or options), which then is the error."""
    try:
        optimizer.load_state_dict(ckpt.group("optim"), state.optimizer, params)
        schedule.load_state_dict(state.schedule)
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


def _restore_best(folder: RunFolder, network: Sequential, run: RunState) -> str | None:
    """The best epoch's weights, from best.npz; when that file is missing or older than the
    run's best epoch (a kill between saving last and best), the last weights if the last
    epoch is the best (then returns why best.npz must be rewritten), else a CheckpointError:
    the best weights are gone, and restore_best would end the run with other ones."""
    best_epoch, epoch = run.stopping.best_epoch, run.epoch
    if best_epoch == 0:
        return None
    best = folder.best
    problem = "missing"
    if best.exists():
        best_ckpt = load_checkpoint(best)
        state = best_ckpt.meta.get("training_state")
        saved_at = state.get("epoch") if isinstance(state, dict) else None
        if saved_at is None or saved_at == best_epoch:  # None: written before it was checked
            run.best_weights = best_ckpt.group("params")
            shapes = {k: v.shape for k, v in network.state_arrays().items()}
            if {k: v.shape for k, v in run.best_weights.items()} != shapes:
                raise CheckpointError(f"{best}: weights do not match the run's architecture")
            return None
        problem = f"from epoch {saved_at}"
    if best_epoch == epoch:
        run.best_weights = {k: v.copy() for k, v in network.state_arrays().items()}
        return problem
    which = "is missing" if problem == "missing" else f"holds epoch {saved_at}'s weights"
    raise CheckpointError(
        f"--resume {folder}: {_relative(best, folder)} {which}, but the run's best epoch is "
        f"{best_epoch}: its weights cannot be restored (restore the file, or start a new run)"
    )


def _relative(path: Path, folder: RunFolder) -> str:
    """`checkpoints/best.npz`: a path of the run as messages name it."""
    return path.relative_to(folder.path).as_posix()


def _name(value: object) -> str:
    return "none" if value is None else str(value.get("type") if isinstance(value, dict) else value)
