"""Export scikit-learn's bundled toy datasets as the CSV train/test splits in this folder.

Run once, by hand, with scikit-learn installed (nncli itself never needs it):

    python datasets/export.py

Every dataset here is bundled inside the scikit-learn package, so nothing is
downloaded. The output is deterministic: a fixed seed, a stratified 80/20 split
for classification (plain random for regression), floats written with repr
(the shortest text that round-trips) and integral values written as integers.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

SEED = 0
TEST_SIZE = 0.2
HERE = Path(__file__).resolve().parent


def _cell(value: object) -> str:
    """Shortest exact text: integral numbers as ints, other floats by repr, labels as is."""
    if isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)


def _write(path: Path, header: list[str], x: np.ndarray, y: list[str] | np.ndarray) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row, target in zip(x.tolist(), list(y), strict=True):
            writer.writerow([_cell(v) for v in row] + [_cell(target)])


def export(name: str, loader: Callable, target: str, labels: bool, stratify: bool) -> None:
    """Write datasets/<name>/train.csv and test.csv with the target as the last column."""
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float64)
    y_raw = np.asarray(bunch.target)
    y = [str(bunch.target_names[i]) for i in y_raw] if labels else y_raw
    x_tr, x_te, y_tr, y_te = train_test_split(
        x,
        np.asarray(y, dtype=object),
        test_size=TEST_SIZE,
        random_state=SEED,
        stratify=y_raw if stratify else None,
    )
    header = [str(f) for f in bunch.feature_names] + [target]
    out = HERE / name
    out.mkdir(exist_ok=True)
    _write(out / "train.csv", header, x_tr, y_tr)
    _write(out / "test.csv", header, x_te, y_te)
    print(f"{name}: train {len(y_tr)}, test {len(y_te)}, {x.shape[1]} features, target {target}")


def main() -> None:
    export("iris", datasets.load_iris, "species", labels=True, stratify=True)
    export("wine", datasets.load_wine, "cultivar", labels=True, stratify=True)
    export("breast_cancer", datasets.load_breast_cancer, "diagnosis", labels=True, stratify=True)
    export("digits", datasets.load_digits, "digit", labels=False, stratify=True)
    export(
        "diabetes",
        lambda: datasets.load_diabetes(scaled=False),
        "progression",
        labels=False,
        stratify=False,
    )


if __name__ == "__main__":
    main()
