"""`nncli sweep` on real Dask clusters: an embedded LocalCluster, and a scheduler with workers
started here as `dask scheduler` / `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import pytest
import yaml
from conftest import DATASETS, relpath, run_cli
from distributed import Client
from rich.console import Console

from nncli.config import load_config
from nncli.errors import ConfigError, NncliError
from nncli.sweep import load_sweep, run_sweep

pytestmark = pytest.mark.slow  # subprocess kills, Dask clusters or fuzzing budgets

DASK = Path(sys.executable).with_name("dask")
START_TIMEOUT = 60  # seconds for a test's scheduler and workers to come up
STOP_TIMEOUT = 15  # seconds for them to exit on SIGTERM before SIGKILL
GRID = """\
name: grid
config: base.yaml
seeds: [0, 1]
parameters:
  optimizer.lr: [0.01, 0.05]
  model.layers.0.units: [4, 8]
"""


def base_config(folder: Path, epochs: int = 3) -> Path:
    """A small iris config; its data paths relative to it, as users write them."""
    folder.mkdir(parents=True, exist_ok=True)
    data = relpath(DATASETS / "iris", folder)
    path = folder / "base.yaml"
    path.write_text(
        f"""\
name: iris
data: {{train: {data}/train.csv, test: {data}/test.csv, target: species}}
model:
  layers: [{{type: dense, units: 8}}]
optimizer: {{type: adam, lr: 0.01}}
training: {{epochs: {epochs}, batch_size: 16}}
""",
        encoding="utf-8",
    )
    return path


def sweep_file(folder: Path, text: str, epochs: int = 3) -> Path:
    base_config(folder, epochs)
    path = folder / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def read_trials(out: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (out / "trials.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def assert_all_gone(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=STOP_TIMEOUT)
    assert not alive, f"leaked processes: {alive}"


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """The GRID sweep (2 x 2 parameter values, 2 seeds) on an embedded two-worker cluster."""
    work = tmp_path_factory.mktemp("grid")
    path = sweep_file(work / "cfg", GRID)
    out = work / "out"
    proc = run_cli("sweep", path, "--out", out, "--workers", 2, cwd=work)
    assert proc.returncode == 0, proc.stderr
    return path, out, proc


def test_local_cluster_runs_every_trial_and_seed(grid_run):
    _, out, proc = grid_run
    columns, rows = read_trials(out)
    assert columns == [
        "trial",
        "optimizer.lr",
        "model.layers.0.units",
        "seed",
        "val_loss",
        "best_epoch",
        "status",
        "seconds",
        "worker",
        "run_dir",
        "error",
    ]
    expected = {(lr, units, seed) for lr in ("0.01", "0.05") for units in "48" for seed in "01"}
    assert {(r["optimizer.lr"], r["model.layers.0.units"], r["seed"]) for r in rows} == expected
    assert len(rows) == 8
    workers = json.loads((out / "workers.json").read_text())
    assert len(workers) == 2
    assert all(info["blas_threads"] == 1 for info in workers.values()), workers
    for row in rows:
        assert row["status"] == "ok" and row["error"] == "", row
        assert row["worker"] in workers
        run_dir = out / row["run_dir"]
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["optimizer"]["lr"] == float(row["optimizer.lr"])
        assert config["model"]["layers"][0]["units"] == int(row["model.layers.0.units"])
        assert config["seed"] == int(row["seed"])
        assert config["data"]["train"] == str((DATASETS / "iris" / "train.csv").resolve())
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["monitor"] == "val_loss"
        assert int(row["best_epoch"]) == summary["best_epoch"]
        assert math.isclose(float(row["val_loss"]), summary["best_value"], rel_tol=1e-6)
        assert (run_dir / "checkpoints" / "best.npz").is_file()
    # Progress lines (not a terminal) and the ranking table.
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("trial ") >= 8 and "[8/8]" in proc.stderr
    assert "rank" in proc.stdout and "val_loss" in proc.stdout


def test_best_yaml_is_the_config_of_the_best_mean_over_seeds(grid_run):
    _, out, _ = grid_run
    _, rows = read_trials(out)
    by_trial: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_trial.setdefault(row["trial"], []).append(row)
    best = min(by_trial.values(), key=lambda r: statistics.fmean(float(x["val_loss"]) for x in r))
    best_seed = min(best, key=lambda r: float(r["val_loss"]))
    chosen = yaml.safe_load((out / "best.yaml").read_text())
    assert chosen == yaml.safe_load((out / best_seed["run_dir"] / "config.yaml").read_text())
    # It is a config `nncli train` takes as it is.
    assert load_config(out / "best.yaml").optimizer.lr == float(best_seed["optimizer.lr"])


def test_rerun_with_the_same_out_skips_finished_runs(grid_run, tmp_path):
    """An interrupted sweep (two runs cancelled, their folders partial) resumes where it was."""
    path, finished, _ = grid_run
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    columns, rows = read_trials(out)
    for row in rows[2:4]:
        row.update(status="cancelled", val_loss="", best_epoch="", seconds="", worker="")
        (out / row["run_dir"] / "summary.json").unlink()
    with (out / "trials.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    untouched = {
        r["run_dir"]: (out / r["run_dir"] / "summary.json").stat().st_mtime_ns
        for r in rows[:2] + rows[4:]
    }

    proc = run_cli("sweep", path, "--out", out, "--workers", 1, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 to run" in proc.stderr and "6 finished earlier" in proc.stderr
    _, after = read_trials(out)
    assert all(r["status"] == "ok" for r in after)
    for run_dir, mtime in untouched.items():
        assert (out / run_dir / "summary.json").stat().st_mtime_ns == mtime
    _, before = read_trials(finished)
    # Same config and seed, same result: the re-run runs match the first sweep's.
    assert [r["val_loss"] for r in after] == [r["val_loss"] for r in before]


def test_a_failed_trial_is_recorded_and_the_others_finish(tmp_path):
    missing = tmp_path / "elsewhere" / "train.csv"
    text = f"""\
