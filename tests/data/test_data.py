"""CSV reading, task inference, validation split and preprocessing, with every user error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DataCfg

from nncli.data import files as data_files
from nncli.data import (
    infer_task,
    load_dataset,
    read_features,
    row_location,
    sort_classes,
    split_indices,
)
from nncli.data.files import read_frame, stream_frames
from nncli.data.preprocess import Preprocessor
from nncli.errors import CheckpointError, DataError

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


def write(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(cfg: DataCfg, seed: int = 0):
    return load_dataset(cfg, np.random.default_rng(seed))


def raises(match: str):
    return pytest.raises(DataError, match=match)


def csv_rows(path: str | Path) -> list[dict[str, str]]:
    """A CSV's data rows as the csv module reads them: the tests' own reader."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def csv_numbers(path: str | Path, names: list[str]) -> np.ndarray:
    return np.array([[float(row[n]) for n in names] for row in csv_rows(path)])


# --- task inference and classes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["setosa", "virginica"] * 5, "classification"),
        ([str(i % 10) for i in range(100)], "classification"),  # digit labels
        (["0", "1", "1"], "classification"),  # two values: binary even when tiny
        (["-1", "1"] * 4, "classification"),
        (["1.5", "2.0", "3.25", "1.5"], "regression"),
        ([str(i) for i in range(10)], "regression"),  # 10 distinct of 10 rows
        ([str(i % 30) for i in range(300)], "regression"),  # more than 20 integers
        (["1.0", "2.0", "1.0", "2.0", "3.0", "3.0"], "classification"),  # integral floats
        (["1", "2", "x"], "classification"),  # any text value
    ],
)
def test_infer_task(values, task):
    assert infer_task(values) == task


def test_classes_sort_numerically_when_numeric_else_as_text():
    assert sort_classes(["10", "2", "1"]) == ["1", "2", "10"]
    assert sort_classes(["b", "10", "a", "2"]) == ["10", "2", "a", "b"]


def test_bundled_datasets_load_with_expected_tasks_and_classes():
    expect = {
        "iris": ("species", ["setosa", "versicolor", "virginica"]),
        "wine": ("cultivar", ["class_0", "class_1", "class_2"]),
        "breast_cancer": ("diagnosis", ["benign", "malignant"]),
        "digits": ("digit", [str(d) for d in range(10)]),
        "diabetes": ("progression", None),
    }
    for name, (target, classes) in expect.items():
        folder = DATASETS / name
        ds = load(DataCfg(str(folder / "train.csv"), target, 0.2, str(folder / "test.csv")))
        assert ds.prep.classes == classes, name
        assert ds.prep.task == ("regression" if classes is None else "classification")
        assert ds.train.x.dtype == np.float32
        if classes is None:
            assert ds.train.y.shape == (len(ds.train), 1) and ds.train.y.dtype == np.float32
        else:
            assert ds.train.y.dtype == np.int64 and ds.train.y.shape == (len(ds.train),)
        assert len(ds.test) == len(csv_rows(folder / "test.csv"))


def test_iris_feature_names_with_spaces_and_parentheses():
    train = str(DATASETS / "iris" / "train.csv")
    names = ["petal width (cm)", "sepal length (cm)"]
    ds = load(DataCfg(train, "species", features=names))
    assert ds.prep.features == names and ds.train.x.shape == (120, 2)
    raw = csv_numbers(train, names)
    assert np.allclose(ds.train.x, (raw - raw.mean(0)) / raw.std(0), atol=1e-5)


