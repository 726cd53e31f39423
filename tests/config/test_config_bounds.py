"""Numbers in a config are finite, within bounds that cannot overflow, and never booleans;
monitored metrics are known names. Each is refused by `nncli validate` (and so by train and
gradcheck) with one `error:` line naming the key, exit code 1, no traceback."""

from __future__ import annotations

import pytest
from conftest import DATASETS, relpath, run_cli

from nncli.config.sections import LOGGED_METRICS
from nncli.training.report import metric_columns

IRIS = """\
data:
  train: {train}
  target: species
model:
  layers:
    - {{type: dense, units: 8}}
optimizer: {{type: adam, lr: 0.01}}
training:
  epochs: 1
"""


@pytest.fixture
def iris(tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text(
        IRIS.format(train=relpath(DATASETS / "iris" / "train.csv", tmp_path)), encoding="utf-8"
    )
    return path


def refused(config, *sets: str, command: str = "validate") -> str:
    args = [a for s in sets for a in ("--set", s)]
    proc = run_cli(command, config, *args, cwd=config.parent)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("option", "key", "needle"),
    [
        ("model.layers.0.init={name: normal, std: .inf}", "model.layers[0].init.std", "finite"),
        ("model.layers.0.init={name: orthogonal, gain: .nan}", "init.gain", "finite"),
        ("model.layers.0.init={name: orthogonal, gain: 1e300}", "init.gain", "1000"),
        ("model.layers.0.init={name: uniform, limit: 1e308}", "init.limit", "1000"),
        ("model.init={name: normal, std: 1e10}", "model.init.std", "1000"),
        ("optimizer={type: adam, lr: .inf}", "optimizer.lr", "finite"),
        ("optimizer={type: adam, eps: .inf}", "optimizer.eps", "finite"),
        ("optimizer={type: adam, weight_decay: .inf}", "optimizer.weight_decay", "finite"),
        ("optimizer={type: sgd, momentum: .nan}", "optimizer.momentum", "finite"),
        (
            "loss={name: cross_entropy, class_weights: {setosa: .inf}}",
            "loss.class_weights.setosa",
            "finite",
        ),
        (
            "loss={name: cross_entropy, class_weights: {setosa: 1e-300}}",
            "loss.class_weights.setosa",
            "0.000001",
        ),
        (
            "loss={name: cross_entropy, class_weights: {setosa: 1e300}}",
            "loss.class_weights.setosa",
            "1000000",
        ),
        ("model.layers.0.units=99999999999999999999999", "model.layers[0].units", "1000000"),
        ("model.layers.0.units=1000000000", "model.layers[0].units", "1000000"),
        ("model.layers.0.activation={name: leaky_relu, alpha: .nan}", "activation.alpha", "finite"),
        ("model.layers.0.activation={name: elu, alpha: .inf}", "activation.alpha", "finite"),
        ("model.layers=[{type: activation, name: elu, alpha: -.inf}]", "layers[0].alpha", "finite"),
        ("schedule={type: cosine, min_lr: .inf}", "schedule.min_lr", "finite"),
        ("schedule={type: step, gamma: .nan}", "schedule.gamma", "finite"),
        ("training.grad_clip=.inf", "training.grad_clip", "finite"),
        ("training.early_stopping={min_delta: .nan}", "early_stopping.min_delta", "finite"),
        ("model.layers=[{type: batchnorm, eps: .inf}]", "model.layers[0].eps", "finite"),
        ("loss={name: huber, delta: .inf}", "loss.delta", "finite"),
        ("data.validation=.nan", "data.validation", "finite"),
    ],
)
def test_numbers_must_be_finite_and_bounded(iris, option, key, needle):
    line = refused(iris, option)
    assert key in line and needle in line, line
    assert f"(--set {option.split('=')[0]})" in line


@pytest.mark.parametrize(
    ("option", "key"),
    [
        ("optimizer.lr=true", "optimizer.lr"),
        ("training.epochs=true", "training.epochs"),
        ("model.layers.0.units=true", "model.layers[0].units"),
        ("training.checkpoint.every=true", "training.checkpoint.every"),
        ("training.batch_size=false", "training.batch_size"),
        ("seed=true", "seed"),
        ("loss={name: cross_entropy, class_weights: {setosa: true}}", "loss.class_weights.setosa"),
        ("model.layers=[{type: dropout, rate: false}]", "model.layers[0].rate"),
    ],
)
def test_booleans_are_not_numbers(iris, option, key):
    line = refused(iris, option)
    assert line.startswith(f"error: {key}: expected "), line
    assert "got true" in line or "got false" in line


def test_numbers_still_accept_ints_and_numeric_strings(iris):
    # YAML 1.1 reads 1e-3 (no dot) as a string; pydantic turns it into the number
    proc = run_cli(
        "validate",
        iris,
        "--set",
        "optimizer.lr=1e-3",
        "--set",
        "model.layers.0.init={name: normal, std: 1}",
        "--set",
        "training.epochs='3'",
        cwd=iris.parent,
    )
    assert proc.returncode == 0, proc.stderr
    assert "lr: 0.001" in proc.stdout and "std: 1.0" in proc.stdout and "epochs: 3" in proc.stdout


@pytest.mark.parametrize("command", ["validate", "gradcheck", "train"])
@pytest.mark.parametrize("monitor", ["nope", "lr", "epoch", "seconds", "val_acc"])
def test_plateau_monitor_must_be_a_metric_name_in_every_mode(iris, command, monitor):
    line = refused(iris, f"schedule={{type: plateau, monitor: {monitor}}}", command=command)
    assert line.startswith(f"error: schedule.monitor: '{monitor}' is not a logged metric"), line
    assert "val_loss" in line and "direction" not in line


def test_early_stopping_monitor_is_checked_at_config_time(iris):
    line = refused(iris, "training.early_stopping={monitor: epoch}")
    assert line.startswith("error: training.early_stopping.monitor: 'epoch' is not a logged")


def test_logged_metrics_are_the_columns_of_either_task():
    columns = set(metric_columns("classification", True)) | set(metric_columns("regression", True))
    assert set(LOGGED_METRICS) == columns - {"lr", "seconds"}


def test_a_network_too_large_to_allocate_is_refused_before_building(iris):
    # each width is within model.layers[].units' bound; together they are 10^12 weights
    option = "model.layers=[{type: dense, units: 1000000}, {type: dense, units: 1000000}]"
    for command in ("validate", "train"):
        line = refused(iris, option, command=command)
        assert line.startswith("error: model: the network would hold "), line
        assert "limit 100,000,000" in line
