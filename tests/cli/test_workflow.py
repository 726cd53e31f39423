"""The everyday commands end to end: init, validate's architecture, train -q/-v, runs, plot."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import yaml
from conftest import CLI_TIMEOUT, DATASETS, REPO_ROOT, relpath, run_cli
from rich.console import Console
from typer.testing import CliRunner

from nncli.cli import app
from nncli.cli.architecture import architecture_rows
from nncli.config.jsonschema import SCHEMA_PATH
from nncli.config.load import load_config
from nncli.store.history import read_metrics
from nncli.training.trainer import Trainer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPARK = re.compile(r"^\s*(train_loss|val_loss)\s+\S+ ([▁▂▃▄▅▆▇█]+|[_.\-~=+*#]+) \S+$")


def user_error(proc, *needles: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- init ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".", "", ".."])
def test_init_with_a_name_that_is_no_file_is_one_error(tmp_path, name):
    (tmp_path / "sub").mkdir()
    proc = run_cli("init", name, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: init {name!r}: NAME must name a file (e.g. iris writes iris.yaml)"
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["sub"]


def test_init_quotes_a_name_with_spaces_in_its_next_commands(tmp_path):
    proc = run_cli("init", "my run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "next: nncli validate 'my run.yaml'; nncli train 'my run.yaml'" in proc.stderr


def test_init_writes_a_starter_that_validates_and_trains(tmp_path):
    proc = run_cli("init", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = tmp_path / "config.yaml"
    text = config.read_text(encoding="utf-8")
    modeline = text.splitlines()[0]
    assert modeline.startswith("# yaml-language-server: $schema=")
    schema = (tmp_path / modeline.split("=", 1)[1]).resolve()
    assert schema == (REPO_ROOT / SCHEMA_PATH).resolve()
    for section in ("data:", "model:", "loss:", "optimizer:", "# schedule:", "training:"):
        assert f"\n{section}" in text, section
    for option in ("early_stopping:", "dropout", "batchnorm", "residual", "weight_decay"):
        assert option in text, option
    raw = yaml.safe_load(text)
    assert raw["data"]["target"] == "species"
    assert not Path(raw["data"]["train"]).is_absolute()
    assert (tmp_path / raw["data"]["train"]).resolve() == (DATASETS / "iris/train.csv").resolve()

    validated = run_cli("validate", config, cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert yaml.safe_load(validated.stdout)["data"]["target"] == "species"
    run_dir = tmp_path / "run"
    trained = run_cli(
        "train", config, "--set", "training.epochs=1", "--run-dir", run_dir, cwd=tmp_path
    )
    assert trained.returncode == 0, trained.stderr
    assert (run_dir / "checkpoints" / "best.npz").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["epochs_run"] == 1

    again = run_cli("init", cwd=tmp_path)
    user_error(again, "config.yaml", "already exists")
    assert config.read_text(encoding="utf-8") == text


def test_init_from_a_csv_fills_data_task_and_features(tmp_path):
    """Regression target, a text column typed as categorical, paths relative to the config."""
    with (DATASETS / "diabetes" / "train.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = [*rows[0], "city"]
    body = [[*row, ["Oslo", "Lima", "Pune"][i % 3]] for i, row in enumerate(rows[1:])]
    data = write_csv(tmp_path / "houses.csv", header, body)
    folder = tmp_path / "experiments"
    folder.mkdir()
    proc = run_cli("init", "exp/../houses", "--data", data, "--target", "progression", cwd=folder)
    assert proc.returncode == 1  # NAME's folder must exist
    proc = run_cli(
        "init", "houses", "--data", "../houses.csv", "--target", "progression", cwd=folder
    )
    assert proc.returncode == 0, proc.stderr
    config = folder / "houses.yaml"
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert raw["data"]["train"] == "../houses.csv"
    assert raw["data"]["task"] == "regression"
    assert raw["data"]["features"] is None  # every column but the target, types inferred
    text = config.read_text(encoding="utf-8")
    assert "#   city: categorical (3 levels)" in text
    assert "#   sex: numeric (2 distinct numbers)" in text  # a 1/2 code stays one input
    trained = run_cli("train", config, "--set", "training.epochs=1", "--quiet", cwd=folder)
    assert trained.returncode == 0, trained.stderr
    lines = trained.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run folder: "), trained.stderr
    assert (folder / lines[0].removeprefix("run folder: ") / "summary.json").is_file()


def test_init_user_errors(tmp_path):
    iris = relpath(DATASETS / "iris" / "train.csv", tmp_path)
    user_error(
        run_cli("init", "a", "--data", "nowhere.csv", "--target", "y", cwd=tmp_path), "nowhere.csv"
    )
    user_error(
        run_cli("init", "a", "--data", iris, "--target", "specis", cwd=tmp_path), "'species'"
    )
    user_error(run_cli("init", "a", "--data", iris, cwd=tmp_path), "--target")
    assert not (tmp_path / "a.yaml").exists()


# --- validate: the architecture table ------------------------------------------------------

DEEP = """\
data: {{train: {train}, target: species}}
model:
  layers:
    - {{type: dense, units: 8}}
    - {{type: batchnorm}}
    - {{type: dropout, rate: 0.1}}
    - type: residual
      layers:
        - {{type: dense, units: 6, activation: gelu}}
        - {{type: dense, units: 6, activation: linear}}
    - {{type: layernorm}}
