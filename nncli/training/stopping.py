"""Early stopping: the best value of the watched metric, its epoch, the epochs waited since."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nncli.store.manifest import epoch_count

MODES = ("min", "max")
KEYS = ("monitor", "mode", "best_value", "best_epoch", "wait")  # of state_dict()


class EarlyStopping:
    """Watches one logged metric, epoch after epoch (Keras's EarlyStopping without the
    callback framework): its best value and epoch, and the epochs since then. An epoch
    improves when it beats the best by more than `min_delta` (the first one always does);
    the run should stop once `patience` epochs in a row did not (never, with patience None).

    Runs without an early_stopping section still track the best epoch (patience None): it
    is the one best.npz holds and summary.json reports.

    An epoch whose value is not finite (a metric undefined on the validation rows, such as
    ROC AUC when they hold one class) says nothing either way: it neither improves nor counts
    toward patience (Keras counts nan as no improvement, and would stop the run for it)."""

    def __init__(
        self, monitor: str, mode: str, patience: int | None = None, min_delta: float = 0.0
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience {patience} is not a count of epochs >= 1")
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = 0  # 0: no epoch seen yet
        self.wait = 0  # epochs since the best one

    def update(self, epoch: int, value: float) -> bool:
        """Record the monitored value of `epoch`; True when it is the new best."""
        if not math.isfinite(value):
            return False
        if self._improves(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        return False

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.wait >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps (training_state.stop) for an exact resume; patience and
        min_delta come from the config, which a resume may change."""
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "best_value": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a saved state_dict, monitor and mode included (the caller refuses a
        run whose monitor differs from the config's). Damaged values raise ValueError or
        TypeError, and then nothing changes."""
        if not isinstance(state, Mapping):
            raise TypeError(f"early stopping state {_clip(state)} is not a mapping")
        missing = [key for key in KEYS if key not in state]
        if missing:
            raise ValueError(f"early stopping state without {', '.join(missing)}")
        monitor, mode, best = state["monitor"], state["mode"], state["best_value"]
        if not isinstance(monitor, str):
            raise TypeError(f"early stopping monitor {_clip(monitor)} is not a metric name")
        if mode not in MODES:
            raise ValueError(f"early stopping mode {_clip(mode)} is not one of {MODES}")
        if best is not None and (type(best) not in (int, float) or not math.isfinite(best)):
            raise ValueError(f"best value {_clip(best)}")
        best_epoch = epoch_count("best epoch", state["best_epoch"])
        wait = epoch_count("wait", state["wait"])
        self.monitor, self.mode, self.best = monitor, mode, best
        self.best_epoch, self.wait = best_epoch, wait


def _clip(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