def test_forced_tasks_and_several_targets(tmp_path):
    path = write(tmp_path, "a,b,c\n" + "".join(f"{i},{i % 3},{i * 2}\n" for i in range(12)))
    assert load(DataCfg(path, "b")).prep.task == "classification"
    assert load(DataCfg(path, "b", task="regression")).prep.task == "regression"
    forced = load(DataCfg(path, "c", task="classification"))
    assert forced.prep.classes == [str(2 * i) for i in range(12)]
    both = load(DataCfg(path, ["b", "c"]))
    assert both.prep.task == "regression" and both.train.y.shape == (12, 2)
    with raises("several targets"):
        load(DataCfg(path, ["b", "c"], task="classification"))
    text = write(tmp_path, "a,y\n1,x\n2,z\n", "t.csv")
    with raises(r"t\.csv:2: column 'y': 'x' is not a number"):
        load(DataCfg(text, "y", task="regression"))
    with raises("single class"):
        load(DataCfg(write(tmp_path, "a,y\n1,x\n2,x\n", "one.csv"), "y"))


# --- validation split -------------------------------------------------------------------


def labelled(tmp_path: Path, counts: dict[str, int]) -> str:
    rows = [f"{i},{label}" for label, n in counts.items() for i in range(n)]
    return write(tmp_path, "x,y\n" + "\n".join(rows) + "\n")


def test_stratified_split_keeps_proportions_and_is_deterministic(tmp_path):
    path = labelled(tmp_path, {"a": 50, "b": 30, "c": 20})
    ds = load(DataCfg(path, "y", validation=0.2), seed=1)
    assert np.bincount(ds.val.y).tolist() == [10, 6, 4]
    assert np.bincount(ds.train.y).tolist() == [40, 24, 16]
    again = load(DataCfg(path, "y", validation=0.2), seed=1)
    assert np.array_equal(ds.val.x, again.val.x)
    other = load(DataCfg(path, "y", validation=0.2), seed=2)
    assert not np.array_equal(ds.val.x, other.val.x)


def test_split_rows_are_disjoint_and_cover_everything():
    rng = np.random.default_rng(0)
    train, val = split_indices(103, 0.25, rng)
    assert len(val) == 26 and sorted(np.concatenate([train, val]).tolist()) == list(range(103))


def test_tiny_class_stays_in_train_and_too_few_rows_is_an_error(tmp_path):
    ds = load(DataCfg(labelled(tmp_path, {"a": 10, "b": 1}), "y", validation=0.2))
    assert np.bincount(ds.val.y, minlength=2).tolist() == [2, 0]
    assert np.bincount(ds.train.y).tolist() == [8, 1]
    path = write(tmp_path, "x,y\n1,a\n2,b\n3,a\n", "tiny.csv")
    with raises(r"tiny\.csv: too few rows \(3\) to hold out a validation fraction of 0.1"):
        load(DataCfg(path, "y", validation=0.1))


def test_validation_csv_and_test_csv(tmp_path):
    train = labelled(tmp_path, {"a": 5, "b": 5})
    val = write(tmp_path, "y,x,extra\nb,1,q\na,2,q\n", "v.csv")
    ds = load(DataCfg(train, "y", validation=val, test=val))
    assert ds.val.y.tolist() == [1, 0] and ds.test.x.shape == (2, 1)
    bad = write(tmp_path, "x,y\n1,a\n2,c\n", "bad.csv")
    with raises(r"bad\.csv:3: label 'c' of 'y' was not in the training data \(classes: a, b\)"):
        load(DataCfg(train, "y", test=bad))


# --- preprocessing ----------------------------------------------------------------------


def test_scaler_is_fit_on_train_only(tmp_path):
    train = write(tmp_path, "x,k,y\n0,5,1.5\n2,5,2.5\n4,5,3.5\n", "train.csv")
    test = write(tmp_path, "x,k,y\n100,7,0.5\n", "test.csv")
    ds = load(DataCfg(train, "y", test=test))
    assert ds.prep.x_offset.tolist() == [2.0, 5.0]
    assert np.allclose(ds.prep.x_scale, [np.std([0, 2, 4]), 1.0])  # constant column: scale 1
    assert np.allclose(ds.test.x, [[98 / np.std([0, 2, 4]), 2.0]])
    mm = load(DataCfg(train, "y", test=test, scale="minmax"))
    assert np.allclose(mm.train.x[:, 0], [0, 0.5, 1]) and np.allclose(mm.test.x, [[25, 2]])
    raw = load(DataCfg(train, "y", test=test, scale="none", scale_target=False))
    assert raw.test.x.tolist() == [[100, 7]] and raw.train.y[:, 0].tolist() == [1.5, 2.5, 3.5]


