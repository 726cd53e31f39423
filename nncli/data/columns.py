"""Each column's type, decided from all its training values or declared in the config, with
the reason a user reads in the report: numeric, categorical, binary, or left out (an id, a
constant, empty)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nncli.data.numbers import text_as_float64
from nncli.data.values import check_texts, is_missing, parse_number
from nncli.errors import DataError

TYPES = ("numeric", "categorical", "binary")
ID_NAMES = ("id", "index", "key", "uuid", "unnamed: 0", "")
MIN_ID_ROWS = 50  # below this many rows, sequential integers are as likely data as an index
STRAY_SHARE = 0.05  # numbers with at most this share of other texts: a numeric column with strays
MAX_STRAY_LEVELS = 10
UNIQUE_SHARE = 0.9  # a text column with levels on 90 % of its rows is an id or free text


@dataclass(frozen=True)
class ColumnPlan:
    """One column of the training file: its type (or why it is left out) and its options."""

    name: str
    type: str  # numeric | categorical | binary | excluded
    reason: str
    distinct: int = 0
    missing: float = 0.0  # share of rows
    options: dict[str, Any] = field(default_factory=dict)
    strays: tuple[str, ...] = ()  # texts in a numeric column, read as missing (and reported)

    @property
    def used(self) -> bool:
        return self.type != "excluded"


def plan_columns(
    table: pa.Table,
    targets: list[str],
    features: list[Any] | None,
    exclude: list[str],
    strict: bool = False,
) -> list[ColumnPlan]:
    """The features' plans: declared ones (a name or {name, type, ...}) take what they say,
    the rest are inferred; with features null, every column but the targets and `exclude`.
    `strict` (data.missing: error): a column holding numbers is numeric, whatever else it
    holds (then an error at the first text)."""
    declared: dict[str, dict[str, Any]] = {}
    if features is None:
        names = [c for c in table.column_names if c not in targets and c not in exclude]
    else:
        names = []
        for item in features:
            spec = feature_spec(item)
            names.append(spec["name"])
            declared[spec["name"]] = spec
    plans = []
    for name in names:
        spec = declared.get(name, {})
        column = table.column(name)
        plan = infer_column(name, column, inferred=features is None and not strict, strict=strict)
        kind = spec.get("type")
        if kind is not None and kind != plan.type:
            plan = _declared(name, column, kind, plan)
        options = {k: v for k, v in spec.items() if k not in ("name", "type") and v is not None}
        plans.append(ColumnPlan(**{**plan.__dict__, "options": options}))
    return plans


def feature_spec(item: Any) -> dict[str, Any]:
    """A features entry (a name, a config FeatureSpec or a mapping) as a mapping."""
    if isinstance(item, str):
        return {"name": item}
    if hasattr(item, "model_dump"):
        return item.model_dump(exclude_none=True)
    return {k: v for k, v in dict(item).items() if v is not None}


def infer_column(
    name: str, column: pa.ChunkedArray, inferred: bool = True, strict: bool = False
) -> ColumnPlan:
    """A column's type from all its values. `inferred`: the config did not list the column,
    so ids and constants are left out (a listed column is always used)."""
    n = len(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        numbers = text_as_float64(column)  # every value a number as written
        if numbers is None:
            return _infer_text(name, column, n, inferred, strict)
        column = numbers
    if pa.types.is_dictionary(column.type):
        return _infer_text(name, column.cast(pa.string()), n, inferred, strict)
    if pa.types.is_boolean(column.type):
        return _plan(name, "binary", "true/false values", column, n)
    if pa.types.is_null(column.type):
        return (
            _excluded(name, "every value is missing", 0, 1.0)
            if inferred
            else _plan(name, "numeric", "every value is missing", column, n)
        )
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise DataError(f"column {name!r}: unsupported type {column.type}")
    distinct = pc.count_distinct(column).as_py()
    missing = column.null_count / max(n, 1)
    if pa.types.is_floating(column.type) and pc.any(pc.is_inf(column)).as_py():
        return ColumnPlan(name, "numeric", "numbers (some not finite)", distinct, missing)
    if inferred and distinct <= 1:
        return _excluded(name, _constant_reason(distinct), distinct, missing)
    if inferred and _is_row_index(name, column, distinct, n):
        return _excluded(
            name, "an id: unique, sequential integers (a row index)", distinct, missing
        )
    return ColumnPlan(name, "numeric", f"{distinct} distinct numbers", distinct, missing)


def _infer_text(
    name: str, column: pa.ChunkedArray, n: int, inferred: bool, strict: bool
) -> ColumnPlan:
    counts = pc.value_counts(column.drop_null())
    levels = counts.field("values").to_pylist()
    check_texts(levels)
    freqs = counts.field("counts").to_numpy()
    gaps = column.null_count + sum(
        int(c) for v, c in zip(levels, freqs, strict=True) if is_missing(v)
    )
    present = [(v, int(c)) for v, c in zip(levels, freqs, strict=True) if not is_missing(v)]
    numbers = [(v, c) for v, c in present if parse_number(v.strip()) is not None]
    texts = [(v, c) for v, c in present if parse_number(v.strip()) is None]
    missing = gaps / max(n, 1)
    distinct = len({v.strip() for v, _ in present})
    if inferred and distinct <= 1:
        return _excluded(name, _constant_reason(distinct), distinct, missing)
    n_text = sum(c for _, c in texts)
    n_present = sum(c for _, c in present)
    if numbers and not texts:
        return ColumnPlan(name, "numeric", f"{len(numbers)} distinct numbers", distinct, missing)
    few = n_text <= STRAY_SHARE * n_present and len(texts) <= MAX_STRAY_LEVELS
    if numbers and (few or strict):
        strays = tuple(sorted({v.strip() for v, _ in texts}))
        return ColumnPlan(
            name, "numeric", f"numbers, {n_text} stray text value(s) read as missing",
            distinct - len(texts), missing + n_text / max(n, 1), strays=strays,
        )  # fmt: skip
    if distinct == 2:
        return ColumnPlan(name, "binary", "two levels", 2, missing)
    if inferred and _unique_per_row(name, distinct, n_present):
        reason = "an id or free text: a different value on (almost) every row"
        return _excluded(name, reason, distinct, missing)
    return ColumnPlan(name, "categorical", f"{distinct} levels", distinct, missing)


def _declared(name: str, column: pa.ChunkedArray, kind: str, inferred: ColumnPlan) -> ColumnPlan:
    if kind not in TYPES:
        raise DataError(f"column {name!r}: unknown type {kind!r} (expected {', '.join(TYPES)})")
    return ColumnPlan(
        name, kind, "declared in the config", inferred.distinct, inferred.missing,
        strays=inferred.strays if kind == "numeric" else (),
    )  # fmt: skip


def _plan(name: str, kind: str, reason: str, column: pa.ChunkedArray, n: int) -> ColumnPlan:
    distinct = pc.count_distinct(column).as_py()
    return ColumnPlan(name, kind, reason, distinct, column.null_count / max(n, 1))


def _excluded(name: str, reason: str, distinct: int, missing: float) -> ColumnPlan:
    return ColumnPlan(name, "excluded", reason, distinct, missing)


def _constant_reason(distinct: int) -> str:
    return "every value is missing" if distinct == 0 else "constant: one value on every row"


def _unique_per_row(name: str, distinct: int, present: int) -> bool:
    """Names, ticket numbers, free text: as many levels as rows, nothing to learn per level."""
    if distinct == present and present > 1 and _id_name(name):
        return True
    return distinct > MIN_ID_ROWS and distinct >= UNIQUE_SHARE * present


def _id_name(name: str) -> bool:
    low = name.strip().lower()
    return low in ID_NAMES or low.endswith(("_id", " id", "id_")) or low.startswith("id_")


def _is_row_index(name: str, column: pa.ChunkedArray, distinct: int, n: int) -> bool:
    """Unique integers without gaps in their range (0..n-1, 1..n, or any start): a row index,
    which can only leak the row order into the model."""
    if column.null_count or distinct != n or (n < MIN_ID_ROWS and not _id_name(name)):
        return False
    values = column.to_numpy()
    if not np.all(values == np.round(values)):
        return False
    return int(np.max(values)) - int(np.min(values)) == n - 1
