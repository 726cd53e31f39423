"""Odd fields: non-ASCII digits are not numbers; a quoted field may be longer than 128 KB."""

from __future__ import annotations

import pytest

from nncli.data.csvio import read_table
from nncli.errors import DataError


def test_a_non_ascii_digit_is_named_at_its_line_and_column(tmp_path):
    path = tmp_path / "digits.csv"
    path.write_text("a,b,y\n0.1,0.2,1\n0.1,0.2,1\n0.1,\u0663,1\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_table(path).numbers(["a", "b"])
    assert str(caught.value) == f"{path}:4: column 'b': '\u0663' is not a number"


def test_a_quoted_field_longer_than_the_csv_modules_default_limit_is_read(tmp_path):
    note = "x" * 200_000  # the csv module refuses fields over 131,072 characters by default
    path = tmp_path / "long.csv"
    path.write_text(f'a,note,label\n1.5,"{note}, with a comma",yes\n2.5,short,no\n')
    table = read_table(path)
    assert table.numbers(["a"]).tolist() == [[1.5], [2.5]]
    assert table.texts("label") == ["yes", "no"]
    assert table.texts("note") == [f"{note}, with a comma", "short"]
