"""Preprocessing fit on the training rows: feature scaling, target scaling and class labels,
and its pickle-free checkpoint state."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from nncli.data.encoders import Seen
from nncli.data.features import FeatureSet, Locate
from nncli.data.labels import class_indices
from nncli.data.values import label_text
from nncli.errors import CheckpointError, DataError

# Names a value found bad after scaling: (row, column) -> e.g. "a.csv:7: column 'x': '1e39'".
Where = Callable[[int, int], str]


class Preprocessor:
    """Everything needed to turn raw columns into model inputs and back; fit on train only.

    The feature columns (`columns`) make the raw inputs (numbers, "was missing" flags, one-hot
    levels), each mapped as (x - x_offset) / x_scale (standard: mean/std, minmax: min/range,
    none: 0/1); regression targets likewise with y_offset / y_scale.
    """

    def __init__(
        self,
        features: list[str],
        targets: list[str],
        task: str,
        classes: list[str] | None,
        x_offset: np.ndarray,
        x_scale: np.ndarray,
        y_offset: np.ndarray | None = None,
        y_scale: np.ndarray | None = None,
        dtype: Any = np.float32,
        columns: FeatureSet | None = None,
    ) -> None:
        self.columns = columns if columns is not None else FeatureSet.numeric(list(features))
        self.features = list(features)
        self.targets = list(targets)
        self.task = task
        self.classes = None if classes is None else list(classes)
        self.x_offset = np.asarray(x_offset, dtype=np.float64)
        self.x_scale = np.asarray(x_scale, dtype=np.float64)
        self.y_offset = None if y_offset is None else np.asarray(y_offset, dtype=np.float64)
        self.y_scale = None if y_scale is None else np.asarray(y_scale, dtype=np.float64)
        self.dtype = np.dtype(dtype)

    @classmethod
    def fit(
        cls,
        features: list[str],
        targets: list[str],
        task: str,
        classes: list[str] | None,
        x: np.ndarray | Sequence[np.ndarray],
        *,
        scale: str = "standard",
        y: np.ndarray | None = None,
        scale_target: bool = False,
        dtype: Any = np.float32,
        rows: np.ndarray | None = None,
        source: str = "the training data",
        columns: FeatureSet | None = None,
        x_stats: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Preprocessor:
        """Statistics from the training rows only (`rows` of x and y, sorted; default all);
        x may be one array or its row blocks as read; constant columns get scale 1, never 0.
        A column whose statistics overflow float64 is a DataError naming it (and `source`).
        `x_stats`: (offset, scale) of the inputs, fit already (then x is not read).
        """
        if x_stats is not None:
            x_offset, x_scale = x_stats
        else:
            scales = columns.scales if columns is not None else [scale] * len(features)
            inputs = columns.inputs if columns is not None else features
            x_offset, x_scale = fit_scaling(x, scales, rows, source, inputs)
        y_offset = y_scale = None
        if task == "regression":
            if y is None:
                raise ValueError("a regression Preprocessor is fit on its targets y")
            y_offset, y_scale = _stats([y], "standard" if scale_target else "none", rows)
            _check_stats(source, targets, y_offset, y_scale)
        return cls(
            features, targets, task, classes, x_offset, x_scale, y_offset, y_scale, dtype, columns
        )

    @property
    def inputs(self) -> list[str]:
        """The network's input units: a number, its "was missing" flag, one level of a text."""
        return self.columns.inputs

    @property
    def n_inputs(self) -> int:
        return len(self.columns.inputs)

    @property
    def n_outputs(self) -> int:
        """Width of the network's output: classes (classification) or targets (regression)."""
        return len(self.classes) if self.classes is not None else len(self.targets)

    def transform_table(
        self,
        table: Any,
        seen: Seen,
        locate: Locate,
        strict: bool = False,
        where: Where | None = None,
    ) -> np.ndarray:
        """An Arrow table's rows (feature columns by name) -> scaled inputs of the training
        dtype; gaps and unseen levels are counted in `seen` (errors when `strict`); where(row,
        column) names a value too large once scaled (default: its line and input)."""
        raw = self.columns.transform(table, seen, locate, strict)
        inputs = self.inputs
        return self.scale_x(raw, where or (lambda row, j: f"{locate(row)}: input {inputs[j]!r}"))

    def transform_x(self, x_raw: Any) -> np.ndarray:
        """Raw feature rows (n, f) in `features` order -> scaled array of the training dtype
        (models whose every feature is a number without gaps in training)."""
        if not self.columns.all_numeric:
            raise DataError(
                "this model has text or gap-flagged features: give it a table (a pandas "
                "DataFrame, a pyarrow Table, a mapping of column to values or a list of rows)"
            )
        x = np.array(x_raw, dtype=np.float64)  # a copy: scaled in place below
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise DataError(
                f"expected rows of {len(self.features)} features ({', '.join(self.features)}), "
                f"got an array of shape {x.shape}"
            )
        if not np.isfinite(x).all():
            raise DataError("the features contain nan or inf values")
        raw = np.asarray(x_raw)

        def where(row: int, j: int) -> str:
            return f"row {row + 1}, feature {self.features[j]!r}: {raw[row, j]!r}"

        return self.scale_x(x, where)

    def scale_x(self, x: np.ndarray, where: Where | None = None) -> np.ndarray:
        """Scale a float64 array we own, in place: big inputs get no temporary copies. A value
        beyond the training dtype once scaled is a DataError, placed by where(row, column)."""
        return apply_scaling(x, self.x_offset, self.x_scale, self.dtype, where, self.inputs)

    def encode_y(self, values: Any, where: Where | None = None) -> np.ndarray:
        """Labels -> int64 class indices, or regression values (n, k) -> scaled training dtype
        (a value beyond that dtype once scaled is a DataError placed by where(row, column))."""
        if self.y_offset is not None and self.y_scale is not None:  # regression
            y = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
            with np.errstate(over="ignore", invalid="ignore"):
                out = ((y - self.y_offset) / self.y_scale).astype(self.dtype)
            _check_scaled(out, where, self.targets, self.dtype)
            return out
        idx, bad = self.class_indices(values)
        if bad is not None:
            raise DataError(f"unknown label {label_text(values[bad])!r} (classes: {self.classes})")
        return idx

    def decode_y(self, y: Any) -> np.ndarray:
        """Class indices -> label text, or scaled regression outputs -> original units (float64)."""
        if self.classes is None:
            y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
            return y * self.y_scale + self.y_offset
        return np.asarray(self.classes, dtype=str)[np.asarray(y, dtype=np.int64)]

    def class_indices(self, labels: Sequence[Any]) -> tuple[np.ndarray, int | None]:
        """Indices of labels, and the position of the first unknown one (or None)."""
        return class_indices(self.classes or [], labels)

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able metadata and named float64 arrays, for a pickle-free checkpoint."""
        meta = {
            "features": self.features,
            "targets": self.targets,
            "task": self.task,
            "classes": self.classes,
            "dtype": self.dtype.name,
            "columns": self.columns.state(),
        }
        arrays = {"x_offset": self.x_offset, "x_scale": self.x_scale}
        if self.y_offset is not None and self.y_scale is not None:
            arrays |= {"y_offset": self.y_offset, "y_scale": self.y_scale}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: Any, arrays: dict[str, np.ndarray]) -> Preprocessor:
        """Inverse of to_state; anything missing, mistyped or mis-shaped is a CheckpointError
        (a checkpoint may come from anyone: nothing here may fail later, at predict time).
        """
        if not isinstance(meta, dict):
            raise CheckpointError("preprocessing state is not a mapping")
        for key in ("features", "targets", "task", "classes", "dtype"):
            if key not in meta:
                raise CheckpointError(f"preprocessing state is incomplete: missing {key!r}")
        task, dtype = meta["task"], meta["dtype"]
        if task not in ("classification", "regression"):
            raise CheckpointError(f"preprocessing state: unknown task {_clip(task)}")
        if dtype not in ("float32", "float64"):
            raise CheckpointError(f"preprocessing state: unsupported dtype {_clip(dtype)}")
        features, targets = _names(meta, "features"), _names(meta, "targets")
        columns = _columns(meta, features)
        classes = None if meta["classes"] is None else _names(meta, "classes")
        if task == "classification" and (classes is None or len(classes) < 2 or len(targets) != 1):
            raise CheckpointError("preprocessing state: classification needs 1 target, 2+ classes")
        if task == "regression" and classes is not None:
            raise CheckpointError("preprocessing state: a regression model has no classes")
        f, k = len(columns.inputs), len(targets)
        shapes = {"x_offset": f, "x_scale": f}
        if task == "regression":
            shapes |= {"y_offset": k, "y_scale": k}
        unexpected = sorted(set(arrays) - set(shapes))
        if unexpected:
            raise CheckpointError(f"unexpected preprocessing array {unexpected[0]!r}")
        for name, n in shapes.items():
            a = arrays.get(name)
            if a is None or a.shape != (n,):
                got = None if a is None else a.shape
                raise CheckpointError(f"preprocessing array {name!r}: expected ({n},), got {got}")
            if not np.all(np.isfinite(a)) or (name.endswith("scale") and not np.all(a > 0)):
                raise CheckpointError(f"preprocessing array {name!r} holds invalid values")
        return cls(
            features,
            targets,
            task,
            classes,
            arrays["x_offset"],
            arrays["x_scale"],
            arrays.get("y_offset"),
            arrays.get("y_scale"),
            dtype,
            columns,
        )


def fit_scaling(
    x: np.ndarray | Sequence[np.ndarray],
    scales: list[str],
    rows: np.ndarray | None,
    source: str,
    names: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) per input over the training `rows` of x (one array or row blocks),
    each input by its own method; statistics that overflow float64 name their input."""
    parts = [x] if isinstance(x, np.ndarray) else x
    offset, spread = _mixed_stats(parts, scales, rows)
    _check_stats(source, names, offset, spread)
    return offset, spread