"""


def test_architecture_rows_name_every_state_dict_entry(tmp_path):
    config = tmp_path / "deep.yaml"
    config.write_text(DEEP.format(train=relpath(DATASETS / "iris/train.csv", tmp_path)))
    trainer = Trainer(load_config(config), Console(quiet=True))
    rows = architecture_rows(trainer.network, 4)
    names = [r.name for r in rows]
    assert names == [
        "layers.0", "layers.1", "layers.2", "layers.3", "layers.3.layers.0",
        "layers.3.layers.1", "layers.3.projection", "layers.4", "output",
    ]  # fmt: skip
    assert [r.width for r in rows] == [8, 8, 8, 6, 6, 6, 6, 6, 3]
    state = trainer.model.state_dict()
    for key in state:
        assert key.rsplit(".", 1)[0] in names, key
    trainable = sum(p.value.size for p in trainer.network.parameters())
    assert sum(r.params for r in rows if r.depth == 0) == trainable
    residual = rows[3]
    assert residual.params == sum(r.params for r in rows if r.name.startswith("layers.3."))
    assert rows[1].buffers == 16  # batchnorm running mean and variance


def test_validate_prints_the_architecture_on_stderr_only(tmp_path):
    config = tmp_path / "deep.yaml"
    config.write_text(DEEP.format(train=relpath(DATASETS / "iris/train.csv", tmp_path)))
    proc = run_cli("validate", config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["model"]["layers"][0]["units"] == 8
    assert "layers.3.projection" not in proc.stdout
    trainer = Trainer(load_config(config), Console(quiet=True))
    total = sum(p.value.size for p in trainer.network.parameters())
    for text in ("layers.3.layers.1", "layers.3.projection", "output", "Dense(4 -> 8)"):
        assert text in proc.stderr, text
    assert re.search(rf"total\W+{total:,}\W", proc.stderr), proc.stderr
    assert "16 running statistics" in proc.stderr


def test_validate_fails_on_unreadable_data(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data: {train: gone.csv, target: y}\n")
    user_error(run_cli("validate", config, cwd=tmp_path), "gone.csv", "no such file")


# --- train: the end-of-run chart, --verbose ------------------------------------------------


def test_train_ends_with_a_loss_chart(iris_run):
    lines = iris_run.proc.stderr.splitlines()
    chart = [line for line in lines if SPARK.match(line)]
    assert [SPARK.match(line).group(1) for line in chart] == ["train_loss", "val_loss"]
    assert all(len(SPARK.match(line).group(2)) == iris_run.epochs for line in chart)
    assert lines[-1].startswith("run folder: ")


def test_train_verbose_prints_architecture_and_gradient_norms(tmp_path):
    config = REPO_ROOT / "configs" / "iris.yaml"
    proc = run_cli(
        "train", config, "-v", "--set", "training.epochs=2", "--run-dir", tmp_path / "r",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "layers.1" in proc.stderr and "total" in proc.stderr
    norms = [line for line in proc.stderr.splitlines() if "gradient norms:" in line]
    assert len(norms) == 2
    assert all(re.search(r"layers\.0 \d\.\d\de[+-]\d\d, layers\.1 .*, output ", n) for n in norms)
    both = run_cli("train", config, "-q", "-v", cwd=tmp_path)
    assert both.returncode == 2


# --- runs and plot -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """Two short iris runs with different learning rates, a folder that is not a run, and a
    folder whose summary.json is damaged."""
    root = tmp_path_factory.mktemp("runs")
    config = REPO_ROOT / "configs" / "iris.yaml"
    for name, lr in (("slow", 0.001), ("fast", 0.03)):
        proc = run_cli(
            "train", config, "--set", "training.epochs=4", "--set", f"optimizer.lr={lr}",
            "--set", f"name={name}", "--run-dir", root / "runs" / name / "r1", cwd=root,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    (root / "runs" / "notes").mkdir()
    broken = root / "runs" / "broken" / "r1"
    broken.mkdir(parents=True)
    (broken / "summary.json").write_text("{not json")
    return root


def test_runs_lists_runs_and_skips_other_folders(runs_root):
    proc = run_cli("runs", cwd=runs_root)
    assert proc.returncode == 0, proc.stderr
    for text in ("slow", "fast", "completed", "accuracy", "val_loss"):
        assert text in proc.stdout, text
    assert "runs/slow/r1" in proc.stdout.replace("\n", "")
    assert "notes" in proc.stderr and "not a run" in proc.stderr
    assert "broken" in proc.stderr and "summary.json" in proc.stderr
    assert "broken" not in proc.stdout


def test_runs_json_and_sort(runs_root):
    proc = run_cli("runs", "runs", "--json", "--sort", "val_loss", cwd=runs_root)
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert {r["name"] for r in listed} == {"slow", "fast"}
    by_name = {r["name"]: r for r in listed}
    assert by_name["fast"]["epochs"] == 4 and by_name["fast"]["stop_reason"] == "completed"
    assert set(by_name["slow"]["test_metrics"]) >= {"loss", "accuracy"}

    def at_best(run: dict, column: str) -> float:
        history = read_metrics(runs_root / run["folder"] / "metrics.csv")
        return history[column][history["epoch"].index(run["best_epoch"])]

    losses = [at_best(r, "val_loss") for r in listed]
    assert losses == sorted(losses)
    assert losses[0] < losses[1]  # the two runs differ, so the order is meaningful
    proc = run_cli("runs", "runs", "--json", "--sort", "test_loss", cwd=runs_root)
    test_losses = [r["test_metrics"]["loss"] for r in json.loads(proc.stdout)]
    assert test_losses == sorted(test_losses)
    proc = run_cli("runs", "--json", "--sort", "val_accuracy", cwd=runs_root)
    accuracies = [at_best(r, "val_accuracy") for r in json.loads(proc.stdout)]
    assert accuracies == sorted(accuracies, reverse=True)
    table = run_cli("runs", "--sort", "val_loss", cwd=runs_root)
    assert table.stdout.index("slow") != table.stdout.index("fast")
    first = "slow" if listed[0]["name"] == "slow" else "fast"
    other = "fast" if first == "slow" else "slow"
    assert table.stdout.index(f"│ {first}") < table.stdout.index(f"│ {other}")
    user_error(run_cli("runs", "--sort", "val_los", cwd=runs_root), "val_los", "val_loss")
    user_error(run_cli("runs", "nowhere", cwd=runs_root), "nowhere")


def test_plot_writes_a_png_of_several_runs(runs_root, tmp_path):
    output = tmp_path / "out" / "compare.png"
    runs = runs_root / "runs"
    proc = run_cli("plot", runs / "slow" / "r1", runs / "fast" / "r1", "-o", output)
    assert proc.returncode == 0, proc.stderr
    assert output.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(output)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) > 100
    assert np.ptp(image[..., :3]) > 0  # something was drawn

    single = tmp_path / "one.png"
    proc = run_cli(
        "plot", runs / "fast" / "r1" / "checkpoints" / "best.npz", "--metric", "val_f1_macro",
        "--output", single,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert single.read_bytes()[:8] == PNG_SIGNATURE
    user_error(run_cli("plot", runs / "fast" / "r1", "--metric", "nope", "-o", single), "nope")
    user_error(run_cli("plot", runs / "notes", "-o", single), "not a run")


def test_plot_without_matplotlib_says_how_to_install(runs_root, tmp_path):
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PY_COLORS")}
    env |= {"NO_COLOR": "1", "PYTHONPATH": str(blocker.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "nncli", "plot", runs_root / "runs" / "fast" / "r1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT,
    )  # fmt: skip
    user_error(proc, "pip install 'nncli[plot]'")
    assert not (tmp_path / "curves.png").exists()


# --- help, completion ----------------------------------------------------------------------


def test_every_command_help_has_an_example():
    runner = CliRunner()
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {"init", "schema", "runs", "plot", "validate", "train"} <= set(commands)
    for name in commands:
        result = runner.invoke(app, [name, "--help"], env={"NO_COLOR": "1", "COLUMNS": "200"})
        assert result.exit_code == 0, (name, result.output)
        assert "Example: nncli " in result.output, name


def test_shell_completion_completes_commands(tmp_path):
    script = Path(sys.executable).parent / "nncli"
    if not script.exists():
        pytest.fail(f"{script}: the nncli console script is not installed next to python")
    env = dict(os.environ, COMP_WORDS="nncli ru", COMP_CWORD="1", _NNCLI_COMPLETE="complete_bash")
    proc = subprocess.run(
        [script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["runs"]


def test_loss_chart_stays_compact_and_has_an_ascii_form():
    from nncli.training.charts import CHART_WIDTH, loss_chart

    history = {
        "epoch": list(range(1, 501)),
        "train_loss": [2.0 / (1 + e) for e in range(500)],
        "val_loss": [None] * 10 + [3.0 / (1 + e) for e in range(490)],
    }
    lines = loss_chart(history, unicode=False)
    bars = [line.split()[2] for line in lines[:2]]
    assert [len(b) for b in bars] == [CHART_WIDTH, CHART_WIDTH]
    assert all(set(b) <= set("_.-~=+*#") for b in bars)
    ramp = "_.-~=+*#"
    top = max(ramp.index(c) for c in bars[0] + bars[1])
    assert ramp.index(bars[1][0]) == top and bars[0][-1] == "_"  # one scale for both
    assert "epochs 1-500, log scale" in lines[-1]
    assert loss_chart({"train_loss": [1.0]}) == []  # one epoch: nothing to draw
