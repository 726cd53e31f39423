"""Values finite as read but beyond the model's float range (in a CSV once scaled, or in a
finite but hostile checkpoint): one `error:` line naming where, exit 1, no NumPy warning, and
never a nan printed as a prediction or a metric (--json has no NaN)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS, DataCfg

from nncli.data.dataset import load_dataset
from nncli.errors import DataError

IRIS_HEADER = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm),species\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_error(proc, *parts: str) -> str:
    """Exit 1, nothing on stdout, one `error:` line on stderr holding every part."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def rewrite_checkpoint(path: Path, change) -> None:
    """Replace a checkpoint's arrays by change(arrays) (its manifest kept as it is)."""
    with zipfile.ZipFile(path) as archive:
        arrays = {
            info.filename.removesuffix(".npy"): np.lib.format.read_array(
                io.BytesIO(archive.read(info))
            )
            for info in archive.infolist()
        }
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def copy_run(run_dir: Path, folder: Path, change) -> Path:
    """A copy of a run whose two checkpoints went through change(arrays)."""
    copy = folder / "run"
    shutil.copytree(run_dir, copy)
    for name in ("best", "last"):
        rewrite_checkpoint(copy / "checkpoints" / f"{name}.npz", change)
    return copy


# --- a CSV value beyond float32 once scaled: a DataError at its line and column -------------


def test_evaluate_and_predict_name_a_value_too_large_for_float32(iris_run, run_cli, tmp_path):
    csv = write(tmp_path, "big.csv", IRIS_HEADER + "5.5,3.5,1.3,0.2,setosa\n\n1e39,3,1,1,setosa\n")
    for args in (
        ("evaluate", iris_run.run_dir, "--data", csv, "--json"),
        ("predict", iris_run.run_dir, csv, "--proba"),
    ):
        proc = run_cli(*args, cwd=tmp_path)
        message = assert_one_error(proc, "big.csv:4", "'sepal length (cm)'", "'1e39'", "float32")
        assert "too large" in message


def test_training_names_a_value_too_large_for_float32(datasets, tmp_path):
    lines = (DATASETS / "iris" / "train.csv").read_text(encoding="utf-8").splitlines(True)
    lines[1] = "NA,3,1.4,0.3,setosa\n"  # dropped: the lines after it keep their numbers
    lines[6] = "4.4,2e39,1.3,0.2,setosa\n"
    train = write(tmp_path, "train.csv", "".join(lines))
    cfg = DataCfg(str(train), "species", validation=0.2, scale="none", missing="drop")
    with pytest.raises(DataError) as info:
        load_dataset(cfg, np.random.default_rng(0))
    message = str(info.value)
    assert f"{train}:7" in message and "'sepal width (cm)'" in message and "'2e39'" in message


def test_training_names_a_target_too_large_for_float32(tmp_path):
    lines = (DATASETS / "diabetes" / "train.csv").read_text(encoding="utf-8").splitlines(True)
    fields = lines[9].rstrip("\n").split(",")
    lines[9] = ",".join([*fields[:-1], "5e38"]) + "\n"
    train = write(tmp_path, "train.csv", "".join(lines))
    cfg = DataCfg(str(train), "progression", scale_target=False)
    with pytest.raises(DataError) as info:
        load_dataset(cfg, np.random.default_rng(0))
    assert f"{train}:10" in str(info.value) and "'progression'" in str(info.value)


def test_training_statistics_that_overflow_name_the_column(run_cli, tmp_path):
    lines = (DATASETS / "iris" / "train.csv").read_text(encoding="utf-8").splitlines(True)
    lines[3] = "4.4,1e300,1.3,0.2,setosa\n"
    lines[4] = "4.4,-1e300,1.3,0.2,setosa\n"  # their squares overflow float64
    write(tmp_path, "train.csv", "".join(lines))
    config = write(
        tmp_path,
        "c.yaml",
        "data: {train: train.csv, target: species}\n"
        "model: {layers: [{type: dense, units: 4}]}\ntraining: {epochs: 1}\n",
    )
    proc = run_cli("train", config, "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert_one_error(proc, "train.csv", "'sepal width (cm)'", "too large")
    assert not (tmp_path / "run" / "checkpoints").exists()


# --- outputs that overflow: refused, naming the checkpoint, the line and the culprit ---------


def test_a_row_finite_in_float32_that_overflows_the_network_is_refused(iris_run, run_cli, tmp_path):
    # 1e38 fits float32 once scaled, but not once multiplied by the weights: before, the
    # row came out as `setosa,nan,nan,nan` and evaluate printed {"loss": NaN, ...}
    csv = write(
        tmp_path, "big.csv", IRIS_HEADER + "5.5,3.5,1.3,0.2,setosa\n1e38,1e38,1e38,1e38,setosa\n"
    )
    for args in (
        ("evaluate", iris_run.run_dir, "--data", csv, "--json"),
        ("evaluate", iris_run.run_dir, "--data", csv),
        ("predict", iris_run.run_dir, csv, "--proba"),
    ):
        proc = run_cli(*args, cwd=tmp_path)
        assert_one_error(proc, "best.npz", "overflow", "big.csv:3", "row's values")


def test_predict_output_file_is_not_written_when_a_row_overflows(iris_run, run_cli, tmp_path):
    rows = "".join("5.5,3.5,1.3,0.2,setosa\n" for _ in range(20_000))  # past the first piece
    csv = write(tmp_path, "big.csv", IRIS_HEADER + rows + "1e38,1e38,1e38,1e38,setosa\n")
    out = tmp_path / "out.csv"
    out.write_text("kept\n", encoding="utf-8")
    proc = run_cli("predict", iris_run.run_dir, csv, "--output", out, cwd=tmp_path)
    assert_one_error(proc, "big.csv:20002", "overflow")
    assert out.read_text(encoding="utf-8") == "kept\n"


def test_finite_but_huge_weights_are_refused_at_evaluate_and_predict(iris_run, run_cli, tmp_path):
    def huge(arrays):
        arrays["params/layers.0.weight"] = np.full_like(arrays["params/layers.0.weight"], 3e38)

    run = copy_run(iris_run.run_dir, tmp_path, huge)
    test = DATASETS / "iris" / "test.csv"
    for args in (("evaluate", run, "--data", test, "--json"), ("predict", run, test, "--proba")):
        proc = run_cli(*args, cwd=tmp_path)
        assert_one_error(proc, f"{run}/checkpoints/best.npz", "overflow", "test.csv:", "weights")


def test_evaluate_json_never_holds_nan_or_infinity(diabetes_run, run_cli, tmp_path):
    # A target scaling of 1e308: the scaled outputs are finite, in the target's units some
    # overflow float64, and so does the mse: one error, not {"mse": Infinity}.
    def scale(arrays):
        arrays["prep/y_scale"] = np.full_like(arrays["prep/y_scale"], 1e308)
        arrays["prep/y_offset"] = np.full_like(arrays["prep/y_offset"], 1.7e308)

    run = copy_run(diabetes_run.run_dir, tmp_path, scale)
    test = DATASETS / "diabetes" / "test.csv"
    proc = run_cli("evaluate", run, "--data", test, "--json", cwd=tmp_path)
    assert_one_error(proc, "mse", "inf")
    proc = run_cli("predict", run, test, cwd=tmp_path)
    assert_one_error(proc, "best.npz", "overflow", "test.csv:")


def test_evaluate_json_is_strict_json(iris_run, run_cli, tmp_path):
    proc = run_cli("evaluate", iris_run.run_dir, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout, parse_constant=lambda name: pytest.fail(f"{name} in --json"))