def test_held_out_rows_do_not_leak_into_the_scaler(tmp_path):
    path = write(tmp_path, "x,y\n" + "".join(f"{i},{i * 0.5}\n" for i in range(20)))
    ds = load(DataCfg(path, "y", validation=0.25, scale_target=False), seed=3)
    train_raw = ds.train.x[:, 0] * ds.prep.x_scale[0] + ds.prep.x_offset[0]
    assert len(train_raw) == 15
    assert ds.prep.x_offset[0] == pytest.approx(train_raw.mean(), rel=1e-6)


def test_regression_targets_round_trip_in_original_units():
    folder = DATASETS / "diabetes"
    ds = load(DataCfg(str(folder / "train.csv"), "progression", 0.2, str(folder / "test.csv")))
    assert abs(ds.train.y.mean()) < 1e-5 and ds.train.y.std() == pytest.approx(1, rel=1e-5)
    raw = csv_numbers(folder / "test.csv", ["progression"])
    assert np.allclose(ds.prep.decode_y(ds.test.y), raw, rtol=1e-5)
    assert np.allclose(ds.prep.decode_y(ds.prep.encode_y(raw)), raw, rtol=1e-5)


def test_labels_encode_and_decode_as_text():
    prep = Preprocessor.fit(["f"], ["y"], "classification", ["1", "2", "10"], np.zeros((3, 1)))
    assert prep.encode_y(["10", "1", 2, 10.0]).tolist() == [2, 0, 1, 2]
    assert prep.decode_y(np.array([2, 0])).tolist() == ["10", "1"]
    with raises("unknown label '3'"):
        prep.encode_y(["3"])


def test_preprocessor_state_round_trips_through_json_and_npz(tmp_path):
    folder = DATASETS / "diabetes"
    prep = load(DataCfg(str(folder / "train.csv"), "progression")).prep
    meta, arrays = prep.to_state()
    np.savez(tmp_path / "p.npz", **arrays)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as f:
        back = Preprocessor.from_state(json.loads(json.dumps(meta)), dict(f))
    x = csv_numbers(folder / "test.csv", prep.features)
    assert np.array_equal(back.transform_x(x), prep.transform_x(x))
    assert back.features == prep.features and back.targets == ["progression"]
    assert back.dtype == np.float32 and back.classes is None
    iris = load(DataCfg(str(DATASETS / "iris" / "train.csv"), "species")).prep
    again = Preprocessor.from_state(*iris.to_state())
    assert again.classes == iris.classes and again.task == "classification"
    with pytest.raises(CheckpointError, match="x_scale"):
        Preprocessor.from_state(meta, {**arrays, "x_scale": np.ones(3)})
    with pytest.raises(CheckpointError, match="missing"):
        Preprocessor.from_state({k: v for k, v in meta.items() if k != "task"}, arrays)


def test_transform_x_checks_the_shape_and_values():
    prep = Preprocessor.fit(["a", "b"], ["y"], "classification", ["0", "1"], np.eye(2))
    with raises(r"expected rows of 2 features \(a, b\)"):
        prep.transform_x(np.zeros((3, 3)))
    with raises("nan or inf"):
        prep.transform_x([[1.0, np.nan]])


# --- reading features at predict / evaluate time ----------------------------------------


def test_read_features_by_name_in_any_order_with_extra_columns(tmp_path):
    train = write(tmp_path, "a b (x),c,y\n1,10,p\n3,30,q\n", "train.csv")
    prep = load(DataCfg(train, "y")).prep
    other = write(tmp_path, 'id,c,"a b (x)",note\n7,20,2,"x, y"\n8,30,3,z\n', "new.csv")
    x, y = read_features(other, prep)
    assert y is None and np.allclose(x, [[0, 0], [1, 1]])
    with raises(r"new\.csv: no target column 'y'"):
        read_features(other, prep, need_target=True)
    labelled = write(tmp_path, "y,c,a b (x)\nq,20,2\np,10,1\n", "eval.csv")
    x, y = read_features(labelled, prep, need_target=True)
    assert y.tolist() == [1, 0] and len(x) == len(csv_rows(labelled)) == 2


