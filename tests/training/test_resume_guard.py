"""What `--resume` refuses so that a run folder never mixes two trainings: other data at the
same path, another early-stopping metric, a lost best.npz; and what a failed resume leaves
(the run folder as it was) and says (the precise key, the run folder for a file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS, REPO_ROOT, run_cli
from rich.console import Console
from test_reliability import one_error

from nncli.config.load import load_config
from nncli.store.checkpoint import load_checkpoint
from nncli.training.trainer import Trainer

BODY = """\
data: {train: train.csv, test: test.csv, target: species}
model:
  layers:
    - {type: dense, units: 16}
optimizer: {type: adam, lr: 0.01}
training:
  epochs: 20
  early_stopping: null
"""


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def local_iris(folder: Path) -> Path:
    """configs/iris-like config next to its own copies of the iris CSVs (so tests edit them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.csv", "test.csv"):
        shutil.copy(DATASETS / "iris" / name, folder / name)
    config = folder / "iris.yaml"
    config.write_text(BODY, encoding="utf-8")
    return config


def trained(tmp_path: Path, *args: str) -> tuple[Path, Path]:
    config = local_iris(tmp_path / "cfg")
    run_dir = tmp_path / "run"
    proc = run_cli("train", config, *args, "--run-dir", run_dir, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return config, run_dir


def rename_label(path: Path) -> None:
    path.write_text(path.read_text().replace("setosa", "zebra"))


def drop_rows(path: Path) -> None:
    path.write_text("\n".join(path.read_text().splitlines()[:100]) + "\n")


def change_a_value(path: Path) -> None:
    lines = path.read_text().splitlines()
    cells = lines[1].split(",")
    cells[0] = str(float(cells[0]) + 0.1)
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (rename_label, "classes"),  # the class order shifts: output units change meaning
        (drop_rows, "rows now"),
        (change_a_value, "other bytes"),
    ],
)
def test_resume_refuses_other_data_at_the_same_path(tmp_path, edit, says):
    config, run_dir = trained(tmp_path)
    before = snapshot(run_dir)
    edit(config.parent / "train.csv")
    if edit is rename_label:
        edit(config.parent / "test.csv")
    proc = run_cli(
        "train", config, "--set", "training.epochs=21", "--resume", run_dir, cwd=tmp_path
    )
    one_error(proc, f"--resume {run_dir}", "data.train", "differs from the data the run", says)
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_another_training_dtype_does_not_hide_other_data(tmp_path, dtype):
    config, run_dir = trained(tmp_path)
    before = snapshot(run_dir)
    change_a_value(config.parent / "train.csv")
    proc = run_cli(
        "train", config, "--set", f"training.dtype={dtype}", "--resume", run_dir, cwd=tmp_path
    )
    one_error(proc, f"--resume {run_dir}", "data.train", "differs from the data the run")
    assert snapshot(run_dir) == before


def test_the_same_data_resumes_under_another_training_dtype(tmp_path):
    config, run_dir = trained(tmp_path)
    proc = run_cli(
        "train",
        config,
        "--set",
        "training.dtype=float64",
        "--set",
        "training.epochs=21",
        "--resume",
        run_dir,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr


def test_resume_on_the_same_data_still_works(tmp_path):
    config, run_dir = trained(tmp_path)
    proc = run_cli(
        "train", config, "--set", "training.epochs=21", "--resume", run_dir, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run_dir / "summary.json").read_text())["epochs_run"] == 21


