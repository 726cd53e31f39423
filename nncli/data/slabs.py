"""Rows gathered chunk by chunk into big slabs, so that freeing them gives the memory back."""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np

# Why slabs, each an anonymous memory map of its own: malloc (glibc) serves blocks under
# 32 MB from its heap, where a freed block below a live one stays with the process, so a CSV
# read as a thousand 1 MB chunks, scaled, then freed would keep all of it; a map is unmapped
# when its last array goes. (And NumPy asks for huge pages for its big arrays, whose first
# touch was 6x slower on the virtual machine of README "Performance".) Private, where the
# system has them: a shared anonymous map is shared memory, whose first touch costs 15 % more.
SLAB_BYTES = 64 << 20
_PRIVATE = {"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}


class Slabs:
    """Append-only rows of one width and dtype, in slabs of about SLAB_BYTES."""

    def __init__(self, width: int, dtype: Any = np.float64) -> None:
        self.width = width
        self.dtype = np.dtype(dtype)
        self.capacity = max(1, SLAB_BYTES // max(1, width * self.dtype.itemsize))  # rows
        self.slabs: list[np.ndarray] = []
        self.used = 0  # rows filled in the last slab

    def __len__(self) -> int:
        return sum(len(s) for s in self.slabs[:-1]) + self.used

    def append(self, rows: np.ndarray) -> None:
        while len(rows):
            if not self.slabs or self.used == self.capacity:
                self.slabs.append(self._slab())
                self.used = 0
            k = min(len(rows), self.capacity - self.used)
            self.slabs[-1][self.used : self.used + k] = rows[:k]
            self.used += k
            rows = rows[k:]

    def _slab(self) -> np.ndarray:
        size = self.capacity * self.width * self.dtype.itemsize
        memory = mmap.mmap(-1, size, **_PRIVATE)
        return np.frombuffer(memory, self.dtype).reshape(self.capacity, self.width)

    def take(self) -> list[np.ndarray]:
        """The rows as a list of blocks (the slabs, the last one cut to its rows), handed
        over: the caller frees each by dropping it, and this store is empty after."""
        parts, self.slabs = self.slabs, []
        if parts:
            parts[-1] = parts[-1][: self.used]  # untouched pages past `used` cost nothing
        self.used = 0
        return parts

    def array(self) -> np.ndarray:
        """All rows as one array: the only slab itself, or a copy made slab by slab, each
        freed once copied (np.concatenate would hold both copies whole)."""
        parts = self.take()
        if len(parts) == 1:
            return parts[0]
        out = np.empty((sum(len(p) for p in parts), self.width), dtype=self.dtype)
        start = 0
        for i, part in enumerate(parts):
            out[start : start + len(part)] = part
            start += len(part)
            parts[i] = part = None  # type: ignore[call-overload,assignment]
        return out
