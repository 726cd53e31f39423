"""The training loop, top to bottom: lr -> shuffled epoch -> validate -> log -> save -> stop?"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nncli.build import (
    build_head,
    build_network,
    build_optimizer,
    build_schedule,
    class_weights_for,
    monitor_mode,
    output_info,
)
from nncli.config.load import dump_yaml, load_config
from nncli.config.sections import Config
from nncli.data.dataset import Dataset, load_dataset
from nncli.engine.base import flatten_parameters
from nncli.engine.clipping import clip_grad_norm
from nncli.engine.layers import BatchNorm
from nncli.engine.metrics import metric_mode
from nncli.errors import ConfigError, NncliError
from nncli.store.checkpoint import SUFFIX, atomic_write, load_checkpoint
from nncli.store.model import Model, load_arrays
from nncli.store.runlock import run_lock
from nncli.store.runs import CsvLog, EpochPrinter, Stopwatch, new_run_dir, write_json
from nncli.training.health import GradientMonitor, health_warnings
from nncli.training.report import (
    check_monitor,
    display_columns,
    metric_columns,
    print_header,
    print_report,
    summarize,
)
from nncli.training.signals import stop_on_signal
from nncli.training.state import StopState, generators, restore_state, save_state

GRADIENT_SAMPLES = 16  # batches per epoch whose gradient norms are measured


class TrainingError(NncliError):
    """Training stopped because it diverged (non-finite loss or weights)."""


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    model: Model
    signal: int | None = None  # SIGINT/SIGTERM received during the run (the CLI exits 128+it)

    @property
    def best_checkpoint(self) -> Path:
        best = self.run_dir / "checkpoints" / f"best{SUFFIX}"
        return best if best.exists() else self.last_checkpoint

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / f"last{SUFFIX}"

    @property
    def stop_reason(self) -> str:
        return self.summary["stop_reason"]


def train(
    config_path: str | Path,
    overrides: dict[str, Any] | None = None,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    console: Console | None = None,
) -> RunResult:
    """Train from a YAML config; returns the run folder, its summary and the final model."""
    config = load_config(config_path, overrides)
    return Trainer(config, console or Console(stderr=True)).run(run_dir, resume)


class Trainer:
    verbose = False  # --verbose: also one line of per-layer gradient norms per epoch

    def __init__(self, config: Config, console: Console, data: Dataset | None = None) -> None:
        """`data` replaces reading config.data (benchmarks and in-memory arrays); its arrays
        must already be preprocessed, in the training dtype."""
        self.config = config
        self.console = console
        self.dtype = np.dtype(config.training.dtype)
        self.rngs = generators(config.seed)
        self.data_from_files = data is None  # else: arrays handed in, no files to fingerprint
        if data is None:
            data = load_dataset(config.data, self.rngs["split"], self.dtype)
        self.data: Dataset = data
        prep = self.data.prep
        n_classes = len(prep.classes or [])
        self.out = output_info(config, prep.task, n_classes, len(prep.targets))
        self.class_weights = (
            class_weights_for(self.out, prep.classes, self.data.train.y)
            if prep.task == "classification"
            else None
        )
        self.network = build_network(
            config,
            len(prep.features),
            self.out,
            self.rngs["init"],
            self.rngs["dropout"],
            self.dtype,
        )
        if self._has_batchnorm() and min(config.training.batch_size, len(data.train.x)) < 2:
            raise ConfigError(
                "training.batch_size: a batchnorm layer needs batches of at least two rows "
                f"(batch_size {config.training.batch_size}, {len(data.train.x)} training rows)"
            )
        self.head = build_head(self.out, self.class_weights)
        self.model = Model(config, self.network, self.head, prep, self.out)
        # Every weight and grad in one flat buffer: the optimizer's step is a few ufunc calls.
        self.params = flatten_parameters(self.network)
        self.optimizer = build_optimizer(config)
        self.schedule = build_schedule(config)
        self.columns = metric_columns(prep.task, self.data.val is not None)
        es = config.training.early_stopping
        monitor = es.monitor if es else ("val_loss" if self.data.val else "train_loss")
        check_monitor(monitor, self.columns, "training.early_stopping.monitor")
        if config.schedule is not None and config.schedule.type == "plateau":
            check_monitor(config.schedule.monitor, self.columns, "schedule.monitor")
        mode = monitor_mode(monitor, es.mode) if es else metric_mode(monitor)
        self.stop = StopState(monitor, mode)
        self.epoch = 0
        self.best_state: dict[str, np.ndarray] | None = None
        self.signal_received: int | None = None
        self.resumes: list[dict] = []  # each resume's epoch and config changes, kept in checkpoints
        self.data_fingerprint: dict | None = None  # of the data trained on, in checkpoints
        self.config_saved = False  # config.yaml holds this config (written with a checkpoint)
        self.notes: list[str] = list(self.data.notes)  # printed under the run's header line

    # --- the run ----------------------------------------------------------------------------

    def run(self, run_dir: str | Path | None, resume: str | Path | None) -> RunResult:
        if resume is not None and run_dir is not None:
            raise ConfigError(
                "--run-dir and --resume exclude each other: a run resumes in its folder"
            )
        # errstate: divergence is checked, not warned; locks: the run folder's, until the end
        with stop_on_signal(self._stop_requested), np.errstate(all="ignore"), ExitStack() as locks:
            return self._run(run_dir, resume, locks)

    def _stop_requested(self, signum: int) -> None:
        """The first SIGINT/SIGTERM: the batch loop stops before its next batch."""
        self.signal_received = signum

    def _run(
        self, run_dir: str | Path | None, resume: str | Path | None, locks: ExitStack
    ) -> RunResult:
        config = self.config
        if resume is not None:
            folder = Path(resume)
            if folder.is_dir():  # one process at a time trains a run (else restore says so)
                locks.enter_context(run_lock(folder, f"--resume {folder}"))
            restore_state(self, folder)
        else:
            folder = new_run_dir(config.name or "run", run_dir)
            locks.enter_context(run_lock(folder, str(folder)))
        if resume is None:  # a resumed run's config.yaml changes with its first saved epoch
            self._save_config(folder)
        keep = resumed_at = self.epoch if resume is not None else None
        metrics_log = CsvLog(folder / "metrics.csv", ["epoch", *self.columns], keep)
        grad_log = CsvLog(
            folder / "gradients.csv", ["epoch", "layer", "grad_norm", "update_ratio"], keep
        )
        print_header(self, folder)
        shown = display_columns(self.columns, self.stop.monitor)
        printer = EpochPrinter(self.console, shown, config.training.epochs)
        clock = Stopwatch()
        stop_reason = "completed"
        if config.training.epochs == 0 or self.epoch == 0:
            self._save_last(folder)
        try:
            stop_reason = self._loop(folder, metrics_log, grad_log, printer)
        except TrainingError:
            if self.epoch != resumed_at:  # else the folder still holds the run as it was
                self._finish(folder, "diverged", clock)
            raise
        if self.signal_received is not None:
            stop_reason = "interrupted"
        summary = self._finish(folder, stop_reason, clock)
        return RunResult(folder, summary, self.model, self.signal_received)

    def _loop(self, folder: Path, metrics_log: CsvLog, grad_log: CsvLog, printer) -> str:
        config = self.config.training
        warned: set[str] = set()
        es = config.early_stopping
        if es is not None and self.stop.wait >= es.patience and self.epoch > 0:
            return "early_stopping"  # a resumed run that had already stopped
        while self.epoch < config.epochs:
            epoch = self.epoch + 1
            clock = Stopwatch()
            self.optimizer.lr = self.schedule.lr_at(epoch)
            row, grad_rows = self._train_epoch(epoch)
            if row is None:  # interrupted mid-epoch: the model is the last saved state again
                last = load_checkpoint(folder / "checkpoints" / f"last{SUFFIX}")
                load_arrays(self.network, last.group("params"), last.path)
                return "interrupted"
            row.update(self._validate())
            row["lr"] = self.optimizer.lr
            row["seconds"] = clock.seconds()
            self._check_finite(epoch, row)
            value = row[self.stop.monitor]
            improved = self.stop.improved(
                value, config.early_stopping.min_delta if config.early_stopping else 0.0
            )
            if improved:
                self.stop.best_value, self.stop.best_epoch, self.stop.wait = value, epoch, 0
                self.best_state = self.model.state_dict()
            else:
                self.stop.wait += 1
            self.schedule.observe(epoch, row.get(self._plateau_monitor(), value))
            self.epoch = epoch
            metrics_log.write({"epoch": epoch, **row})
            for grad_row in grad_rows:
                grad_log.write(grad_row)
            self._save_last(folder)
            if improved:
                save_state(self, folder, "best")
            every = config.checkpoint.every
            if every and epoch % every == 0:
                save_state(self, folder, f"epoch-{epoch:04d}")
            printer.row({"epoch": epoch, **row, "_best": improved})
            if self.verbose:
                norms = ", ".join(f"{r['layer']} {r['grad_norm']:.2e}" for r in grad_rows)
                self.console.print(f"  gradient norms: {norms}", highlight=False, soft_wrap=True)
            for kind, message in health_warnings(grad_rows):
                if kind not in warned:
                    warned.add(kind)
                    self.console.print(f"[yellow]warning:[/yellow] epoch {epoch}: {message}")
            if self.signal_received is not None:
                return "interrupted"
            if es is not None and self.stop.wait >= es.patience:
                return "early_stopping"
        return "completed"

    def _save_last(self, folder: Path) -> None:
        """checkpoints/last.npz, then (once) config.yaml: the config of the saved state, so a
        resume that fails before saving an epoch leaves the run's config.yaml as it was."""
        save_state(self, folder, "last")
        if not self.config_saved:
            self._save_config(folder)

    def _save_config(self, folder: Path) -> None:
        text = dump_yaml(self.config).encode("utf-8")
        atomic_write(folder / "config.yaml", lambda handle: handle.write(text))
        self.config_saved = True

    def _plateau_monitor(self) -> str:
        schedule = self.config.schedule
        return schedule.monitor if schedule is not None and schedule.type == "plateau" else ""

    def _train_epoch(self, epoch: int) -> tuple[dict[str, float] | None, list[dict]]:
        """One pass over the shuffled training rows with the engine's fast paths on: training
        passes write into arrays kept from the last batch, and the first layer skips the
        gradient of the input (data nobody reads). Off again afterwards, so validation,
        the returned model and `nncli gradcheck` see a plain network."""
        self._fast_paths(True)
        try:
            with self._batch_progress(epoch) as tick:
                return self._train_batches(epoch, tick)
        finally:
            self._fast_paths(False)

    @contextmanager
    def _batch_progress(self, epoch: int):
        """A live batch bar while a terminal watches (erased when the epoch's line prints);
        nothing when output goes to a file, so logs hold one line per epoch."""
        if not self.console.is_terminal or self.console.quiet:
            yield None
            return
        progress = Progress(
            TextColumn(f"epoch {epoch}/{self.config.training.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("batches"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        task = progress.add_task("train", total=self._batch_count(len(self.data.train.x)))
        with progress:
            yield lambda done: progress.update(task, completed=done)

    def _fast_paths(self, on: bool) -> None:
        self.network.set_reuse(on)

    def _train_batches(
        self, epoch: int, tick: Callable[[int], None] | None
    ) -> tuple[dict[str, float] | None, list[dict]]:
        x, y = self.data.train.x, self.data.train.y
        n = len(x)
        batch_size = self.config.training.batch_size
        order = self.rngs["shuffle"].permutation(n) if self.config.training.shuffle else None
        n_batches = self._batch_count(n)
        batch = np.empty((min(batch_size + 1, n), *x.shape[1:]), x.dtype)  # shuffled rows go here
        monitor = GradientMonitor(self.params, GRADIENT_SAMPLES, n_batches)
        clip = self.config.training.grad_clip
        classification = self.data.prep.task == "classification"
        loss_sum, correct = 0.0, 0
        tick_every = max(1, n_batches // 50)  # a redraw costs more than a small batch
        for b in range(n_batches):
            if self.signal_received is not None:
                return None, []
            lo, hi = b * batch_size, n if b == n_batches - 1 else (b + 1) * batch_size
            if order is None:
                xb, yb = x[lo:hi], y[lo:hi]
            else:
                idx = order[lo:hi]  # a permutation's slice, so mode="clip" never clips
                xb, yb = np.take(x, idx, axis=0, out=batch[: hi - lo], mode="clip"), y[idx]
            logits = self.network.forward(xb, True)
            loss, grad = self.head.loss_and_grad(logits, yb)
            if not math.isfinite(loss):
                raise self._diverged(f"{epoch}, batch {b + 1}", f"the loss became {loss}")
            self.network.backward_params(grad)  # the input is data: its gradient is never read
            if clip is not None:
                clip_grad_norm(self.params, clip)
            sampled = monitor.wants(b)
            if sampled:
                monitor.before_step()
            self.optimizer.step(self.params)
            if sampled:
                monitor.after_step()
            loss_sum += loss * (hi - lo)
            if classification:
                correct += int(np.count_nonzero(self._predicted(logits) == yb))
            if tick is not None and (b + 1) % tick_every == 0:
                tick(b + 1)
        row = {"train_loss": loss_sum / n}
        if classification:
            row["train_accuracy"] = correct / n
        return row, monitor.epoch_rows(epoch)

    def _batch_count(self, n: int) -> int:
        """Batches per epoch. With BatchNorm, a last batch of one row joins the one before it:
        a batch's variance needs two rows (torch refuses such a batch, Keras trains on a
        variance of 0)."""
        count = math.ceil(n / self.config.training.batch_size)
        if count > 1 and n % self.config.training.batch_size == 1 and self._has_batchnorm():
            return count - 1
        return count

    def _has_batchnorm(self) -> bool:
        return any(isinstance(layer, BatchNorm) for _, layer in self.network.layers())

    def _predicted(self, logits: np.ndarray) -> np.ndarray:
        if logits.shape[1] == 1:
            return (logits[:, 0] > 0).astype(np.int64)
        return logits.argmax(axis=1)

    def _validate(self) -> dict[str, float]:
        val = self.data.val
        if val is None:
            return {}
        metrics = self.model.evaluate_arrays(val.x, val.y)
        metrics.pop("confusion_matrix", None)
        return {f"val_{k}": float(v) for k, v in metrics.items()}

    def _check_finite(self, epoch: int, row: dict[str, float]) -> None:
        """Weights, optimizer state and the losses must be finite before anything is saved."""
        for p in self.params:
            if not np.all(np.isfinite(p.value)):
                raise self._diverged(epoch, f"parameter {p.name} became non-finite")
        for name, value in self.optimizer.state_dict()[0].items():
            if not np.all(np.isfinite(value)):
                raise self._diverged(epoch, f"the optimizer state {name} became non-finite")
        for name in ("train_loss", "val_loss", self.stop.monitor):
            if name in row and not math.isfinite(row[name]):
                raise self._diverged(epoch, f"{name} became {row[name]}")

    def _diverged(self, epoch: int | str, what: str) -> TrainingError:
        clip = self.config.training.grad_clip
        hint = "a lower optimizer.lr" + (
            f" or a smaller training.grad_clip (now {clip:g})"
            if clip is not None
            else " or training.grad_clip: 1.0"
        )
        return TrainingError(
            f"training diverged at epoch {epoch}: {what}, most likely because the learning rate "
            f"(now {self.optimizer.lr:.3g}) is too high for this data and network. Try {hint}. "
            f"Checkpoints keep the last finite state (epoch {self.epoch})."
        )

    # --- the summary ------------------------------------------------------------------------

    def _finish(self, folder: Path, stop_reason: str, clock: Stopwatch) -> dict[str, Any]:
        """With restore_best, the best weights become the model's; then summary.json and the
        closing lines."""
        es = self.config.training.early_stopping
        if es is not None and es.restore_best and self.best_state is not None:
            load_arrays(self.network, self.best_state, folder)
        summary = summarize(self, folder, stop_reason, clock)
        write_json(folder / "summary.json", summary)
        print_report(self.console, folder, summary)
        return summary
