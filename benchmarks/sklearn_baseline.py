"""Test metric of every bundled config next to scikit-learn's MLP with a comparable network.

Run:  pip install scikit-learn && python benchmarks/sklearn_baseline.py
Each config is trained with nncli (as `nncli train` would) and its hidden dense widths, optimizer
learning rate, batch size, L2 penalty, validation fraction and patience are given to
MLPClassifier / MLPRegressor (early_stopping=True) on the same train/test CSVs. Prints a
Markdown table: test accuracy (classification) or R² (regression), and wall-clock seconds,
as mean ± std over three seeds.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from rich.console import Console

import nncli
from nncli.config.load import load_config

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["iris", "wine", "breast_cancer", "digits", "diabetes"]
SEEDS = (0, 1, 2)  # test sets are small: compare means over seeds, not single draws


def read_csv(path: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    t = header.index(target)
    x = np.array([[float(v) for i, v in enumerate(r) if i != t] for r in body])
    y = np.array([r[t] for r in body])
    return x, y


def sklearn_score(config_path: Path, seed: int) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    config = load_config(config_path)
    x, y = read_csv(config.data.train, config.data.target)
    xt, yt = read_csv(config.data.test, config.data.target)
    widths = tuple(layer.units for layer in config.model.layers if layer.type == "dense")
    es = config.training.early_stopping
    common = dict(
        hidden_layer_sizes=widths,
        solver="adam",
        learning_rate_init=config.optimizer.lr,
        batch_size=config.training.batch_size,
        alpha=config.optimizer.weight_decay,
        max_iter=config.training.epochs,
        early_stopping=True,
        validation_fraction=config.data.validation,
        n_iter_no_change=es.patience if es else 10,
        random_state=seed,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _is_classification(y):
            model = make_pipeline(StandardScaler(), MLPClassifier(**common))
            model.fit(x, y)
            score = accuracy_score(yt, model.predict(xt))
        else:
            reg = MLPRegressor(**common)
            model = make_pipeline(StandardScaler(), reg)
            mean, std = y.astype(float).mean(), y.astype(float).std()
            model.fit(x, (y.astype(float) - mean) / std)
            score = r2_score(yt.astype(float), model.predict(xt) * std + mean)
    return score, time.perf_counter() - start


def _is_classification(y: np.ndarray) -> bool:
    try:
        values = y.astype(float)
    except ValueError:
        return True
    return bool(np.all(values == np.round(values)) and len(np.unique(values)) <= 20)


def nncli_score(config_path: Path, out: Path, seed: int) -> tuple[float, float, str]:
    start = time.perf_counter()
    run = nncli.train(
        config_path,
        overrides={"seed": seed},
        run_dir=out / f"{config_path.stem}-{seed}",
        console=Console(quiet=True),
    )
    seconds = time.perf_counter() - start
    metrics = run.summary["test_metrics"]
    if "accuracy" in metrics:
        return metrics["accuracy"], seconds, "accuracy"
    return metrics["r2"], seconds, "r2"


def main() -> None:
    print("| config | metric | nncli | sklearn MLP | nncli s | sklearn s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in sys.argv[1:] or CONFIGS:
            path = ROOT / "configs" / f"{name}.yaml"
            ours = [nncli_score(path, Path(tmp), seed) for seed in SEEDS]
            theirs = [sklearn_score(path, seed) for seed in SEEDS]
            metric = ours[0][2]
            print(
                f"| {name} | test {metric} | {_mean(ours, 0)} | {_mean(theirs, 0)} |"
                f" {_mean(ours, 1, 2)} | {_mean(theirs, 1, 2)} |",
                flush=True,
            )


def _mean(results: list[tuple], index: int, digits: int = 4) -> str:
    values = [r[index] for r in results]
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


if __name__ == "__main__":
    main()
