"""One training per run folder at a time: an exclusive flock on `<run>/.lock` while it trains."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nncli.errors import NncliError
from nncli.store.run_folder import RunFolder

try:
    import fcntl
except ImportError:  # Windows has no flock; run folders are not locked there
    fcntl = None  # type: ignore[assignment]


@contextmanager
def run_lock(folder: Path, label: str) -> Iterator[None]:
    """Hold the run folder's lock for the block, or refuse at once (naming `label`) when
    another process (or thread) holds it, before anything in the folder changes.

    The kernel drops a flock when its holder dies, SIGKILL included, so a lock never
    outlives its process; a `.lock` file a kill leaves behind is just reused.
    """
    if fcntl is None:
        yield
        return
    path = RunFolder(folder).lock
    fd = _acquire(path, label)
    try:
        yield
    finally:
        # Unlink before unlocking: a process that opened the old file then finds it gone
        # (see _acquire), so two processes never both hold "the" lock.
        try:
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _acquire(path: Path, label: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise NncliError(
                f"{label}: another nncli process{who} is training this run folder; "
                "wait for it to finish (or stop it), then try again"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            return fd
        os.close(fd)  # the holder released and removed it just now: lock the new file
