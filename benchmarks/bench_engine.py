"""Seconds per training epoch of nncli's engine next to PyTorch CPU, scikit-learn and NumPy.

Run:  pip install torch scikit-learn && python benchmarks/bench_engine.py [--epochs 7]

Three shapes, synthetic float32 data (random features and labels; only the shapes matter for
timing, nothing is downloaded):

  mnist  784-256-128-10 ReLU, softmax cross-entropy, Adam, batch 128, 60,000 rows
  wide   784-1024-1024-10, batch 256, 60,000 rows
  tiny   4-16-3, batch 16, 4,096 rows (per-step overhead decides; reported per step too)

Contenders, all training the same network with Adam (lr 1e-3) on shuffled mini-batches:

  nncli        the Trainer's own epoch loop (`Trainer._train_epoch`, what `nncli train` runs,
               gradient monitor included), on the engine objects nncli.build makes
  torch        torch.optim.Adam with its defaults (for-loop implementation on CPU)
  torch fused  torch.optim.Adam(fused=True)
  sklearn      MLPClassifier(solver="adam", alpha=0).partial_fit: one epoch per call
  floor        NumPy matmuls alone (forward and backward of every dense layer, one fixed
               batch, preallocated outputs): no elementwise work, no optimizer, no gather

Epochs are interleaved (epoch 1 of every contender, then epoch 2, ...) so a busy machine
slows all of them alike; the first epoch of each is a warm-up and the table shows medians of
the rest. BLAS threads are whatever the environment says (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS; torch uses torch.get_num_threads()).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rich.console import Console

from nncli.config.sections import Config
from nncli.data.dataset import Dataset, Split
from nncli.data.preprocess import Preprocessor
from nncli.training.trainer import Trainer


@dataclass(frozen=True)
class Shape:
    name: str
    widths: tuple[int, ...]  # inputs, hidden..., classes
    batch: int
    rows: int

    @property
    def steps(self) -> int:
        return -(-self.rows // self.batch)


SHAPES = {
    "mnist": Shape("mnist", (784, 256, 128, 10), 128, 60_000),
    "wide": Shape("wide", (784, 1024, 1024, 10), 256, 60_000),
    "tiny": Shape("tiny", (4, 16, 3), 16, 4_096),
}


def synthetic(shape: Shape, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape.rows, shape.widths[0]), dtype=np.float32)
    y = rng.integers(0, shape.widths[-1], shape.rows)
    return x, y


# --- contenders: each returns a function that trains one epoch ------------------------------


def nncli_epoch(shape: Shape, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    config = Config.model_validate(
        {
            "seed": 0,
            "data": {"train": "synthetic.csv", "target": "y", "validation": None},
            "model": {"layers": [{"type": "dense", "units": w} for w in shape.widths[1:-1]]},
            "optimizer": {"type": "adam", "lr": 1e-3},
            "training": {"batch_size": shape.batch, "epochs": 1000, "early_stopping": None},
        }
    )
    n_in, n_classes = shape.widths[0], shape.widths[-1]
    prep = Preprocessor(
        [f"x{i}" for i in range(n_in)],
        ["y"],
        "classification",
        [str(c) for c in range(n_classes)],
        np.zeros(n_in),
        np.ones(n_in),
    )
    data = Dataset(Split(x, y), None, None, prep)
    trainer = Trainer(config, Console(file=io.StringIO()), data=data)
    epoch = 0

    def run() -> None:
        nonlocal epoch
        epoch += 1
        trainer.optimizer.lr = trainer.schedule.lr_at(epoch)
        row, _ = trainer._train_epoch(epoch)
        assert row is not None and np.isfinite(row["train_loss"])

    return run


def torch_epoch(shape: Shape, x: np.ndarray, y: np.ndarray, fused: bool) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    mods: list[torch.nn.Module] = []
    for a, b in zip(shape.widths[:-2], shape.widths[1:-1], strict=True):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    mods.append(torch.nn.Linear(shape.widths[-2], shape.widths[-1]))
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True if fused else None)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)

    def run() -> None:
        order = torch.randperm(shape.rows, generator=gen)
        total = 0.0
        for lo in range(0, shape.rows, shape.batch):
            idx = order[lo : lo + shape.batch]
            xb, yb = xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)  # as nncli, which logs the epoch's train loss
        assert np.isfinite(total)

    return run


def sklearn_epoch(shape: Shape, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=shape.widths[1:-1],
        solver="adam",
        learning_rate_init=1e-3,
        alpha=0.0,
        batch_size=shape.batch,
        shuffle=True,
        random_state=0,
    )
    classes = np.arange(shape.widths[-1])

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(x, y, classes=classes)

    return run


def floor_epoch(shape: Shape, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """Only the matmuls an epoch needs: x@W per layer, then dW = h.T@g and g@W.T (not for
    the first layer's input), with the last batch of its real (smaller) size."""
    rng = np.random.default_rng(0)
    ws = [
        rng.standard_normal((a, b), dtype=np.float32) * 0.05
        for a, b in zip(shape.widths[:-1], shape.widths[1:], strict=True)
    ]
    sizes = [shape.batch] * (shape.rows // shape.batch)
    if shape.rows % shape.batch:
        sizes.append(shape.rows % shape.batch)

    def buffers(n: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        hs = [x[:n].copy()] + [np.empty((n, w.shape[1]), np.float32) for w in ws]
        gs = [np.empty((n, w.shape[0]), np.float32) for w in ws]
        return hs, gs, [np.empty_like(w) for w in ws]

    bufs = {n: buffers(n) for n in set(sizes)}

    def run() -> None:
        for n in sizes:
            hs, gs, dws = bufs[n]
            for i, w in enumerate(ws):
                np.matmul(hs[i], w, out=hs[i + 1])
            g = hs[-1]
            for i in reversed(range(len(ws))):
                np.matmul(hs[i].T, g, out=dws[i])
                if i:
                    np.matmul(g, ws[i].T, out=gs[i])
                    g = gs[i]

    return run


# --- the run -------------------------------------------------------------------------------


def contenders(shape: Shape, x: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], None]]:
    found: dict[str, Callable[[], None]] = {"nncli": nncli_epoch(shape, x, y)}
    try:
        found["torch"] = torch_epoch(shape, x, y, fused=False)
        found["torch fused"] = torch_epoch(shape, x, y, fused=True)
    except ImportError:
        print("torch is not installed: no PyTorch columns")
    try:
        found["sklearn"] = sklearn_epoch(shape, x, y)
    except ImportError:
        print("scikit-learn is not installed: no MLPClassifier column")
    found["floor"] = floor_epoch(shape, x, y)
    return found


def measure(shape: Shape, epochs: int) -> dict[str, list[float]]:
    """Seconds of each timed epoch of each contender, epochs interleaved, first one dropped."""
    x, y = synthetic(shape)
    runs = contenders(shape, x, y)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(epochs + 1):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: t[1:] for name, t in times.items()}


