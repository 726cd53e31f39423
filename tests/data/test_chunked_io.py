"""Big CSVs are read block by block (pyarrow's blocks): the same data as in one piece, errors
still name their line, and predict streams its input to its output."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS, DataCfg, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

import nncli
from nncli.data import files, read_features, row_location
from nncli.data.dataset import load_dataset
from nncli.data.files import read_frame, stream_frames
from nncli.data.preprocess import Preprocessor
from nncli.errors import DataError


def small_blocks(patch: pytest.MonkeyPatch, size: int) -> None:
    """pyarrow's blocks of `size` bytes, however a file is read: whole, streamed (predict) or
    a block of numbers at a time (training)."""
    patch.setattr(files, "READ_BLOCK_BYTES", size)
    patch.setattr(files, "NUMBERS_BLOCK_BYTES", size)


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Blocks of 61 bytes of text (cut inside lines)."""
    small_blocks(monkeypatch, 61)


def label_of(a: np.ndarray) -> np.ndarray:
    return np.where(a < -30, "ant", np.where(a < 30, "bee", "cat"))


def rows_text(n: int = 200) -> list[str]:
    """n data lines of 3 features (quarters: every sum is exact) and a label set by the first."""
    values = np.random.default_rng(0).integers(-400, 400, size=(n, 3)) / 4
    labels = label_of(values[:, 0])
    return [f"{a},{b},{c},{y}" for (a, b, c), y in zip(values, labels, strict=True)]


def messy_file(path: Path) -> Path:
    """BOM, CRLF, blank lines, quoted values and missing values spread over the file."""
    lines = rows_text()
    lines[10] = '"1.5",2,"-3",bee'
    for i in (40, 77, 150):
        lines[i] = ""  # blank lines
    lines[60] = "NA,1,2,cat"
    lines[120] = "1,,2,ant"
    text = "\r\n".join(["a,b,c,y", *lines]) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    return path


def test_a_dataset_read_in_chunks_equals_the_one_read_whole(tmp_path, monkeypatch):
    train = messy_file(tmp_path / "train.csv")
    test = tmp_path / "test.csv"
    test.write_text("y,c,b,a\n" + "\n".join(f"bee,{i},{-i},{i / 4}" for i in range(50)) + "\n")
    cfgs = [
        DataCfg(str(train), "y", validation=0.25, test=str(test), missing="drop"),
        DataCfg(str(train), "a", features=["c", "b"], scale="minmax", missing="drop"),
    ]
    for cfg in cfgs:
        whole = load_dataset(cfg, np.random.default_rng(3))
        small_blocks(monkeypatch, 61)
        chunked = load_dataset(cfg, np.random.default_rng(3))
        monkeypatch.undo()
        assert chunked.notes == whole.notes and "line 62, 122" in whole.notes[0]
        assert np.array_equal(chunked.prep.x_offset, whole.prep.x_offset)
        np.testing.assert_allclose(chunked.prep.x_scale, whole.prep.x_scale, rtol=1e-12)
        for name in ("train", "val", "test"):
            a, b = getattr(whole, name), getattr(chunked, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert b.x.dtype == a.x.dtype == np.float32 and b.x.shape == a.x.shape
                np.testing.assert_allclose(b.x, a.x, rtol=1e-6, atol=1e-6)
                assert np.array_equal(b.y, a.y), name
    # Every row keeps its own label, and train + validation hold each kept row once.
    ds = load_dataset(cfgs[0], np.random.default_rng(3))
    assert ds.train.x.base is ds.val.x.base  # one array, no copies
    prep = ds.prep
    raw = [np.round((s.x * prep.x_scale + prep.x_offset) * 4) / 4 for s in (ds.train, ds.val)]
    for split, values in zip((ds.train, ds.val), raw, strict=True):
        assert list(np.asarray(prep.classes)[split.y]) == list(label_of(values[:, 0]))
    lines = train.read_text(encoding="utf-8-sig").splitlines()[1:]
    kept = [ln.replace('"', "").split(",")[:3] for ln in lines if ln]
    kept = np.array([r for r in kept if "NA" not in r and "" not in r], dtype=float)
    assert len(kept) == 200 - 3 - 2
    got = np.concatenate(raw)
    assert np.array_equal(got[np.lexsort(got.T)], kept[np.lexsort(kept.T)])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,2,oops,ant", "f.csv:152: column 'c': 'oops' is not a number"),
        ("1,2,,ant", "f.csv:152: column 'c': missing value"),
        ("1,2,inf,ant", "f.csv:152: column 'c': 'inf' is not a finite number"),
        ("1,2,3,", "f.csv:152: column 'y': missing value"),
        ("1,2,3,ant,4", "f.csv:152: the row has 5 fields, the header has 4"),
        ('1,"2,3",ant', "f.csv:152: the row has 3 fields, the header has 4"),
        ("1,2\r,3,ant", r"f.csv:152: a carriage return (\r) inside a line"),
    ],
)
def test_errors_in_later_chunks_name_their_line(tmp_path, tiny_chunks, line, message):
    lines = rows_text()
    lines[150] = line
    path = tmp_path / "f.csv"
    path.write_text("a,b,c,y\n" + "\n".join(lines) + "\n", newline="")
    with pytest.raises(DataError) as info:
        load_dataset(DataCfg(str(path), "y"), np.random.default_rng(0))
    assert message in str(info.value)


