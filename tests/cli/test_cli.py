"""End-to-end CLI tests in subprocesses on the bundled datasets (SPEC §1, §3, §6)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import (
    DATASETS,
    REPO_ROOT,
    relpath,
    run_cli,
    start_cli,
    write_diabetes_config,
)

import nncli

IRIS_TRAIN = DATASETS / "iris" / "train.csv"
IRIS_TEST = DATASETS / "iris" / "test.csv"
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
CLASSIFICATION_METRICS = {
    "loss",
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc",
    "average_precision",
    "log_loss",
}
REGRESSION_METRICS = {"loss", "mse", "rmse", "mae", "r2"}


def read_csv(path_or_text: Path | str) -> tuple[list[str], list[list[str]]]:
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def assert_user_error(proc, *needles: str) -> str:
    """Exit 1, nothing on stdout, one `error:` line on stderr naming every needle, no traceback."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    message = lines[0]
    assert message.startswith("error:"), message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def iris_config(folder: Path, body: str = "", epochs: int = 2) -> Path:
    """A small iris config in `folder`, data paths relative to it; `body` adds sections."""
    folder.mkdir(parents=True, exist_ok=True)
    data = relpath(DATASETS / "iris", folder)
    config = folder / "iris_small.yaml"
    config.write_text(
        f"data:\n  train: {data}/train.csv\n  test: {data}/test.csv\n  target: species\n"
        f"training:\n  epochs: {epochs}\n" + body,
        encoding="utf-8",
    )
    return config


# --- train and the run folder ------------------------------------------------------------------


def test_train_writes_resolved_config_that_revalidates(iris_run, tmp_path):
    saved = iris_run.run_dir / "config.yaml"
    resolved = yaml.safe_load(saved.read_text())
    assert resolved["name"] == "iris"
    assert resolved["training"]["epochs"] == 3  # the --set override, not the file's 100
    assert resolved["training"]["checkpoint"]["every"] == 2
    assert resolved["optimizer"]["beta2"] == 0.999  # a default filled in
    assert Path(resolved["data"]["train"]).is_absolute()
    assert Path(resolved["data"]["train"]) == IRIS_TRAIN.resolve()
    proc = run_cli("validate", saved, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout) == resolved


def test_train_writes_one_metrics_row_per_epoch(iris_run):
    header, rows = read_csv(iris_run.run_dir / "metrics.csv")
    assert header[0] == "epoch"
    for column in ("train_loss", "val_loss", "val_accuracy", "val_f1_macro", "lr", "seconds"):
        assert column in header
    assert [int(r[0]) for r in rows] == [1, 2, 3]
    for row in rows:
        values = dict(zip(header, row, strict=True))
        assert math.isfinite(float(values["train_loss"]))
        assert 0.0 <= float(values["val_accuracy"]) <= 1.0
        assert float(values["lr"]) == pytest.approx(0.01)  # configs/iris.yaml optimizer.lr
        assert float(values["seconds"]) >= 0.0


def test_train_summary_matches_metrics(iris_run):
    summary = json.loads((iris_run.run_dir / "summary.json").read_text())
    header, rows = read_csv(iris_run.run_dir / "metrics.csv")
    val_loss = [float(r[header.index("val_loss")]) for r in rows]
    assert summary["stop_reason"] == "completed"
    assert summary["epochs_run"] == 3
    assert summary["monitor"] == "val_loss"
    assert summary["best_epoch"] == int(np.argmin(val_loss)) + 1
    assert summary["best_value"] == pytest.approx(min(val_loss), rel=1e-6)
    assert set(summary["test_metrics"]) == CLASSIFICATION_METRICS
    assert summary["seconds"] >= 0


def test_train_writes_best_last_and_periodic_checkpoints(iris_run):
    names = sorted(p.name for p in (iris_run.run_dir / "checkpoints").iterdir())
    assert names == ["best.npz", "epoch-0002.npz", "last.npz"]
    for name in names:
        model = nncli.load(iris_run.run_dir / "checkpoints" / name)
        assert model.classes == IRIS_CLASSES