def machine() -> str:
    import numpy

    parts = [f"{os.cpu_count()} cpus", platform.processor() or platform.machine()]
    parts.append(f"numpy {numpy.__version__}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            parts.append(f"{pool['internal_api']} {pool['version']} ({pool['num_threads']} thr)")
    except ImportError:
        pass
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} thr)")
    except ImportError:
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if var in os.environ:
            parts.append(f"{var}={os.environ[var]}")
    return ", ".join(parts)


def table(results: dict[str, dict[str, list[float]]]) -> str:
    """Markdown: median s/epoch (and the fastest epoch), per step, samples/s, nncli's ratio."""
    names = ["torch", "torch fused", "sklearn", "floor"]
    head = "| shape | contender | s/epoch | fastest | ms/step | samples/s | nncli ÷ this |"
    lines = [head, "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for shape_name, result in results.items():
        shape = SHAPES[shape_name]
        mine = statistics.median(result["nncli"])
        for name in ["nncli", *names]:
            if name not in result:
                continue
            s = statistics.median(result[name])
            ratio = "" if name == "nncli" else f"{mine / s:.2f}×"
            lines.append(
                f"| {shape_name} | {name} | {s:.3f} | {min(result[name]):.3f} | "
                f"{1e3 * s / shape.steps:.3f} | {shape.rows / s:,.0f} | {ratio} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per contender")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    results = {name: measure(SHAPES[name], args.epochs) for name in args.shapes}
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(table(results))


if __name__ == "__main__":
    main()
