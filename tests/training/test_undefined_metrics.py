"""A metric a validation set leaves undefined (ROC AUC of rows of one class) is n/a, with one
line saying why, and never a divergence: early stopping and the plateau schedule skip its
epochs instead of stopping the run, or cutting the learning rate, for it."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from conftest import DATASETS, run_cli
from rich.console import Console

import nncli
from nncli.engine.schedules import Plateau
from nncli.training import EarlyStopping

TARGET = "diagnosis"


def split_by_class(folder: Path, val_class: str, test_class: str | None = None) -> None:
    """breast_cancer's training rows of `val_class` (the first 30) as val.csv, the others as
    train.csv; test.csv the bundled test rows, or only those of `test_class`."""
    folder.mkdir(parents=True, exist_ok=True)
    header, *rows = read(DATASETS / "breast_cancer" / "train.csv")
    at = header.index(TARGET)
    val = [r for r in rows if r[at] == val_class][:30]
    write(folder / "val.csv", header, val)
    write(folder / "train.csv", header, [r for r in rows if r not in val])
    header, *test = read(DATASETS / "breast_cancer" / "test.csv")
    if test_class is not None:
        test = [r for r in test if r[at] == test_class]
    write(folder / "test.csv", header, test)


def read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])


def config(folder: Path, training: str, extra: str = "") -> Path:
    path = folder / "bc.yaml"
    path.write_text(
        f"""\
seed: 0
data: {{train: train.csv, validation: val.csv, test: test.csv, target: {TARGET}}}
model:
  layers:
    - {{type: dense, units: 8}}
optimizer: {{type: adam, lr: 0.003}}
training:
{training}
{extra}""",
        encoding="utf-8",
    )
    return path


def column(run_dir: Path, name: str) -> list[str]:
    rows = read(run_dir / "metrics.csv")
    return [r[rows[0].index(name)] for r in rows[1:]]


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_early_stopping_on_an_undefined_metric_warns_once_and_never_diverges(tmp_path):
    """The bug: val_roc_auc was nan on every epoch, and the run ended 'diverged' at epoch 1."""
    split_by_class(tmp_path, "malignant")
    path = config(
        tmp_path,
        "  epochs: 6\n  early_stopping: {monitor: val_roc_auc, patience: 2}",
    )
    proc = run_cli("train", path, "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "diverged" not in proc.stderr and "error:" not in proc.stderr
    warnings = lines_with(proc.stderr, "val_roc_auc is undefined")
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].startswith("warning:")
    assert "single class ('malignant')" in warnings[0] and "early stopping" in warnings[0]
    epoch_lines = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 6 and all("n/a" in line for line in epoch_lines), proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # patience 2 would have stopped the run after epoch 3 had nan counted as no improvement
    assert summary["stop_reason"] == "completed" and summary["epochs_run"] == 6
    assert summary["best_epoch"] is None and summary["best_value"] is None
    assert column(tmp_path / "run", "val_roc_auc") == [""] * 6
    assert all(float(v) > 0 for v in column(tmp_path / "run", "val_loss"))
    assert "no best epoch: val_roc_auc had no value" in proc.stderr
    # the run resumes (its early-stopping state holds no nan)
    proc = run_cli(
        "train", path, "--set", "training.epochs=7", "--resume", tmp_path / "run", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs_run"] == 7


def test_an_undefined_metric_nobody_watches_is_one_note_and_the_run_goes_on(tmp_path):
    split_by_class(tmp_path, "benign", test_class="benign")
    path = config(tmp_path, "  epochs: 4\n  early_stopping: {monitor: val_loss, patience: 10}")
    out = io.StringIO()
    result = nncli.train(path, run_dir=tmp_path / "run", console=Console(file=out, width=200))
    text = out.getvalue()
    notes = lines_with(text, "val_roc_auc is undefined")
    assert notes == [
        "note: val_roc_auc is undefined (n/a): the validation rows hold a single class ('benign')"
    ]
    assert result.stop_reason == "completed" and result.summary["best_epoch"] is not None
    assert column(tmp_path / "run", "val_roc_auc") == [""] * 4
    assert all(v != "" for v in column(tmp_path / "run", "val_average_precision"))
    # the test rows hold one class too: roc_auc is undefined there, no overflow
    assert result.summary["test_metrics"]["roc_auc"] is None
    assert result.summary["test_metrics"]["accuracy"] is not None
    assert "roc_auc is undefined (n/a): the test rows hold a single class" in text
    assert "overflows" not in text


def test_a_plateau_schedule_on_an_undefined_metric_keeps_its_learning_rate(tmp_path):
    split_by_class(tmp_path, "malignant")
    schedule = "schedule: {type: plateau, monitor: val_roc_auc, patience: 0, factor: 0.5}"
    path = config(tmp_path, "  epochs: 4\n  early_stopping: null", schedule)
    out = io.StringIO()
    nncli.train(path, run_dir=tmp_path / "run", console=Console(file=out, width=200))
    assert [float(v) for v in column(tmp_path / "run", "lr")] == [0.003] * 4
    warnings = lines_with(out.getvalue(), "val_roc_auc is undefined")
    assert len(warnings) == 1 and "plateau schedule" in warnings[0]


def test_early_stopping_skips_epochs_without_a_value():
    stopping = EarlyStopping("val_roc_auc", "max", patience=2)
    assert [stopping.update(e, math.nan) for e in (1, 2, 3)] == [False] * 3
    assert not stopping.should_stop and (stopping.best, stopping.best_epoch) == (None, 0)
    assert stopping.update(4, 0.7) and stopping.best_epoch == 4
    assert not stopping.update(5, math.nan) and stopping.wait == 0
    assert not stopping.update(6, 0.6) and stopping.wait == 1
    json.dumps(stopping.state_dict(), allow_nan=False)  # a checkpoint can hold it


def test_the_plateau_schedule_skips_epochs_without_a_value():
    plateau = Plateau(1.0, 10, mode="max", patience=0, factor=0.5)
    for epoch in (1, 2, 3):
        plateau.observe(epoch, math.nan)
    assert plateau.lr == 1.0 and plateau.best is None and plateau.num_bad_epochs == 0
    plateau.observe(4, 0.5)
    plateau.observe(5, 0.4)  # a real bad epoch still cuts the rate
    assert plateau.lr == 0.5