def test_bytes_errors_in_later_chunks_name_their_line_or_offset(tmp_path, tiny_chunks):
    head = ("a,b,c,y\n" + "\n".join(rows_text()[:150]) + "\n").encode()
    path = tmp_path / "f.csv"
    path.write_bytes(head + b"1,2,3,caf\xe9\n4,5,6,ant\n")
    with pytest.raises(DataError, match=r"f\.csv:152: not UTF-8 text \(byte 0xe9\)"):
        load_dataset(DataCfg(str(path), "y"), np.random.default_rng(0))
    path.write_bytes(head + b"1,2,\x003,ant\n")
    with pytest.raises(DataError, match=f"a NUL byte at offset {len(head) + 4}"):
        load_dataset(DataCfg(str(path), "y"), np.random.default_rng(0))
    # A BOM is 3 bytes of the file: offsets count it, and it takes no line.
    path.write_bytes(b"\xef\xbb\xbfa,y\n1,\x002\n")
    with pytest.raises(DataError, match="a NUL byte at offset 9"):
        load_dataset(DataCfg(str(path), "y"), np.random.default_rng(0))
    path.write_bytes(b"\xef\xbb\xbfa,y\n1,2\n3,caf\xe9\n")
    with pytest.raises(DataError, match=r"f\.csv:3: not UTF-8 text \(byte 0xe9\)"):
        load_dataset(DataCfg(str(path), "y"), np.random.default_rng(0))


def test_a_wide_line(tmp_path):
    """A line longer than the 1 MB blocks the previous line reader cut files into (pyarrow's
    block must hold a whole line: 32 MB when read whole, at least 1 MB when streamed)."""
    names = [f"feature_{i}" for i in range(40)]
    path = tmp_path / "wide.csv"
    path.write_text(
        ",".join([*names, "y"])
        + "\n"
        + "\n".join(",".join([*(str(i * j) for j in range(40)), "ab"[i % 2]]) for i in range(5))
        + "\n"
    )
    assert read_frame(path).column_names[:2] == names[:2]
    assert [row_location(path, k) for k in range(5)] == [f"{path}:{n}" for n in range(2, 7)]
    cfg = DataCfg(str(path), "y", features=names, scale="none")
    ds = load_dataset(cfg, np.random.default_rng(0), dtype=np.float64)
    assert ds.train.x[4].tolist() == [4.0 * j for j in range(40)]


# --- predict streams: many chunks in, the same rows out -------------------------------------


def big_input(folder: Path, copies: int = 3000) -> tuple[Path, np.ndarray]:
    """The iris test rows again and again: 2.2 MB, so three chunks of 1 MB."""
    lines = (DATASETS / "iris" / "test.csv").read_text().splitlines()
    path = folder / "big.csv"
    path.write_text("\n".join([lines[0], *(lines[1:] * copies)]) + "\n")
    x = np.array([[float(v) for v in ln.split(",")[:4]] for ln in lines[1:]] * copies)
    return path, x