config: base.yaml
parameters:
  data.train: [{relpath(DATASETS / "iris" / "train.csv", tmp_path / "cfg")}, {missing}]
  optimizer.lr: [0.01, 0.02]
"""
    path = sweep_file(tmp_path / "cfg", text, epochs=2)
    out = tmp_path / "out"
    proc = run_cli("sweep", path, "--out", out, "--workers", 2, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _, rows = read_trials(out)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]
    for row in rows[2:]:
        assert str(missing) in row["error"] and "cannot be read on worker" in row["error"]
        assert "shared folder" in row["error"] and row["run_dir"] == ""
    assert yaml.safe_load((out / "best.yaml").read_text())["data"]["train"] != str(missing)
    ok_mtimes = [(out / r["run_dir"] / "summary.json").stat().st_mtime_ns for r in rows[:2]]

    # Once the data is there, the same command runs only the failed trials.
    missing.parent.mkdir()
    shutil.copy(DATASETS / "iris" / "train.csv", missing)
    proc = run_cli("sweep", path, "--out", out, "--workers", 1, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _, rows = read_trials(out)
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert [(out / r["run_dir"] / "summary.json").stat().st_mtime_ns for r in rows[:2]] == ok_mtimes


def test_no_more_workers_start_than_runs_are_left(tmp_path):
    path = sweep_file(
        tmp_path / "cfg", "config: base.yaml\nparameters: {optimizer.lr: [0.01, 0.02]}\n"
    )
    out = tmp_path / "out"
    proc = run_cli("sweep", path, "--out", out, "--workers", 6, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads((out / "workers.json").read_text())) == 2
    assert [r["status"] for r in read_trials(out)[1]] == ["ok", "ok"]


def test_a_ctrl_c_that_a_library_swallows_still_stops_the_sweep(tmp_path, monkeypatch):
    """A KeyboardInterrupt raised inside Dask's start-up can be caught there; the signal was
    received all the same, so the sweep stops before running anything (it used to run all)."""
    import nncli.sweep.runner as sweep_module

    @contextmanager
    def swallowing_client(scheduler, n_workers):
        with suppress(KeyboardInterrupt):  # what a library's import or event loop may do
            signal.raise_signal(signal.SIGINT)
        yield object()  # never used: the sweep must stop first

    monkeypatch.setattr(sweep_module, "_dask_client", swallowing_client)
    text = "config: base.yaml\nparameters: {optimizer.lr: [0.01, 0.02]}\n"
    path = sweep_file(tmp_path / "cfg", text)
    result = run_sweep(path, tmp_path / "out", console=Console(file=io.StringIO()))
    assert result.signal == signal.SIGINT
    assert [r["status"] for r in read_trials(tmp_path / "out")[1]] == ["cancelled", "cancelled"]


def test_ctrl_c_cancels_pending_runs_and_keeps_finished_ones(tmp_path):
    text = """\
