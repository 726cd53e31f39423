"""Targets: the task (classification or regression) a target implies, its classes and their
order, and labels as class indices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nncli.data.values import is_missing, is_number, label_text, looks_like_number
from nncli.errors import DataError

MAX_AUTO_CLASSES = 20  # task: auto treats at most this many distinct integers as classes


def infer_task(values: Sequence[str]) -> str:
    """task: auto. Any non-numeric value -> classification. All integers with at most 20
    distinct values and at most one distinct value per two rows (or only two values,
    e.g. 0/1) -> classification. Anything else -> regression.
    """
    if not all(is_number(v) for v in values):
        return "classification"
    numbers = {float(v) for v in values}
    if not all(n.is_integer() for n in numbers):
        return "regression"
    k = len(numbers)
    few = k <= 2 or (k <= MAX_AUTO_CLASSES and 2 * k <= len(values))
    return "classification" if few else "regression"


def resolve_task(task: str, targets: list[str], labels: list[str] | None) -> str:
    """The config's data.task, with auto decided from the labels; several targets regress."""
    if len(targets) > 1:
        if task == "classification":
            raise DataError(
                f"several targets {targets} need task regression; classification takes one"
            )
        return "regression"
    if task == "auto":
        return infer_task(labels or [])
    if task not in ("classification", "regression"):
        raise DataError(f"unknown task {task!r}: expected auto, classification or regression")
    return task


def sort_classes(labels: set[str] | Sequence[str]) -> list[str]:
    """Sorted unique labels: numerically when all are numbers ("2" < "10"), one class per
    number ("1" and "1.0" are the class "1", as a test file's "1.0" is), else as text."""
    unique = set(labels)
    if all(is_number(c) for c in unique):
        by_value: dict[float, str] = {}
        for c in sorted(unique, key=lambda c: (float(c), c)):
            by_value.setdefault(float(c), c)
        return list(by_value.values())
    return sorted(unique)


def class_indices(classes: Sequence[str], labels: Sequence[Any]) -> tuple[np.ndarray, int | None]:
    """Indices of labels among classes, and the position of the first unknown one (or None).
    Classes that are all numbers match by value: "1.0" is the class "1". Each distinct label
    is resolved once (a column of a million labels has a handful)."""
    index = {c: i for i, c in enumerate(classes)}
    numeric = {float(c): i for i, c in enumerate(classes) if is_number(c)}
    if not all(isinstance(label, str) for label in labels):  # True == 1, [1] is unhashable
        labels = [label_text(label) for label in labels]
    resolved: dict[str, int] = {}
    for label in dict.fromkeys(labels):
        text = label_text(label)
        i = index.get(text)
        if i is None and len(numeric) == len(index) and is_number(text):
            i = numeric.get(float(text))
        resolved[label] = -1 if i is None else i
    out = np.fromiter((resolved[label] for label in labels), np.int64, count=len(labels))
    unknown = out < 0
    return out, (int(np.argmax(unknown)) if unknown.any() else None)


def gap_in_numbers(labels: Sequence[str]) -> int | None:
    """The first label that is missing ("NA", "") or not finite ("inf", "1e400") in a column
    whose other labels are all numbers: task auto would take every value for a class."""
    first, numbers = None, 0
    for k, label in enumerate(labels):
        if is_number(label):
            numbers += 1
        elif is_missing(label) or looks_like_number(label):
            first = k if first is None else first
        else:
            return None  # a text label: classification
    return first if numbers else None