def test_train_reports_run_folder_and_best_epoch(iris_run):
    summary = json.loads((iris_run.run_dir / "summary.json").read_text())
    assert str(iris_run.run_dir) in iris_run.proc.stderr
    assert f"best epoch {summary['best_epoch']}" in iris_run.proc.stderr
    assert iris_run.proc.stdout == ""
    assert "Traceback" not in iris_run.proc.stderr
    epoch_lines = re.findall(r"^\s*epoch\s+(\d+)/3\b", iris_run.proc.stderr, flags=re.M)
    assert epoch_lines == ["1", "2", "3"]  # one line per epoch


def test_train_prints_a_run_folder_with_brackets_as_written(tmp_path):
    # Rich reads "[/b]" as markup: printed raw, it crashed the run header with a traceback.
    config = iris_config(tmp_path / "cfg", epochs=1)
    run_dir = tmp_path / "w[/b] [red]x"
    proc = run_cli("train", config, "--run-dir", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"run folder: {run_dir}" in proc.stderr
    assert f"run {run_dir}" in proc.stderr.splitlines()[0]
    output = run_dir / "predictions.csv"
    proc = run_cli("predict", run_dir, IRIS_TEST, "--output", output, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"to {output}" in proc.stderr
    made = iris_config(tmp_path / "x[")
    odd_config = made.with_name("b]c.yaml")  # .../x[/b]c.yaml
    odd_config.write_text(made.read_text())
    proc = run_cli("validate", odd_config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"ok: {odd_config} is a valid config" in proc.stderr
    proc = run_cli("gradcheck", odd_config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "gradient check of" in proc.stdout  # the title (rich may wrap the long path)
    assert "Traceback" not in proc.stderr


def test_train_without_run_dir_writes_under_runs_name(tmp_path):
    config = iris_config(tmp_path / "cfg", epochs=1)
    proc = run_cli("train", config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = list((tmp_path / "runs" / "iris_small").iterdir())
    assert len(runs) == 1
    assert re.fullmatch(r"\d{8}-\d{6}", runs[0].name)
    assert (runs[0] / "checkpoints" / "last.npz").is_file()


def test_bad_set_key_is_a_user_error(tmp_path):
    proc = run_cli(
        "train", IRIS_TRAIN.parent.parent.parent / "configs" / "iris.yaml",
        "--set", "training.epochz=3", "--run-dir", tmp_path / "run", cwd=tmp_path,
    )  # fmt: skip
    assert_user_error(proc, "training.epochz", "did you mean 'epochs'")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_set_without_equals_is_a_user_error(tmp_path):
    proc = run_cli("validate", REPO_ROOT / "configs" / "iris.yaml", "--set", "seed", cwd=tmp_path)
    assert_user_error(proc, "KEY=VALUE")


def test_set_override_changes_the_trained_network(tmp_path):
    config = iris_config(tmp_path / "cfg", epochs=0)
    run_dir = tmp_path / "run"
    proc = run_cli(
        "train", config, "--set", "model.layers=[{type: dense, units: 5}]",
        "--set", "training.dtype=float64", "--run-dir", run_dir, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    state = nncli.load(run_dir).state_dict()
    assert state["layers.0.weight"].shape == (4, 5)
    assert state["layers.0.weight"].dtype == np.float64


# --- evaluate ----------------------------------------------------------------------------------


def parse_json_stdout(proc) -> dict[str, float]:
    """The metrics of `evaluate --json`: every key a finite number, but `baseline`, which
    maps the same keys to the trivial baseline's numbers (and is left out of the result)."""
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and proc.stdout.endswith("\n")
    result = json.loads(proc.stdout)
    assert isinstance(result, dict)
    baseline = result.pop("baseline")
    assert isinstance(baseline, dict) and set(baseline) == set(result)
    for key, value in [*result.items(), *baseline.items()]:
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value)
    return result


def test_evaluate_json_classification(iris_run, tmp_path):
    result = parse_json_stdout(run_cli("evaluate", iris_run.run_dir, "--json", cwd=tmp_path))
    assert set(result) == CLASSIFICATION_METRICS
    for name in CLASSIFICATION_METRICS - {"loss", "log_loss"}:
        assert 0.0 <= result[name] <= 1.0
    # A run folder means its best checkpoint.
    best = nncli.load(iris_run.run_dir / "checkpoints" / "best.npz")
    x, labels = iris_arrays(IRIS_TEST)
    assert result["accuracy"] == pytest.approx(np.mean(best.predict(x) == labels))


def test_evaluate_checkpoint_file_defaults_to_test_set(iris_run, tmp_path):
    last = iris_run.run_dir / "checkpoints" / "last.npz"
    default = parse_json_stdout(run_cli("evaluate", last, "--json", cwd=tmp_path))
    explicit = parse_json_stdout(
        run_cli("evaluate", last, "--data", IRIS_TEST, "--json", cwd=tmp_path)
    )
    on_train = parse_json_stdout(
        run_cli("evaluate", last, "--data", IRIS_TRAIN, "--json", cwd=tmp_path)
    )
    assert default == explicit
    x, labels = iris_arrays(IRIS_TRAIN)
    model = nncli.load(last)
    assert on_train["accuracy"] == pytest.approx(np.mean(model.predict(x) == labels))


def test_evaluate_table_prints_metrics_and_confusion_matrix(iris_run, tmp_path):
    proc = run_cli("evaluate", iris_run.run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "confusion" in proc.stdout.lower()
    for name in CLASSIFICATION_METRICS:
        assert name in proc.stdout
    model = nncli.load(iris_run.run_dir)
    x, labels = iris_arrays(IRIS_TEST)
    predicted = model.predict(x)
    matrix_part = proc.stdout[proc.stdout.lower().index("confusion") :]
    for true_label in IRIS_CLASSES:
        line = next(ln for ln in matrix_part.splitlines() if re.match(rf"\W*{true_label}\W+\d", ln))
        counts = [int(n) for n in re.findall(r"\b\d+\b", line)]
        expected = [int(np.sum((labels == true_label) & (predicted == p))) for p in IRIS_CLASSES]
        assert counts == expected, line


def test_evaluate_json_regression(diabetes_run, tmp_path):
    result = parse_json_stdout(run_cli("evaluate", diabetes_run.run_dir, "--json", cwd=tmp_path))
    assert set(result) == REGRESSION_METRICS
    assert result["rmse"] == pytest.approx(math.sqrt(result["mse"]), rel=1e-6)
    # Metrics are in the target's original units (progression has a std of ~77).
    model = nncli.load(diabetes_run.run_dir)
    x, y = diabetes_arrays(DATASETS / "diabetes" / "test.csv")
    pred = np.asarray(model.predict(x), dtype=float).reshape(-1)
    assert result["mae"] == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-4)
    assert result["mse"] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-4)
    r2 = 1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert result["r2"] == pytest.approx(r2, rel=1e-4, abs=1e-4)


def test_evaluate_several_targets_reports_each_target(tmp_path):
    """Averages over targets as before, plus each target's metrics as sklearn's
    multioutput='raw_values' gives them: `<metric>_<target>` in --json, a table in the view."""
    import sklearn.metrics as skm

    config = write_diabetes_config(tmp_path / "cfg", epochs=3)
    config.write_text(
        config.read_text().replace("target: progression", "target: [progression, bmi]")
    )
    run_dir = tmp_path / "run"
    assert run_cli("train", config, "--run-dir", run_dir, "-q", cwd=tmp_path).returncode == 0
    result = parse_json_stdout(run_cli("evaluate", run_dir, "--json", cwd=tmp_path))
    per_target = {f"{m}_{t}" for m in ("mse", "rmse", "mae", "r2") for t in ("progression", "bmi")}
    assert set(result) == REGRESSION_METRICS | per_target
    header, rows = read_csv(DATASETS / "diabetes" / "test.csv")
    data = np.array(rows, dtype=float)
    y = data[:, [header.index("progression"), header.index("bmi")]]
    x = data[:, [i for i, c in enumerate(header) if c not in ("progression", "bmi")]]
    pred = np.asarray(nncli.load(run_dir).predict(x), dtype=float)
    sklearn_names = {
        "mse": skm.mean_squared_error,
        "rmse": skm.root_mean_squared_error,
        "mae": skm.mean_absolute_error,
        "r2": skm.r2_score,
    }
    for name, fn in sklearn_names.items():
        raw = fn(y, pred, multioutput="raw_values")
        assert result[f"{name}_progression"] == pytest.approx(raw[0], rel=1e-5)
        assert result[f"{name}_bmi"] == pytest.approx(raw[1], rel=1e-5)
        assert result[name] == pytest.approx(fn(y, pred), rel=1e-5)  # the average, as before
    assert result["mse_progression"] > 10 * result["mse_bmi"]  # the units differ: not averaged

    table = run_cli("evaluate", run_dir, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    for target in ("progression", "bmi"):
        line = next(ln for ln in table.stdout.splitlines() if re.match(rf"\W*{target}\W", ln))
        shown = [float(v) for v in re.findall(r"-?\d+\.\d+", line)]
        want = [result[f"{m}_{target}"] for m in ("mse", "rmse", "mae", "r2")]
        assert shown == pytest.approx(want, abs=1e-4), line


def test_evaluate_tables_show_target_and_class_names_as_written():
    """Column and label names are text, not rich markup: `w[/b]` crashed the view with a
    MarkupError traceback, `price [usd]` lost its unit."""
    from rich.console import Console

    from nncli.cli.output import _confusion_table, _per_target_table

    names = ["price [usd]", "w[/b]"]
    console = Console(file=io.StringIO(), width=200)
    row = {"mse": 1.0, "rmse": 1.0, "mae": 1.0, "r2": 0.5}
    console.print(_per_target_table({name: row for name in names}))
    console.print(_confusion_table(np.eye(2, dtype=int), names))
    shown = console.file.getvalue()
    for name in names:
        assert shown.count(name) == 3  # per target; the matrix's row and column


# --- predict -----------------------------------------------------------------------------------


def iris_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    header, rows = read_csv(path)
    target = header.index("species")
    x = np.array([[float(v) for i, v in enumerate(r) if i != target] for r in rows])
    return x, np.array([r[target] for r in rows])


def diabetes_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    header, rows = read_csv(path)
    data = np.array(rows, dtype=float)
    return data[:, :-1], data[:, header.index("progression")]


def test_predict_one_row_per_input_row_in_order(iris_run, tmp_path):
    header, rows = read_csv(IRIS_TEST)
    proc = run_cli("predict", iris_run.run_dir, IRIS_TEST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out_header, out_rows = read_csv(proc.stdout)
    assert out_header == ["prediction"]
    assert len(out_rows) == len(rows)
    predictions = [r[0] for r in out_rows]
    assert set(predictions) <= set(IRIS_CLASSES)  # the text labels, not indices
    model = nncli.load(iris_run.run_dir)
    x, _ = iris_arrays(IRIS_TEST)
    assert predictions == list(model.predict(x))
    # Reversed input -> reversed output.
    reversed_csv = write_csv(tmp_path / "reversed.csv", header, rows[::-1])
    proc = run_cli("predict", iris_run.run_dir, reversed_csv, cwd=tmp_path)
    assert [r[0] for r in read_csv(proc.stdout)[1]] == predictions[::-1]


def test_predict_proba_columns_in_sorted_class_order(iris_run, tmp_path):
    proc = run_cli("predict", iris_run.run_dir, IRIS_TEST, "--proba", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, rows = read_csv(proc.stdout)
    assert header == ["prediction"] + [f"proba_{c}" for c in IRIS_CLASSES]
    proba = np.array([[float(v) for v in r[1:]] for r in rows])
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert [r[0] for r in rows] == [IRIS_CLASSES[i] for i in proba.argmax(axis=1)]
    model = nncli.load(iris_run.run_dir)
    np.testing.assert_allclose(proba, model.predict_proba(iris_arrays(IRIS_TEST)[0]), atol=1e-6)


def test_predict_output_file(iris_run, tmp_path):
    out = tmp_path / "predictions.csv"
    proc = run_cli("predict", iris_run.run_dir, IRIS_TEST, "--proba", "--output", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    to_stdout = run_cli("predict", iris_run.run_dir, IRIS_TEST, "--proba", cwd=tmp_path)
    assert read_csv(out) == read_csv(to_stdout.stdout)


def test_predict_takes_features_by_name(iris_run, tmp_path):
    header, rows = read_csv(IRIS_TEST)
    plain = run_cli("predict", iris_run.run_dir, IRIS_TEST, "--proba", cwd=tmp_path)
    # Shuffled columns, an extra column, and no target column.
    order = [3, 0, 2, 1]
    new_header = ["row_id"] + [header[i] for i in order]
    new_rows = [[f"id{n}"] + [r[i] for i in order] for n, r in enumerate(rows)]
    shuffled = write_csv(tmp_path / "shuffled.csv", new_header, new_rows)
    proc = run_cli("predict", iris_run.run_dir, shuffled, "--proba", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_csv(proc.stdout) == read_csv(plain.stdout)


def test_predict_without_target_column(iris_run, tmp_path):
    header, rows = read_csv(IRIS_TEST)
    target = header.index("species")
    no_target = write_csv(
        tmp_path / "features.csv",
        [h for i, h in enumerate(header) if i != target],
        [[v for i, v in enumerate(r) if i != target] for r in rows],
    )
    with_target = run_cli("predict", iris_run.run_dir, IRIS_TEST, cwd=tmp_path)
    proc = run_cli("predict", iris_run.run_dir, no_target, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == with_target.stdout


def test_predict_regression_in_original_units(diabetes_run, tmp_path):
    test_csv = DATASETS / "diabetes" / "test.csv"
    proc = run_cli("predict", diabetes_run.run_dir, test_csv, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, rows = read_csv(proc.stdout)
    assert header == ["prediction"]
    _, y = diabetes_arrays(test_csv)
    assert len(rows) == len(y)
    pred = np.array([float(r[0]) for r in rows])
    # Scaled-target predictions would sit near 0; the target's mean is ~150, its std ~77.
    assert abs(pred.mean() - y.mean()) < 0.5 * y.std()
    assert pred.std() > 0.1 * y.std()


def test_predict_proba_on_regression_is_a_user_error(diabetes_run, tmp_path):
    test_csv = DATASETS / "diabetes" / "test.csv"
    proc = run_cli("predict", diabetes_run.run_dir, test_csv, "--proba", cwd=tmp_path)
    assert_user_error(proc, "--proba")


# --- validate, version, epochs 0 --------------------------------------------------------------


def test_validate_prints_every_default(tmp_path):
    config = iris_config(tmp_path / "cfg")
    proc = run_cli("validate", config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout)
    assert resolved["name"] == "iris_small"
    assert resolved["seed"] == 0
    data = resolved["data"]
    assert data["train"] == str((DATASETS / "iris" / "train.csv").resolve())
    assert (data["validation"], data["task"], data["scale"]) == (0.2, "auto", "standard")
    assert (data["scale_target"], data["delimiter"], data["features"]) == (True, ",", None)
    model = resolved["model"]
    assert (model["init"], model["activation"]) == ("he_normal", "relu")
    assert model["layers"] == [
        {"type": "dense", "units": 64, "activation": "relu", "init": "he_normal"}
    ]
    assert model["output"] == {"activation": "auto", "init": "xavier_uniform"}
    assert resolved["loss"] == "auto"
    assert resolved["optimizer"] == {
        "type": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-08,
        "weight_decay": 0.0,
    }  # fmt: skip
    assert resolved["schedule"] is None
    training = resolved["training"]
    assert training["epochs"] == 2
    assert (training["batch_size"], training["shuffle"], training["grad_clip"]) == (32, True, None)
    assert (training["dtype"], training["early_stopping"]) == ("float32", None)
    assert training["checkpoint"] == {"every": 0}


def test_validate_with_set(tmp_path):
    config = iris_config(tmp_path / "cfg")
    proc = run_cli(
        "validate", config, "--set", "optimizer={type: sgd, momentum: 0.9}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    optimizer = yaml.safe_load(proc.stdout)["optimizer"]
    assert optimizer["type"] == "sgd" and optimizer["momentum"] == 0.9
    assert optimizer["nesterov"] is False


def test_version(tmp_path):
    proc = run_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"nncli {nncli.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", nncli.__version__)


def test_zero_epochs_writes_a_usable_last_checkpoint(tmp_path):
    config = iris_config(tmp_path / "cfg", epochs=0)
    run_dir = tmp_path / "run"
    proc = run_cli("train", config, "--run-dir", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    last = run_dir / "checkpoints" / "last.npz"
    assert last.is_file()
    header, rows = read_csv(run_dir / "metrics.csv")
    assert header[0] == "epoch" and rows == []
    proc = run_cli("predict", last, IRIS_TEST, "--proba", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _, out_rows = read_csv(proc.stdout)
    assert len(out_rows) == len(read_csv(IRIS_TEST)[1])
    proc = run_cli("evaluate", run_dir, "--json", cwd=tmp_path)  # the folder falls back to last
    assert set(parse_json_stdout(proc)) == CLASSIFICATION_METRICS


def test_resume_via_cli_equals_uninterrupted_run(tmp_path):
    body = "model:\n  layers:\n    - {type: dense, units: 8}\n    - {type: dropout, rate: 0.2}\n"
    config = iris_config(tmp_path / "cfg", body=body, epochs=4)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_cli("train", config, "--run-dir", straight, cwd=tmp_path).returncode == 0
    first = run_cli(
        "train", config, "--set", "training.epochs=2", "--run-dir", resumed, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    second = run_cli("train", config, "--resume", resumed, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert [r[0] for r in read_csv(resumed / "metrics.csv")[1]] == ["1", "2", "3", "4"]
    assert_same_runs(straight, resumed)


def assert_same_runs(a: Path, b: Path) -> None:
    """Same last weights and the same metrics.csv, apart from the timing column."""
    sa = nncli.load(a / "checkpoints" / "last.npz").state_dict()
    sb = nncli.load(b / "checkpoints" / "last.npz").state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert np.array_equal(sa[name], sb[name]), name
    header, rows_a = read_csv(a / "metrics.csv")
    header_b, rows_b = read_csv(b / "metrics.csv")
    assert header == header_b
    timing = header.index("seconds")
    assert [r[:timing] for r in rows_a] == [r[:timing] for r in rows_b]


def test_interrupt_then_resume_equals_uninterrupted_run(tmp_path):
    """Ctrl-C mid-run exits 130 keeping the last epoch; --resume then ends where a run that
    was never interrupted ends, bit for bit."""
    data = relpath(DATASETS / "digits", tmp_path)
    config = write(
        tmp_path / "digits.yaml",
        f"data: {{train: {data}/train.csv, target: digit}}\n"
        "model:\n  layers:\n    - {type: dense, units: 128}\n    - {type: dropout, rate: 0.1}\n"
        "    - {type: dense, units: 128}\n"
        "schedule: {type: step, step_size: 5}\n"
        "training: {epochs: 30, batch_size: 16}\n",
    )
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    proc = start_cli("train", config, "--run-dir", interrupted, cwd=tmp_path)
    assert proc.stderr is not None
    for line in proc.stderr:
        if re.search(r"epoch\s+1/30", line):
            proc.send_signal(signal.SIGINT)
            break
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, rest
    assert "Traceback" not in rest
    assert f"--resume {interrupted}" in rest
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["stop_reason"] == "interrupted"
    assert 1 <= summary["epochs_run"] < 30
    done = len(read_csv(interrupted / "metrics.csv")[1])
    assert done == summary["epochs_run"]

    resumed = run_cli("train", config, "--resume", interrupted, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((interrupted / "summary.json").read_text())["epochs_run"] == 30
    assert run_cli("train", config, "--run-dir", straight, cwd=tmp_path).returncode == 0
    assert_same_runs(straight, interrupted)


# --- user errors: exit 1, one line, no traceback ----------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def mark(config: Path, text: str) -> str:
    """`file:line:col` of the first occurrence of `text` in the config file."""
    for number, line in enumerate(config.read_text().splitlines(), start=1):
        if text in line:
            return f"{config.name}:{number}:{line.index(text) + 1}"
    raise AssertionError(f"{text!r} not in {config}")


def test_error_unknown_key(tmp_path):
    config = iris_config(tmp_path, body="optimiser:\n  type: adam\n")
    assert_user_error(
        run_cli("train", config, cwd=tmp_path),
        "optimiser",
        "did you mean 'optimizer'",
        mark(config, "optimiser"),
    )


def test_error_typo_activation(tmp_path):
    body = "model:\n  layers:\n    - type: dense\n      units: 4\n      activation: rellu\n"
    config = iris_config(tmp_path, body=body)
    assert_user_error(
        run_cli("validate", config, cwd=tmp_path),
        "model.layers[0].activation",
        "rellu",
        "did you mean 'relu'",
        mark(config, "rellu"),
    )


def test_error_missing_csv(tmp_path):
    config = write(tmp_path / "c.yaml", "data:\n  train: nowhere/train.csv\n  target: y\n")
    assert_user_error(run_cli("train", config, cwd=tmp_path), "nowhere/train.csv")


def test_error_missing_target_column(tmp_path):
    data = relpath(IRIS_TRAIN, tmp_path)
    config = write(tmp_path / "c.yaml", f"data:\n  train: {data}\n  target: specie\n")
    assert_user_error(run_cli("train", config, cwd=tmp_path), "'specie'", "'species'")


def test_error_non_numeric_feature(tmp_path):
    """With data.missing: error, a text in a column of numbers is an error at its line."""
    header, rows = read_csv(IRIS_TRAIN)
    rows[6][1] = "three"
    write_csv(tmp_path / "bad.csv", header, rows)
    body = "data:\n  train: bad.csv\n  target: species\n  missing: error\n"
    config = write(tmp_path / "c.yaml", body)
    assert_user_error(run_cli("train", config, cwd=tmp_path), "bad.csv", header[1], "'three'", ":8")


def test_a_stray_text_in_numbers_is_reported_with_its_line_and_read_as_missing(tmp_path):
    header, rows = read_csv(IRIS_TRAIN)
    rows[6][1] = "three"
    write_csv(tmp_path / "bad.csv", header, rows)
    body = "data:\n  train: bad.csv\n  target: species\ntraining:\n  epochs: 2\n"
    proc = run_cli("train", write(tmp_path / "c.yaml", body), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    note = next(line for line in proc.stderr.splitlines() if "'three'" in line)
    assert "bad.csv" in note and repr(header[1]) in note and "line 8" in note
    assert "read as missing" in note


def test_error_non_mapping_document(tmp_path):
    config = write(tmp_path / "c.yaml", "- data\n- model\n")
    assert_user_error(run_cli("validate", config, cwd=tmp_path), "c.yaml:1:1", "mapping")


def test_error_duplicate_key(tmp_path):
    config = iris_config(tmp_path, body="  epochs: 3\n")
    assert_user_error(
        run_cli("validate", config, cwd=tmp_path),
        "duplicate key 'epochs'",
        mark(config, "epochs: 3"),
        f"line {mark(config, 'epochs: 2').split(':')[1]}",
    )


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_error_missing_checkpoint(command, tmp_path):
    args = [command, tmp_path / "nothing.npz"] + ([IRIS_TEST] if command == "predict" else [])
    assert_user_error(run_cli(*args, cwd=tmp_path), "nothing.npz")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_error_corrupt_checkpoint(command, tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(np.random.default_rng(7).bytes(4096))
    args = [command, corrupt] + ([IRIS_TEST] if command == "predict" else [])
    message = assert_user_error(run_cli(*args, cwd=tmp_path), "corrupt.npz", "checkpoint")
    assert "allow_pickle" not in message  # never advise loading a checkpoint unsafely


def test_error_truncated_checkpoint(iris_run, tmp_path):
    whole = (iris_run.run_dir / "checkpoints" / "last.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole[: len(whole) // 2])
    assert_user_error(run_cli("evaluate", cut, cwd=tmp_path), "cut.npz", "checkpoint")


def test_error_predict_missing_feature_column(iris_run, tmp_path):
    header, rows = read_csv(IRIS_TEST)
    missing = header[2]
    keep = [i for i, h in enumerate(header) if h != missing]
    partial = write_csv(
        tmp_path / "partial.csv", [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    )
    assert_user_error(
        run_cli("predict", iris_run.run_dir, partial, cwd=tmp_path), "partial.csv", missing
    )


def test_error_run_dir_not_empty(tmp_path):
    config = iris_config(tmp_path / "cfg", epochs=1)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    keep = occupied / "notes.txt"
    keep.write_text("mine")
    assert_user_error(run_cli("train", config, "--run-dir", occupied, cwd=tmp_path), "occupied")
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]
    assert keep.read_text() == "mine"


def test_error_evaluate_regression_without_test_set(tmp_path):
    config = write_diabetes_config(tmp_path / "cfg", epochs=0)
    text = config.read_text().replace("  test:", "  # test:")
    config.write_text(text)
    run_dir = tmp_path / "run"
    assert run_cli("train", config, "--run-dir", run_dir, cwd=tmp_path).returncode == 0
    assert_user_error(run_cli("evaluate", run_dir, "--json", cwd=tmp_path), "--data")


def test_error_predict_output_in_missing_folder(iris_run, tmp_path):
    out = tmp_path / "no" / "such" / "folder" / "out.csv"
    proc = run_cli("predict", iris_run.run_dir, IRIS_TEST, "--output", out, cwd=tmp_path)
    assert_user_error(proc, "--output", "out.csv")
    assert not out.parent.exists()


def test_error_evaluate_data_without_target(iris_run, tmp_path):
    header, rows = read_csv(IRIS_TEST)
    features = write_csv(tmp_path / "features.csv", header[:-1], [r[:-1] for r in rows])
    proc = run_cli("evaluate", iris_run.run_dir, "--data", features, cwd=tmp_path)
    assert_user_error(proc, "features.csv", "'species'")


def test_error_resume_missing_run(tmp_path):
    config = iris_config(tmp_path / "cfg", epochs=1)
    proc = run_cli("train", config, "--resume", tmp_path / "never_ran", cwd=tmp_path)
    assert_user_error(proc, "never_ran")