config: base.yaml
parameters:
  training.epochs: [2, 100000, 100000, 100000]
"""
    path = sweep_file(tmp_path / "cfg", text)
    out = tmp_path / "out"
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nncli", "sweep", str(path), "--out", str(out), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    children: set[psutil.Process] = set()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            children.update(descendants(proc.pid))
            trials = out / "trials.csv"
            if trials.exists() and ",ok," in trials.read_text():
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the first trial did not finish in time")
        children.update(descendants(proc.pid))
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    _, rows = read_trials(out)
    assert rows[0]["status"] == "ok"
    assert {r["status"] for r in rows[1:]} == {"cancelled"}
    assert_all_gone(list(children))


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; all stopped afterwards."""
    scheduler_file = tmp_path / "scheduler.json"
    common = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                scheduler_file,
            ],
            start_new_session=True,
            **common,
        )
    ]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.exists() and time.monotonic() < deadline:
            assert procs[0].poll() is None, "dask scheduler exited"
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ],
                start_new_session=True,
                **common,
            )
        )
        with Client(address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield address, procs
    finally:
        everything = [p for proc in procs for p in descendants(proc.pid)]
        everything += [psutil.Process(proc.pid) for proc in procs if proc.poll() is None]
        for proc in reversed(procs):  # workers first, then the scheduler
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=STOP_TIMEOUT)
        assert_all_gone(everything)


def test_a_running_scheduler_runs_the_same_sweep(dask_cluster, grid_run, tmp_path):
    address, _ = dask_cluster
    path, local_out, _ = grid_run
    out = tmp_path / "out"
    proc = run_cli("sweep", path, "--out", out, "--scheduler", address, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _, rows = read_trials(out)
    _, local = read_trials(local_out)
    assert all(r["status"] == "ok" for r in rows)
    assert {r["worker"] for r in rows} <= set(json.loads((out / "workers.json").read_text()))
    # One seed, one result, wherever it ran.
    assert [r["val_loss"] for r in rows] == [r["val_loss"] for r in local]
    assert (out / "best.yaml").read_text() == (local_out / "best.yaml").read_text()


# --- the sweep file --------------------------------------------------------------------------


def assert_one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_unknown_key_in_the_sweep_file_is_one_clear_line(tmp_path):
    path = sweep_file(tmp_path, "config: base.yaml\nparamters:\n  optimizer.lr: [0.1]\n")
    proc = run_cli("sweep", path, "--out", tmp_path / "out")
    assert_one_error_line(
        proc, "paramters: unknown key 'paramters'", "did you mean 'parameters'", "sweep.yaml:2:1"
    )
    assert not (tmp_path / "out").exists()


def test_bad_parameter_path_is_one_clear_line(tmp_path):
    text = "config: base.yaml\nparameters:\n  model.layers.3.units: [4, 8]\n"
    proc = run_cli("sweep", sweep_file(tmp_path, text), "--out", tmp_path / "out")
    assert_one_error_line(
        proc, "parameters.model.layers.3.units", "'3' is not an index", "sweep.yaml:3:3"
    )


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "config: base.yaml\nparameters:\n  optimizer.lrr: [0.1, 0.2]\n",
            ["optimizer.lrr: unknown key 'lrr'", "did you mean 'lr'", "sweep.yaml:3:3"],
        ),
        (
            "config: base.yaml\nparameters:\n  optimizer.lr: {distribution: log_uniform,"
            " low: 0.001, high: 0.1}\n",
            ["needs method: random", "sweep.yaml:3:17"],
        ),
        (
            "config: base.yaml\nmethod: random\nparameters:\n  optimizer.lr: [0.1]\n",
            ["trials: required with method: random"],
        ),
        (
            "config: base.yaml\nmetric: val_acuracy\nparameters:\n  optimizer.lr: [0.1]\n",
            ["unknown metric 'val_acuracy'", "did you mean 'val_accuracy'", "sweep.yaml:2:9"],
        ),
        (
            "config: base.yaml\nmethod: random\ntrials: 2\nparameters:\n"
            "  optimizer.lr: {distribution: normal, low: 0.1, high: 1}\n",
            ["unknown distribution 'normal'", "expected one of: choice, uniform"],
        ),
        (
            "config: base.yaml\nparameters:\n  optimizer.lr: 0.1\n",
            ["parameters.optimizer.lr: got 0.1: expected a list of values"],
        ),
        (
            "config: base.yaml\nmetric: test_loss\nparameters:\n  data.test: [null]\n",
            ["metric: test_loss needs a test set, but data.test is null (sweep.yaml:2:9)"],
        ),
        (
            "config: missing.yaml\nparameters:\n  optimizer.lr: [0.1]\n",
            ["config:", "missing.yaml: no such file", "sweep.yaml:1:9"],
        ),
    ],
)
def test_sweep_file_errors_name_the_key_and_place(tmp_path, text, needles):
    with pytest.raises(ConfigError) as info:
        load_sweep(sweep_file(tmp_path, text))
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_every_invalid_combination_is_reported_before_anything_runs(tmp_path):
    text = (
        "config: base.yaml\nparameters:\n"
        "  optimizer.lr: [0.1, -1, 0]\n  model.layers.0.units: [4, 0]\n"
    )
    path = sweep_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("trial 2 (optimizer.lr=0.1, model.layers.0.units=0) and 2 more:")
    assert "model.layers[0].units: input should be greater than 0 (sweep.yaml:4:3)" in lines[0]
    assert lines[1].startswith("trial 3 (optimizer.lr=-1, model.layers.0.units=4) and 3 more:")
    assert "optimizer.lr: input should be greater than 0 (sweep.yaml:3:3)" in lines[1]


