"""ONNX export: onnxruntime on the raw columns agrees with the model's own predictions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv
import pytest
from conftest import DATASETS, REPO_ROOT, run_cli

import nncli
from nncli.data.encoders import NumericColumn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

PENGUINS = """\
name: penguins
seed: 0
data:
  train: {train}
  test: {test}
  target: species
model:
  layers:
    - {{type: dense, units: 16, activation: gelu}}
    - {{type: batchnorm}}
    - {{type: residual, layers: [{{type: dense, units: 16, activation: silu}}]}}
    - {{type: dropout, rate: 0.1}}
    - {{type: layernorm}}
training:
  epochs: 5
"""
# an unseen island, gaps in numbers and text (blank and NA), a known row
ODD_ROWS = """\
species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year
Adelie,Atlantis,,18.5,192,4100,male,2008
Gentoo,Biscoe,47,,,5000,,2009
Adelie,Dream,40,18,NA,3900,NA,2007
Chinstrap,Dream,50.1,19.5,200,3800,female,2008
"""


def _feeds(model: Any, rows: Any) -> dict[str, np.ndarray]:
    """The CSV's columns as a service would feed them: numbers as float32 (NaN for a gap),
    text as strings ('' for a gap)."""
    feeds = {}
    for column in model.prep.columns.columns:
        values = rows[column.name]
        if isinstance(column, NumericColumn):
            feeds[column.name] = values.to_numpy(dtype=np.float32).reshape(-1, 1)
        else:
            texts = ["" if v is None or v != v else str(v) for v in values]
            feeds[column.name] = np.array(texts, dtype=object).reshape(-1, 1)
    return feeds


def _run(path: Path, model: Any, csv: Path) -> tuple[dict[str, np.ndarray], Any]:
    rows = pacsv.read_csv(csv).to_pandas()
    session = ort.InferenceSession(str(path))
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, _feeds(model, rows)), strict=True)), rows


def _classifier_agrees(model: Any, path: Path, csv: Path) -> None:
    got, rows = _run(path, model, csv)
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(rows), atol=1e-5)
    assert got["label"].ravel().tolist() == model.predict(rows).tolist()


def test_iris_agrees_with_predict_proba(tmp_path: Path) -> None:
    run = nncli.train(
        REPO_ROOT / "configs/iris.yaml", overrides={"training.epochs": 5}, run_dir=tmp_path / "r"
    )
    path = run.model.export_onnx(tmp_path / "iris.onnx")
    _classifier_agrees(run.model, path, DATASETS / "iris/test.csv")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["nncli_version"] == nncli.__version__
    assert meta["classes"] == '["setosa", "versicolor", "virginica"]'
    assert onnx.load(str(path)).opset_import[0].version == 17


def test_regression_in_original_units(tmp_path: Path) -> None:
    run = nncli.train(
        REPO_ROOT / "configs/diabetes.yaml",
        overrides={"training.epochs": 5},
        run_dir=tmp_path / "r",
    )
    path = run.model.export_onnx(tmp_path / "diabetes.onnx")
    got, rows = _run(path, run.model, DATASETS / "diabetes/test.csv")
    expected = run.model.predict(rows)
    assert got["label"].shape == expected.shape
    # float32 outputs times the target's scale: 1e-6 of that scale absolute, for predictions
    # near zero (offset and output cancel), else 1e-5 relative
    atol = 1e-6 * float(run.model.prep.y_scale.max())
    np.testing.assert_allclose(got["label"], expected, rtol=1e-5, atol=atol)


def test_penguins_text_gaps_and_unseen_levels(tmp_path: Path) -> None:
    config = tmp_path / "penguins.yaml"
    config.write_text(
        PENGUINS.format(train=DATASETS / "penguins/train.csv", test=DATASETS / "penguins/test.csv")
    )
    run = nncli.train(config, run_dir=tmp_path / "r")
    path = run.model.export_onnx(tmp_path / "penguins.onnx")
    odd = tmp_path / "odd.csv"
    odd.write_text(ODD_ROWS)
    _classifier_agrees(run.model, path, DATASETS / "penguins/test.csv")
    _classifier_agrees(run.model, path, odd)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"LabelEncoder", "Erf", "ReduceMean"} <= ops


def test_cli_refuses_an_existing_file_without_force(tmp_path: Path) -> None:
    run = nncli.train(
        REPO_ROOT / "configs/iris.yaml", overrides={"training.epochs": 1}, run_dir=tmp_path / "r"
    )
    target = tmp_path / "m.onnx"
    first = run_cli("export", run.run_dir, "--format", "onnx", "--output", target)
    assert first.returncode == 0, first.stderr
    assert target.stat().st_size > 0
    again = run_cli("export", run.run_dir, "--output", target)
    assert again.returncode == 1
    assert "exists; pass --force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    forced = run_cli("export", run.run_dir, "--output", target, "--force")
    assert forced.returncode == 0, forced.stderr
    wrong = run_cli("export", run.run_dir, "--format", "tflite", "--output", tmp_path / "x")
    assert wrong.returncode == 1 and "onnx" in wrong.stderr


def test_a_missing_onnx_package_is_a_one_line_hint(tmp_path: Path) -> None:
    run = nncli.train(
        REPO_ROOT / "configs/iris.yaml", overrides={"training.epochs": 1}, run_dir=tmp_path / "r"
    )
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "onnx.py").write_text("raise ImportError('no onnx here')\n")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from nncli.__main__ import main; "
        "sys.argv = ['nncli', 'export', sys.argv[2], '--output', sys.argv[3]]; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, blocker, run.run_dir, tmp_path / "m.onnx"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "pip install 'nncli[onnx]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_embedded_text_columns(tmp_path: Path) -> None:
    config = tmp_path / "penguins.yaml"
    config.write_text(
        PENGUINS.format(train=DATASETS / "penguins/train.csv", test=DATASETS / "penguins/test.csv")
    )
    run = nncli.train(
        config, overrides={"data.categorical.encoding": "embedding"}, run_dir=tmp_path / "r"
    )
    assert any(getattr(c, "embedded", False) for c in run.model.prep.columns.columns)
    path = run.model.export_onnx(tmp_path / "penguins.onnx")
    odd = tmp_path / "odd.csv"
    odd.write_text(ODD_ROWS)
    _classifier_agrees(run.model, path, DATASETS / "penguins/test.csv")
    _classifier_agrees(run.model, path, odd)


def test_quantile_scaling_with_gaps(tmp_path: Path) -> None:
    config = tmp_path / "penguins.yaml"
    config.write_text(
        PENGUINS.format(train=DATASETS / "penguins/train.csv", test=DATASETS / "penguins/test.csv")
    )
    run = nncli.train(config, overrides={"data.scale": "quantile"}, run_dir=tmp_path / "r")
    path = run.model.export_onnx(tmp_path / "penguins.onnx")
    odd = tmp_path / "odd.csv"  # beyond the training range both ways, ties, gaps
    odd.write_text(
        ODD_ROWS + "Adelie,Dream,1,99,181,3000,male,2007\nGentoo,Biscoe,999,-5,230,9000,male,2009\n"
    )
    _classifier_agrees(run.model, path, DATASETS / "penguins/test.csv")
    _classifier_agrees(run.model, path, odd)