def rewrite_manifest(path: Path, change) -> None:
    ckpt = load_checkpoint(path)
    change(ckpt.meta)
    arrays = dict(ckpt.arrays)
    arrays["__meta__"] = np.frombuffer(json.dumps(ckpt.meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_a_checkpoint_without_a_data_fingerprint_resumes_with_a_note(tmp_path):
    """Runs saved before fingerprints existed still resume (their data cannot be checked)."""
    config, run_dir = trained(tmp_path)
    rewrite_manifest(
        run_dir / "checkpoints" / "last.npz", lambda meta: meta["training_state"].pop("data")
    )
    proc = run_cli(
        "train", config, "--set", "training.epochs=21", "--resume", run_dir, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "predates data fingerprints" in proc.stderr
    assert "data" in load_checkpoint(run_dir / "checkpoints" / "last.npz").meta["training_state"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("training.early_stopping={monitor: val_accuracy}", "training.early_stopping.monitor"),
        ("training.early_stopping={mode: max}", "training.early_stopping.mode"),
    ],
)
def test_resume_refuses_another_early_stopping_metric_or_mode(tmp_path, override, key):
    """The run's best value belongs to its monitor under its mode: carried over to another
    one, summary.json would call a loss the best accuracy."""
    config, run_dir = trained(tmp_path)
    before = snapshot(run_dir)
    proc = run_cli("train", config, "--set", override, "--resume", run_dir, cwd=tmp_path)
    one_error(proc, f"--resume {run_dir}", key, "val_loss")
    assert snapshot(run_dir) == before


def test_a_resume_that_diverges_before_saving_an_epoch_leaves_the_run_folder_as_it_was(
    tmp_path,
):
    """config.yaml describes the saved state and summary.json keeps the saved model's test
    metrics: no epoch ran under the new lr."""
    config, run_dir = trained(tmp_path, "--set", "training.epochs=5")
    before = snapshot(run_dir)
    assert "test_metrics" in json.loads(before["summary.json"])
    proc = run_cli(
        "train",
        config,
        "--set",
        "optimizer.lr=1e38",
        "--set",
        "training.epochs=8",
        "--resume",
        run_dir,
        cwd=tmp_path,
    )
    one_error(proc, "diverged at epoch 6", "last finite state (epoch 5)")
    assert snapshot(run_dir) == before


def test_config_yaml_follows_the_first_saved_epoch_of_a_resume(tmp_path):
    config, run_dir = trained(tmp_path, "--set", "training.epochs=2")
    proc = run_cli("train", config, "--set", "training.epochs=3", "--resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "epochs: 3" in (run_dir / "config.yaml").read_text()


def test_resume_refuses_a_missing_best_checkpoint(tmp_path):
    """Without best.npz the best epoch's weights are gone: restore_best would end the run
    with other weights under the best epoch's name."""
    config, run_dir = REPO_ROOT / "configs" / "iris.yaml", tmp_path / "run"
    args = ("--set", "training.epochs=15")
    assert run_cli("train", config, *args, "--run-dir", run_dir, "-q").returncode == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_epoch"] < summary["epochs_run"]
    (run_dir / "checkpoints" / "best.npz").unlink()
    before = snapshot(run_dir)
    proc = run_cli("train", config, "--resume", run_dir, cwd=tmp_path)
    one_error(proc, f"--resume {run_dir}", "best.npz is missing", f"{summary['best_epoch']}")
    assert snapshot(run_dir) == before


def test_a_missing_best_checkpoint_of_a_best_last_epoch_is_rewritten(tmp_path):
    """A kill between saving last.npz and best.npz: the last epoch is the best, so its
    weights are in last.npz and best.npz is rewritten from them."""
    config, run_dir = trained(tmp_path, "--set", "training.epochs=3")
    assert json.loads((run_dir / "summary.json").read_text())["best_epoch"] == 3
    best = run_dir / "checkpoints" / "best.npz"
    best.unlink()
    proc = run_cli("train", config, "--set", "training.epochs=3", "--resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "best.npz was missing" in proc.stderr
    last = load_checkpoint(run_dir / "checkpoints" / "last.npz").group("params")
    saved = load_checkpoint(best).group("params")
    assert saved.keys() == last.keys()
    assert all(np.array_equal(saved[k], last[k]) for k in last)


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("model.layers.0.activation=tanh", ["model.layers.0.activation is tanh", "relu"]),
        (
            "model.layers=[{type: dense, units: 16}, {type: dense, units: 8}]",
            ["model.layers.1 is", "absent in the run"],
        ),
        ("optimizer.type=sgd", ["optimizer.type is sgd", "adam in the run"]),
    ],
)
def test_resume_messages_name_the_precise_key(tmp_path, override, needles):
    config, run_dir = trained(tmp_path, "--set", "training.epochs=2")
    proc = run_cli("train", config, "--set", override, "--resume", run_dir, cwd=tmp_path)
    one_error(proc, f"--resume {run_dir}", *needles)


@pytest.mark.parametrize("inside", ["checkpoints/last.npz", "config.yaml"])
def test_resume_given_a_file_of_the_run_names_its_run_folder(tmp_path, inside):
    config, run_dir = trained(tmp_path, "--set", "training.epochs=1")
    proc = run_cli("train", config, "--resume", run_dir / inside, cwd=tmp_path)
    error = one_error(proc, "this is a file", "takes a run folder", f"--resume {run_dir}")
    assert "no such run folder" not in error


def test_long_values_are_shown_around_their_first_difference():
    from nncli.training.resume import show_pair

    prefix = "/data/" + "x" * 80 + "/"
    old, new = show_pair(prefix + "train.csv", prefix + "train2.csv")
    assert old != new and old.endswith("train.csv") and new.endswith("train2.csv")
    assert show_pair(1, "1") == ("1", "'1'")


@pytest.mark.parametrize(
    ("schedule", "needles"),
    [
        ("{type: plateau, monitor: val_accuracy}", ["schedule.monitor is val_accuracy"]),
        ("{type: cosine}", ["schedule.type is cosine", "plateau in the run"]),
    ],
)
def test_resume_keeps_the_plateau_schedule_and_its_metric(tmp_path, schedule, needles):
    config, run_dir = trained(
        tmp_path, "--set", "training.epochs=2", "--set", "schedule.type=plateau"
    )
    before = snapshot(run_dir)
    proc = run_cli("train", config, "--set", f"schedule={schedule}", "--resume", run_dir)
    one_error(proc, f"--resume {run_dir}", *needles)
    assert snapshot(run_dir) == before


def saved_config_says(run_dir: Path, missing: str | None) -> None:
    """Make the run's last checkpoint read as one saved by an older nncli: its config has
    `data.missing: error` spelled out (saved between the key's arrival and the impute
    default), or no such key at all (None: saved before the key existed)."""

    def change(meta: dict) -> None:
        data = meta["config"]["data"]
        data.pop("missing")
        if missing is not None:
            data["missing"] = missing

    rewrite_manifest(run_dir / "checkpoints" / "last.npz", change)


@pytest.mark.parametrize("saved", [None, "error"], ids=["no-key", "error"])
def test_a_run_saved_before_the_impute_default_resumes_as_it_was_trained(tmp_path, saved):
    """The config does not spell data.missing, whose default became impute after the run
    started: the run goes on under missing: error, as it was trained, with a note."""
    config, run_dir = trained(tmp_path, "--set", "training.epochs=3")
    saved_config_says(run_dir, saved)
    proc = run_cli("train", config, "--set", "training.epochs=4", "--resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "note: data.missing: error, as the run was trained" in proc.stderr
    last = load_checkpoint(run_dir / "checkpoints" / "last.npz").meta
    assert last["config"]["data"]["missing"] == "error"
    assert last["training_state"]["epoch"] == 4
    assert "missing: error" in (run_dir / "config.yaml").read_text()
    # the data of a resume is read under the run's setting (the API's way in too)
    trainer = Trainer.for_run(load_config(config), Console(quiet=True), run_dir)
    assert trainer.config.data.missing == "error"
    assert any("data.missing: error" in note for note in trainer.state.notes)


@pytest.mark.parametrize("saved", [None, "error"], ids=["no-key", "error"])
def test_an_explicit_other_missing_policy_is_still_refused(tmp_path, saved):
    config, run_dir = trained(tmp_path, "--set", "training.epochs=3")
    saved_config_says(run_dir, saved)
    before = snapshot(run_dir)
    args = ("--set", "training.epochs=4", "--set", "data.missing=impute")
    proc = run_cli("train", config, *args, "--resume", run_dir, cwd=tmp_path)
    one_error(proc, f"--resume {run_dir}", "data.missing is impute in this config but error")
    assert snapshot(run_dir) == before


def test_an_explicit_matching_missing_policy_resumes_without_a_note(tmp_path):
    config, run_dir = trained(tmp_path, "--set", "training.epochs=3")
    saved_config_says(run_dir, None)
    args = ("--set", "training.epochs=4", "--set", "data.missing=error")
    proc = run_cli("train", config, *args, "--resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "data.missing" not in proc.stderr


def test_a_run_of_todays_default_resumes_under_it(tmp_path):
    """Nothing changes for runs saved with missing: impute (the key written, as today)."""
    config, run_dir = trained(tmp_path, "--set", "training.epochs=3")
    proc = run_cli("train", config, "--set", "training.epochs=4", "--resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "data.missing" not in proc.stderr
    last = load_checkpoint(run_dir / "checkpoints" / "last.npz").meta
    assert last["config"]["data"]["missing"] == "impute"