def test_random_draws_stay_in_bounds_and_repeat(tmp_path):
    text = """\
config: base.yaml
method: random
trials: 40
sample_seed: 7
parameters:
  optimizer.lr: {distribution: log_uniform, low: 1.0e-4, high: 1.0e-1}
  optimizer.weight_decay: {distribution: uniform, low: 0.0, high: 0.5}
  training.batch_size: {distribution: int_uniform, low: 8, high: 10}
  model.activation: [relu, tanh]
"""
    path = sweep_file(tmp_path, text)
    sweep = load_sweep(path)
    params = [run.params for run in sweep.runs]
    assert len(params) == 40 and sweep.n_trials == 40
    lrs = [p["optimizer.lr"] for p in params]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    # log-uniform: about as many draws per decade, so most are far below the arithmetic middle
    assert sum(lr < 0.01 for lr in lrs) > 20
    assert all(0.0 <= p["optimizer.weight_decay"] <= 0.5 for p in params)
    assert {p["training.batch_size"] for p in params} == {8, 9, 10}
    assert {p["model.activation"] for p in params} == {"relu", "tanh"}
    for run in sweep.runs:
        assert run.config.optimizer.lr == run.params["optimizer.lr"]
        assert run.config.training.batch_size == run.params["training.batch_size"]
    assert [r.params for r in load_sweep(path).runs] == params
    path.write_text(text.replace("sample_seed: 7", "sample_seed: 8"))
    assert [r.params for r in load_sweep(path).runs] != params


def test_grid_order_and_seeds(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, GRID))
    assert [(r.trial, r.seed) for r in sweep.runs] == [(t, s) for t in (1, 2, 3, 4) for s in (0, 1)]
    assert [sweep.runs[i].params for i in (0, 2, 4, 6)] == [
        {"optimizer.lr": lr, "model.layers.0.units": u} for lr in (0.01, 0.05) for u in (4, 8)
    ]
    assert sweep.mode == "min" and sweep.metric == "val_loss"


def test_workers_option_needs_the_embedded_cluster(tmp_path):
    with pytest.raises(NncliError, match="--workers sizes the embedded cluster"):
        run_sweep(sweep_file(tmp_path, GRID), tmp_path / "out", "tcp://127.0.0.1:1", 2)


def test_without_dask_a_one_line_install_hint(tmp_path):
    path = sweep_file(tmp_path, GRID)
    code = (
        "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
        "from nncli.cli import main; sys.argv = ['nncli', 'sweep', sys.argv[1]]; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert_one_error_line(proc, 'pip install "nncli[sweep]"')
