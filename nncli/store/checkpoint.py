"""Single-file checkpoints: named arrays plus a JSON manifest in one .npz, written atomically."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from nncli.errors import CheckpointError
from nncli.store.manifest import (
    FORMAT,
    MAX_EPOCH,  # noqa: F401  (re-exported for training until it reads the Manifest)
    VERSION,
    Manifest,
    ModelManifest,
    check_epoch_counts,  # noqa: F401  (likewise)
    checked_resumes,  # noqa: F401  (likewise)
    parse_header,
    parse_manifest,
    parse_model_manifest,
)
from nncli.store.run_folder import CHECKPOINTS, SUFFIX, RunFolder

META_KEY = "__meta__"
GROUPS = ("params", "optim", "prep", "head")  # every array is `<group>/<name>`
FLOATS = ("float32", "float64")  # the dtypes of every array (training.dtype's choices)
TEMP_SUFFIX = ".tmp"  # atomic writes go through `.<stem>-<random>.tmp` in the same folder
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,  # includes UnicodeDecodeError of a member name
    NotImplementedError,  # an unsupported zip feature
    RuntimeError,  # an encrypted member
)


def _default_file_mode() -> int:
    """0o666 minus the umask: what a plain open() would give (mkstemp gives 0o600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()


@dataclass
class Checkpoint:
    """A checkpoint's JSON manifest (`meta`, as read) and its arrays, named `<group>/<name>`.

    load_checkpoint checked the manifest's header against the arrays; the rest is parsed on
    demand (model_manifest, manifest), so a damaged training state never stops a prediction.
    """

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    path: Path

    def group(self, name: str) -> dict[str, np.ndarray]:
        prefix = name + "/"
        return {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}

    def model_manifest(self) -> ModelManifest:
        """What a Model is rebuilt from (config, preprocessing, output); CheckpointError."""
        return parse_model_manifest(self.meta, self.path)

    def manifest(self) -> Manifest:
        """The whole manifest, training state included; CheckpointError when damaged."""
        return parse_manifest(self.meta, self.path)


def atomic_write(path: Path, write: Callable[[IO[bytes]], object], sync: bool = True) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn file;
    a kill between the two can leave a `.<stem>-*.tmp` file, which nothing ever reads.
    Without `sync` nothing is fsynced (the caller does it later, see SyncClock): a killed
    process still leaves a whole file, the operating system having the bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), _FILE_MODE)
            write(handle)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if sync:
        _fsync_dir(path.parent)


class SyncClock:
    """fsyncs a run's checkpoints at most every `interval` seconds, and once more at flush()
    (when the run ends): written every epoch, a tiny network's checkpoints were mostly fsync
    (penguins: 340 fsyncs of file and folder, 2.5-3.7 s of a 5 s run on a busy disk).
    Every write is still atomic, so a killed run leaves whole files; what waits for the next
    fsync is only what a power cut could take, the last `interval` seconds of checkpoints."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.pending: dict[Path, None] = {}  # written since the last fsync, in order
        self.next = time.monotonic()  # the first write is synced at once

    def written(self, path: Path) -> None:
        """`path` was written (atomic_write without sync); fsync it and the others written
        since the last fsync when `interval` has passed."""
        self.pending[path] = None
        if time.monotonic() >= self.next:
            self.flush()

    def flush(self) -> None:
        """fsync every file written since the last fsync (by path: what was renamed into
        place), then their folders, so the renames last too."""
        paths, self.pending = list(self.pending), {}
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # replaced or removed since: nothing to keep
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in dict.fromkeys(path.parent for path in paths):
            _fsync_dir(folder)
        self.next = time.monotonic() + self.interval


def save_checkpoint(
    path: Path,
    meta: dict[str, Any] | ModelManifest,
    groups: dict[str, dict[str, np.ndarray]],
    sync: bool = True,
) -> None:
    """One .npz with `<group>/<name>` arrays and the JSON manifest, written atomically (and
    fsynced, unless `sync` is off: see atomic_write); format, version and the list of
    arrays are filled in here."""
    if isinstance(meta, ModelManifest):
        meta = meta.to_meta()
    arrays = {
        f"{group}/{name}": np.ascontiguousarray(a)
        for group, items in groups.items()
        for name, a in items.items()
    }
    for name, a in arrays.items():
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise ValueError(f"refusing to save the non-finite array {name!r} to {path}")
    manifest = {**meta, "format": FORMAT, "version": VERSION, "arrays": sorted(arrays)}
    arrays[META_KEY] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    # savez's stubs type its keyword arguments as its own options (allow_pickle: bool)
    named: dict[str, Any] = arrays
    atomic_write(path, lambda handle: np.savez(handle, **named), sync)


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


def is_temp_file(path: Path) -> bool:
    """A leftover of an interrupted atomic write (never a checkpoint)."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete leftovers of interrupted writes in `folder`; returns what was removed."""
    removed = []
    for path in sorted(folder.glob(f".*{TEMP_SUFFIX}")):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def resolve_checkpoint_path(target: str | Path) -> Path:
    """A checkpoint file, or a run folder (then its best checkpoint, else its last)."""
    target = Path(target)
    if target.is_dir():
        found = RunFolder(target).best_or_last()
        if found is None:
            raise CheckpointError(
                f"{target}: a folder without {CHECKPOINTS}/best{SUFFIX} or last{SUFFIX}"
            )
        return found
    if not target.exists():
        raise CheckpointError(f"{target}: no such checkpoint file or run folder")
    if is_temp_file(target):
        raise CheckpointError(
            f"{target}: a temporary file left by an interrupted save, not a checkpoint"
        )
    return target


