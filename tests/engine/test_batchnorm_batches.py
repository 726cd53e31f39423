"""BatchNorm and batch sizes: a last batch of one row cannot have a variance."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import relpath


def write_config(folder: Path, datasets: Path, batch_size: int) -> Path:
    iris = relpath(datasets / "iris", folder)
    config = folder / "bn.yaml"
    config.write_text(
        f"seed: 0\n"
        f"data: {{train: {iris}/train.csv, target: species}}\n"
        "model: {layers: [{type: dense, units: 8}, {type: batchnorm}]}\n"
        f"training: {{epochs: 2, batch_size: {batch_size}, early_stopping: null}}\n"
    )
    return config


def test_a_last_batch_of_one_row_joins_the_one_before(tmp_path, datasets, run_cli):
    # iris's train.csv keeps 96 rows for training (validation 0.2 of 120): 5 x 19 + 1.
    config = write_config(tmp_path, datasets, batch_size=19)
    proc = run_cli("train", config, "--run-dir", tmp_path / "run", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] == 2


def test_batch_size_one_with_batchnorm_is_one_config_error(tmp_path, datasets, run_cli):
    config = write_config(tmp_path, datasets, batch_size=1)
    proc = run_cli("train", config, "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: training.batch_size: a batchnorm layer needs batches of at least two rows "
        "(batch_size 1, 96 training rows)"
    ]
    assert not (tmp_path / "run").exists()
