"""Learning-rate schedules per epoch, with linear warmup, matching torch.optim.lr_scheduler."""

from __future__ import annotations

import math
from typing import Any


class Schedule:
    """Base class: linear warmup, then the schedule proper counting k = 0, 1, ... from there.

    Epochs are 1-based. Warmup convention: epoch e in 1..W gets base_lr * e / (W + 1), so the
    ramp never hits zero and ends one step below base_lr; epoch W + 1 is the schedule's k = 0
    and gets base_lr. With W = 0, epoch e is torch's scheduler after e - 1 calls to step().
    """

    def __init__(self, base_lr: float, total_epochs: int, warmup_epochs: int = 0) -> None:
        if not base_lr >= 0.0:
            raise ValueError(f"base_lr must be >= 0, got {base_lr}")
        if total_epochs < 0:
            raise ValueError(f"total_epochs must be >= 0, got {total_epochs}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.base_lr = float(base_lr)
        self.total_epochs = int(total_epochs)
        self.warmup_epochs = int(warmup_epochs)

    def lr_at(self, epoch: int) -> float:
        """Learning rate for training epoch `epoch` (1-based)."""
        if epoch < 1:
            raise ValueError(f"epochs are 1-based, got {epoch}")
        if epoch <= self.warmup_epochs:
            return self.base_lr * epoch / (self.warmup_epochs + 1)
        return self._lr(epoch - self.warmup_epochs - 1)

    def _lr(self, k: int) -> float:
        """Learning rate k epochs after warmup (k = 0 is the first post-warmup epoch)."""
        raise NotImplementedError

    def observe(self, epoch: int, value: float) -> None:
        """Feed the monitored metric at the end of `epoch`; only plateau uses it."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-able scalars needed to resume exactly (empty: closed-form schedules)."""
        return {}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore state_dict(); raises ValueError naming an unexpected key."""
        if d:
            raise ValueError(f"schedule state has unexpected key {sorted(d)[0]!r}")


class Constant(Schedule):
    """base_lr throughout (after warmup)."""

    def _lr(self, k: int) -> float:
        return self.base_lr


class Step(Schedule):
    """base_lr * gamma ** (k // step_size), as torch StepLR."""

    def __init__(
        self,
        base_lr: float,
        total_epochs: int,
        warmup_epochs: int = 0,
        *,
        step_size: int = 10,
        gamma: float = 0.1,
    ) -> None:
        super().__init__(base_lr, total_epochs, warmup_epochs)
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        if not gamma > 0.0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def _lr(self, k: int) -> float:
        return self.base_lr * self.gamma ** (k // self.step_size)


class Exponential(Schedule):
    """base_lr * gamma ** k, as torch ExponentialLR."""

    def __init__(
        self, base_lr: float, total_epochs: int, warmup_epochs: int = 0, *, gamma: float = 0.95
    ) -> None:
        super().__init__(base_lr, total_epochs, warmup_epochs)
        if not gamma > 0.0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        self.gamma = float(gamma)

    def _lr(self, k: int) -> float:
        return self.base_lr * self.gamma**k


class Cosine(Schedule):
    """min_lr + (base_lr - min_lr) * (1 + cos(pi * k / t_max)) / 2, as torch CosineAnnealingLR.

    t_max None means the epochs left after warmup, so the last epoch is just above min_lr.
    Past t_max the curve keeps following the cosine back up, exactly as torch does.
    """

    def __init__(
        self,
        base_lr: float,
        total_epochs: int,
        warmup_epochs: int = 0,
        *,
        t_max: int | None = None,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(base_lr, total_epochs, warmup_epochs)
        if t_max is None:
            t_max = max(1, self.total_epochs - self.warmup_epochs)
        if t_max < 1:
            raise ValueError(f"t_max must be >= 1, got {t_max}")
        if not min_lr >= 0.0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr}")
        self.t_max = int(t_max)
        self.min_lr = float(min_lr)

    def _lr(self, k: int) -> float:
        cos = 1.0 + math.cos(math.pi * k / self.t_max)
        return self.min_lr + (self.base_lr - self.min_lr) * cos / 2.0


class Plateau(Schedule):
    """Multiply lr by `factor` after more than `patience` epochs without improvement.

    torch ReduceLROnPlateau with threshold_mode "rel", cooldown 0 and eps 1e-8: improvement
    means value < best * (1 - threshold) ("min") or value > best * (1 + threshold) ("max").
    Metrics observed during warmup are ignored, so the plateau logic starts fresh after it.
    """

    _EPS = 1e-8

    def __init__(
        self,
        base_lr: float,
        total_epochs: int,
        warmup_epochs: int = 0,
        *,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        min_lr: float = 0.0,
        threshold: float = 1e-4,
    ) -> None:
        super().__init__(base_lr, total_epochs, warmup_epochs)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        if not min_lr >= 0.0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr}")
        if not threshold >= 0.0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        self.mode = mode
        self.factor = float(factor)
        self.patience = int(patience)
        self.min_lr = float(min_lr)
        self.threshold = float(threshold)
        self.lr = self.base_lr
        self.best: float | None = None  # None: nothing observed yet (torch's +-inf)
        self.num_bad_epochs = 0

    def _lr(self, k: int) -> float:
        return self.lr

    def _is_better(self, value: float) -> bool:
        best = self.best
        if best is None:
            best = math.inf if self.mode == "min" else -math.inf
        if self.mode == "min":
            return value < best * (1.0 - self.threshold)
        return value > best * (1.0 + self.threshold)

    def observe(self, epoch: int, value: float) -> None:
        """A value that is not finite (a metric undefined on these rows) is no evidence
        either way: neither an improvement nor a bad epoch."""
        value = float(value)
        if epoch <= self.warmup_epochs or not math.isfinite(value):
            return
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self._EPS:
                self.lr = new_lr
            self.num_bad_epochs = 0

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "best": self.best, "num_bad_epochs": self.num_bad_epochs}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        for key in ("lr", "best", "num_bad_epochs"):
            if key not in d:
                raise ValueError(f"schedule state has no {key!r}")
        unknown = sorted(set(d) - {"lr", "best", "num_bad_epochs"})
        if unknown:
            raise ValueError(f"schedule state has unexpected key {unknown[0]!r}")
        self.lr = float(d["lr"])
        self.best = None if d["best"] is None else float(d["best"])
        self.num_bad_epochs = int(d["num_bad_epochs"])


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": Step,
    "exponential": Exponential,
    "cosine": Cosine,
    "plateau": Plateau,
}
