"""The feature columns of a model, in order: Arrow columns in, one float64 input matrix out
(numbers, "was missing" flags, one-hot levels), the same code for train, evaluate, predict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nncli.data.columns import ColumnPlan
from nncli.data.encoders import (
    MISSING_LEVEL,
    OTHER_LEVEL,
    CategoricalColumn,
    Column,
    NumericColumn,
    Seen,
    column_from_state,
    texts_of,
)
from nncli.data.numbers import numbers_of
from nncli.data.values import looks_like_number
from nncli.errors import DataError

# Names the line of a row of the file being read: row (from 0) -> "path:line".
Locate = Callable[[int], str]


class FeatureSet:
    """Column transforms fit on the training rows; `inputs` names the model's input units."""

    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def inputs(self) -> list[str]:
        return [name for c in self.columns for name in c.inputs]

    @property
    def input_columns(self) -> list[str]:
        """The column each input comes from."""
        return [c.name for c in self.columns for _ in c.inputs]

    @property
    def scales(self) -> list[str]:
        """Each input's scaling: numbers as configured, flags and one-hot levels as they are."""
        out: list[str] = []
        for c in self.columns:
            quantile = isinstance(c, NumericColumn) and c.scale == "quantile"  # already normal
            out += [("none" if quantile else c.scale)] if isinstance(c, NumericColumn) else []
            out += ["none"] * (len(c.inputs) - (1 if isinstance(c, NumericColumn) else 0))
        return out

    @property
    def all_numeric(self) -> bool:
        """Every column a number without gaps in training: inputs are the raw columns."""
        return all(isinstance(c, NumericColumn) and not c.indicator for c in self.columns)

    @classmethod
    def fit(
        cls,
        table: pa.Table,
        plans: list[ColumnPlan],
        locate: Locate,
        rows: np.ndarray | None = None,
    ) -> FeatureSet:
        """Each used column's transform, from the `rows` of the table (default all; `locate`
        names the line of a row of the table), one column at a time."""
        return cls([fit_column(p, table, locate, rows) for p in plans if p.used])

    def transform(
        self, table: pa.Table, seen: Seen, locate: Locate, strict: bool = False
    ) -> np.ndarray:
        """Raw (unscaled) inputs of the rows of `table`; gaps and unseen levels are counted in
        `seen` (errors when `strict`)."""
        blocks = [transform_column(c, table, seen, locate, strict) for c in self.columns]
        if not blocks:
            return np.empty((table.num_rows, 0))
        return np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]

    def state(self) -> list[dict[str, Any]]:
        return [c.state() for c in self.columns]

    @classmethod
    def from_state(cls, states: Any) -> FeatureSet:
        if not isinstance(states, list) or not states:
            raise ValueError("the feature columns must be a non-empty list")
        columns = [column_from_state(s) for s in states]
        if len({c.name for c in columns}) != len(columns):
            raise ValueError("the feature columns must have distinct names")
        return cls(columns)

    @classmethod
    def numeric(cls, names: list[str]) -> FeatureSet:
        """Numbers without gaps, as every model before column types was."""
        return cls([NumericColumn(n, 0.0, False, "standard", "error") for n in names])


def fit_column(
    plan: ColumnPlan, table: pa.Table, locate: Locate, rows: np.ndarray | None = None
) -> Column:
    """A column's transform fit on the `rows` of the table (default all; every value is
    checked, so a bad one anywhere is named at its line)."""
    if plan.type == "numeric":
        values = checked_numbers(plan, table, locate)
        train = values if rows is None else values[rows]
        return NumericColumn.fit(plan.name, train, plan.options, plan.strays)
    texts = texts_of(table.column(plan.name))
    train_texts = texts if rows is None else texts.take(pa.array(rows))
    return CategoricalColumn.fit(plan.name, train_texts, plan.options, plan.type == "binary")