def test_predict_on_a_multi_chunk_file_equals_predicting_it_whole(iris_run, tmp_path):
    path, x = big_input(tmp_path)
    assert sum(1 for _ in stream_frames(path)) >= 3  # predict reads about 1 MB at a time
    proc = run_cli("predict", iris_run.run_dir, path, "--proba", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["prediction", "proba_setosa", "proba_versicolor", "proba_virginica"]
    model = nncli.load(iris_run.run_dir)
    assert [r[0] for r in rows[1:]] == list(model.predict(x))
    proba = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(proba, model.predict_proba(x), atol=1e-6)


def test_predict_error_far_down_a_file_prints_no_rows(iris_run, tmp_path):
    path, x = big_input(tmp_path)
    with path.open("a") as handle:
        handle.write("5.0,3.4,oops,0.2,setosa\n")
    bad_line = len(x) + 2
    out = tmp_path / "out.csv"
    for extra in ([], ["--output", out]):
        proc = run_cli("predict", iris_run.run_dir, path, *extra, cwd=tmp_path)
        assert proc.returncode == 1 and proc.stdout == "", proc.stderr
        assert f"big.csv:{bad_line}: column 'petal length (cm)': 'oops' is not a number" in (
            proc.stderr
        )
        assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


# --- however a file is cut into blocks, the same rows, values and errors come out -----------

NUMBERS = ["1", "-2.5", "3e2", " 7 ", '"4"']
OTHERS = ["", " ", "x", '"a,b"', "nan", "inf", "1_0", "é", "NA"]


@st.composite
def csv_bytes(draw) -> bytes:
    """Mostly well-formed CSVs, with now and then a bad value, row, byte or line end."""
    width = draw(st.integers(1, 4))
    field = st.sampled_from(NUMBERS if draw(st.booleans()) else NUMBERS * 6 + OTHERS)
    lines = [",".join(f"c{i}" for i in range(width))]
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", "  "])))  # blank lines are skipped
            continue
        n = width if draw(st.integers(0, 19)) else draw(st.integers(1, 5))
        lines.append(",".join(draw(st.lists(field, min_size=n, max_size=n))))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    data = (end.join(lines) + draw(st.sampled_from(["", end]))).encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 19)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xe9", b"\x00", b"\r"])) + data[at:]
    return data


def read_all(path: Path) -> dict[str, object]:
    """Each kind of read over the whole file; or the message of its DataError."""

    def train() -> list:
        target = read_frame(path).column_names[-1]
        ds = load_dataset(DataCfg(str(path), target), np.random.default_rng(0))
        return [ds.train.x.tolist(), ds.train.y.tolist()]

    reads = {
        "rows as text, read whole": lambda: read_frame(path).to_pylist(),
        "rows as text, streamed": lambda: [r for t in stream_frames(path) for r in t.to_pylist()],
        "line of each row": lambda: [
            row_location(path, k) for k in range(read_frame(path).num_rows + 1)
        ],
        "inputs and targets, training": train,
    }
    out: dict[str, object] = {}
    for name, read in reads.items():
        try:
            out[name] = read()
        except DataError as e:
            out[name] = str(e)
    return out


@settings(max_examples=200, deadline=None)
@given(data=csv_bytes(), block=st.integers(40, 200))
def test_block_size_changes_nothing(tmp_path_factory, data, block):
    """Blocks of any size that holds a whole line (pyarrow's rule; these lines have at most 35
    bytes); and each row read is named at the line that holds it."""
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_bytes(data)
    whole = read_all(path)
    with pytest.MonkeyPatch.context() as patch:
        small_blocks(patch, block)
        assert read_all(path) == whole
    rows = whole["rows as text, read whole"]
    if isinstance(rows, list):
        lines = data.decode("utf-8-sig").splitlines()
        for row, at in zip(rows, whole["line of each row"], strict=False):
            line = next(csv.reader([lines[int(str(at).rsplit(":", 1)[1]) - 1]]))
            assert [None if v in files.NULL_MARKERS else v for v in line] == list(row.values())


# --- integers are read as floats would be: the same float64 values, bit for bit ------------

INTEGERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),  # past int64 and past float64's 2**53
    st.sampled_from(["0", "-0", "-00", "+0", "+7", "007", "-010", " 3 ", '"-0"']),
)
DECIMALS = st.sampled_from(["0.5", "-0.0", "1e3", "2.", "1e-05"])


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.one_of(INTEGERS, INTEGERS, INTEGERS, DECIMALS), min_size=3, max_size=3),
        min_size=1,
        max_size=30,
    ),
    block=st.integers(80, 300),
    wanted=st.sampled_from([["a", "b", "c"], ["b"], ["c", "a"]]),
)
def test_integer_columns_read_as_floats_would_be(tmp_path_factory, rows, block, wanted):
    """Read streamed (as predict reads), in blocks of at least a line (at most 72 bytes)."""
    path = tmp_path_factory.mktemp("ints") / "f.csv"
    path.write_text("a,b,c\n" + "".join(",".join(r) + "\n" for r in rows))
    cols = ["abc".index(n) for n in wanted]
    expected = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, usecols=cols, quotechar='"')
    k = len(wanted)  # inputs as read: offset 0, scale 1, float64
    prep = Preprocessor(
        wanted, ["y"], "classification", ["0", "1"], np.zeros(k), np.ones(k), dtype=np.float64
    )
    with pytest.MonkeyPatch.context() as patch:
        small_blocks(patch, block)
        got, _ = read_features(path, prep)
    assert got.dtype == np.float64
    assert got.tobytes() == np.ascontiguousarray(expected).tobytes()  # -0.0 keeps its sign