def test_blank_lines_crlf_bom_and_quotes_are_fine(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes(b'\xef\xbb\xbf\r\n"a",b\r\n1,"2"\r\n\r\n   \r\n3,4\r\n')
    frame = read_frame(path)
    assert frame.column_names == ["a", "b"]
    assert [row_location(path, k) for k in range(2)] == [f"{path}:3", f"{path}:6"]
    cfg = DataCfg(str(path), "b", features=["a"], task="regression", scale="none")
    ds = load_dataset(cfg, np.random.default_rng(0), dtype=np.float64)
    assert ds.train.x.tolist() == [[1], [3]] and ds.prep.decode_y(ds.train.y).tolist() == [[2], [4]]
    assert frame.column("b").to_pylist() == ["2", "4"]
    semi = write(tmp_path, "a;y\n1,5;x\n2,5;z\n", "semi.csv")
    assert read_frame(semi, ";").column("y").to_pylist() == ["x", "z"]


# --- every user error: one DataError naming the file (and line and column) --------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"f\.csv: the file is empty"),
        ("\n  \n", r"f\.csv: the file is empty"),
        ("a,y\n", r"f\.csv: has a header but no data rows"),
        ("a,a,y\n1,2,x\n", r"f\.csv:1: duplicate column name 'a' \(columns 1 and 2\)"),
        ("a,,y\n1,2,x\n", r"f\.csv:1: column 2 of the header has no name"),
        ("a,y\n1,x\n2\n", r"f\.csv:3: the row has 1 field, the header has 2"),
        ("a,y\n1,x\n2,x,3\n", r"f\.csv:3: the row has 3 fields, the header has 2"),
        ('a,y\n1,x\n2,"x,",3\n', r"f\.csv:3: the row has 3 fields"),
        ("a,y\n1,x\nabc,x\n", r"f\.csv:3: column 'a': 'abc' is not a number"),
        ("a,y\n1,x\n1_000,x\n", r"f\.csv:3: column 'a': '1_000' is not a number"),
        ("a,y\n1,x\n ,x\n", r"f\.csv:3: column 'a': missing value"),
        ("a,y\n1,x\nnan,x\n", r"f\.csv:3: column 'a': 'nan' is not a finite number"),
        ("a,y\n1,x\n-inf,x\n", r"f\.csv:3: column 'a': '-inf' is not a finite number"),
        ("a,y\n1,x\n1e999,x\n", r"f\.csv:3: column 'a': '1e999' is not a finite number"),
        ("a,y\n1,x\n2,\n", r"f\.csv:3: column 'y': missing value"),
        ("a,spieces\n1,x\n", r"f\.csv: no target column 'species'; did you mean 'spieces'\?"),
        ("a;y;species\n1;2;x\n", r"single column: is the delimiter ';'\?"),
    ],
)
def test_csv_errors_name_file_line_and_column(tmp_path, content, message):
    with raises(message):
        load(DataCfg(write(tmp_path, content, "f.csv"), "species" if "species" in message else "y"))


def test_file_level_errors(tmp_path):
    with raises(r"nope\.csv: no such file"):
        load(DataCfg(str(tmp_path / "nope.csv"), "y"))
    with raises("is a directory"):
        load(DataCfg(str(tmp_path), "y"))
    (tmp_path / "bin.csv").write_bytes(b"PK\x03\x04\x00\x00rest")
    with raises(r"bin\.csv: binary data \(a NUL byte at offset 4\)"):
        load(DataCfg(str(tmp_path / "bin.csv"), "y"))
    (tmp_path / "latin.csv").write_bytes("a,y\n1,caf\xe9\n".encode("latin-1"))
    with raises(r"latin\.csv:2: not UTF-8 text \(byte 0xe9\)"):
        load(DataCfg(str(tmp_path / "latin.csv"), "y"))


