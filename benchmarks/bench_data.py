"""Speed and memory of nncli's CSV reading: reading vs numpy.loadtxt, peak memory of
`nncli train` on a 60,000 x 784 CSV, and of `nncli predict` on 100,000 and 1,000,000 rows.

Run:  python benchmarks/bench_data.py [--repeat 3] [--keep DIR]

Writes synthetic CSVs to a temporary folder (nothing is downloaded):

  train.csv         60,000 rows: 784 integer features 0-255 and a label 0-9 (MNIST's shape,
                    168 MB)
  decimals.csv      20,000 rows: 784 features with 3 decimals in [0, 1) and a label (92 MB):
                    numpy parses integers faster than decimals, and nncli makes use of it
  train8.csv        5,000 rows: 8 features, 4 decimals, a text label (for the predict model)
  predict-100k.csv  100,000 rows of the same 8 features (6 MB)
  predict-1m.csv    1,000,000 rows (62 MB)

and prints:

  reading  seconds to read train.csv into memory: nncli's `data.read_raw` (features as
           float64, labels as text, chunk by chunk, every check included) next to
           `numpy.loadtxt(path, delimiter=",", skiprows=1)`; each read in a fresh process
           (as `nncli train` reads once), interleaved, the fastest of --repeat each;
           then the same for decimals.csv
  train    peak resident memory of `nncli train` (784-32-10, one epoch, batch 256,
           validation 0.2) against the goal: twice the float32 features plus 200 MB
  predict  peak resident memory of `nncli predict` on 100k and on 1M rows (to stdout,
           spooled, and to --output), and the difference

Peak memory is ru_maxrss of the command alone, in decimal MB (a wrapper process spawns it,
as a child of this script would count this script's memory too). Needs a POSIX system.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROWS, FEATURES = 60_000, 784
DECIMAL_ROWS = 20_000
MB = 1_000_000  # decimal, as in the goal (2 x 188 MB + 200 MB = 576 MB)


def write_train(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        handle.write(",".join([*(f"p{i}" for i in range(FEATURES)), "label"]) + "\n")
        for _ in range(0, ROWS, 5000):
            block = np.hstack(
                [rng.integers(0, 256, (5000, FEATURES)), rng.integers(0, 10, (5000, 1))]
            )
            np.savetxt(handle, block, fmt="%d", delimiter=",")


def write_decimals(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        handle.write(",".join([*(f"p{i}" for i in range(FEATURES)), "label"]) + "\n")
        for _ in range(0, DECIMAL_ROWS, 5000):
            x = np.round(rng.random((5000, FEATURES)), 3)
            np.savetxt(
                handle, np.hstack([x, rng.integers(0, 10, (5000, 1))]), fmt="%g", delimiter=","
            )


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

# The reading contenders, each timed in a fresh process (as `nncli train` reads once).
READERS = {
    "nncli read_raw": "from nncli.data.read import read_raw; "
    "read = lambda: read_raw(PATH, ['label'], None, labels_as_text=True)",
    "numpy.loadtxt": "import numpy as np; read = lambda: np.loadtxt(PATH, delimiter=',', "
    "skiprows=1)",
}
TIMED = "import time\n{setup}\nt = time.perf_counter(); read(); print(time.perf_counter() - t)"


def peak_mb(args: list[str], cwd: Path) -> float:
    """Run `nncli ARGS` (it must succeed); its peak resident memory in MB."""
    command = [sys.executable, "-c", PEAK, str(cwd / "stdout.txt"), sys.executable, "-m", "nncli"]
    proc = subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True)
    peak, code = proc.stdout.split()
    if int(code):
        raise SystemExit(f"nncli {' '.join(args)} failed ({code}): {proc.stderr[-800:]}")
    return int(peak) / MB


def read_seconds(name: str, path: Path) -> float:
    code = TIMED.format(setup=READERS[name].replace("PATH", repr(str(path))))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed reads of each contender")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nncli-bench-data-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        run(folder, args.repeat)


def run(folder: Path, repeat: int) -> None:
    train = folder / "train.csv"
    print(f"writing CSVs to {folder} ...", flush=True)
    if not train.exists():
        write_train(train)
    decimals = folder / "decimals.csv"
    if not decimals.exists():
        write_decimals(decimals)
    write_features(folder / "train8.csv", 5000, labels=True, seed=1)
    write_features(folder / "predict-100k.csv", 100_000, labels=False, seed=2)
    write_features(folder / "predict-1m.csv", 1_000_000, labels=False, seed=2)

    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {os.cpu_count()} cores")
    # --- reading ----------------------------------------------------------------------------
    for path, rows in ((train, ROWS), (decimals, DECIMAL_ROWS)):
        seconds: dict[str, list[float]] = {name: [] for name in READERS}
        for _ in range(repeat):  # interleaved, so a busy machine slows both alike
            for name, times in seconds.items():
                times.append(read_seconds(name, path))
        size = path.stat().st_size / MB
        print(f"\nreading {path.name} ({size:.0f} MB, {rows:,} x {FEATURES + 1}), each read in a")
        print(f"fresh process, fastest of {repeat}:")
        for name, times in seconds.items():
            shown = ", ".join(f"{t:.2f}" for t in times)
            print(f"  {name:15s} {min(times):5.2f} s   (all: {shown})")
        ours, numpy = (min(times) for times in seconds.values())
        print(f"  nncli / numpy   {ours / numpy:5.2f}")

    # --- train ------------------------------------------------------------------------------
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

    # --- predict ----------------------------------------------------------------------------
    (folder / "small.yaml").write_text(
        "data: {train: train8.csv, target: label}\n"
        "model: {layers: [{type: dense, units: 16}]}\ntraining: {epochs: 2}\n"
    )
    run_dir = folder / "run8"
    shutil.rmtree(run_dir, ignore_errors=True)
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
