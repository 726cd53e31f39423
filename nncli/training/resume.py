"""What `--resume` accepts: the config changes it refuses, the ones it reports, stale files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nncli.config.sections import Config
from nncli.engine.metrics import metric_mode
from nncli.errors import CheckpointError, ConfigError
from nncli.store.checkpoint import read_meta, remove_temp_files
from nncli.store.manifest import FORMER_DEFAULTS, parse_model_manifest
from nncli.store.run_folder import CHECKPOINTS, METRICS, RunFolder

# Sections that define the network, its data and its randomness: the saved weights, scaler
# and generator states mean nothing under different ones.
FIXED = ("seed", "data", "model", "loss")

WIDTH = 60  # characters of a value shown in a message (around the first difference)


def check_run_folder(folder: RunFolder) -> None:
    """The folder `--resume` names must be one, else a CheckpointError: a missing folder, or
    a file (a checkpoint, the run's config.yaml) given instead of the run folder it belongs
    to."""
    path = folder.path
    if path.is_dir():
        return
    if not path.exists():
        raise CheckpointError(f"--resume {path}: no such run folder")
    owners = (RunFolder(p) for p in (path.parent, path.parent.parent))
    owner = next((run for run in owners if run.is_run()), None)
    hint = f" ({path.name} belongs to the run folder {owner}: --resume {owner})" if owner else ""
    raise CheckpointError(
        f"--resume {path}: this is a file; --resume takes a run folder, the one holding "
        f"{CHECKPOINTS}/ and {METRICS}{hint}"
    )


def config_for_resume(config: Config, folder: str | Path) -> tuple[Config, list[str]]:
    """The config a resume of `folder` trains under, and notes: each key whose default
    changed since the run started (store.manifest.FORMER_DEFAULTS, e.g. data.missing) that
    this config does not spell keeps the run's value, so the run goes on as it was trained;
    one the config spells must agree with the run (check_resumable refuses it otherwise).
    Read before the data, which such a key changes; a folder or checkpoint that cannot be
    read leaves the config as it is, for restore_state to say what is wrong."""
    last = RunFolder(Path(folder)).last
    try:
        saved = parse_model_manifest(read_meta(last), last).config
    except CheckpointError:
        return config, []
    notes = []
    for dotted in FORMER_DEFAULTS:
        name, key = dotted.split(".")
        section, run_section = getattr(config, name), getattr(saved, name)
        value, default = getattr(run_section, key), type(section).model_fields[key].default
        if key in section.model_fields_set or getattr(section, key) == value:
            continue
        section = section.model_copy(update={key: value})
        config = config.model_copy(update={name: section})
        notes.append(
            f"{dotted}: {value}, as the run was trained (new runs default to {default}; "
            "this config does not say)"
        )
    return config, notes


def changes(saved: Any, now: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Dotted keys whose values differ, with the run's value and the new one."""
    if isinstance(saved, dict) and isinstance(now, dict):
        out = []
        for key in [*saved, *(k for k in now if k not in saved)]:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            out += changes(saved.get(key), now.get(key), dotted)
        return out
    if isinstance(saved, list) and isinstance(now, list) and len(saved) == len(now):
        out = []
        for i, (a, b) in enumerate(zip(saved, now, strict=True)):
            out += changes(a, b, f"{prefix}.{i}")
        return out
    return [] if saved == now else [(prefix, saved, now)]


_ABSENT = object()


def first_difference(key: str, saved: Any, now: Any) -> tuple[str, Any, Any]:
    """The most precise key at which two values differ: into dicts and lists (of any
    lengths: `model.layers.2` when the config adds a third layer)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        for k in [*saved, *(k for k in now if k not in saved)]:
            a, b = saved.get(k, _ABSENT), now.get(k, _ABSENT)
            if a != b:
                return first_difference(f"{key}.{k}", a, b)
    if isinstance(saved, list) and isinstance(now, list):
        for i in range(max(len(saved), len(now))):
            a = saved[i] if i < len(saved) else _ABSENT
            b = now[i] if i < len(now) else _ABSENT
            if a != b:
                return first_difference(f"{key}.{i}", a, b)
    return key, saved, now


def check_resumable(folder: Path, saved: dict, now: dict) -> list[tuple[str, Any, Any]]:
    """Refuse changes that break the run (naming the key); return the ones that may change."""
    found = changes(saved, now)
    for key, old, new in found:
        if key.split(".")[0] in FIXED:
            key, old, new = first_difference(key, old, new)
            shown_new, shown_old = show_pair(new, old)
            raise ConfigError(
                f"--resume {folder}: {key} is {shown_new} in this config but {shown_old} in the "
                f"run; a resumed run keeps its {', '.join(FIXED)} sections "
                "(start a new run to change them)"
            )
    _check_plateau_monitor(folder, saved.get("schedule"), now.get("schedule"))
    return [c for c in found if c[0] != "name"]


def check_same_monitor(
    folder: Path, saved: tuple[str, str], now: tuple[str, str], best: float | None
) -> None:
    """Early stopping's monitor and mode (resolved) stay: the run's best value is a value of
    its monitor, and compared under its mode."""
    was = f" (its best so far, {best:.6g}, is a {saved[0]})" if best is not None else ""
    _refuse_other_monitor(
        folder,
        "training.early_stopping",
        saved,
        now,
        f"{was}; a resumed run keeps the metric it watches and its mode",
    )


def _check_plateau_monitor(folder: Path, saved: Any, now: Any) -> None:
    """The plateau schedule's best value belongs to its monitor and mode, like early stopping's."""
    if not (isinstance(saved, dict) and isinstance(now, dict)):
        return
    if saved.get("type") != "plateau" or now.get("type") != "plateau":
        return
    _refuse_other_monitor(
        folder,
        "schedule",
        (saved.get("monitor"), _mode(saved.get("monitor"), saved.get("mode"))),
        (now.get("monitor"), _mode(now.get("monitor"), now.get("mode"))),
        "; the plateau schedule's best value belongs to the run's metric and mode",
    )


def _refuse_other_monitor(
    folder: Path, section: str, saved: tuple[Any, Any], now: tuple[Any, Any], why: str
) -> None:
    """One ConfigError naming `section.monitor` or `section.mode` when it differs."""
    for i, key in enumerate(("monitor", "mode")):
        if saved[i] != now[i]:
            raise ConfigError(
                f"--resume {folder}: {section}.{key} is {now[i]} in this config but {saved[i]} "
                f"in the run{why} (start a new run to change them)"
            )


def _mode(monitor: Any, mode: Any) -> Any:
    if mode == "auto" and isinstance(monitor, str):
        return metric_mode(monitor)
    return mode


def type_changes(found: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """Changes of the optimizer's or the schedule's type (or a schedule added or removed),
    whose saved state then cannot carry over."""
    out = []
    for key, old, new in found:
        if key in ("optimizer.type", "schedule.type"):
            out.append((key, old, new))
        elif key == "schedule":  # null <-> a schedule
            out.append(("schedule", old, new))
    return out


def describe(found: list[tuple[str, Any, Any]]) -> str:
    """`training.epochs 3 -> 6, optimizer.lr 0.01 -> 0.005` for the resume notice."""
    parts = []
    for key, old, new in found:
        shown_old, shown_new = show_pair(old, new)
        parts.append(f"{key} {shown_old} -> {shown_new}")
    return ", ".join(parts)


def clean_stale_files(folder: RunFolder) -> list[Path]:
    """Temporary files left by a killed run's interrupted writes (never read, now removed)."""
    return remove_temp_files(folder.path) + remove_temp_files(folder.checkpoints)


def show_pair(a: Any, b: Any) -> tuple[str, str]:
    """Two differing values as text that shows where they differ: long ones are cut around
    their first differing character, not at their start."""
    ta, tb = _text(a), _text(b)
    if ta == tb:  # e.g. 1 and '1'
        ta, tb = repr(a), repr(b)
    if len(ta) <= WIDTH and len(tb) <= WIDTH:
        return ta, tb
    same = 0
    while same < min(len(ta), len(tb)) and ta[same] == tb[same]:
        same += 1
    start = max(0, same - WIDTH // 3)
    return _window(ta, start), _window(tb, start)


def _text(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    return "null" if value is None else str(value)


def _window(text: str, start: int) -> str:
    head = "..." if start > 0 else ""
    body = text[start:]
    return head + (body if len(body) <= WIDTH else body[: WIDTH - 3] + "...")
