"""One column's values -> model inputs, fit on the training rows only: numbers imputed (with
a "was missing" input), text looked up in a vocabulary (missing and unseen levels have their
own slots). Plain JSON state: what the checkpoint and the ONNX export carry."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nncli.data.quantile import fit_quantiles, to_normal
from nncli.data.values import check_column, is_text, missing_texts

MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
IMPUTE = ("median", "mean", "constant", "error")
SCALES = ("standard", "minmax", "quantile", "none")
ENCODINGS = ("onehot", "embedding")
# encoding: auto embeds a text column with more levels than this ((missing) included). On
# auto_mpg's car make (36 levels, 300 rows; mean test R2 of 5 seeds) one-hot still beat an
# embedding (0.865 against 0.854 with every column, 0.332 against 0.312 with make alone), and
# one-hot is what scikit-learn's pipeline does; above 50 levels the one-hot inputs and the
# first layer grow with the vocabulary while an embedding grows as levels ** 0.56.
ONEHOT_MAX = 50
# ...and only when the training rows give each level a few rows to learn its vector from:
# auto_mpg's car name (256 levels on 318 rows, 1.2 a level) embedded scored a mean test R2 of
# 0.685 over seeds 0-2 (0.588 at worst), one-hot 0.869 (and titanic, no column above 50
# levels, is unchanged either way).
EMBED_MIN_ROWS_PER_LEVEL = 5


@dataclass
class Seen:
    """What a transform met that training did not: per column, counts and a few examples."""

    missing: Counter[str] = field(default_factory=Counter)
    unseen: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def report(self, path: str | Path) -> list[str]:
        """What predict and evaluate say on stderr: counts per column, a few examples."""
        lines = []
        if self.missing:
            cols = ", ".join(f"{c!r} {n}" for c, n in self.missing.most_common())
            lines.append(
                f"{path}: {sum(self.missing.values())} missing value(s) filled as in training "
                f"({cols}); --strict makes them errors"
            )
        if self.unseen:
            cols = ", ".join(
                f"{c!r} {n} ({', '.join(repr(v) for v in self.examples.get(c, []))})"
                for c, n in self.unseen.most_common()
            )
            lines.append(
                f"{path}: {sum(self.unseen.values())} value(s) never seen in training, read as "
                f"an unknown level ({cols}); --strict makes them errors"
            )
        return lines

    def add_unseen(self, column: str, values: list[str], count: int) -> None:
        self.unseen[column] += count
        shown = self.examples.setdefault(column, [])
        shown.extend(v for v in values if v not in shown and len(shown) < 3)


def texts_of(column: pa.ChunkedArray | pa.Array | list[str | None]) -> pa.Array:
    """Each value as stripped text (numbers as written: 3 -> '3'), null where missing; in
    C++ (value_counts, index_in), as a text column can have millions of rows."""
    if isinstance(column, list):
        column = pa.array(column, pa.string())
    if not is_text(column):
        column = column.cast(pa.string())
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.string())
    check_column(column, "a value")
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(missing_texts(column), pa.scalar(None, pa.string()), trimmed)


@dataclass
class NumericColumn:
    """A number: a gap is filled (median, mean or a constant, from the training rows) and,
    when training had gaps, flagged by a 0/1 input beside it."""

    name: str
    fill: float
    indicator: bool
    scale: str = "standard"
    impute: str = "median"
    strays: list[str] = field(default_factory=list)
    quantiles: list[float] = field(default_factory=list)  # scale: quantile (data/quantile.py)

    @property
    def inputs(self) -> list[str]:
        return [self.name] + ([f"{self.name} (missing)"] if self.indicator else [])

    @classmethod
    def fit(
        cls, name: str, values: np.ndarray, options: dict[str, Any], strays: tuple[str, ...]
    ) -> NumericColumn:
        impute, scale = options.get("impute", "median"), options.get("scale", "standard")
        present = values[~np.isnan(values)]
        if impute == "mean":
            fill = float(present.mean()) if len(present) else 0.0
        elif impute == "constant":
            fill = float(options.get("fill_value", 0.0))
        else:  # median; error never fills (and fits nothing)
            fill = float(np.median(present)) if len(present) else 0.0
        indicator = impute != "error" and bool(np.isnan(values).any())
        quantiles = fit_quantiles(values) if scale == "quantile" else []
        return cls(name, fill, indicator, scale, impute, list(strays), quantiles)

    def transform(self, values: np.ndarray, seen: Seen) -> np.ndarray:
        gaps = np.isnan(values)
        n_gaps = int(gaps.sum())
        out = np.empty((len(values), len(self.inputs)))
        out[:, 0] = np.where(gaps, self.fill, values) if n_gaps else values
        if self.scale == "quantile":
            out[:, 0] = to_normal(out[:, 0], self.quantiles)
        if self.indicator:
            out[:, 1] = gaps
        if n_gaps:
            seen.missing[self.name] += n_gaps
        return out

    def state(self) -> dict[str, Any]:
        return {"type": "numeric", **self.__dict__}


@dataclass
class CategoricalColumn:
    """Text levels, one-hot or embedded: a vocabulary from the training rows (levels rarer
    than min_frequency, or beyond max_categories, share "(other)"), missing as its own level;
    at predict time an unseen level goes to "(other)" when training had one, else to no
    input at all (as scikit-learn's handle_unknown='ignore'). Embedded, the column is one
    input, its level's index, which the network's InputBlock looks up in a learned table of
    `embedding_dim` numbers per level; "(other)" is always reserved then, and a gap with no
    "(missing)" level reads as "(other)" (a lookup needs some row)."""

    name: str
    levels: list[str]  # the vocabulary, then "(missing)" and "(other)" when training had them
    binary: bool = False  # two levels: one input, 1.0 for the second level
    encoding: str = "onehot"  # onehot | embedding (state written before encodings: onehot)

    @property
    def embedded(self) -> bool:
        return self.encoding == "embedding"

    @property
    def embedding_dim(self) -> int:
        """fastai's rule of thumb (Howard & Gugger 2020): min(600, round(1.6 * n ** 0.56))."""
        return min(600, round(1.6 * len(self.levels) ** 0.56))

    @property
    def inputs(self) -> list[str]:
        if self.binary:
            return [f"{self.name}={self.levels[1]}"]
        if self.embedded:
            return [f"{self.name} (level index)"]
        return [f"{self.name}={level}" for level in self.levels]

    @classmethod
    def fit(
        cls, name: str, texts: pa.Array | list[str | None], options: dict[str, Any], binary: bool
    ) -> CategoricalColumn:
        texts = texts_of(texts) if isinstance(texts, list) else texts
        tally = pc.value_counts(texts.drop_null())
        counts = dict(
            zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist(), strict=True)
        )
        for reserved in (MISSING_LEVEL, OTHER_LEVEL):  # a text spelled so is no level: unseen
            counts.pop(reserved, None)
        min_freq = int(options.get("min_frequency", 1))
        cap = int(options.get("max_categories", 1000))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = sorted(level for level, c in ranked[:cap] if c >= min_freq)
        gaps = texts.null_count > 0
        if binary and len(kept) == 2 and len(counts) == 2 and not gaps:  # else (missing) too
            return cls(name, kept, binary=True)
        levels = list(kept)
        if gaps:
            levels.append(MISSING_LEVEL)
        encoding = options.get("encoding", "onehot")
        if encoding == "auto":
            many = len(levels) > ONEHOT_MAX
            fed = len(texts) >= EMBED_MIN_ROWS_PER_LEVEL * len(levels)
            encoding = "embedding" if many and fed else "onehot"
        if len(kept) < len(counts) or encoding == "embedding":
            levels.append(OTHER_LEVEL)
        return cls(name, levels, encoding=encoding)

    def codes(self, texts: pa.Array | list[str | None], seen: Seen) -> np.ndarray:
        """Each value's slot (-1: no input is set), counting gaps and unseen levels. A text
        spelled as a reserved level ("(other)") is unseen: only the vocabulary is looked up."""
        texts = texts_of(texts) if isinstance(texts, list) else texts
        words = [w for w in self.levels if w not in (MISSING_LEVEL, OTHER_LEVEL)]
        word_slots = np.array([self.levels.index(w) for w in words], dtype=np.int64)
        found = pc.index_in(texts, value_set=pa.array(words, pa.string()))
        found = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        gaps = texts.is_null().to_numpy(zero_copy_only=False)
        unseen = (found < 0) & ~gaps
        out = np.full(len(texts), -1, dtype=np.int64)
        out[found >= 0] = word_slots[found[found >= 0]]
        missing_slot = self.levels.index(MISSING_LEVEL) if MISSING_LEVEL in self.levels else -1
        out[gaps] = missing_slot
        if unseen.any():
            out[unseen] = self.levels.index(OTHER_LEVEL) if OTHER_LEVEL in self.levels else -1
            examples = pc.unique(texts.filter(pa.array(unseen))).slice(0, 3).to_pylist()
            seen.add_unseen(self.name, examples, int(unseen.sum()))
        n_gaps = int(gaps.sum())
        if n_gaps and (self.binary or missing_slot < 0):
            seen.missing[self.name] += n_gaps
        return out

    def transform(self, texts: pa.Array | list[str | None], seen: Seen) -> np.ndarray:
        codes = self.codes(texts, seen)
        if self.binary:
            return (codes == 1).astype(np.float64).reshape(-1, 1)
        if self.embedded:  # the index as a float (exact below 2**24 in float32)
            other = self.levels.index(OTHER_LEVEL)
            return np.where(codes >= 0, codes, other).astype(np.float64).reshape(-1, 1)
        out = np.zeros((len(codes), len(self.levels)))
        rows = np.flatnonzero(codes >= 0)
        out[rows, codes[rows]] = 1.0
        return out

    def state(self) -> dict[str, Any]:
        return {"type": "binary" if self.binary else "categorical", **self.__dict__}