def test_feature_list_errors(tmp_path):
    path = write(tmp_path, "sepal length (cm),b,y\n1,2,x\n3,4,z\n", "f.csv")
    with raises(r"f\.csv: no feature column 'sepal length'; did you mean 'sepal length \(cm\)'"):
        load(DataCfg(path, "y", features=["sepal length"]))
    with raises("no feature columns"):
        load(DataCfg(write(tmp_path, "y\nx\nz\n", "only.csv"), "y"))


def test_a_quote_left_open_is_an_error_not_a_lost_row(tmp_path):
    """numpy reads an open quote on into the next line: one row fewer, every label after it
    shifted onto the wrong features (training) or one prediction missing (predict)."""
    text = 'a,b,y\n1,2,x\n3,4,"z\n5,6,x"\n7,8,z\n9,0,x\n'
    with raises(r"f\.csv:3: a quoted field is not closed on its line"):
        load(DataCfg(write(tmp_path, text, "f.csv"), "y"))
    prep = load(DataCfg(write(tmp_path, "a,b,y\n1,2,x\n3,4,z\n", "train.csv"), "y")).prep
    for text, line in [('a,b\n1,"2"\n3,"4\n5,6\n', 3), ('a,b,y\n1,2,x\n3,4,"z\n5,6,x\n', 3)]:
        with raises(rf"p\.csv:{line}: a quoted field is not closed"):
            read_features(write(tmp_path, text, "p.csv"), prep)
    numeric = 'a,b\n1,2\n3,"4\n"\n5,6\n'  # pyarrow: 3 rows of numbers (the 2nd ends "4\n")
    with raises(r"n\.csv:3: a quoted field is not closed"):
        load(DataCfg(write(tmp_path, numeric, "n.csv"), "b"))


def test_error_far_down_a_bigger_file_names_the_exact_line(tmp_path):
    rows = [f"{i},{i % 2}" for i in range(5000)]
    rows[4321] = "oops,1"
    path = write(tmp_path, "a,y\n" + "\n".join(rows) + "\n", "big.csv")
    with raises(r"big\.csv:4323: column 'a': 'oops' is not a number"):
        load(DataCfg(path, "y"))


def test_numbers_read_in_blocks_match_numpy(tmp_path, monkeypatch):
    """Block by block, all columns or some, nncli reads numpy.loadtxt's exact values."""
    rng = np.random.default_rng(0)
    data = np.round(rng.normal(size=(3000, 12)), 6)
    path = tmp_path / "m.csv"
    np.savetxt(path, data, fmt="%.17g", delimiter=",", header=",".join(f"c{i}" for i in range(12)))
    path.write_text(path.read_text().removeprefix("# "))
    expected = np.loadtxt(path, delimiter=",", skiprows=1)
    for name in ("READ_BLOCK_BYTES", "NUMBERS_BLOCK_BYTES"):  # about 20 blocks, cut inside lines
        monkeypatch.setattr(data_files, name, 5000)
    assert len(list(stream_frames(path))) > 10
    for names in ([f"c{i}" for i in range(11)], ["c7", "c2"]):
        cfg = DataCfg(str(path), "c11", features=names, scale="none", scale_target=False)
        ds = load_dataset(cfg, np.random.default_rng(0), dtype=np.float64)
        columns = [int(n[1:]) for n in names]
        assert np.array_equal(ds.train.x, expected[:, columns])  # read whole (training)
        x, y = read_features(path, ds.prep, need_target=True)  # evaluate
        assert np.array_equal(x, expected[:, columns]) and np.array_equal(y, expected[:, 11:])
        assert np.array_equal(read_features(path, ds.prep)[0], expected[:, columns])  # streamed
    lines = [row_location(path, k) for k in range(3000)]
    assert lines == [f"{path}:{n}" for n in range(2, 3002)]


