"""Column types decided from all the values, and the transforms fit on training rows only:
numbers imputed and flagged, text levels one-hot with missing and unseen slots."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from nncli.data.columns import plan_columns
from nncli.data.encoders import CategoricalColumn, NumericColumn, Seen
from nncli.data.features import FeatureSet
from nncli.data.files import read_frame
from nncli.data.preprocess import Preprocessor
from nncli.errors import CheckpointError, DataError


def where(row: int) -> str:
    return f"t.csv:{row + 2}"


def frame(**columns: list) -> pa.Table:
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def plans_of(table: pa.Table, **kw) -> dict:
    return {p.name: p for p in plan_columns(table, ["y"], None, [], **kw)}


def test_types_are_inferred_from_every_value_with_a_reason():
    n = 120
    table = frame(
        row=[str(i) for i in range(n)],
        name=[f"person {i}" for i in range(n)],
        island=[["Biscoe", "Dream", "Torgersen"][i % 3] for i in range(n)],
        sex=["male" if i % 2 else "female" for i in range(n)],
        mass=[None if i % 10 == 0 else str(3000 + i) for i in range(n)],
        year=["2007"] * n,
        y=["a", "b"] * (n // 2),
    )
    plans = plans_of(table)
    assert plans["row"].type == "excluded" and "row index" in plans["row"].reason
    assert plans["name"].type == "excluded" and "every row" in plans["name"].reason
    assert plans["island"].type == "categorical" and plans["island"].distinct == 3
    assert plans["sex"].type == "binary"
    assert plans["mass"].type == "numeric" and plans["mass"].missing == pytest.approx(0.1)
    assert plans["year"].type == "excluded" and "constant" in plans["year"].reason
    assert "y" not in plans


def test_a_few_stray_texts_in_numbers_are_reported_not_made_a_category():
    values = [str(i % 50) for i in range(200)]
    values[7], values[99] = "?", "12,5"
    plan = plans_of(frame(a=values, y=["x"] * 200))["a"]
    assert plan.type == "numeric" and plan.strays == ("12,5", "?")
    assert "stray" in plan.reason


def test_small_integer_tables_keep_their_columns():
    """Below 50 rows, 1, 2, 3 is as likely data as a row index."""
    plan = plans_of(frame(a=["1", "2", "3"], y=["x", "y", "x"]))["a"]
    assert plan.type == "numeric"


def test_declared_types_and_options_win():
    table = frame(code=["1", "2", "3", "1"], y=["a", "b", "a", "b"])
    (plan,) = plan_columns(table, ["y"], [{"name": "code", "type": "categorical"}], [])
    assert plan.type == "categorical" and plan.reason == "declared in the config"
    with pytest.raises(DataError, match="unknown type 'text'"):
        plan_columns(table, ["y"], [{"name": "code", "type": "text"}], [])


def test_numeric_transform_imputes_with_training_statistics_and_flags_gaps():
    column = NumericColumn.fit("x", np.array([1.0, np.nan, 3.0, 10.0]), {}, ())
    assert column.fill == 3.0 and column.indicator and column.inputs == ["x", "x (missing)"]
    seen = Seen()
    out = column.transform(np.array([np.nan, 5.0]), seen)
    assert out.tolist() == [[3.0, 1.0], [5.0, 0.0]] and seen.missing["x"] == 1
    mean = NumericColumn.fit("x", np.array([1.0, np.nan, 3.0, 10.0]), {"impute": "mean"}, ())
    assert mean.fill == pytest.approx(14 / 3)
    assert not NumericColumn.fit("x", np.array([1.0, 2.0]), {}, ()).indicator


def test_categorical_has_missing_and_other_slots_only_when_training_needs_them():
    texts = ["a", "a", "b", None, "c"]
    rare = CategoricalColumn.fit("k", texts, {"min_frequency": 2}, binary=False)
    assert rare.levels == ["a", "(missing)", "(other)"]
    seen = Seen()
    out = rare.transform(["b", "zzz", None, "a"], seen)
    assert out.tolist() == [[0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0]]
    assert seen.unseen["k"] == 2 and seen.examples["k"] == ["b", "zzz"]
    plain = CategoricalColumn.fit("k", ["a", "b", "c"], {}, binary=False)
    seen = Seen()
    assert plain.transform(["new", None], seen).tolist() == [[0, 0, 0], [0, 0, 0]]
    assert seen.unseen["k"] == 1 and seen.missing["k"] == 1


def test_max_categories_keeps_the_most_frequent_levels():
    texts = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"]
    column = CategoricalColumn.fit("k", texts, {"max_categories": 2}, binary=False)
    assert column.levels == ["a", "b", "(other)"]


def test_binary_is_one_input():
    column = CategoricalColumn.fit("sex", ["M", "F", "M"], {}, binary=True)
    assert column.inputs == ["sex=M"]
    assert column.transform(["F", "M"], Seen()).tolist() == [[0.0], [1.0]]


def test_feature_set_fits_on_the_rows_it_is_given_and_round_trips_its_state():
    table = frame(n=["1", "2", None, "100"], k=["a", "b", "c", "zzz"], y=["p", "q", "p", "q"])
    train = table.slice(0, 3)  # row 3 (100, zzz) is held out
    plans = plan_columns(train, ["y"], None, [])
    features = FeatureSet.fit(train, plans, where)
    assert features.inputs == ["n", "n (missing)", "k=a", "k=b", "k=c"]
    assert features.columns[0].fill == 1.5  # the median of the training rows only
    again = FeatureSet.from_state(features.state())
    seen = Seen()
    x = again.transform(table, seen, where)
    assert x[3].tolist() == [100.0, 0.0, 0.0, 0.0, 0.0] and seen.unseen["k"] == 1
    assert x[2].tolist() == [1.5, 1.0, 0.0, 0.0, 1.0]


def test_strict_transform_names_the_row_of_a_gap_or_an_unseen_level():
    train = frame(k=["a", "b", "a"], y=["p", "q", "p"])
    features = FeatureSet.fit(train, plan_columns(train, ["y"], None, []), where)
    with pytest.raises(DataError, match=r"t\.csv:3: column 'k': 'c' was never seen"):
        features.transform(frame(k=["a", "c"]), Seen(), where, strict=True)


def test_damaged_column_state_is_a_checkpoint_error():
    prep = Preprocessor(["n"], ["y"], "regression", None, [0.0], [1.0], [0.0], [1.0])
    meta, arrays = prep.to_state()
    meta["columns"][0]["fill"] = "x"
    with pytest.raises(CheckpointError, match="damaged feature columns"):
        Preprocessor.from_state(meta, arrays)
    meta.pop("columns")  # written before column types: numbers
    assert Preprocessor.from_state(meta, arrays).inputs == ["n"]


@pytest.mark.parametrize("kind", ["parquet", "feather", "csv.gz"])
def test_columnar_and_gzip_files_read_like_csv(tmp_path, kind):
    table = pa.table({"a": [1.5, None, 3.0], "k": ["x", None, "y"]})
    path = tmp_path / f"t.{kind}"
    if kind == "parquet":
        pq.write_table(table, path)
    elif kind == "feather":
        feather.write_feather(table, path)
    else:
        import gzip

        path.write_bytes(gzip.compress(b"a,k\n1.5,x\nNA,\n3.0,y\n"))
    read = read_frame(path)
    assert read.column("k").to_pylist() == ["x", None, "y"]
    assert [None if v is None else float(v) for v in read.column("a").to_pylist()] == [
        1.5,
        None,
        3.0,
    ]


def test_quantile_scaling_matches_scikit_learn_and_tames_outliers():
    from sklearn.preprocessing import QuantileTransformer

    rng = np.random.default_rng(0)
    train = np.round(rng.lognormal(size=3000), 2)
    train[:3] = 0.0  # diamonds' x = 0: far below the rest
    column = NumericColumn.fit("x", train, {"scale": "quantile"}, ())
    reference = QuantileTransformer(n_quantiles=1000, output_distribution="normal").fit(
        train.reshape(-1, 1)
    )
    new = np.array([0.0, 0.5, 1.0, 3.0, 1e9])
    ours = column.transform(new, Seen())[:, 0]
    assert np.allclose(ours, reference.transform(new.reshape(-1, 1))[:, 0], atol=1e-7)
    assert np.abs(ours).max() < 5.3  # the 1e9 outlier maps to the top rank, not 1e9 sigmas
    again = FeatureSet.from_state([column.state()]).columns[0]
    assert np.array_equal(again.transform(new, Seen()), column.transform(new, Seen()))
    with pytest.raises(ValueError, match="quantiles must be sorted"):
        FeatureSet.from_state([{**column.state(), "quantiles": [3.0, 1.0]}])