def load_checkpoint(target: str | Path) -> Checkpoint:
    """Read and check a checkpoint; never unpickles, every failure is a CheckpointError."""
    path = resolve_checkpoint_path(target)
    arrays = _read_archive(path)
    meta = _decode_meta(arrays.pop(META_KEY, None), path)
    listed = parse_header(meta, path).arrays
    if sorted(listed) != sorted(arrays):
        extra = sorted(set(arrays) - set(listed))
        missing = sorted(set(listed) - set(arrays))
        raise CheckpointError(
            f"{path}: arrays do not match the manifest "
            f"(unexpected: {extra[:3]}, missing: {missing[:3]})"
        )
    for name, array in arrays.items():
        group, _, rest = name.partition("/")
        if group not in GROUPS or not rest:
            raise CheckpointError(f"{path}: unexpected array {name!r}")
        if array.dtype.name not in FLOATS:  # nncli saves no other: an int or bool is an edit
            raise CheckpointError(
                f"{path}: array {name!r} has dtype {array.dtype}; checkpoints hold "
                f"{' or '.join(FLOATS)} arrays"
            )
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            # nncli never saves one (training stops first): this file was damaged or edited
            raise CheckpointError(f"{path}: array {name!r} holds non-finite values")
    return Checkpoint(meta=meta, arrays=arrays, path=path)


def read_meta(target: str | Path) -> dict[str, Any]:
    """A checkpoint's JSON manifest alone, no array read (what a resume looks at before the
    data is read); every failure is a CheckpointError. Unchecked against the arrays: the
    file may still be refused by load_checkpoint."""
    path = resolve_checkpoint_path(target)
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(META_KEY + ".npy")
            with archive.open(info) as member:
                meta = _read_npy(member, info.file_size, f"{path}: its manifest")
    except KeyError:
        meta = None
    except _ZIP_ERRORS as exc:
        raise CheckpointError(f"{path}: not a readable nncli checkpoint ({_short(exc)})") from None
    return _decode_meta(meta, path)


def _decode_meta(array: np.ndarray | None, path: Path) -> dict[str, Any]:
    if array is None or array.dtype != np.uint8 or array.ndim != 1:
        raise CheckpointError(f"{path}: not an nncli checkpoint (no {META_KEY} manifest)")
    try:
        meta = json.loads(array.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: damaged manifest ({_short(exc)})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: damaged manifest (not a JSON object)")
    return meta


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    """The .npz members as arrays, read without np.load so that nothing is trusted blindly:
    members must be stored (uncompressed) .npy files of plain numeric dtypes whose headers
    match the bytes really present, so a hostile header cannot make us allocate memory.
    """
    try:
        path.open("rb").close()  # is_zipfile says False for a file it cannot read
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not zipfile.is_zipfile(path):
        # np.load would try pickle and advise allow_pickle=True: never tell a user that.
        raise CheckpointError(f"{path}: not an nncli checkpoint (not an .npz archive)")
    arrays: dict[str, np.ndarray] = {}
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if name == info.filename or name in arrays:
                    raise CheckpointError(f"{path}: unexpected archive member {info.filename!r}")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise CheckpointError(
                        f"{path}: array {name!r} is compressed; nncli checkpoints are not"
                    )
                if info.file_size != info.compress_size or info.file_size > size:
                    raise CheckpointError(f"{path}: array {name!r}: damaged archive entry")
                with archive.open(info) as member:
                    arrays[name] = _read_npy(member, info.file_size, f"{path}: array {name!r}")
    except _ZIP_ERRORS as exc:
        raise CheckpointError(f"{path}: not a readable nncli checkpoint ({_short(exc)})") from None
    return arrays


def _read_npy(member: IO[bytes], size: int, where: str) -> np.ndarray:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise CheckpointError(f"{where}: unsupported .npy version {version}")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise CheckpointError(f"{where}: unsupported dtype {dtype} (only plain numbers)")
    if dtype.kind not in "fiub":
        raise CheckpointError(f"{where}: unsupported dtype {dtype} (only plain numbers)")
    nbytes = math.prod(shape) * dtype.itemsize
    if member.tell() + nbytes != size:
        raise CheckpointError(
            f"{where}: its header claims shape {shape} ({nbytes} bytes), "
            f"the file holds {size - member.tell()} bytes"
        )
    data = member.read(nbytes)
    if len(data) != nbytes or member.read(1):  # reading to the end also checks the CRC
        raise CheckpointError(f"{where}: truncated data")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.copy()


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 120 else text[:117] + "..."
