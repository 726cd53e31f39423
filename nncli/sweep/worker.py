"""What runs on a Dask worker: one training per call, plain data in and out, never raising."""

from __future__ import annotations

import csv
import io
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from rich.console import Console

from nncli import __version__
from nncli.config.sections import Config
from nncli.errors import DataError, NncliError
from nncli.store.run_folder import RunFolder
from nncli.training.trainer import Trainer

# One BLAS thread per trial: trials already run in parallel, one per worker thread.
BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_trial(job: dict[str, Any]) -> dict[str, Any]:
    """Train one run on a Dask worker. Plain data in and out; a failure is returned, not raised."""
    pin_blas_threads()
    start = time.perf_counter()
    worker = _worker_name()
    run_dir = Path(job["run_dir"])
    log = io.StringIO()
    result: dict[str, Any] = {"worker": worker, "metric": None, "best_epoch": None, "error": ""}
    try:
        config = Config.model_validate(job["config"])
        _check_shared_paths(config, run_dir, worker)
        console = Console(file=log, width=160, color_system=None, force_terminal=False)
        summary = Trainer(config, console).run(run_dir, None).summary
        result["metric"], result["best_epoch"] = metric_of(summary, run_dir, job["metric"])
        result["status"] = "ok"
    except NncliError as exc:
        result.update(status="failed", error=str(exc))
    except Exception as exc:  # a bug: keep the sweep going, the traceback goes to train.log
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        log.write(traceback.format_exc())
    result["seconds"] = time.perf_counter() - start
    if run_dir.is_dir():
        (run_dir / "train.log").write_text(log.getvalue(), encoding="utf-8")
    return result


def metric_of(summary: dict[str, Any], run_dir: Path, metric: str) -> tuple[float, int | None]:
    """The metric at the run's best epoch (the weights of checkpoints/best), and that epoch."""
    best_epoch = summary.get("best_epoch")
    if metric.startswith("test_"):
        tests = summary.get("test_metrics")
        if tests is None:
            raise NncliError(f"metric {metric}: the config has no data.test")
        if metric[5:] not in tests:
            raise NncliError(f"metric {metric}: not computed here; test metrics: {list(tests)}")
        return float(tests[metric[5:]]), best_epoch
    with RunFolder(run_dir).metrics.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    logged = [c for c in (rows[0] if rows else {}) if c not in ("epoch", "lr", "seconds")]
    if metric not in logged:
        raise NncliError(f"metric {metric}: not logged by this run; logged: {', '.join(logged)}")
    row = next((r for r in rows if best_epoch is not None and int(r["epoch"]) == best_epoch), None)
    if row is None:
        raise NncliError(f"metric {metric}: the run has no best epoch (training.epochs: 0?)")
    return float(row[metric] or "nan"), best_epoch  # blank: undefined on the validation rows


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _check_shared_paths(config: Config, run_dir: Path, worker: str) -> None:
    """Workers read the data and write run folders at the client's paths: a shared folder."""
    data = config.data
    files = {"data.train": data.train, "data.test": data.test}
    if isinstance(data.validation, str):
        files["data.validation"] = data.validation
    for key, path in files.items():
        if path and not os.access(path, os.R_OK):
            raise DataError(
                f"{key} {path}: cannot be read on worker {worker}; every Dask worker reads the "
                "data at this same path (on other machines: a shared folder)"
            )
    if not run_dir.parent.is_dir():
        raise DataError(
            f"output folder {run_dir.parent} does not exist on worker {worker}; with workers on "
            "other machines, --out must be a shared folder they can write to"
        )


def worker_info() -> dict[str, Any]:
    """Runs on a worker: its nncli version and the threads its BLAS started with."""
    import numpy as np

    threads = None
    try:
        from threadpoolctl import threadpool_info

        threads = max((lib["num_threads"] for lib in threadpool_info()), default=None)
    except ImportError:
        pass
    return {"nncli": __version__, "numpy": np.__version__, "blas_threads": threads}


def pin_blas_threads() -> None:
    """One BLAS thread in this worker process, however the worker was started."""
    os.environ.update(BLAS_ENV)  # for a BLAS loaded from now on
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)  # for one loaded before (e.g. a `dask worker` that imported numpy)
