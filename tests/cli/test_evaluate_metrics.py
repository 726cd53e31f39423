"""`nncli evaluate`: the probability metrics against scikit-learn, and the trivial baseline
beside each metric (a table column; `baseline` in --json, the other keys unchanged)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS, TrainedRun, run_cli, write_diabetes_config

import nncli

skm = pytest.importorskip("sklearn.metrics")

BREAST = DATASETS / "breast_cancer"
OLD_KEYS = {"loss", "accuracy", "precision_macro", "recall_macro", "f1_macro"}
NEW_KEYS = {"balanced_accuracy", "roc_auc", "average_precision", "log_loss"}


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return rows[0], rows[1:]


def features_and_labels(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    header, rows = read_table(path)
    j = header.index(target)
    x = np.array([[float(v) for i, v in enumerate(r) if i != j] for r in rows])
    return x, np.array([r[j] for r in rows])


def evaluate_json(run: Path, *args: object, cwd: Path) -> dict:
    proc = run_cli("evaluate", run, *args, "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout, parse_constant=lambda name: pytest.fail(f"{name} in --json"))


def table_row(stdout: str, name: str) -> list[str]:
    """The cells after the metric's name on its table line (numbers or n/a)."""
    line = next(ln for ln in stdout.splitlines() if re.match(rf"\W*{name}\s", ln))
    return re.findall(r"-?\d+\.\d+|n/a", line)


def train(tmp_path: Path, config: Path, *sets: str) -> Path:
    run_dir = tmp_path / "run"
    args = [a for s in sets for a in ("--set", s)]
    proc = run_cli("train", config, *args, "--run-dir", run_dir, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return run_dir


@pytest.fixture(scope="module")
def breast_run(tmp_path_factory) -> TrainedRun:
    work = tmp_path_factory.mktemp("breast_run")
    config = DATASETS.parent / "configs" / "breast_cancer.yaml"
    run_dir = train(work, config, "training.epochs=3")
    return TrainedRun(run_dir=run_dir, config=config, proc=None, epochs=3)  # type: ignore[arg-type]


def test_binary_metrics_match_sklearn_and_the_baseline_is_the_majority(breast_run, tmp_path):
    result = evaluate_json(breast_run.run_dir, cwd=tmp_path)
    assert set(result) == OLD_KEYS | NEW_KEYS | {"baseline"}
    model = nncli.load(breast_run.run_dir)
    x, labels = features_and_labels(BREAST / "test.csv", "diagnosis")
    assert model.classes == ["benign", "malignant"]
    y = (labels == "malignant").astype(int)
    proba = model.predict_proba(x)
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), rel=1e-6)
    want = skm.average_precision_score(y, proba[:, 1])
    assert result["average_precision"] == pytest.approx(want, rel=1e-6)
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1]), rel=1e-6)
    want = skm.balanced_accuracy_score(y, proba.argmax(axis=1))
    assert result["balanced_accuracy"] == pytest.approx(want, rel=1e-9)

    # The baseline: always "benign" (72 of the 114 rows), the rows' frequencies as probabilities.
    baseline = result["baseline"]
    assert set(baseline) == OLD_KEYS | NEW_KEYS
    n, benign, malignant = 114, 72, 42
    prior_loss = -(benign * math.log(benign / n) + malignant * math.log(malignant / n)) / n
    assert baseline["accuracy"] == pytest.approx(benign / n)
    assert baseline["balanced_accuracy"] == pytest.approx(0.5)
    assert baseline["recall_macro"] == pytest.approx(0.5)
    assert baseline["precision_macro"] == pytest.approx(benign / n / 2)
    assert baseline["roc_auc"] == pytest.approx(0.5)
    assert baseline["average_precision"] == pytest.approx(malignant / n)  # the prevalence
    assert baseline["log_loss"] == pytest.approx(prior_loss)
    assert baseline["loss"] == pytest.approx(prior_loss)  # binary cross-entropy, unweighted

    table = run_cli("evaluate", breast_run.run_dir, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert re.search(r"metric\W+value\W+baseline", table.stdout)
    assert "majority class" in table.stdout
    for name in OLD_KEYS | NEW_KEYS:
        value, shown_baseline = (float(v) for v in table_row(table.stdout, name))
        assert value == pytest.approx(result[name], abs=1e-4), name
        assert shown_baseline == pytest.approx(baseline[name], abs=1e-4), name


def test_the_baseline_is_the_training_majority_when_the_model_knows_it(tmp_path):
    """Balanced class weights are n / (k * count) of the training rows: the baseline guesses
    training's majority (benign) even on rows that are mostly malignant."""
    loss = "loss={name: binary_cross_entropy, class_weights: balanced}"
    config = DATASETS.parent / "configs" / "breast_cancer.yaml"
    sets = ("training.epochs=1", "data.validation=null", "training.early_stopping=null", loss)
    run = train(tmp_path, config, *sets)
    header, rows = read_table(BREAST / "test.csv")
    target = header.index("diagnosis")
    kept = [r for r in rows if r[target] == "malignant"] + [
        r for r in rows if r[target] == "benign"
    ][:10]
    with (tmp_path / "mostly_malignant.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *kept])
    baseline = evaluate_json(run, "--data", "mostly_malignant.csv", cwd=tmp_path)["baseline"]
    n, benign, malignant = 52, 10, 42
    assert baseline["accuracy"] == pytest.approx(benign / n)  # not these rows' 42 / 52
    train_benign, train_malignant = 285 / 455, 170 / 455
    log_loss = -(benign * math.log(train_benign) + malignant * math.log(train_malignant)) / n
    assert baseline["log_loss"] == pytest.approx(log_loss)


def test_multiclass_metrics_match_sklearn(iris_run, tmp_path):
    result = evaluate_json(iris_run.run_dir, cwd=tmp_path)
    model = nncli.load(iris_run.run_dir)
    x, labels = features_and_labels(DATASETS / "iris" / "test.csv", "species")
    y = np.array([model.classes.index(label) for label in labels])
    proba = model.predict_proba(x)
    want = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert result["roc_auc"] == pytest.approx(want, rel=1e-6)
    want = skm.average_precision_score(np.eye(3)[y], proba, average="macro")
    assert result["average_precision"] == pytest.approx(want, rel=1e-6)
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, proba), rel=1e-6)
    baseline = result["baseline"]
    assert baseline["accuracy"] == pytest.approx(1 / 3)  # 10 rows of each species
    assert baseline["log_loss"] == pytest.approx(math.log(3))


