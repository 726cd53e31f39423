"""Real tables end to end, as a user runs them: init -> train -> evaluate -> predict on the
bundled penguins and titanic files (text categories, gaps, an id-like name column), rows with
gaps and levels training never saw, Parquet, an Excel export, and the Python API on tables."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import CLI_TIMEOUT, DATASETS, run_cli

import nncli

assert CLI_TIMEOUT  # the CLI runs in subprocesses with the suite's timeout


def init_and_train(folder: Path, name: str, target: str, epochs: int = 40) -> Path:
    train = DATASETS / name / "train.csv"
    proc = run_cli("init", name, "--data", train, "--target", target, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(
        "train", f"{name}.yaml", "--run-dir", "run", "--set", f"training.epochs={epochs}",
        cwd=folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return folder / "run"


@pytest.fixture(scope="module")
def penguins(tmp_path_factory) -> Path:
    return init_and_train(tmp_path_factory.mktemp("penguins"), "penguins", "species")


def test_penguins_train_from_init_with_zero_edits(penguins):
    summary = json.loads((penguins / "summary.json").read_text())
    assert summary["test_metrics"]["accuracy"] >= 0.9  # scikit-learn's pipeline: 0.97
    config = yaml.safe_load((penguins / "config.yaml").read_text())
    assert config["data"]["features"] is None and config["data"]["missing"] == "impute"


def messy_rows(folder: Path) -> Path:
    """Test rows in another column order, with gaps and an island training never saw."""
    rows = list(csv.DictReader((DATASETS / "penguins" / "test.csv").open()))[:6]
    rows[0]["island"] = "Atlantis"
    rows[1]["body_mass_g"] = ""
    rows[2]["sex"] = "NA"
    path = folder / "messy.csv"
    with path.open("w", newline="") as handle:
        columns = ["sex", "year", "body_mass_g", "island", "bill_length_mm", "bill_depth_mm"]
        writer = csv.DictWriter(handle, [*columns, "flipper_length_mm"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_predict_fills_gaps_and_unseen_levels_and_says_so(penguins, tmp_path):
    messy = messy_rows(tmp_path)
    proc = run_cli("predict", penguins, messy, "--proba", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "prediction,proba_Adelie,proba_Chinstrap,proba_Gentoo"
    assert len(lines) == 7
    # sex had gaps in training: a gap is its trained (missing) level, nothing to report
    assert "1 missing value(s) filled as in training ('body_mass_g' 1)" in proc.stderr
    assert "never seen in training" in proc.stderr and "'Atlantis'" in proc.stderr
    strict = run_cli("predict", penguins, messy, "--strict", cwd=tmp_path)
    assert strict.returncode == 1 and strict.stdout == ""
    assert "messy.csv:2: column 'island': 'Atlantis' was never seen in training" in strict.stderr


def test_python_api_on_tables_agrees_with_predict(penguins, tmp_path):
    messy = messy_rows(tmp_path)
    cli = run_cli("predict", penguins, messy, cwd=tmp_path).stdout.splitlines()[1:]
    model = nncli.load(penguins)
    table = pacsv.read_csv(messy, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    assert list(model.predict(table)) == cli
    rows = [dict(r) for r in csv.DictReader(messy.open())]
    rows = [{k: (v if v not in ("", "NA") else None) for k, v in r.items()} for r in rows]
    assert list(model.predict(rows)) == cli
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    assert np.allclose(model.predict_proba(columns).sum(axis=1), 1.0, atol=1e-5)
    test = list(csv.DictReader((DATASETS / "penguins" / "test.csv").open()))
    truth = [r.pop("species") for r in test]
    test = [{k: (v if v != "NA" else None) for k, v in r.items()} for r in test]
    assert model.evaluate(test, truth)["accuracy"] >= 0.9


def test_parquet_in_and_out_agrees_with_csv(penguins, tmp_path):
    test_csv = DATASETS / "penguins" / "test.csv"
    pq.write_table(pacsv.read_csv(test_csv), tmp_path / "test.parquet")
    from_csv = run_cli("predict", penguins, test_csv, cwd=tmp_path)
    from_parquet = run_cli("predict", penguins, tmp_path / "test.parquet", cwd=tmp_path)
    assert from_parquet.returncode == 0, from_parquet.stderr
    assert from_parquet.stdout == from_csv.stdout
    evaluated = run_cli("evaluate", penguins, "--data", tmp_path / "test.parquet", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] >= 0.9


def test_titanic_leaves_the_name_column_out_and_matches_sklearn(tmp_path):
    run = init_and_train(tmp_path, "titanic", "survived", epochs=60)
    assert "#   name:" not in (tmp_path / "titanic.yaml").read_text()  # not a feature
    assert "name (an id or free text" in (tmp_path / "titanic.yaml").read_text()
    model = nncli.load(run)
    assert "name" not in model.prep.features
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_metrics"]["accuracy"] >= 0.77  # scikit-learn's pipeline: 0.787


def test_an_excel_export_trains(tmp_path):
    """UTF-8 BOM, CRLF line ends, quoted fields holding the delimiter."""
    text = (DATASETS / "titanic" / "train.csv").read_text()
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    body = "data: {train: excel.csv, target: survived}\ntraining: {epochs: 3}\n"
    (tmp_path / "c.yaml").write_text(body)
    proc = run_cli("train", "c.yaml", "--run-dir", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    model = nncli.load(tmp_path / "run")
    assert model.prep.features == ["class", "age", "sex"]
    out = io.StringIO(run_cli("predict", "run", "excel.csv", cwd=tmp_path).stdout)
    assert len(list(csv.reader(out))) == text.count("\n")  # header + one row per row


def test_predict_writes_parquet_with_numbers_as_numbers(penguins, tmp_path):
    test_csv = DATASETS / "penguins" / "test.csv"
    proc = run_cli("predict", penguins, test_csv, "--proba", "--output", tmp_path / "p.parquet")
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(tmp_path / "p.parquet")
    as_csv = list(csv.reader(io.StringIO(run_cli("predict", penguins, test_csv, "--proba").stdout)))
    assert table.column_names == as_csv[0]
    assert table.column("prediction").to_pylist() == [row[0] for row in as_csv[1:]]
    assert str(table.schema.field("proba_Adelie").type) == "double"
    assert np.allclose(table.column("proba_Gentoo").to_numpy(), [float(r[3]) for r in as_csv[1:]])
