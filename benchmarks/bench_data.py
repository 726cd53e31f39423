"""Speed and memory of nncli's data reading: file to model inputs next to pandas, pyarrow and
numpy; peak memory of `nncli train` on a 60,000 x 784 CSV and of `nncli predict` on 100,000
and 1,000,000 rows.

Run:  python benchmarks/bench_data.py [--repeat 3] [--keep DIR] [--parts reading train predict]

Writes synthetic CSVs to a temporary folder (nothing is downloaded):

  train.csv         60,000 rows: 784 integer features 0-255 and a label 0-9 (MNIST's shape,
                    168 MB)
  mixed.csv         200,000 rows: an id (0, 1, ...), 6 numeric columns (2 of integers, 4 of
                    decimals) each with 5 % empty values, 3 text columns of 3, 12 and 50
                    levels, and a text label of 3 classes (16 MB)
  train8.csv        5,000 rows: 8 features, 4 decimals, a text label (for the predict model)
  predict-100k.csv  100,000 rows of the same 8 features (6 MB)
  predict-1m.csv    1,000,000 rows (62 MB)

and prints:

  reading  seconds to read train.csv, then mixed.csv, each read in a fresh process (as
           `nncli train` reads once; imports and setup untimed), the contenders interleaved,
           the fastest of --repeat each, and its ratio to pandas:
             nncli load_dataset  what `nncli train` runs, from the file to the float64
                                 model inputs: `load_dataset` on a config with validation
                                 null and scale none (so the inputs are the unscaled
                                 numbers, one-hot columns included, ready for scaling), every
                                 check included, and the labels encoded; the stages it calls
                                 are timed in the same run, each less the stages it calls in
                                 turn (read_raw = pyarrow's read_frame, all text, + the
                                 labels; plan_columns; check_values; FeatureSet.fit;
                                 _targets; the transform: _raw_inputs and _assemble, or
                                 _column_inputs; Preprocessor.fit; other)
             numpy.loadtxt       np.loadtxt(path, delimiter=",", skiprows=1): numbers only
             pandas.read_csv     pd.read_csv(path): typed columns (C parser, one thread)
             pyarrow.csv         pyarrow.csv.read_csv(path): typed columns (multithreaded)
           A contender that refuses a file is shown with its message, and not run again.
           The goal: nncli at most pandas' time.
  train    peak resident memory of `nncli train` (784-32-10, one epoch, batch 256,
           validation 0.2) on train.csv against the goal: twice the float32 features plus
           200 MB
  predict  peak resident memory of `nncli predict` on 100k and on 1M rows (to stdout,
           spooled, and to --output), and the difference

Peak memory is ru_maxrss of the command alone, in decimal MB (a wrapper process spawns it,
as a child of this script would count this script's memory too). Needs a POSIX system.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROWS, FEATURES = 60_000, 784
MIXED_ROWS = 200_000
MB = 1_000_000  # decimal, as in the goal (2 x 188 MB + 200 MB = 576 MB)
LEVELS = {"colour": 3, "city": 12, "product": 50}  # the mixed file's text columns


def write_train(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        handle.write(",".join([*(f"p{i}" for i in range(FEATURES)), "label"]) + "\n")
        for _ in range(0, ROWS, 5000):
            block = np.hstack(
                [rng.integers(0, 256, (5000, FEATURES)), rng.integers(0, 10, (5000, 1))]
            )
            np.savetxt(handle, block, fmt="%d", delimiter=",")


def write_mixed(path: Path, rows: int = MIXED_ROWS, seed: int = 0) -> None:
    """An id, 6 numeric columns with 5 % gaps, 3 text columns and a text label."""
    rng = np.random.default_rng(seed)
    numeric = ["age", "visits", "price", "weight", "income", "score"]
    with path.open("w") as handle:
        handle.write(",".join(["id", *numeric, *LEVELS, "target"]) + "\n")
        for start in range(0, rows, 50_000):
            n = min(50_000, rows - start)
            columns = [np.arange(start, start + n).astype(str)]
            for j in range(len(numeric)):
                if j < 2:  # integers
                    text = rng.integers(0, 100 * (j + 1), n).astype(str)
                else:
                    text = np.char.mod("%.4f", np.round(rng.normal(size=n) * 10**j, 4))
                text[rng.random(n) < 0.05] = ""
                columns.append(text)
            for name, k in LEVELS.items():
                names = np.array([f"{name}_{i}" for i in range(k)])
                columns.append(names[rng.integers(0, k, n)])
            columns.append(np.array(["a", "b", "c"])[rng.integers(0, 3, n)])
            handle.writelines(",".join(row) + "\n" for row in zip(*columns, strict=True))


def write_features(path: Path, rows: int, labels: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        handle.write(",".join([*(f"f{i}" for i in range(8)), *(["label"] if labels else [])]))
        handle.write("\n")
        for start in range(0, rows, 100_000):
            x = np.round(rng.normal(size=(min(100_000, rows - start), 8)) * 10, 4)
            if labels:
                y = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
                handle.writelines(
                    ",".join([*map("{:.4f}".format, r), c]) + "\n"
                    for r, c in zip(x, y, strict=True)
                )
            else:
                np.savetxt(handle, x, fmt="%.4f", delimiter=",")


# A small process that runs a command and prints its peak memory: a child's ru_maxrss counts
# what it inherited at fork (this script's own memory), so the command is spawned from here.
PEAK = """
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    code = subprocess.call(sys.argv[2:], stdout=out)
scale = 1 if sys.platform == "darwin" else 1024
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale, code)
"""

# The reading contenders, each timed in a fresh process: the setup (imports, the config)
# defines read(), of which only the call is timed. PATH and TARGET are filled in.
NNCLI = """
import numpy as np
import nncli.data.dataset as ds
from nncli.config.sections import Config

