"""Run a sweep's trials on Dask (an embedded LocalCluster or a running scheduler) and rank them."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nncli import __version__
from nncli.config.load import resolved_dict
from nncli.errors import NncliError
from nncli.store.logs import write_json
from nncli.store.run_folder import safe_name
from nncli.sweep.config import Run, Sweep, load_sweep
from nncli.sweep.report import RUNS, Ledger, Ranked, rank, ranking_table, write_best
from nncli.sweep.worker import BLAS_ENV, pin_blas_threads, run_trial, worker_info

INSTALL_HINT = 'nncli sweep needs Dask: pip install "nncli[sweep]" (or "dask[distributed]")'
CONNECT_TIMEOUT = 30  # seconds to reach a --scheduler
WORKER_WAIT = 60  # seconds to wait for a first worker at a --scheduler
CLOSE_TIMEOUT = 20  # seconds for the client and the embedded cluster to shut down


@dataclass
class SweepResult:
    out: Path
    sweep: Sweep
    ledger: Ledger
    ranked: list[Ranked]
    best_config: Path | None
    signal: int | None  # the signal that interrupted the sweep, if one did


def run_sweep(
    path: str | Path,
    out: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    console: Console | None = None,
) -> SweepResult:
    """Validate every trial, run the unfinished ones on Dask, write trials.csv and best.yaml."""
    console = console or Console(stderr=True)
    _require_dask()
    if scheduler and workers is not None:
        raise NncliError(
            "--workers sizes the embedded cluster; a --scheduler's workers are started with "
            "`dask worker`"
        )
    if workers is not None and workers < 1:
        raise NncliError(f"--workers {workers}: must be at least 1")
    sweep = load_sweep(path)
    out = Path(out) if out is not None else Path("sweeps") / safe_name(sweep.name)
    ledger = Ledger(out.resolve(), sweep)
    todo = ledger.todo()
    received: int | None = None
    if todo:
        # No more worker processes than runs left: each would only start, idle and stop.
        n_workers = min(workers or os.cpu_count() or 1, len(todo))
        with _interruptible() as caught:
            try:
                with _dask_client(scheduler, n_workers) as client:
                    _raise_if_caught(caught)
                    workers_seen = _check_workers(client)
                    (out / RUNS).mkdir(parents=True, exist_ok=True)
                    ledger.write()
                    write_json(out / "workers.json", workers_seen)
                    _run(client, sweep, ledger, todo, console)
                    _raise_if_caught(caught)
            except KeyboardInterrupt:
                received = caught.get("signal", signal.SIGINT)
                ledger.cancel_pending()
                ledger.write()
                console.print(
                    f"interrupted: {ledger.count('cancelled')} unfinished runs cancelled, "
                    "the finished ones kept; "
                    "run the same command again to continue",
                    highlight=False,
                )
    elif ledger.skipped:
        console.print(
            f"all {ledger.skipped} runs of {escape(str(out))} had finished; nothing to run",
            highlight=False,
        )
    ranked = rank(sweep, ledger)
    best = ranked[0] if ranked and ranked[0].best_run is not None else None
    best_path = write_best(out, sweep, best) if best is not None else None
    first = next((row for row in ledger.rows.values() if row["status"] == "failed"), None)
    if received is None and not ledger.count("ok") and first is not None:
        raise NncliError(
            f"all {len(ledger.rows)} runs failed (see {out / 'trials.csv'}); the first: "
            f"trial {first['trial']} seed {first['seed']}: {first['error']}"
        )
    return SweepResult(out, sweep, ledger, ranked, best_path, received)


def print_result(result: SweepResult, console: Console, table_console: Console) -> None:
    """The ranking table (on `table_console`) and where the best config went."""
    sweep, ledger = result.sweep, result.ledger
    table_console.print(ranking_table(sweep, result.ranked, ledger))
    counts = ", ".join(
        f"{ledger.count(s)} {s}" for s in ("ok", "failed", "cancelled") if ledger.count(s)
    )
    trials = escape(str(result.out / "trials.csv"))
    console.print(f"runs: {counts}; trials.csv: {trials}", highlight=False)
    if ledger.count("failed"):
        console.print("[yellow]failed runs[/yellow] keep their error in trials.csv's error column")
    if result.best_config is not None:
        best = result.ranked[0]
        console.print(
            f"best: trial {best.trial}, {sweep.metric} {best.mean:.4f}; config: "
            f"{escape(str(result.best_config))}",
            highlight=False,
        )


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise NncliError(INSTALL_HINT) from None


@contextmanager
def _dask_client(scheduler: str | None, n_workers: int) -> Iterator[Any]:
    """A client of the named scheduler (address or scheduler file), or of an embedded cluster."""
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        where = (
            {"scheduler_file": scheduler} if Path(scheduler).is_file() else {"address": scheduler}
        )
        try:
            client = Client(**where, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise NncliError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    else:
        with _workers_ignore_ctrl_c():
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # no fixed port to collide on
                env=BLAS_ENV,  # set before the worker process starts, so before numpy loads
                silence_logs=logging.CRITICAL,  # trials report their own errors
            )
            client = Client(cluster)
    try:
        if scheduler:
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT)
            except TimeoutError:
                raise NncliError(
                    f"--scheduler {scheduler}: no worker connected within {WORKER_WAIT} s; "
                    "start some with `dask worker ADDRESS`"
                ) from None
        yield client
    finally:
        client.close(timeout=CLOSE_TIMEOUT)
        if cluster is not None:
            cluster.close(timeout=CLOSE_TIMEOUT)


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Worker processes inherit an ignored SIGINT: on Ctrl-C in a terminal (which signals the
    whole process group) the client alone shuts the cluster down, with no worker tracebacks."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_workers(client: Any) -> dict[str, Any]:
    """Every worker imports the same nncli; then each pins its BLAS to one thread.

    Returns each worker's versions and the BLAS threads it started with (for workers.json).
    """
    try:
        infos = client.run(worker_info)
    except Exception as exc:  # whatever a broken worker raises, reported as one line
        raise NncliError(
            f"a Dask worker cannot run nncli ({type(exc).__name__}: {exc}); install nncli "
            f"{__version__} with its [sweep] extra on every worker"
        ) from None
    for address, info in infos.items():
        if info["nncli"] != __version__:
            raise NncliError(
                f"worker {address} has nncli {info['nncli']}, this machine {__version__}; "
                "install the same version everywhere"
            )
    client.run(pin_blas_threads)  # for workers whose BLAS started with more threads
    return infos


def _run(client: Any, sweep: Sweep, ledger: Ledger, todo: list[Run], console: Console) -> None:
    """Submit every unfinished run and record each one, in trials.csv too, as it completes."""
    from distributed import as_completed

    futures = {}
    for run in todo:
        folder = ledger.out / RUNS / run.folder
        shutil.rmtree(folder, ignore_errors=True)  # what an earlier failed attempt left
        job = {"config": resolved_dict(run.config), "run_dir": str(folder), "metric": sweep.metric}
        key = f"nncli-{safe_name(sweep.name)}-{run.folder}-{uuid.uuid4().hex[:8]}"
        futures[client.submit(run_trial, job, key=key, pure=False, retries=0)] = run
    progress = _Progress(console, sweep, len(todo), ledger.skipped, len(client.nthreads()))
    try:
        for future in as_completed(futures):
            run = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the task never ran to its end, e.g. a killed worker
                result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            progress.done(run, ledger.record(run, result))
            ledger.write()
    except KeyboardInterrupt:
        ledger.cancel_pending()
        ledger.write()  # before the cluster shuts down: trials.csv is whole at every moment
        client.cancel(list(futures), force=True)
        raise
    finally:
        progress.stop()


@contextmanager
def _interruptible() -> Iterator[dict[str, int]]:
    """The first Ctrl-C or SIGTERM raises KeyboardInterrupt (and is recorded); later ones wait."""
    caught: dict[str, int] = {}
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum: int, frame: Any) -> None:
        if "signal" in caught:
            return  # already shutting down: finish that, within its timeouts
        caught["signal"] = signum
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _raise_if_caught(caught: dict[str, int]) -> None:
    """The KeyboardInterrupt of a signal whose own one was lost: raised inside a library's
    import or event loop, some code swallows it (a Ctrl-C while Dask started was ignored)."""
    if caught:
        raise KeyboardInterrupt


class _Progress:
    """A live bar on a terminal; elsewhere one plain line per finished run."""

    def __init__(self, console: Console, sweep: Sweep, total: int, skipped: int, workers: int):
        self.console = console
        self.metric = sweep.metric
        self.total = total
        self.finished = 0
        head = (
            f"sweep {sweep.name}: {_count(sweep.n_trials, 'trial')} x "
            f"{_count(len(sweep.seeds), 'seed')}, {total} to run on "
            f"{_count(workers, 'Dask worker thread')}"
        )
        if skipped:
            head += f" ({skipped} finished earlier, skipped)"
        console.print(head, highlight=False, soft_wrap=True)
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("runs"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.task = self.bar.add_task("runs", total=total)
            self.bar.start()

    def done(self, run: Run, row: dict[str, str]) -> None:
        self.finished += 1
        width = len(str(self.total))
        line = f"[{self.finished:>{width}}/{self.total}] trial {run.trial} seed {run.seed}: "
        if row["status"] == "ok":
            line += f"{self.metric} {float(row[self.metric]):.4f} (best epoch {row['best_epoch']})"
        else:
            line += f"[red]{row['status']}[/red]: {row['error']}"
        line += f", {row['seconds']} s on {row['worker'] or 'a lost worker'}"
        self.console.print(line, highlight=False, soft_wrap=True)
        if self.bar is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
