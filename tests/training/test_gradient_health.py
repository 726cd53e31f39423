"""Gradient health: gradients.csv, the vanishing-gradient warning, and `nncli gradcheck`."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nncli.engine.layers import Dense
from nncli.training.diagnose import gradcheck_config
from nncli.training.health import health_warnings

ROOT = Path(__file__).resolve().parents[2]


def _train(config: str, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *(sys.executable, "-m", "nncli", "train", str(ROOT / "configs" / config)),
            *("--run-dir", str(run_dir), "--set", "training.epochs=2", *extra),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _grad_norms(run_dir: Path, epoch: int) -> dict[str, float]:
    with (run_dir / "gradients.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {r["layer"]: float(r["grad_norm"]) for r in rows if int(r["epoch"]) == epoch}


def test_deep_sigmoid_network_warns_of_vanishing_gradients(tmp_path: Path) -> None:
    result = _train("deep-sigmoid.yaml", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "vanishing gradients" in line]
    assert len(warnings) == 1  # one line, once per run, naming the layers and the cures
    assert "layers.0" in warnings[0] and "residual" in warnings[0]
    norms = _grad_norms(tmp_path / "run", epoch=1)
    assert len(norms) == 21  # 20 hidden dense layers + output
    assert norms["layers.0"] < 1e-6 * norms["output"]


def test_cured_network_of_the_same_depth_has_healthy_gradients(tmp_path: Path) -> None:
    result = _train("deep-cured.yaml", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "vanishing" not in result.stderr and "exploding" not in result.stderr
    norms = _grad_norms(tmp_path / "run", epoch=1)
    assert min(norms.values()) > 1e-2 * max(norms.values())


def test_health_warnings_flag_exploding_and_vanishing_layers() -> None:
    rows = [
        {"layer": "layers.0", "grad_norm": 1e-9},
        {"layer": "layers.1", "grad_norm": 0.5},
        {"layer": "output", "grad_norm": 1.0},
    ]
    ((kind, message),) = health_warnings(rows)
    assert kind == "vanishing" and "layers.0" in message and "layers.1" not in message
    rows[1]["grad_norm"] = float("inf")
    kinds = dict(health_warnings(rows))
    assert "layers.1" in kinds["exploding"]
    assert (
        health_warnings([{"layer": "a", "grad_norm": 0.3}, {"layer": "b", "grad_norm": 1.0}]) == []
    )


def test_gradcheck_passes_for_every_layer_type(tmp_path: Path) -> None:
    config = tmp_path / "every-layer.yaml"
    config.write_text(
        f"""
data: {{train: {ROOT / "datasets/wine/train.csv"}, target: cultivar}}
model:
  layers:
    - {{type: dense, units: 8, activation: gelu}}
    - {{type: batchnorm}}
    - {{type: dropout, rate: 0.2}}
    - type: residual
      layers:
        - {{type: dense, units: 6, activation: {{name: leaky_relu, alpha: 0.2}}}}
        - {{type: layernorm}}
    - {{type: activation, name: tanh}}
loss: {{name: cross_entropy, label_smoothing: 0.1, class_weights: balanced}}
"""
    )
    result = subprocess.run(
        [sys.executable, "-m", "nncli", "gradcheck", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in ("layers.0.weight", "layers.1.gamma", "layers.3.projection.weight", "input"):
        assert name in result.stdout
    rows = gradcheck_config(config)
    assert max(r.error for r in rows) < 1e-6


def test_gradcheck_catches_a_wrong_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    right = Dense.backward

    def wrong(self: Dense, grad_out: np.ndarray) -> np.ndarray:
        grad_in = right(self, grad_out)
        self.grads["weight"] *= 1.001  # a 0.1% error in every weight gradient
        return grad_in

    monkeypatch.setattr(Dense, "backward", wrong)
    rows = gradcheck_config(ROOT / "configs" / "iris.yaml")
    bad = {r.name for r in rows if r.error > 1e-6}
    assert {"layers.0.weight", "layers.1.weight", "output.weight"} <= bad
    assert "layers.0.bias" not in bad


def test_gradcheck_title_counts_the_rows_it_used(repo_root: Path, run_cli) -> None:
    """--rows beyond the training set uses every row, and the title says how many."""
    proc = run_cli("gradcheck", "configs/iris.yaml", "--rows", 100000, cwd=repo_root)
    assert proc.returncode == 0, proc.stderr
    assert "gradient check of" in proc.stdout
    assert "(float64, 96 rows)" in proc.stdout and "100000" not in proc.stdout
