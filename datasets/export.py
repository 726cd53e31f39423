"""Export the public datasets bundled in PyPI packages as the CSV train/test splits in this folder.

Run once, by hand, with the source packages installed (nncli itself never needs them):

    pip install scikit-learn==1.9.1 palmerpenguins==0.1.6 bokeh-sampledata==2026.1
    pip install --no-deps ISLP==0.6.0   # only its data files are read
    python datasets/export.py              # all; or some of: sklearn penguins titanic auto_mpg

Every dataset here ships inside a package's wheel, so nothing is downloaded. The
output is deterministic: a fixed seed, a stratified 80/20 split for classification
(plain random for regression). Numbers that are converted (scikit-learn's sets,
auto_mpg) are written with repr (the shortest text that round-trips) and integral
values as integers; the penguins and titanic rows keep their source's cells as they
are, so their gaps and quirks reach nncli the way a user's own file would.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
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


def _package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: see this script's docstring")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def export_table(
    name: str, header: list[str], rows: list[list[str]], target: str, stratify: bool
) -> None:
    """Split text rows, cells as they are, into datasets/<name>/train.csv and test.csv."""
    y = [row[header.index(target)] for row in rows]
    train, test = train_test_split(
        list(range(len(rows))),
        test_size=TEST_SIZE,
        random_state=SEED,
        stratify=y if stratify else None,
    )
    out = HERE / name
    out.mkdir(exist_ok=True)
    for file, indices in (("train.csv", train), ("test.csv", test)):
        with (out / file).open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows[i] for i in indices)
    gaps = sum(cell in ("", "NA") for row in rows for cell in row)
    print(
        f"{name}: train {len(train)}, test {len(test)}, {len(header) - 1} columns"
        f" besides {target}, {gaps} missing cells"
    )


def penguins() -> tuple[list[str], list[list[str]]]:
    """Palmer penguins as palmerpenguins ships it: 344 birds, NA for a missing value."""
    return _read_rows(_package_file("palmerpenguins", "data", "penguins.csv"))


def titanic() -> tuple[list[str], list[list[str]]]:
    """Titanic passengers as bokeh-sampledata ships them: age empty when unknown, class '*' once."""
    return _read_rows(_package_file("bokeh_sampledata", "_data", "titanic_all.csv"))


ORIGIN = {"1": "American", "2": "European", "3": "Japanese"}  # ISLR's documented codes


def auto_mpg() -> tuple[list[str], list[list[str]]]:
    """The UCI Auto MPG file as ISLP ships it (Auto.data: whitespace columns, quoted names, '?').

    Written as CSV with '?' as an empty cell and origin's codes 1/2/3 as the words they stand for.
    Numbers are written as integers when integral (the file spells 3504 as '3504.').
    """
    lines = _package_file("ISLP", "data", "Auto.data").read_text(encoding="utf-8").splitlines()
    header = lines[0].split()
    rows = []
    for line in lines[1:]:
        numbers, name = line.split('"', 1)
        cells = ["" if v == "?" else _cell(float(v)) for v in numbers.split()]
        cells[header.index("origin")] = ORIGIN[cells[header.index("origin")]]
        rows.append([*cells, name.rstrip().rstrip('"')])
    return header, rows


def export_sklearn() -> None:
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


EXPORTS: dict[str, Callable[[], None]] = {
    "sklearn": export_sklearn,
    "penguins": lambda: export_table("penguins", *penguins(), target="species", stratify=True),
    "titanic": lambda: export_table("titanic", *titanic(), target="survived", stratify=True),
    "auto_mpg": lambda: export_table("auto_mpg", *auto_mpg(), target="mpg", stratify=False),
}


def main() -> None:
    for name in sys.argv[1:] or list(EXPORTS):
        if name not in EXPORTS:
            raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(EXPORTS)}")
        EXPORTS[name]()


if __name__ == "__main__":
    main()
