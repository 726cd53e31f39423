"""The run folder: every path of a run, making a new one, telling one from other folders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nncli.errors import NncliError

RUNS_ROOT = Path("runs")  # below where you train: runs/<name>/<stamp>/
MAX_NAME = 100  # characters of a run name kept in its folder name (file systems allow 255 bytes)
SUFFIX = ".npz"  # of a checkpoint file (its format: store/checkpoint.py)

CONFIG = "config.yaml"
METRICS = "metrics.csv"
GRADIENTS = "gradients.csv"
SUMMARY = "summary.json"
LOCK = ".lock"
CHECKPOINTS = "checkpoints"


def safe_name(name: str) -> str:
    """A run name usable as one folder name under runs/: no separators, no leading dots, so
    `../../etc` becomes `etc`; nothing a name contains can point outside runs/."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:MAX_NAME].strip(".-")
    return cleaned or "run"


@dataclass(frozen=True)
class RunFolder:
    """One run's folder and every path in it:

        config.yaml      the config of the saved state (rewritten when a resume changes it)
        metrics.csv      one row per epoch
        gradients.csv    gradient norms per sampled batch and layer
        summary.json     how the run ended, written when it ends
        .lock            held while a process trains the run
        checkpoints/     best.npz, last.npz and, with checkpoint.every, epoch-NNNN.npz

    A run folder is one holding checkpoints/: the folder a run trains in is claimed by
    creating it, so a user's folder with a metrics.csv of their own is never taken for one.
    """

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def gradients(self) -> Path:
        return self.path / GRADIENTS

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    def checkpoint(self, name: str) -> Path:
        """checkpoints/<name>.npz: `best`, `last` or an epoch's (see epoch_checkpoint)."""
        return self.checkpoints / f"{name}{SUFFIX}"

    @property
    def best(self) -> Path:
        """The weights of the best epoch so far (the monitored metric's)."""
        return self.checkpoint("best")

    @property
    def last(self) -> Path:
        """The state after the last completed epoch: what --resume continues from."""
        return self.checkpoint("last")

    def epoch_checkpoint(self, epoch: int) -> Path:
        """checkpoints/epoch-NNNN.npz, kept every checkpoint.every epochs."""
        return self.checkpoint(f"epoch-{epoch:04d}")

    def best_or_last(self) -> Path | None:
        """What a run folder given as a model means: its best checkpoint, else its last."""
        return next((p for p in (self.best, self.last) if p.is_file()), None)

    def is_run(self) -> bool:
        return self.checkpoints.is_dir()

    def files(self) -> list[Path]:
        """The files the run wrote (that exist): a predict --output must not replace one."""
        named = [self.config, self.metrics, self.gradients, self.summary]
        return [p for p in named if p.is_file()] + sorted(self.checkpoints.glob(f"*{SUFFIX}"))

    @classmethod
    def of(cls, path: Path) -> RunFolder | None:
        """The run folder `path` is or lies in (a checkpoint, config.yaml, checkpoints/),
        or None: a checkpoint kept on its own belongs to no run."""
        folder = path if path.is_dir() else path.parent
        if folder.name == CHECKPOINTS:
            folder = folder.parent
        run = cls(folder)
        return run if run.is_run() else None

    @classmethod
    def create(cls, name: str, run_dir: str | Path | None, root: Path = RUNS_ROOT) -> RunFolder:
        """A new `runs/<name>/<stamp>/`, or the user's `--run-dir`, which must be new or empty."""
        if run_dir is not None:
            return cls._claim(Path(run_dir))
        base = root / safe_name(name)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 1000):
            path = base / (stamp if attempt == 1 else f"{stamp}-{attempt}")
            try:
                path.mkdir(parents=True, exist_ok=False)
                return cls(path)
            except FileExistsError:
                continue
        raise NncliError(f"{base}: could not create a new run folder")

    @classmethod
    def _claim(cls, path: Path) -> RunFolder:
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise NncliError(
                f"--run-dir {path}: exists and is not an empty folder; refusing to overwrite it "
                "(use --resume to continue a run)"
            )
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        try:  # of two runs started on the same empty folder, one gets it
            run.checkpoints.mkdir()
        except FileExistsError:
            raise NncliError(f"--run-dir {path}: another run has just started there") from None
        return run