cfg = Config.model_validate({
    "data": {"train": PATH, "target": TARGET, "validation": None, "scale": "none"},
    "model": {"layers": [{"type": "dense", "units": 8}]},
}).data
STAGES, NESTED = {}, []

def timed(label, fn):  # fn, adding its own time (less the timed stages it calls) to STAGES
    def run(*args, **kwargs):
        NESTED.append(0.0)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            took = time.perf_counter() - start
            STAGES[label] = STAGES.get(label, 0.0) + took - NESTED.pop()
            if NESTED:
                NESTED[-1] += took
    return run

# load_dataset's stages, timed where it calls them (a name it no longer has is left out)
STEPS = ("read_raw", "plan_columns", "check_values", "_targets", "_raw_inputs", "_assemble")
for name in (*STEPS, "_column_inputs"):
    if hasattr(ds, name):
        setattr(ds, name, timed(name, getattr(ds, name)))
ds.FeatureSet.fit = timed("FeatureSet.fit", ds.FeatureSet.fit)
ds.Preprocessor.fit = timed("Preprocessor.fit", ds.Preprocessor.fit)

def read():
    data = ds.load_dataset(cfg, np.random.default_rng(0), dtype=np.float64)
    assert data.train.x.dtype == np.float64 and len(data.train.x) == ROWS
    return STAGES
"""
READERS = {
    "nncli load_dataset": NNCLI,
    "numpy.loadtxt": "import numpy as np\n"
    "read = lambda: np.loadtxt(PATH, delimiter=',', skiprows=1)",
    "pandas.read_csv": "import pandas as pd\nread = lambda: pd.read_csv(PATH)",
    "pyarrow.csv": "import pyarrow.csv as pacsv\nread = lambda: pacsv.read_csv(PATH)",
}
TIMED = """
import json, time
{setup}
start = time.perf_counter()
try:
    stages = read()
except Exception as exc:
    print(json.dumps({{"refused": f"{{type(exc).__name__}}: {{str(exc).splitlines()[0][:160]}}"}}))
else:
    seconds = time.perf_counter() - start
    stages = stages if isinstance(stages, dict) else {{}}
    print(json.dumps({{"seconds": seconds, "stages": stages}}))