# --- issue 4: messy CSVs at evaluate time, and data.missing: drop -------------------------------


def test_evaluate_time_errors_name_file_line_and_column(tmp_path):
    """Labels training never saw, a feature column gone, junk in a test file."""
    prep = load(DataCfg(write(tmp_path, "a,b,y\n1,2,x\n3,4,z\n5,6,x\n", "train.csv"), "y")).prep
    cases = {
        "a,b,y\n1,2,x\n3,4,w\n": r"new\.csv:3: label 'w' of 'y' was not in the training data",
        "b,y\n1,x\n": r"new\.csv: no column 'a'",
        "a,b,y\n1,2,x\n1,inf,z\n": r"new\.csv:3: column 'b': 'inf' is not a finite number",
        "y,a,b\nx,1,2\nz,3\n": r"new\.csv:3: the row has 2 fields, the header has 3",
        "a,b,y\n": r"new\.csv: has a header but no data rows",
    }
    for text, message in cases.items():
        with raises(message):
            read_features(write(tmp_path, text, "new.csv"), prep, need_target=True)


MESSY = "a,b,y\n1,2,x\n,4,z\n5,NA,x\n7,8,\n9,nan,z\n11,12,x\n13,14,z\n"


def test_missing_values_are_errors_by_default(tmp_path):
    with raises(r"m\.csv:3: column 'a': missing value"):
        load(DataCfg(write(tmp_path, MESSY, "m.csv"), "y"))


def test_missing_drop_leaves_out_those_rows_and_says_which(tmp_path):
    path = write(tmp_path, MESSY, "m.csv")
    ds = load(DataCfg(path, "y", missing="drop", scale="none"))
    assert ds.train.x.tolist() == [[1, 2], [11, 12], [13, 14]]
    assert ds.prep.classes == ["x", "z"]
    (note,) = ds.notes
    assert "m.csv: dropped 4 row(s)" in note and "line 3, 4, 5, 6" in note
    # inf is never "missing": still an error
    with raises(r"i\.csv:3: column 'b': 'inf' is not a finite number"):
        path = write(tmp_path, "a,b,y\n1,2,x\n3,inf,z\n4,5,x\n", "i.csv")
        load(DataCfg(path, "y", missing="drop"))
    with raises(r"e\.csv: every data row has a missing value"):
        load(DataCfg(write(tmp_path, "a,y\n,x\nNA,z\n", "e.csv"), "y", missing="drop"))


def test_missing_drop_applies_to_test_files_but_never_to_prediction_inputs(tmp_path):
    train = write(tmp_path, "a,b,y\n1,2,x\n3,4,z\n5,6,x\n7,8,z\n", "train.csv")
    test = write(tmp_path, "a,b,y\n1,,x\n3,4,z\n", "test.csv")
    ds = load(DataCfg(train, "y", test=test, missing="drop"))
    assert len(ds.test) == 1 and any("test.csv: dropped 1 row(s)" in n for n in ds.notes)
    with raises(r"test\.csv:2: column 'b': missing value"):
        read_features(test, ds.prep, need_target=False, missing="drop")  # one row out per row in


def test_stray_texts_in_a_numeric_column_are_named_with_their_lines(tmp_path):
    # 100 rows of numbers, three holding '?' or 'n.a.', a gap before them
    rows = [f"{i},{i % 7},{'xy'[i % 2]}" for i in range(100)]
    rows[10], rows[30], rows[50] = "10,?,x", "30,n.a.,x", "50,?,x"
    rows[5] = "5,,y"
    path = write(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n", "s.csv")
    ds = load(DataCfg(path, "y", missing="impute", validation=None))
    (note,) = ds.notes
    assert "column 'b' holds numbers and 3 text value(s) ('?', 'n.a.'; line 12, 32, 52)" in note
    # drop and error never fill a gap, so a stray text is an error at its line
    for missing in ("drop", "error"):
        with raises(r"s\.csv:12: column 'b': '\?' is not a number"):
            load(DataCfg(path, "y", missing=missing, validation=None))