def apply_scaling(
    x: np.ndarray,
    offset: np.ndarray,
    spread: np.ndarray,
    dtype: Any,
    where: Where | None,
    names: list[str],
) -> np.ndarray:
    """Scale a float64 array we own, in place, into `dtype`: a value beyond that dtype once
    scaled is a DataError, placed by where(row, column)."""
    with np.errstate(over="ignore", invalid="ignore"):
        x -= offset
        x /= spread
        out = x.astype(dtype, copy=False)
    _check_scaled(out, where, names, dtype)
    return out


def _check_scaled(out: np.ndarray, where: Where | None, names: list[str], dtype: Any) -> None:
    """A DataError at the first non-finite value of a scaled block (finite as read, beyond
    `dtype` once scaled, e.g. 1e39 for float32): one sum in the usual case (a finite sum
    means finite values), the full search only when it is not."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(out.sum()):
            return
    bad = np.argwhere(~np.isfinite(out.reshape(len(out), -1)))
    if not len(bad):
        return  # only the sum overflowed
    row, j = (int(v) for v in bad[0])
    place = where(row, j) if where is not None else f"row {row + 1}, column {names[j]!r}"
    raise DataError(
        f"{place} is too large for {np.dtype(dtype).name} once scaled as the training data "
        "was (is it in the right units?)"
    )


def _check_stats(source: str, names: list[str], offset: np.ndarray, scale: np.ndarray) -> None:
    """Statistics that overflowed float64 (values near 1e308, or a spread of 1e200s whose
    squares overflow) would scale every value to nan: name the column instead."""
    bad = ~(np.isfinite(offset) & np.isfinite(scale))
    if bad.any():
        name = names[int(np.argmax(bad))]
        raise DataError(
            f"{source}: column {name!r}: its values are too large to scale (their mean or "
            "spread overflows float64)"
        )


def _columns(meta: dict, features: list[str]) -> FeatureSet:
    """The feature columns of a checkpoint; one written before column types has numbers."""
    if "columns" not in meta:
        return FeatureSet.numeric(features)
    try:
        columns = FeatureSet.from_state(meta["columns"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"preprocessing state: damaged feature columns ({exc})") from None
    if columns.names != features:
        raise CheckpointError("preprocessing state: the feature columns do not match 'features'")
    return columns


def _names(meta: dict, key: str) -> list[str]:
    value = meta[key]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) for v in value)
        or len(set(value)) != len(value)
    ):
        raise CheckpointError(
            f"preprocessing state: {key!r} must be a list of distinct names, got {_clip(value)}"
        )
    return value


def _clip(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _mixed_stats(
    parts: Sequence[np.ndarray], scales: list[str], rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """_stats with each input's own scaling (numbers as configured, flags and levels none)."""
    if len(set(scales)) <= 1:
        return _stats(parts, scales[0] if scales else "none", rows)
    offset, spread = np.zeros(len(scales)), np.ones(len(scales))
    for method in set(scales) - {"none"}:
        idx = [j for j, s in enumerate(scales) if s == method]
        o, s = _stats([p[:, idx] for p in parts], method, rows)
        offset[idx], spread[idx] = o, s
    return offset, spread


