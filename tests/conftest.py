"""Shared fixtures: the repo's paths, a subprocess runner for the CLI, one trained iris run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS = REPO_ROOT / "datasets"
CLI_TIMEOUT = 120


def cli_command(*args: object) -> list[str]:
    return [sys.executable, "-m", "nncli", *(str(a) for a in args)]


def cli_env() -> dict[str, str]:
    """The caller's environment without forced colours, so output is plain text."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PY_COLORS")}
    env["NO_COLOR"] = "1"
    return env


def run_cli(*args: object, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m nncli ARGS` in a subprocess, as a user's shell would; text output."""
    return subprocess.run(
        cli_command(*args),
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def start_cli(*args: object, cwd: str | Path, **options: object) -> subprocess.Popen:
    """Start `python -m nncli ARGS` without waiting, for tests that signal or race it; text
    pipes for stdout and stderr unless `options` say otherwise."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **options}
    return subprocess.Popen(cli_command(*args), cwd=cwd, env=cli_env(), **options)


@dataclass
class DataCfg:
    """Stand-in for the pydantic data config (duck-typed by load_dataset)."""

    train: str
    target: str | list[str]
    validation: float | str | None = None
    test: str | None = None
    features: list[str] | None = None
    task: str = "auto"
    scale: str = "standard"
    scale_target: bool = True
    delimiter: str = ","
    missing: str = "error"


def relpath(target: Path, start: Path) -> str:
    """`target` relative to the folder `start` (configs use paths relative to themselves)."""
    return os.path.relpath(target, start)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def datasets() -> Path:
    return DATASETS


@pytest.fixture(name="run_cli", scope="session")
def run_cli_fixture():
    return run_cli


@dataclass
class TrainedRun:
    run_dir: Path
    config: Path
    proc: subprocess.CompletedProcess
    epochs: int


@pytest.fixture(scope="session")
def iris_run(tmp_path_factory) -> TrainedRun:
    """configs/iris.yaml, 3 epochs (instead of its 100) with a checkpoint every 2 epochs."""
    work = tmp_path_factory.mktemp("iris_run")
    run_dir = work / "run"
    config = REPO_ROOT / "configs" / "iris.yaml"
    proc = run_cli(
        "train",
        config,
        "--set",
        "training.epochs=3",
        "--set",
        "training.checkpoint.every=2",
        "--run-dir",
        run_dir,
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    return TrainedRun(run_dir=run_dir, config=config, proc=proc, epochs=3)


def write_diabetes_config(folder: Path, epochs: int = 20) -> Path:
    """A small regression config in `folder`, its data paths relative to the config file."""
    folder.mkdir(parents=True, exist_ok=True)
    data = relpath(DATASETS / "diabetes", folder)
    config = folder / "diabetes.yaml"
    config.write_text(
        f"""\
name: diabetes
seed: 3
data:
  train: {data}/train.csv
  test: {data}/test.csv
  target: progression
model:
  layers:
    - {{type: dense, units: 16}}
optimizer: {{type: adam, lr: 0.01}}
training:
  epochs: {epochs}
  batch_size: 32
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="session")
def diabetes_run(tmp_path_factory) -> TrainedRun:
    work = tmp_path_factory.mktemp("diabetes_run")
    config = write_diabetes_config(work / "cfg")
    run_dir = work / "run"
    proc = run_cli("train", config, "--run-dir", run_dir, cwd=work)
    assert proc.returncode == 0, proc.stderr
    return TrainedRun(run_dir=run_dir, config=config, proc=proc, epochs=20)


def pytest_configure(config: pytest.Config) -> None:
    """In CI the PyTorch parity tests must run, never be skipped for a missing torch."""
    if os.environ.get("CI"):
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise pytest.UsageError(
                f"CI is set but torch cannot be imported ({exc}); the parity tests would be "
                'skipped. Install the test extras: pip install -e ".[test]"'
            ) from exc
