"""Odd fields: non-ASCII digits are not numbers; a quoted field may be longer than 128 KB."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DataCfg

from nncli.data import describe_value, load_dataset, row_location
from nncli.data.files import read_frame
from nncli.errors import DataError


def test_a_non_ascii_digit_is_named_at_its_line_and_column(tmp_path):
    path = tmp_path / "digits.csv"
    path.write_text("a,b,y\n0.1,0.2,1\n0.1,0.2,1\n0.1,\u0663,1\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_dataset(DataCfg(str(path), "y", features=["a", "b"]), np.random.default_rng(0))
    assert str(caught.value) == f"{path}:4: column 'b': '\u0663' is not a number"


def test_a_quoted_field_longer_than_the_csv_modules_default_limit_is_read(tmp_path):
    note = "x" * 200_000  # the csv module refuses fields over 131,072 characters by default
    path = tmp_path / "long.csv"
    path.write_text(f'a,note,label\n1.5,"{note}, with a comma",yes\n2.5,short,no\n')
    cfg = DataCfg(str(path), "label", features=["a"], scale="none")
    ds = load_dataset(cfg, np.random.default_rng(0))
    assert ds.train.x.tolist() == [[1.5], [2.5]]
    assert ds.prep.decode_y(ds.train.y).tolist() == ["yes", "no"]
    frame = read_frame(path)
    assert frame.column("label").to_pylist() == ["yes", "no"]
    assert frame.column("note").to_pylist() == [f"{note}, with a comma", "short"]
    # Naming a row reads the file again with the csv module: the long field too.
    assert [row_location(path, k) for k in range(2)] == [f"{path}:2", f"{path}:3"]
    assert describe_value(path, 0, "note") == f"{path}:2: column 'note': '{note}, with a comma'"
