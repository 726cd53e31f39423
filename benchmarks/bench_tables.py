"""Test metric and wall time on the bundled mixed tables: nncli from `init`, unedited, vs sklearn.

Run:  .venv/bin/python benchmarks/bench_tables.py [penguins titanic auto_mpg]

For each table in datasets/ with text categories and missing values, on its own train.csv and
test.csv:
- scikit-learn's idiomatic pipeline, every column but the target as a feature: numbers by
  SimpleImputer(median, add_indicator=True) + StandardScaler, text by
  SimpleImputer(most_frequent) + OneHotEncoder(handle_unknown='ignore'), then
  MLPClassifier / MLPRegressor(hidden_layer_sizes=(64, 64), early_stopping=True, random_state=0).
  Its seconds cover reading both CSVs, fitting and scoring the test rows.
- nncli as a new user runs it: `nncli init --data train.csv --target COL` in a fresh folder,
  then `nncli train` of that config with data.test set to test.csv; the test metric is read
  from the run's summary.json (test_metrics). Its seconds are the wall time of both commands,
  process start-up included.
Both sides are seeded (random_state=0; the config's seed: 0), so the metric is the same on every
repeat; seconds are the median of REPEATS runs, as the machine may be shared. Prints a Markdown
table: test accuracy (classification) or R² (regression) and seconds for each, nncli minus
scikit-learn in metric, and nncli's time over scikit-learn's. A benchmark, never a test: it
asserts nothing, and a failing nncli step is shown in the table, not raised.

scikit-learn's seconds are timed in this process, its imports (pandas, sklearn: about a
second) already done after the first repeat, while nncli's two commands each start Python and
import NumPy, pyarrow, pandas and pydantic (0.5-0.6 s each). "sklearn cold s" times the same
pipeline as a script a user runs (`python -c`, a fresh process, imports included), the
like-for-like figure for nncli's; the last column is nncli's time over it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# folder -> (target column, task); the task only picks scikit-learn's estimator and the metric
TABLES = {
    "penguins": ("species", "classification"),
    "titanic": ("survived", "classification"),
    "auto_mpg": ("mpg", "regression"),
}
METRIC = {"classification": "accuracy", "regression": "r2"}
REPEATS = 3


def sklearn_score(name: str, target: str, task: str) -> tuple[float, float]:
    """Test accuracy or R² of the idiomatic impute + one-hot + scale + MLP pipeline, and seconds."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    start = time.perf_counter()
    train = pd.read_csv(ROOT / "datasets" / name / "train.csv")
    test = pd.read_csv(ROOT / "datasets" / name / "test.csv")
    x, y = train.drop(columns=[target]), train[target]
    numbers = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    text = [c for c in x.columns if c not in numbers]
    features = ColumnTransformer(
        [
            (
                "numbers",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                numbers,
            ),
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                text,
            ),
        ]
    )
    mlp = MLPClassifier if task == "classification" else MLPRegressor
    model = make_pipeline(
        features, mlp(hidden_layer_sizes=(64, 64), early_stopping=True, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on small tables
        model.fit(x, y)
        predicted = model.predict(test.drop(columns=[target]))
    score = accuracy_score if task == "classification" else r2_score
    return float(score(test[target], predicted)), time.perf_counter() - start


def sklearn_cold_seconds(name: str, target: str, task: str) -> float:
    """Wall seconds of sklearn_score run as a script in a fresh Python, imports included."""
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_tables; "
        f"bench_tables.sklearn_score({name!r}, {target!r}, {task!r})"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return time.perf_counter() - start


def nncli_score(name: str, target: str, task: str, folder: Path) -> tuple[float | str, float]:
    """nncli's test metric after `init` + `train` with no edits, and their wall seconds.

    The metric is a short failure note instead when a step fails or reports no such metric.
    """
    data = ROOT / "datasets" / name
    nncli = [sys.executable, "-m", "nncli"]
    steps = [
        [*nncli, "init", name, "--data", str(data / "train.csv"), "--target", target],
        [
            *nncli,
            "train",
            f"{name}.yaml",
            "--set",
            f"data.test={data / 'test.csv'}",
            "--run-dir",
            "run",
            "--quiet",
        ],
    ]
    start = time.perf_counter()
    for step in steps:
        done = subprocess.run(step, cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            return f"{step[3]} failed: {lines[-1][:80]}", time.perf_counter() - start
    seconds = time.perf_counter() - start
    metrics = json.loads((folder / "run" / "summary.json").read_text())["test_metrics"] or {}
    metric = METRIC[task]
    if metric not in metrics:
        return f"no test {metric} (got {', '.join(metrics) or 'none'})", seconds
    return float(metrics[metric]), seconds


def main() -> None:
    names = sys.argv[1:] or list(TABLES)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise SystemExit(f"unknown table {unknown[0]!r}; choose from {', '.join(TABLES)}")
    print(
        "| dataset | metric | sklearn | sklearn s | sklearn cold s | nncli | nncli s"
        " | nncli − sklearn | nncli s / sklearn s | nncli s / sklearn cold s |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        target, task = TABLES[name]
        sk_runs, cold_runs, nn_runs = [], [], []
        for _ in range(REPEATS):  # interleaved: a load that comes and goes hits all three
            sk_runs.append(sklearn_score(name, target, task))
            cold_runs.append(sklearn_cold_seconds(name, target, task))
            with tempfile.TemporaryDirectory() as tmp:
                nn_runs.append(nncli_score(name, target, task, Path(tmp)))
        theirs, their_s = sk_runs[0][0], statistics.median(s for _, s in sk_runs)
        cold_s = statistics.median(cold_runs)
        ours, our_s = nn_runs[0][0], statistics.median(s for _, s in nn_runs)
        if isinstance(ours, float):
            cells = (
                f"{ours:.4f} | {our_s:.2f} | {ours - theirs:+.4f} | {our_s / their_s:.1f}x"
                f" | {our_s / cold_s:.2f}x"
            )
        else:
            cells = f"{ours} | {our_s:.2f} | n/a | n/a | n/a"
        print(
            f"| {name} | test {METRIC[task]} | {theirs:.4f} | {their_s:.2f} | {cold_s:.2f}"
            f" | {cells} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
