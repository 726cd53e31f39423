"""`predict --output` never replaces the input CSV or a file of the run it reads."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def work(tmp_path, iris_run, datasets):
    """A copy of the iris run and of its test CSV, which the tests may try to overwrite."""
    shutil.copytree(iris_run.run_dir, tmp_path / "run")
    shutil.copy(datasets / "iris" / "test.csv", tmp_path / "in.csv")
    return tmp_path


@pytest.mark.parametrize(
    ("checkpoint", "output", "message"),
    [
        ("run", "in.csv", "--output in.csv: is the input CSV; write the predictions elsewhere"),
        ("run", "./in.csv", "--output in.csv: is the input CSV; write the predictions elsewhere"),
        (
            "run",
            "run/checkpoints/best.npz",
            "--output run/checkpoints/best.npz: is a file of the run folder run; "
            "write the predictions elsewhere",
        ),
        (
            "run/checkpoints/last.npz",
            "run/checkpoints/last.npz",
            "--output run/checkpoints/last.npz: is a file of the run folder run; "
            "write the predictions elsewhere",
        ),
        (
            "run",
            "run/summary.json",
            "--output run/summary.json: is a file of the run folder run; "
            "write the predictions elsewhere",
        ),
        ("run", ".", "--output .: is a directory; give a file name"),
        ("run", "", "--output .: is a directory; give a file name"),
        ("run", "run", "--output run: is a directory; give a file name"),
    ],
)
def test_an_output_that_would_replace_something_is_refused(
    work, run_cli, checkpoint, output, message
):
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    proc = run_cli("predict", checkpoint, "in.csv", "--output", output, cwd=work)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: {message}"]
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before


def test_a_checkpoint_kept_on_its_own_claims_only_itself(work, run_cli):
    shutil.copy(work / "run" / "checkpoints" / "best.npz", work / "model.npz")
    (work / "metrics.csv").write_text("mine\n")  # not a run's: a run folder has checkpoints/
    proc = run_cli("predict", "model.npz", "in.csv", "--output", "metrics.csv", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "metrics.csv").read_text().startswith("prediction\n")


def test_predictions_may_go_into_the_run_folder(work, run_cli):
    proc = run_cli("predict", "run", "in.csv", "--output", "run/predictions.csv", cwd=work)
    assert proc.returncode == 0, proc.stderr
    lines = (work / "run" / "predictions.csv").read_text().splitlines()
    assert lines[0] == "prediction"
    assert len(lines) == 1 + len((work / "in.csv").read_text().splitlines()) - 1
