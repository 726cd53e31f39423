"""The training loop, top to bottom: lr -> shuffled epoch -> validate -> log -> save -> stop?"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from rich.console import Console

from nncli.build import (
    build_head,
    build_network,
    build_optimizer,
    build_schedule,
    class_weights_for,
    input_embeddings,
    monitor_mode,
    output_info,
)
from nncli.config.load import dump_yaml, load_config
from nncli.config.sections import Config
from nncli.data.dataset import Dataset, load_dataset
from nncli.engine.base import flatten_parameters
from nncli.engine.metrics import metric_mode
from nncli.errors import ConfigError
from nncli.store.checkpoint import SyncClock, atomic_write, load_checkpoint
from nncli.store.logs import CsvLog, EpochPrinter, Stopwatch, write_json
from nncli.store.model import Model, load_arrays
from nncli.store.run_folder import RunFolder
from nncli.store.runlock import run_lock
from nncli.training.batches import BatchLoop, TrainingError, has_batchnorm
from nncli.training.fingerprint import fingerprint
from nncli.training.report import (
    batch_progress,
    check_monitor,
    describe_run,
    display_columns,
    metric_columns,
    print_gradients,
    print_header,
    print_report,
    print_undefined,
    summarize,
)
from nncli.training.resume import config_for_resume
from nncli.training.signals import stop_on_signal
from nncli.training.state import RunState, generators, restore_state, save_state
from nncli.training.stopping import EarlyStopping

__all__ = ["RunResult", "Trainer", "TrainingError", "train"]

SYNC_INTERVAL = 1.0  # seconds: checkpoints are fsynced at most this often, and at the end


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    model: Model
    signal: int | None = None  # SIGINT/SIGTERM received during the run (the CLI exits 128+it)

    @property
    def best_checkpoint(self) -> Path:
        best = RunFolder(self.run_dir).best
        return best if best.exists() else self.last_checkpoint

    @property
    def last_checkpoint(self) -> Path:
        return RunFolder(self.run_dir).last

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
    return Trainer.for_run(config, console or Console(stderr=True), resume).run(run_dir, resume)


class Trainer:
    """Builds what a config trains (network, head, optimizer, schedule) on its data, then
    runs the epochs; the run's state between epochs is a RunState (self.state)."""

    verbose = False  # --verbose: also one line of per-layer gradient norms per epoch

    def __init__(self, config: Config, console: Console, data: Dataset | None = None) -> None:
        """`data` replaces reading config.data (benchmarks and in-memory arrays); its arrays
        must already be preprocessed, in the training dtype."""
        self.config = config
        self.console = console
        self.dtype = np.dtype(config.training.dtype)
        rngs = generators(config.seed)
        self.data_from_files = data is None  # else: arrays handed in, no files to fingerprint
        if data is None:
            data = load_dataset(config.data, rngs["split"], self.dtype)
        self.data: Dataset = data
        prep = data.prep
        self.out = output_info(config, prep.task, len(prep.classes or []), len(prep.targets))
        self.class_weights = (
            class_weights_for(self.out, prep.classes, data.train.y)
            if prep.classes is not None and prep.task == "classification"
            else None
        )
        self.network = build_network(
            config,
            prep.n_inputs,
            self.out,
            rngs["init"],
            rngs["dropout"],
            self.dtype,
            input_embeddings(prep.columns),
        )
        if has_batchnorm(self.network) and min(config.training.batch_size, len(data.train.x)) < 2:
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
        classification = prep.task == "classification"
        self.batches = BatchLoop(
            self.network,
            self.head,
            self.optimizer,
            self.params,
            data.train,
            config.training,
            classification,
            rngs["shuffle"],
        )
        self.columns = metric_columns(prep.task, data.val is not None)
        self.state = RunState(self._early_stopping(), rngs, notes=list(data.notes))
        self.config_saved = False  # config.yaml holds this config (written with a checkpoint)
        self.syncs = SyncClock(SYNC_INTERVAL)  # when the checkpoints are fsynced

    @classmethod
    def for_run(cls, config: Config, console: Console, resume: str | Path | None = None) -> Trainer:
        """A Trainer of `config`; for a resume of the run folder `resume`, of the config that
        run goes on under (resume.config_for_resume: keys whose default changed since the
        run started keep the run's value unless the config spells them)."""
        notes: list[str] = []
        if resume is not None:
            config, notes = config_for_resume(config, resume)
        trainer = cls(config, console)
        trainer.state.notes.extend(notes)
        return trainer

    @property
    def rngs(self) -> dict[str, np.random.Generator]:
        return self.state.rngs

    def _early_stopping(self) -> EarlyStopping:
        """What the run watches, checked against the logged metrics before any work starts:
        without an early_stopping section, the validation loss (else the training loss)
        still picks the best epoch, and the run never stops early."""
        es, schedule = self.config.training.early_stopping, self.config.schedule
        monitor = es.monitor if es else ("val_loss" if self.data.val else "train_loss")
        check_monitor(monitor, self.columns, "training.early_stopping.monitor")
        if schedule is not None and schedule.type == "plateau":
            check_monitor(schedule.monitor, self.columns, "schedule.monitor")
        if es is None:
            return EarlyStopping(monitor, metric_mode(monitor))
        return EarlyStopping(monitor, monitor_mode(monitor, es.mode), es.patience, es.min_delta)

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
        self.state.signal = signum

    def _run(
        self, run_dir: str | Path | None, resume: str | Path | None, locks: ExitStack
    ) -> RunResult:
        config, state = self.config, self.state
        if self.data_from_files:  # (some 0.1 s for 200 MB)
            state.data = fingerprint(self.data, config.data)
        if resume is not None:
            folder = RunFolder(Path(resume))
            if folder.path.is_dir():  # one process at a time trains a run (else restore says so)
                locks.enter_context(run_lock(folder.path, f"--resume {folder}"))
            locks.callback(self.syncs.flush)  # however the run ends, before the lock goes
            parts = (self.model, self.optimizer, self.schedule, self.params)
            if restore_state(folder, *parts, state):  # best.npz needs a repair
                self._save(folder.best, best=True)
        else:
            folder = RunFolder.create(config.name or "run", run_dir)
            locks.enter_context(run_lock(folder.path, str(folder)))
            locks.callback(self.syncs.flush)
            self._save_config(folder)  # a resumed run's changes with its first saved epoch
        keep = resumed_at = state.epoch if resume is not None else None
        metrics_log = CsvLog(folder.metrics, ["epoch", *self.columns], keep)
        grad_log = CsvLog(folder.gradients, ["epoch", "layer", "grad_norm", "update_ratio"], keep)
        description = describe_run(self.data, self.model)
        print_header(self.console, folder, description, state.notes, self.data.columns)
        shown = display_columns(self.columns, state.stopping.monitor)
        printer = EpochPrinter(self.console, shown, config.training.epochs)
        clock = Stopwatch()
        stop_reason = "completed"
        if config.training.epochs == 0 or state.epoch == 0:
            self._save_last(folder)
        try:
            stop_reason = self._loop(folder, metrics_log, grad_log, printer)
        except TrainingError:
            if state.epoch != resumed_at:  # else the folder still holds the run as it was
                self._finish(folder, "diverged", clock)
            raise
        if state.signal is not None:
            stop_reason = "interrupted"
        summary = self._finish(folder, stop_reason, clock)
        return RunResult(folder.path, summary, self.model, state.signal)

    def _loop(
        self, folder: RunFolder, metrics_log: CsvLog, grad_log: CsvLog, printer: EpochPrinter
    ) -> str:
        training, state = self.config.training, self.state
        stopping = state.stopping
        warned: set[str] = set()
        undefined: set[str] = set()  # metrics already said to have no value
        if stopping.should_stop:
            return "early_stopping"  # a resumed run that had already stopped
        while state.epoch < training.epochs:
            epoch = state.epoch + 1
            clock = Stopwatch()
            self.optimizer.lr = self.schedule.lr_at(epoch)
            row, grad_rows = self._train_epoch(epoch)
            if row is None:  # interrupted mid-epoch: the model is the last saved state again
                last = load_checkpoint(folder.last)
                load_arrays(self.network, last.group("params"), last.path)
                return "interrupted"
            row.update(self._validate())
            row["lr"] = self.optimizer.lr
            row["seconds"] = clock.seconds()
            self.batches.check_finite(epoch, row)
            value = row[stopping.monitor]
            improved = stopping.update(epoch, value)
            if improved:
                state.best_weights = self.model.state_dict()
            self.schedule.observe(epoch, row.get(self._plateau_monitor(), value))
            state.epoch = epoch
            metrics_log.write({"epoch": epoch, **row})
            for grad_row in grad_rows:
                grad_log.write(grad_row)
            self._save_last(folder)
            if improved:
                self._save(folder.best, best=True)
            if training.checkpoint.every and epoch % training.checkpoint.every == 0:
                self._save(folder.epoch_checkpoint(epoch))
            printer.row({"epoch": epoch, **row, "_best": improved})
            if not all(np.isfinite(list(row.values()))):
                print_undefined(self.console, row, undefined, self._watchers(), self._val_rows())
            print_gradients(self.console, epoch, grad_rows, warned, self.verbose)
            if state.signal is not None:
                return "interrupted"
            if stopping.should_stop:
                return "early_stopping"
        return "completed"

    def _train_epoch(self, epoch: int) -> tuple[dict[str, float] | None, list[dict]]:
        """One epoch of batches (None for the row when a signal stopped it)."""
        label = f"epoch {epoch}/{self.config.training.epochs}"
        with batch_progress(self.console, label, self.batches.n_batches) as tick:
            return self.batches.run(epoch, self.state, tick)

    def _validate(self) -> dict[str, float]:
        val = self.data.val
        if val is None:
            return {}
        metrics = self.model.evaluate_arrays(val.x, val.y)
        metrics.pop("confusion_matrix", None)
        return {f"val_{k}": float(v) for k, v in metrics.items()}

    def _watchers(self) -> dict[str, str]:
        """The metrics early stopping and a plateau schedule watch, and what an epoch without
        their value means to them (it is skipped: EarlyStopping.update, Plateau.observe)."""
        watched = {
            self._plateau_monitor(): "the plateau schedule watches it, and keeps its learning "
            "rate on epochs without a value"
        }
        if self.config.training.early_stopping is not None:
            monitor = self.state.stopping.monitor
            default = "val_loss" if self.data.val is not None else "train_loss"
            watched[monitor] = (
                "early stopping watches it, and skips epochs without a value: it can neither "
                f"stop the run nor pick a best epoch (training.early_stopping.monitor: {default})"
            )
        return watched

    def _val_rows(self) -> str:
        """`the validation rows hold a single class ('malignant')`: why ROC AUC has no value."""
        classes, val = self.data.prep.classes, self.data.val
        present = np.unique(np.asarray(val.y).ravel()) if val is not None else np.empty(0)
        if classes is None or len(present) != 1:
            return "the validation rows hold a single class"
        return f"the validation rows hold a single class ({classes[int(present[0])]!r})"

    def _plateau_monitor(self) -> str:
        schedule = self.config.schedule
        return schedule.monitor if schedule is not None and schedule.type == "plateau" else ""

    # --- checkpoints and output -------------------------------------------------------------

    def _save(self, path: Path, best: bool = False) -> None:
        """A checkpoint of the run's state; `best` holds the best epoch's weights, no optimizer."""
        parts = (self.model, self.optimizer, self.schedule, self.state)
        save_state(path, *parts, self.class_weights, best=best, sync=False)
        self.syncs.written(path)

    def _save_last(self, folder: RunFolder) -> None:
        """checkpoints/last.npz, then (once) config.yaml: the config of the saved state, so a
        resume that fails before saving an epoch leaves the run's config.yaml as it was."""
        self._save(folder.last)
        if not self.config_saved:
            self._save_config(folder)

    def _save_config(self, folder: RunFolder) -> None:
        text = dump_yaml(self.config).encode("utf-8")

        def write(handle: IO[bytes]) -> None:
            handle.write(text)

        atomic_write(folder.config, write)
        self.config_saved = True

    def _finish(self, folder: RunFolder, stop_reason: str, clock: Stopwatch) -> dict[str, Any]:
        """With restore_best, the best weights become the model's; then summary.json and the
        closing lines."""
        es, state = self.config.training.early_stopping, self.state
        if es is not None and es.restore_best and state.best_weights is not None:
            load_arrays(self.network, state.best_weights, folder.path)
        summary = summarize(folder, stop_reason, state, self.model, self.data.test, clock.seconds())
        write_json(folder.summary, summary)
        print_report(self.console, folder, summary)
        return summary