def _stats(
    parts: Sequence[np.ndarray], scale: str, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) per column over `rows` of the row blocks `parts` (together one array),
    a few thousand rows at a time so big data needs no copy; a constant column keeps scale 1
    so nothing divides by zero.
    """
    width = parts[0].shape[1]
    n = sum(len(p) for p in parts) if rows is None else len(rows)
    if scale == "none":
        return np.zeros(width), np.ones(width)

    def chunks() -> Iterator[np.ndarray]:
        return _row_blocks(parts, rows)

    with np.errstate(over="ignore", invalid="ignore"):  # overflows: see _check_stats
        if scale == "standard":
            offset = sum(c.sum(axis=0) for c in chunks()) / n
            squares = sum(np.einsum("ij,ij->j", d, d) for d in (c - offset for c in chunks()))
            spread = np.sqrt(squares / n)
        elif scale == "minmax":
            offset = np.min([c.min(axis=0) for c in chunks()], axis=0)
            spread = np.max([c.max(axis=0) for c in chunks()], axis=0) - offset
        else:
            raise DataError(f"unknown scale {scale!r}: expected standard, minmax or none")
        spread = np.where(spread > 1e-12 * np.maximum(1.0, np.abs(offset)), spread, 1.0)
    return offset.astype(np.float64), spread.astype(np.float64)


def _row_blocks(parts: Sequence[np.ndarray], rows: np.ndarray | None) -> Iterator[np.ndarray]:
    """The rows `rows` (sorted; None: all) of the blocks `parts`, about 2 MB at a time."""
    size = max(1, (2 << 20) // (8 * max(1, parts[0].shape[1])))
    start = 0
    for part in parts:
        end = start + len(part)
        if rows is None:
            for i in range(0, len(part), size):
                yield part[i : i + size]
        else:
            lo, hi = np.searchsorted(rows, [start, end])
            local = rows[lo:hi] - start
            for i in range(0, len(local), size):
                yield np.take(part, local[i : i + size], axis=0)
        start = end
