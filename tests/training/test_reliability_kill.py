"""Crash safety (issue 4, promise 1): `kill -9` at any moment never leaves an unloadable
checkpoint, a temporary file of an interrupted save is never taken for a checkpoint, and
`--resume` after a kill ends exactly where a run that was never killed ends.

Each trial starts `nncli train` in a subprocess (a checkpoint every epoch, so most of the
time goes to writing checkpoints) and SIGKILLs it at a seeded random moment within the
training's measured duration.
"""

from __future__ import annotations

import random
import signal
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS, relpath, run_cli, start_cli

import nncli
from nncli.data.read import read_features
from nncli.store.checkpoint import SUFFIX

pytestmark = pytest.mark.slow  # subprocess kills, Dask clusters or fuzzing budgets

TRIALS = 24
RESUME_EVERY = 4  # every 4th killed run is also resumed and compared with the reference
EPOCHS = 20
IRIS_TEST = DATASETS / "iris" / "test.csv"


def write_config(folder: Path) -> Path:
    """Iris with dropout, batchnorm, a plateau schedule and early stopping: state to lose."""
    data = relpath(DATASETS / "iris", folder)
    config = folder / "kill.yaml"
    config.write_text(
        f"data: {{train: {data}/train.csv, test: {data}/test.csv, target: species}}\n"
        "model:\n  layers:\n    - {type: dense, units: 16}\n    - {type: dropout, rate: 0.1}\n"
        "    - {type: batchnorm}\n"
        "optimizer: {type: adam, lr: 0.01}\n"
        "schedule: {type: plateau, patience: 1, factor: 0.5}\n"
        f"training:\n  epochs: {EPOCHS}\n  batch_size: 16\n"
        "  early_stopping: {patience: 100}\n  checkpoint: {every: 1}\n",
        encoding="utf-8",
    )
    return config


def start(config: Path, run_dir: Path) -> subprocess.Popen:
    """Start training; returns once the run folder exists (its first stderr line)."""
    proc = start_cli(
        "train", config, "--run-dir", run_dir, cwd=config.parent, stdout=subprocess.DEVNULL
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("nncli run"), first + proc.stderr.read()
    return proc


def state_of(checkpoint: Path) -> dict[str, np.ndarray]:
    return nncli.load(checkpoint).state_dict()


def assert_loads_and_evaluates(checkpoint: Path) -> None:
    model = nncli.load(checkpoint)
    x, y = read_features(IRIS_TEST, model.prep, need_target=True)
    metrics = model.evaluate_arrays(x, y)
    assert np.isfinite(metrics["loss"]) and 0.0 <= metrics["accuracy"] <= 1.0


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path, float]:
    """An uninterrupted run (subprocess, like the trials) and how long it ran after the run
    folder appeared: the span the trials' kill moments are drawn from."""
    work = tmp_path_factory.mktemp("kill")
    config = write_config(work)
    proc = start(config, work / "reference")
    began = time.perf_counter()
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 0, rest
    return config, work / "reference", time.perf_counter() - began


def test_sigkill_at_random_moments_never_loses_a_checkpoint(reference, tmp_path):
    config, straight, duration = reference
    expected = state_of(straight / "checkpoints" / f"last{SUFFIX}")
    rng = random.Random(20261124)
    killed = checked = temp_files = resumed = 0
    for trial in range(TRIALS):
        run_dir = tmp_path / f"trial{trial:02d}"
        proc = start(config, run_dir)
        # Within the first three quarters of the reference's span: a reference slowed by a
        # busy machine must not push most kills past the end of faster trials.
        time.sleep(rng.uniform(0.0, 0.75 * duration))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        killed += proc.returncode == -signal.SIGKILL

        folder = run_dir / "checkpoints"
        for checkpoint in sorted(folder.glob(f"*{SUFFIX}")):
            assert_loads_and_evaluates(checkpoint)  # every file present is whole
            checked += 1
        stray = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
        temp_files += len(stray)
        if (folder / f"last{SUFFIX}").exists():
            assert nncli.load(run_dir).state_dict()  # the folder resolves to a real checkpoint
        elif not stray:
            continue  # killed before the first save finished: nothing to resume
        else:
            with pytest.raises(nncli.CheckpointError, match="without checkpoints"):
                nncli.load(run_dir)  # the temp file is not taken for a checkpoint
            continue

        if trial % RESUME_EVERY == 0:
            proc = run_cli("train", config, "--resume", run_dir, cwd=config.parent)
            assert proc.returncode == 0, proc.stderr
            assert not list(folder.glob(".*.tmp"))  # stale temp files are cleaned up
            final = state_of(folder / f"last{SUFFIX}")
            assert final.keys() == expected.keys()
            for name in expected:
                assert np.array_equal(final[name], expected[name]), (trial, name)
            metrics = (run_dir / "metrics.csv").read_text().splitlines()
            ref_metrics = (straight / "metrics.csv").read_text().splitlines()
            assert [r.rsplit(",", 1)[0] for r in metrics] == [
                r.rsplit(",", 1)[0] for r in ref_metrics
            ]  # every row but its timing: no epoch lost or logged twice
            resumed += 1
    print(
        f"\n{TRIALS} kills ({killed} while running): {checked} checkpoints loaded and "
        f"evaluated, {temp_files} temp files ignored, {resumed} resumed to the reference"
    )
    assert killed >= TRIALS // 2  # most moments really fell inside the training
    assert resumed >= 3


def test_temp_file_is_never_taken_for_a_checkpoint(reference, tmp_path):
    _, straight, _ = reference
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    whole = (straight / "checkpoints" / f"last{SUFFIX}").read_bytes()
    temp = run_dir / "checkpoints" / ".last-k1ll3d00.tmp"
    temp.write_bytes(whole)  # even a complete one: it was never renamed into place
    with pytest.raises(nncli.CheckpointError, match="without checkpoints"):
        nncli.load(run_dir)
    with pytest.raises(nncli.CheckpointError, match="temporary file"):
        nncli.load(temp)


def test_resume_removes_stale_temp_files(reference, tmp_path):
    config, _, _ = reference
    run_dir = tmp_path / "run"
    first = run_cli(
        "train",
        config,
        "--set",
        f"training.epochs={EPOCHS // 2}",
        "--run-dir",
        run_dir,
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    stale = [run_dir / "checkpoints" / ".last-x1y2z3ab.tmp", run_dir / ".summary-q9w8e7r6.tmp"]
    for path in stale:
        path.write_bytes(b"PK\x03\x04 half a zip")
    proc = run_cli("train", config, "--resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "removed 2 temporary file(s)" in proc.stderr
    assert not any(path.exists() for path in stale)


def test_checkpoints_get_the_permissions_of_any_new_file(reference, tmp_path):
    """The temporary file is private while written (mkstemp), the checkpoint is not."""
    _, straight, _ = reference
    plain = tmp_path / "plain"
    plain.write_text("x")
    expected = stat.S_IMODE(plain.stat().st_mode)
    for path in [*(straight / "checkpoints").iterdir(), straight / "summary.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