def test_roc_auc_of_rows_of_one_class_is_null_with_a_note(iris_run, tmp_path):
    header, rows = read_table(DATASETS / "iris" / "test.csv")
    setosa = [r for r in rows if r[header.index("species")] == "setosa"]
    with (tmp_path / "setosa.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *setosa])
    proc = run_cli("evaluate", iris_run.run_dir, "--data", "setosa.csv", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout, parse_constant=lambda name: pytest.fail(name))
    assert result["roc_auc"] is None and result["baseline"]["roc_auc"] is None
    assert all(v is not None for k, v in result.items() if k not in ("roc_auc", "baseline"))
    assert "roc_auc is undefined" in proc.stderr
    table = run_cli("evaluate", iris_run.run_dir, "--data", "setosa.csv", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert table_row(table.stdout, "roc_auc") == ["n/a", "n/a"]


def test_regression_baseline_is_the_training_mean(diabetes_run, tmp_path):
    result = evaluate_json(diabetes_run.run_dir, cwd=tmp_path)
    model = nncli.load(diabetes_run.run_dir)
    assert model.prep.y_offset is not None and model.prep.y_scale is not None
    mean, scale = float(model.prep.y_offset[0]), float(model.prep.y_scale[0])
    _, y = features_and_labels(DATASETS / "diabetes" / "test.csv", "progression")
    y = y.astype(float)
    baseline = result["baseline"]
    assert baseline["mse"] == pytest.approx(np.mean((y - mean) ** 2), rel=1e-6)
    assert baseline["mae"] == pytest.approx(np.mean(np.abs(y - mean)), rel=1e-6)
    r2 = 1 - np.sum((y - mean) ** 2) / np.sum((y - y.mean()) ** 2)
    assert baseline["r2"] == pytest.approx(r2, rel=1e-6) and baseline["r2"] <= 0
    assert baseline["loss"] == pytest.approx(np.mean(((y - mean) / scale) ** 2), rel=1e-5)
    table = run_cli("evaluate", diabetes_run.run_dir, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert [float(v) for v in table_row(table.stdout, "r2")] == pytest.approx(
        [result["r2"], baseline["r2"]], abs=1e-4
    )
    assert "the mean" in table.stdout


def test_regression_baseline_without_scale_target_is_these_rows_mean(tmp_path):
    config = write_diabetes_config(tmp_path / "cfg", epochs=1)
    run = train(tmp_path, config, "data.scale_target=false")
    baseline = evaluate_json(run, cwd=tmp_path)["baseline"]
    _, y = features_and_labels(DATASETS / "diabetes" / "test.csv", "progression")
    y = y.astype(float)
    assert baseline["r2"] == pytest.approx(0.0, abs=1e-12)
    assert baseline["mse"] == pytest.approx(np.var(y), rel=1e-6)
