"""One training per run folder at a time: a second `--resume` is refused and touches nothing."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CLI_TIMEOUT, DATASETS, relpath, run_cli, start_cli
from rich.console import Console

import nncli
from nncli import ConfigError, NncliError

QUIET = Console(stderr=True, quiet=True)


def iris_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "iris.yaml"
    data = relpath(DATASETS / "iris", folder)
    config.write_text(
        f"data:\n  train: {data}/train.csv\n  target: species\n"
        "model:\n  layers: [{type: dense, units: 8}]\n"
        "training:\n  epochs: 1\n  early_stopping: null\n",
        encoding="utf-8",
    )
    return config


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def wait_for_rows(metrics: Path, rows: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + CLI_TIMEOUT
    while len(metrics.read_text().splitlines()) <= rows:
        assert proc.poll() is None, "the first resume ended early"
        assert time.monotonic() < deadline, "the first resume made no progress"
        time.sleep(0.05)


def test_second_resume_is_refused_while_the_run_trains(tmp_path):
    config = iris_config(tmp_path / "cfg")
    run_dir = tmp_path / "run"
    assert run_cli("train", config, "--run-dir", run_dir, "-q", cwd=tmp_path).returncode == 0
    with (tmp_path / "first.log").open("w") as log:
        first = start_cli(
            "train",
            config,
            "--resume",
            run_dir,
            "--set",
            "training.epochs=100000",
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
    try:
        wait_for_rows(run_dir / "metrics.csv", 3, first)  # training: past any lock
        first.send_signal(signal.SIGSTOP)  # hold the folder still while the second one tries
        before = snapshot(run_dir)
        second = run_cli(
            "train", config, "--resume", run_dir, "--set", "training.epochs=3", cwd=tmp_path
        )
        after = snapshot(run_dir)
    finally:
        first.kill()  # SIGKILL: the kernel drops the lock, so none is left stale
        first.wait(timeout=CLI_TIMEOUT)
    assert second.returncode == 1, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), second.stderr
    assert f"--resume {run_dir}" in lines[0] and "another nncli process" in lines[0]
    assert "Traceback" not in second.stderr and second.stdout == ""
    assert after == before  # the refused process changed nothing in the folder

    again = run_cli(
        "train", config, "--resume", run_dir, "--set", "training.epochs=1", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch" in again.stderr


def test_the_lock_is_released_when_a_resume_fails(tmp_path):
    """In one process too (the Python API): a refused resume does not keep the folder locked."""
    config = iris_config(tmp_path / "cfg")
    run_dir = tmp_path / "run"
    nncli.train(config, run_dir=run_dir, console=QUIET)
    with pytest.raises(ConfigError, match="seed"):
        nncli.train(config, {"seed": 5}, resume=run_dir, console=QUIET)
    try:
        result = nncli.train(config, {"training.epochs": 2}, resume=run_dir, console=QUIET)
    except NncliError as exc:
        pytest.fail(f"the folder stayed locked after a failed resume: {exc}")
    assert result.summary["epochs_run"] == 2