Column = NumericColumn | CategoricalColumn


def column_from_state(state: Any) -> Column:
    """A column transform from its checkpoint JSON; anything malformed is a ValueError."""
    if not isinstance(state, dict) or not isinstance(state.get("name"), str):
        raise ValueError("a column transform must be a mapping with a name")
    kind = state.get("type")
    body = {k: v for k, v in state.items() if k != "type"}
    if kind == "numeric":
        column = NumericColumn(**body)
        if not isinstance(column.fill, int | float) or not np.isfinite(column.fill):
            raise ValueError(f"column {column.name!r}: fill value {column.fill!r}")
        q = np.asarray(column.quantiles, dtype=np.float64)
        if column.scale == "quantile" and (
            q.ndim != 1 or len(q) < 2 or not np.isfinite(q).all() or np.any(np.diff(q) < 0)
        ):
            raise ValueError(f"column {column.name!r}: quantiles must be sorted numbers")
        if column.scale not in SCALES or column.impute not in IMPUTE:
            raise ValueError(
                f"column {column.name!r}: scale {column.scale!r}, impute {column.impute!r}"
            )
        return column
    if kind in ("categorical", "binary"):
        cat = CategoricalColumn(**body)
        if not isinstance(cat.levels, list) or not all(isinstance(v, str) for v in cat.levels):
            raise ValueError(f"column {cat.name!r}: levels must be a list of texts")
        if len(set(cat.levels)) != len(cat.levels) or not cat.levels:
            raise ValueError(f"column {cat.name!r}: levels must be distinct and not empty")
        if cat.binary != (kind == "binary") or (cat.binary and len(cat.levels) != 2):
            raise ValueError(f"column {cat.name!r}: a binary column has two levels")
        if cat.encoding not in ENCODINGS or (
            cat.embedded and (cat.binary or OTHER_LEVEL not in cat.levels)
        ):
            raise ValueError(f"column {cat.name!r}: encoding {cat.encoding!r}")
        return cat
    raise ValueError(f"unknown column type {kind!r}")
