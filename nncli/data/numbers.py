"""Columns of numbers read from text: cast in C++ once, a block of rows at a time, into
float32 where that is exact. The one place nncli turns a text column into numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nncli.data.values import check_texts, is_missing, is_text, parse_number


def text_as_float64(column: pa.ChunkedArray | pa.Array) -> Any:
    """A text column as float64 when every value is a number as written (or null), in C++;
    else None. A column of words is told by its first rows: pyarrow's failed cast of 200,000
    words takes 50 ms, as long as a cast that succeeds."""
    try:
        if len(column) > 10_000:
            pc.cast(column.slice(0, 1000), pa.float64())
        return pc.cast(column, pa.float64())
    except pa.ArrowInvalid:
        return None


class NumberBlocks:
    """Text columns of successive blocks of rows -> each column of numbers as written (or
    missing) as numbers, null where missing; None for a column with other text or a
    non-finite number (read value by value later, to be named as written). float32 where
    that holds every value of the column's block exactly (60,000 x 784 integers: 188 MB,
    where the text takes 296 MB and float64 376 MB), else float64.

    A block is checked in one 2-D array (per-column calls cost more than the casts on a
    wide file), in scratch arrays kept from block to block: freeing a few MB per block makes
    glibc raise its mmap threshold and fragment the heap (70 MB kept on 60,000 x 784)."""

    def __init__(self) -> None:
        self._wide = np.empty((0, 0), order="F")
        self._flags = np.empty((0, 0), dtype=bool, order="F")
        self._gaps = np.empty((0, 0), dtype=bool, order="F")

    def cast(self, columns: list[pa.ChunkedArray]) -> list[pa.Array | None]:
        casts = [text_as_float64(c) if is_text(c) else None for c in columns]
        ok = [j for j, cast in enumerate(casts) if cast is not None]
        out: list[pa.Array | None] = [None] * len(columns)
        if not ok:
            return out
        wide, flags, gaps = self._scratch(len(columns[0]), len(ok))
        for k, j in enumerate(ok):  # from Arrow's buffers: a copy per column would fragment
            start = 0
            for chunk in casts[j].fill_null(np.nan).chunks:  # type: ignore[union-attr]
                wide[start : start + len(chunk), k] = chunk.to_numpy(zero_copy_only=False)
                start += len(chunk)
        narrow = np.empty(wide.shape, dtype=np.float32, order="F")  # kept: the block's data
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: float64 kept
            narrow[...] = wide
            finite = ~np.isinf(wide, out=flags).any(axis=0)
            np.isnan(wide, out=gaps)
        # a NaN the file spells (-nan, nan(7)) is no gap: such a column is read as text
        nulls = np.array([casts[j].null_count for j in ok])  # type: ignore[union-attr]
        finite &= gaps.sum(axis=0) == nulls
        with np.errstate(over="ignore", invalid="ignore"):
            exact = (np.equal(narrow, wide, out=flags) | gaps).all(axis=0)
        for k, j in enumerate(ok):
            if finite[k]:
                values = narrow[:, k] if exact[k] else wide[:, k].copy()
                out[j] = pa.array(values, mask=gaps[:, k].copy() if gaps[:, k].any() else None)
        return out

    def _scratch(self, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._wide.shape[0] < rows or self._wide.shape[1] < cols:
            shape = (max(rows, self._wide.shape[0]), max(cols, self._wide.shape[1]))
            self._wide = np.empty(shape, order="F")
            self._flags = np.empty(shape, dtype=bool, order="F")
            self._gaps = np.empty(shape, dtype=bool, order="F")
        return self._wide[:rows, :cols], self._flags[:rows, :cols], self._gaps[:rows, :cols]


def floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """float64 values with NaN for nulls."""
    filled = column.fill_null(np.nan)
    if isinstance(filled, pa.ChunkedArray):
        return filled.to_numpy() if filled.num_chunks else np.empty(0)
    return filled.to_numpy(zero_copy_only=False)


def numbers_of(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (NaN where missing) and the positions of texts that are no number."""
    if is_text(column):
        cast = text_as_float64(column)  # the usual case: every value a number as written
        if cast is not None:
            return floats(cast), np.empty(0, np.intp)
        # blanks around numbers, stray texts: decided value by distinct value below
        encoded = pc.dictionary_encode(column)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        words = encoded.dictionary.to_pylist()
        check_texts(words)
        parsed = [_number_or_marker(w) for w in words]
        lookup = np.array([np.nan if p is None else p for p in parsed] + [np.nan])
        indices = encoded.indices.fill_null(len(words)).to_numpy(zero_copy_only=False)
        bad_word = np.array(
            [p is None and not is_missing(w) for w, p in zip(words, parsed, strict=True)] + [False]
        )
        return lookup[indices], np.flatnonzero(bad_word[indices])
    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan), np.empty(0, np.intp)
    return floats(pc.cast(column, pa.float64(), safe=False)), np.empty(0, np.intp)  # > 2**53


def _number_or_marker(word: str) -> float | None:
    return parse_number(word.strip())
