"""Values real files hold that a reader can get subtly wrong: NaN spelled in the file, a
TSV row of empty fields, texts spelled as nncli's reserved levels, labels of mixed types."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import DataCfg

from nncli.data.dataset import load_dataset
from nncli.data.encoders import MISSING_LEVEL, OTHER_LEVEL, CategoricalColumn, Seen
from nncli.data.labels import class_indices
from nncli.errors import DataError


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(cfg: DataCfg):
    return load_dataset(cfg, np.random.default_rng(0))


@pytest.mark.parametrize("nan", ["-nan", "+NaN", "nan(7)"])
def test_a_nan_the_file_spells_is_no_gap_to_drop(tmp_path, nan):
    path = write(tmp_path, "n.csv", f"a,b,y\n1,2,p\n3,{nan},q\n5,6,p\n7,8,q\n9,1,p\n2,2,q\n")
    # named at its own line (before, the row was dropped and later lines named one too early)
    with pytest.raises(DataError, match=re.escape("n.csv:3: column 'b': ")):
        load(DataCfg(path, "y", validation=None, missing="drop"))


def test_a_tsv_row_of_empty_fields_keeps_the_lines_after_it(tmp_path):
    rows = "".join(f"{i}\t{i + 1}\t{'pq'[i % 2]}\n" for i in range(6))
    path = write(tmp_path, "t.tsv", "a\tb\ty\n1\t2\tp\n\t\t\n" + rows)
    with pytest.raises(DataError, match=r"t\.tsv:3: column 'a': missing value"):
        load(DataCfg(path, "y", validation=None, delimiter="\t"))
    ds = load(DataCfg(path, "y", validation=None, delimiter="\t", missing="drop"))
    assert any("dropped 1 row(s) with a missing value (line 3)" in n for n in ds.notes)


def test_texts_spelled_as_reserved_levels_are_unseen_not_levels():
    texts = ["a", "b", MISSING_LEVEL, None, OTHER_LEVEL, "a"]
    column = CategoricalColumn.fit("k", texts, {}, binary=False)
    assert column.levels == ["a", "b", MISSING_LEVEL]  # distinct: the checkpoint loads
    seen = Seen()
    codes = column.codes([MISSING_LEVEL, None, "a"], seen)
    assert codes.tolist() == [-1, 2, 0] and seen.unseen["k"] == 1


def test_labels_are_matched_by_their_text_whatever_their_type():
    assert class_indices(["1", "2"], [1, True, 2, 1]) == (pytest.approx([0, -1, 1, 0]), 1)
    indices, bad = class_indices(["1", "2"], [np.array([1]), np.array([2])])
    assert bad == 0
    indices, bad = class_indices(["1", "2"], [1.0, np.int64(2), " 1 ", "2.0"])
    assert indices.tolist() == [0, 1, 0, 1] and bad is None
