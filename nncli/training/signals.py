"""SIGINT/SIGTERM during a run: the first asks for a clean stop, a second one stops at once."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stop_on_signal(on_first: Callable[[int], None]) -> Iterator[None]:
    """The first SIGINT/SIGTERM only calls `on_first` (the run finishes its batch, keeps the
    last saved epoch and stops); a second one stops at once, as it would have without us
    (checkpoints are written atomically, so they stay intact either way). Signals reach the
    main thread only, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if not received:
            received.append(signum)
            on_first(signum)
            return
        old = previous.get(signum)
        signal.signal(signum, signal.SIG_DFL if old is None else old)
        if callable(old):
            old(signum, frame)
        elif old != signal.SIG_IGN:
            signal.raise_signal(signum)

    previous.update({s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)})
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
