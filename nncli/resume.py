"""What `--resume` accepts: the config changes it refuses, the ones it reports, stale files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nncli.checkpoint import remove_temp_files
from nncli.errors import ConfigError

# Sections that define the network, its data and its randomness: the saved weights, scaler
# and generator states mean nothing under different ones.
FIXED = ("seed", "data", "model", "loss")


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


def check_resumable(folder: Path, saved: dict, now: dict) -> list[tuple[str, Any, Any]]:
    """Refuse changes that break the run (naming the key); return the ones that may change."""
    found = changes(saved, now)
    for key, old, new in found:
        if key.split(".")[0] in FIXED:
            raise ConfigError(
                f"--resume {folder}: {key} is {_show(new)} in this config but {_show(old)} in the "
                f"run; a resumed run keeps its {', '.join(FIXED)} sections "
                "(start a new run to change them)"
            )
    return [c for c in found if c[0] != "name"]


def describe(found: list[tuple[str, Any, Any]]) -> str:
    """`training.epochs 3 -> 6, optimizer.lr 0.01 -> 0.005` for the resume notice."""
    return ", ".join(f"{key} {_show(old)} -> {_show(new)}" for key, old, new in found)


def clean_stale_files(folder: Path) -> list[Path]:
    """Temporary files left by a killed run's interrupted writes (never read, now removed)."""
    return remove_temp_files(folder) + remove_temp_files(folder / "checkpoints")


def _show(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