"""


def peak_mb(args: list[str], cwd: Path) -> float:
    """Run `nncli ARGS` (it must succeed); its peak resident memory in MB."""
    command = [sys.executable, "-c", PEAK, str(cwd / "stdout.txt"), sys.executable, "-m", "nncli"]
    proc = subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True)
    peak, code = proc.stdout.split()
    if int(code):
        raise SystemExit(f"nncli {' '.join(args)} failed ({code}): {proc.stderr[-800:]}")
    return int(peak) / MB


def read_once(name: str, path: Path, target: str, rows: int) -> dict:
    """One timed read in a fresh process: {"seconds", "stages"} or {"refused": message}."""
    setup = READERS[name].replace("PATH", repr(str(path))).replace("TARGET", repr(target))
    code = TIMED.format(setup=textwrap.dedent(setup).replace("ROWS", str(rows)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{name} on {path.name} failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed reads of each contender")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parts = ("reading", "train", "predict")
    parser.add_argument("--parts", nargs="+", choices=parts, default=list(parts))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nncli-bench-data-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        run(folder, args.repeat, args.parts)


def run(folder: Path, repeat: int, parts: list[str]) -> None:
    print(f"writing CSVs to {folder} ...", flush=True)
    train = folder / "train.csv"
    if not train.exists():
        write_train(train)
    mixed = folder / "mixed.csv"
    if "reading" in parts and not mixed.exists():
        write_mixed(mixed)
    print(
        f"Python {platform.python_version()}, NumPy {np.__version__}, pandas "
        f"{version('pandas')}, pyarrow {version('pyarrow')}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if "reading" in parts:
        reading(train, "label", ROWS, f"{ROWS:,} x {FEATURES + 1}, integers", repeat)
        what = f"{MIXED_ROWS:,} x 11, 6 numeric with gaps, 3 text, an id"
        reading(mixed, "target", MIXED_ROWS, what, repeat)
    if "train" in parts:
        train_memory(folder)
    if "predict" in parts:
        predict_memory(folder)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


def reading(path: Path, target: str, rows: int, what: str, repeat: int) -> None:
    results: dict[str, list[dict]] = {name: [] for name in READERS}
    for _ in range(repeat):  # interleaved, so a busy machine slows all of them alike
        for name, runs in results.items():
            if not (runs and "refused" in runs[0]):
                runs.append(read_once(name, path, target, rows))
    size = path.stat().st_size / MB
    print(f"\nreading {path.name} ({size:.0f} MB, {what}), each read in a fresh process,")
    print(f"fastest of {repeat}, and its time / pandas':")
    pandas = min(r["seconds"] for r in results["pandas.read_csv"])
    for name, runs in results.items():
        if "refused" in runs[0]:
            print(f"  {name:19s} refuses the file: {runs[0]['refused']}")
            continue
        best = min(runs, key=lambda r: r["seconds"])
        shown = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(f"  {name:19s} {best['seconds']:6.2f} s  {best['seconds'] / pandas:5.2f}x   "
              f"(all: {shown})")  # fmt: skip
        if best["stages"]:
            stages = dict(best["stages"])
            stages["other"] = best["seconds"] - sum(stages.values())
            print("      " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    ours = min(r["seconds"] for r in results["nncli load_dataset"])
    verdict = "met" if ours <= pandas else "NOT met"
    print(f"  goal: nncli at most pandas' time: {verdict} ({ours:.2f} s vs {pandas:.2f} s)")


def train_memory(folder: Path) -> None:
    config = folder / "bench.yaml"
    config.write_text(
        "data: {train: train.csv, target: label, validation: 0.2}\n"
        "model: {layers: [{type: dense, units: 32}]}\n"
        "training: {epochs: 1, batch_size: 256}\n"
    )
    shutil.rmtree(folder / "run784", ignore_errors=True)
    peak = peak_mb(["train", "bench.yaml", "--quiet", "--run-dir", "run784"], folder)
    data = ROWS * FEATURES * 4 / MB
    goal = 2 * data + 200
    print(f"\nnncli train (784-32-10, 1 epoch): peak {peak:.0f} MB")
    print(f"  goal: 2 x {data:.0f} MB (float32 features) + 200 MB = {goal:.0f} MB: ", end="")
    print("met" if peak <= goal else "NOT met")


def predict_memory(folder: Path) -> None:
    write_features(folder / "train8.csv", 5000, labels=True, seed=1)
    write_features(folder / "predict-100k.csv", 100_000, labels=False, seed=2)
    write_features(folder / "predict-1m.csv", 1_000_000, labels=False, seed=2)
    (folder / "small.yaml").write_text(
        "data: {train: train8.csv, target: label}\n"
        "model: {layers: [{type: dense, units: 16}]}\ntraining: {epochs: 2}\n"
    )
    shutil.rmtree(folder / "run8", ignore_errors=True)
    peak_mb(["train", "small.yaml", "--quiet", "--run-dir", "run8"], folder)
    print("\nnncli predict (8 features, 8-16-2), peak:")
    for target in ("stdout", "--output"):
        peaks = []
        for name in ("predict-100k.csv", "predict-1m.csv"):
            extra = ["--output", str(folder / "out.csv")] if target == "--output" else []
            peaks.append(peak_mb(["predict", "run8", name, *extra], folder))
        print(
            f"  to {target:8s}  100k rows: {peaks[0]:5.0f} MB   1M rows: {peaks[1]:5.0f} MB   "
            f"difference: {peaks[1] - peaks[0]:+.0f} MB"
        )
    with (folder / "out.csv").open() as handle:
        assert sum(1 for _ in handle) == 1 + 1_000_000  # the header and one row per row


if __name__ == "__main__":
    main()
