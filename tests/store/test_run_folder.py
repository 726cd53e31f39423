"""RunFolder: the paths of a run, making a new one, and which folders are runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from nncli.errors import NncliError
from nncli.store.run_folder import RunFolder, safe_name


def test_every_path_of_a_run(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert run.config == tmp_path / "run" / "config.yaml"
    assert run.metrics == tmp_path / "run" / "metrics.csv"
    assert run.gradients == tmp_path / "run" / "gradients.csv"
    assert run.summary == tmp_path / "run" / "summary.json"
    assert run.lock == tmp_path / "run" / ".lock"
    assert run.best == tmp_path / "run" / "checkpoints" / "best.npz"
    assert run.last == tmp_path / "run" / "checkpoints" / "last.npz"
    assert run.epoch_checkpoint(7) == tmp_path / "run" / "checkpoints" / "epoch-0007.npz"
    assert str(run) == str(tmp_path / "run")


def test_a_new_run_goes_below_runs_under_a_safe_name(tmp_path):
    first = RunFolder.create("../../etc/x y", None, tmp_path / "runs")
    second = RunFolder.create("../../etc/x y", None, tmp_path / "runs")
    assert first.path.parent == second.path.parent == tmp_path / "runs" / "etc-x-y"
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()
    assert safe_name("...") == "run"
    assert len(safe_name("a" * 300)) == 100


def test_a_run_dir_must_be_new_or_empty_and_is_claimed(tmp_path):
    run = RunFolder.create("ignored", tmp_path / "mine", tmp_path / "runs")
    assert run.path == tmp_path / "mine" and run.is_run()
    assert not (tmp_path / "runs").exists()
    with pytest.raises(NncliError, match="exists and is not an empty folder"):
        RunFolder.create("x", tmp_path / "mine", tmp_path / "runs")
    (tmp_path / "file").write_text("")
    with pytest.raises(NncliError, match="exists and is not an empty folder"):
        RunFolder.create("x", tmp_path / "file", tmp_path / "runs")


def test_the_run_a_path_belongs_to(tmp_path):
    run = RunFolder.create("x", tmp_path / "run")
    run.best.write_bytes(b"")
    run.metrics.write_text("epoch\n")
    for path in (run.path, run.checkpoints, run.best, run.metrics):
        assert RunFolder.of(path) == run
    alone = tmp_path / "model.npz"
    alone.write_bytes(b"")
    (tmp_path / "metrics.csv").write_text("mine\n")  # a user's folder: no checkpoints/
    assert RunFolder.of(alone) is None and RunFolder.of(tmp_path) is None
    assert run.files() == [run.metrics, run.best]


def test_best_or_last(tmp_path):
    run = RunFolder(Path(tmp_path))
    assert run.best_or_last() is None
    run.checkpoints.mkdir()
    run.last.write_bytes(b"")
    assert run.best_or_last() == run.last
    run.best.write_bytes(b"")
    assert run.best_or_last() == run.best
