"""task: auto on numeric targets: one class per number, and no class made of a missing value."""

from __future__ import annotations

import json

import pytest


def train_on(tmp_path, run_cli, rows: str, *extra: str):
    (tmp_path / "t.csv").write_text("a,y\n" + rows)
    (tmp_path / "t.yaml").write_text(
        "data: {train: t.csv, target: y, validation: null}\n"
        "model: {layers: [{type: dense, units: 4}]}\ntraining: {epochs: 2}\n"
    )
    return run_cli("train", "t.yaml", "--run-dir", "run", "--quiet", *extra, cwd=tmp_path)


def test_one_number_spelled_two_ways_is_one_class(tmp_path, run_cli):
    proc = train_on(tmp_path, run_cli, "1,1\n2,1.0\n3,2\n4,2\n5,1\n6,1.0\n")
    assert proc.returncode == 0, proc.stderr
    predicted = run_cli("predict", "run", "t.csv", "--proba", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.splitlines()[0] == "prediction,proba_1,proba_2"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stop_reason"] == "completed"


@pytest.mark.parametrize("bad", ["NA", "nan", "null", "1e400", "inf", "1_000"])
def test_a_missing_value_in_a_numeric_target_is_an_error_not_a_class(tmp_path, run_cli, bad):
    proc = train_on(tmp_path, run_cli, f"1,10.5\n\n2,{bad}\n3,31.2\n4,7.9\n5,12.25\n6,3.5\n")
    assert proc.returncode == 1
    drop = ", leave it out with data.missing: drop" if bad in ("NA", "nan", "null") else ""
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 't.csv'}:4: column 'y': {bad!r} is not a finite number, in a "
        f"target whose other values are numbers: fix the row{drop}, or set data.task"
    ]
    assert not (tmp_path / "run").exists()


def test_the_line_is_right_when_missing_drop_left_rows_out(tmp_path, run_cli):
    rows = "1,10.5\nNA,3\n3,31.2\n4,7.9\n5,inf\n6,3.5\n"
    proc = train_on(tmp_path, run_cli, rows, "--set", "data.missing=drop")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 't.csv'}:6: column 'y': 'inf' is not a finite number, in a "
        "target whose other values are numbers: fix the row, or set data.task"
    )


def test_with_missing_drop_the_row_is_left_out_and_the_target_is_numeric(tmp_path, run_cli):
    rows = "1,10.5\n2,NA\n3,31.2\n4,7.9\n5,12.25\n6,3.5\n"
    proc = train_on(tmp_path, run_cli, rows, "--set", "data.missing=drop")
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "clean.csv").write_text("a,y\n1,10.5\n3,31.2\n")
    evaluated = run_cli("evaluate", "run", "--data", "clean.csv", "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert {"mse", "rmse", "mae", "r2"} <= set(json.loads(evaluated.stdout))
