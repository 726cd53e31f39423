"""Single-file checkpoints: named arrays plus a JSON manifest in one .npz, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nncli.errors import CheckpointError

FORMAT = "nncli-checkpoint"
VERSION = 1
META_KEY = "__meta__"
SUFFIX = ".npz"


@dataclass
class Checkpoint:
    """A checkpoint's JSON manifest (`meta`) and its arrays, named `<group>/<name>`."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    path: Path

    def group(self, name: str) -> dict[str, np.ndarray]:
        prefix = name + "/"
        return {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}


def save_checkpoint(
    path: Path, meta: dict[str, Any], groups: dict[str, dict[str, np.ndarray]]
) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn file.
    """
    arrays = {
        f"{group}/{name}": np.ascontiguousarray(a)
        for group, items in groups.items()
        for name, a in items.items()
    }
    manifest = {**meta, "format": FORMAT, "version": VERSION, "arrays": sorted(arrays)}
    arrays[META_KEY] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def resolve_checkpoint_path(target: str | Path) -> Path:
    """A checkpoint file, or a run folder (then its best checkpoint, else its last)."""
    target = Path(target)
    if target.is_dir():
        for name in ("best", "last"):
            candidate = target / "checkpoints" / f"{name}{SUFFIX}"
            if candidate.is_file():
                return candidate
        raise CheckpointError(
            f"{target}: a folder without checkpoints/best{SUFFIX} or last{SUFFIX}"
        )
    if not target.exists():
        raise CheckpointError(f"{target}: no such checkpoint file or run folder")
    return target


def load_checkpoint(target: str | Path) -> Checkpoint:
    """Read and check a checkpoint; never unpickles, every failure is a CheckpointError."""
    path = resolve_checkpoint_path(target)
    if not zipfile.is_zipfile(path):
        # np.load would try pickle and advise allow_pickle=True: never tell a user that.
        raise CheckpointError(f"{path}: not an nncli checkpoint (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable nncli checkpoint ({_short(exc)})") from None
    meta_array = arrays.pop(META_KEY, None)
    if meta_array is None or meta_array.dtype != np.uint8 or meta_array.ndim != 1:
        raise CheckpointError(f"{path}: not an nncli checkpoint (no {META_KEY} manifest)")
    try:
        meta = json.loads(meta_array.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: damaged manifest ({_short(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not an nncli checkpoint (format {meta.get('format')!r})"
            if isinstance(meta, dict)
            else f"{path}: damaged manifest"
        )
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r}; this nncli reads up to {VERSION}"
        )
    listed = meta.get("arrays")
    if not isinstance(listed, list) or sorted(listed) != sorted(arrays):
        extra = sorted(set(arrays) - set(listed or []))
        missing = sorted(set(listed or []) - set(arrays))
        raise CheckpointError(
            f"{path}: arrays do not match the manifest "
            f"(unexpected: {extra[:3]}, missing: {missing[:3]})"
        )
    for name, array in arrays.items():
        if array.dtype.kind not in "fiub":
            raise CheckpointError(f"{path}: array {name!r} has unsupported dtype {array.dtype}")
    return Checkpoint(meta=meta, arrays=arrays, path=path)


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 120 else text[:117] + "..."