def transform_column(
    column: Column, table: pa.Table, seen: Seen, locate: Locate, strict: bool = False
) -> np.ndarray:
    """One column's raw inputs (n, its inputs) from the table's column of that name."""
    data = table.column(column.name)
    if isinstance(column, NumericColumn):
        impute = "error" if strict else column.impute
        # texts training read as missing still are; any other text is an error
        strays = set(column.strays) if impute != "error" else set()
        values = column_numbers(column.name, data, locate, strays=strays)
        _check_gaps(column.name, values, impute, locate)
        return column.transform(values, seen)
    texts = texts_of(data)
    if strict:
        _check_levels(column, texts, locate)
    return column.transform(texts, seen)


def check_values(table: pa.Table, plans: list[ColumnPlan], locate: Locate) -> None:
    """Every numeric column's values are numbers (or its known strays), finite, and without
    gaps where imputation is off: the first that is not is one DataError at its line."""
    for plan in plans:
        if plan.type == "numeric":
            checked_numbers(plan, table, locate)


def checked_numbers(plan: ColumnPlan, table: pa.Table, locate: Locate) -> np.ndarray:
    """A numeric column's values as training reads them: its known strays as gaps (none when
    imputation is off: then a text, like a gap, is an error at its line)."""
    impute = plan.options.get("impute")
    strays = set() if impute == "error" else set(plan.strays)
    values = column_numbers(plan.name, table.column(plan.name), locate, strays=strays)
    _check_gaps(plan.name, values, impute, locate)
    return values


def column_numbers(
    name: str,
    data: pa.ChunkedArray,
    locate: Locate,
    strays: set[str],
) -> np.ndarray:
    """A column as float64 (NaN: missing). A text that is no number is read as missing when
    training found it in this column (`strays`), else it is an error naming its line."""
    values, bad = numbers_of(data)
    if len(bad):
        texts = data.take(pa.array(bad)).to_pylist()
        unknown = [(r, t) for r, t in zip(bad, texts, strict=True) if t.strip() not in strays]
        if unknown:
            row, text = unknown[0]
            raise DataError(
                f"{locate(int(row))}: column {name!r}: {text.strip()!r} is not a number"
            )
    with np.errstate(invalid="ignore"):
        infinite = np.isinf(values)
    if infinite.any():
        row = int(np.argmax(infinite))
        shown = _as_written(data, row)
        raise DataError(f"{locate(row)}: column {name!r}: {shown!r} is not a finite number")
    return values


def _as_written(data: pa.ChunkedArray, row: int) -> str:
    value = data[row].as_py()
    if isinstance(value, float):
        return "inf" if value > 0 else "-inf"
    return str(value).strip()


def _check_gaps(name: str, values: np.ndarray, impute: Any, locate: Locate) -> None:
    """With imputation off, a gap is an error naming the value as the file spells it: a
    marker nncli reads as missing ("", NA) or a number that is none (nan)."""
    if impute == "error" and np.isnan(values).any():
        row = int(np.argmax(np.isnan(values)))
        text = getattr(locate, "text", None)
        written = text(row, name) if text is not None else None
        if written and looks_like_number(written):
            raise DataError(f"{locate(row)}: column {name!r}: {written!r} is not a finite number")
        raise DataError(f"{locate(row)}: column {name!r}: missing value")


def _check_levels(column: CategoricalColumn, texts: pa.Array, locate: Locate) -> None:
    """--strict: the first row with a gap training never had, or a level it never saw."""
    gaps = texts.is_null().to_numpy(zero_copy_only=False)
    words = [w for w in column.levels if w not in (MISSING_LEVEL, OTHER_LEVEL)]
    known = pc.is_in(texts, value_set=pa.array(words, pa.string()))
    bad = ~known.to_numpy(zero_copy_only=False) & ~gaps
    if MISSING_LEVEL not in column.levels:
        bad |= gaps
    if not bad.any():
        return
    row = int(np.argmax(bad))
    if gaps[row]:
        raise DataError(f"{locate(row)}: column {column.name!r}: missing value (--strict)")
    raise DataError(
        f"{locate(row)}: column {column.name!r}: {texts[row].as_py()!r} was never seen in "
        "training (--strict)"
    )
