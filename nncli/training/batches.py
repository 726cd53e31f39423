"""One epoch of shuffled mini-batches (the hot path), and the checks that training diverged."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nncli.config.sections import TrainingConfig
from nncli.data.dataset import Split
from nncli.engine.base import Param, Sequential
from nncli.engine.clipping import clip_grad_norm
from nncli.engine.head import Head
from nncli.engine.layers import BatchNorm
from nncli.engine.optimizers import Optimizer
from nncli.errors import NncliError
from nncli.training.health import GradientMonitor
from nncli.training.state import RunState

GRADIENT_SAMPLES = 16  # batches per epoch whose gradient norms are measured


class TrainingError(NncliError):
    """Training stopped because it diverged (non-finite loss or weights)."""


def has_batchnorm(network: Sequential) -> bool:
    return any(isinstance(layer, BatchNorm) for _, layer in network.layers())


def batch_count(n: int, batch_size: int, batchnorm: bool) -> int:
    """Batches per epoch. With BatchNorm, a last batch of one row joins the one before it:
    a batch's variance needs two rows (torch refuses such a batch, Keras trains on a
    variance of 0)."""
    count = math.ceil(n / batch_size)
    if count > 1 and n % batch_size == 1 and batchnorm:
        return count - 1
    return count


class BatchLoop:
    """Trains the network one epoch at a time: batch after batch of shuffled rows, forward ->
    head (loss and its gradient) -> backward -> clip -> optimizer step. Returns the epoch's
    training row (mean loss, accuracy) and the gradient health rows of its sampled batches."""

    def __init__(
        self,
        network: Sequential,
        head: Head,
        optimizer: Optimizer,
        params: list[Param],
        train: Split,
        training: TrainingConfig,
        classification: bool,
        shuffle: np.random.Generator,
    ) -> None:
        self.network, self.head, self.optimizer, self.params = network, head, optimizer, params
        self.train, self.training, self.shuffle = train, training, shuffle
        self.classification = classification
        self.n_batches = batch_count(len(train.x), training.batch_size, has_batchnorm(network))

    def run(
        self, epoch: int, state: RunState, tick: Callable[[int], None] | None = None
    ) -> tuple[dict[str, float] | None, list[dict[str, Any]]]:
        """One epoch with the engine's buffer reuse on (training passes write into arrays
        kept from the last batch); off again afterwards, so validation, the returned model
        and `nncli gradcheck` see a plain network. None for the row when a signal
        (state.signal) stopped the epoch before its end."""
        self.network.set_reuse(True)
        try:
            return self._batches(epoch, state, tick)
        finally:
            self.network.set_reuse(False)

    def _batches(
        self, epoch: int, state: RunState, tick: Callable[[int], None] | None
    ) -> tuple[dict[str, float] | None, list[dict[str, Any]]]:
        x, y = self.train.x, self.train.y
        n, n_batches = len(x), self.n_batches
        network, head, optimizer, params = self.network, self.head, self.optimizer, self.params
        batch_size, clip = self.training.batch_size, self.training.grad_clip
        order = self.shuffle.permutation(n) if self.training.shuffle else None
        batch = np.empty((min(batch_size + 1, n), *x.shape[1:]), x.dtype)  # shuffled rows go here
        monitor = GradientMonitor(params, GRADIENT_SAMPLES, n_batches)
        classification = self.classification
        loss_sum, correct = 0.0, 0
        tick_every = max(1, n_batches // 50)  # a redraw costs more than a small batch
        for b in range(n_batches):
            if state.signal is not None:
                return None, []
            lo, hi = b * batch_size, n if b == n_batches - 1 else (b + 1) * batch_size
            if order is None:
                xb, yb = x[lo:hi], y[lo:hi]
            else:
                idx = order[lo:hi]  # a permutation's slice, so mode="clip" never clips
                xb, yb = np.take(x, idx, axis=0, out=batch[: hi - lo], mode="clip"), y[idx]
            logits = network.forward(xb, True)
            loss, grad = head.loss_and_grad(logits, yb)
            if not math.isfinite(loss):
                raise self.diverged(epoch, f"the loss became {loss}", batch=b + 1)
            network.backward_params(grad)  # the input is data: its gradient is never read
            if clip is not None:
                clip_grad_norm(params, clip)
            sampled = monitor.wants(b)
            if sampled:
                monitor.before_step()
            optimizer.step(params)
            if sampled:
                monitor.after_step()
            loss_sum += loss * (hi - lo)
            if classification:
                correct += int(np.count_nonzero(_predicted(logits) == yb))
            if tick is not None and (b + 1) % tick_every == 0:
                tick(b + 1)
        row = {"train_loss": loss_sum / n}
        if classification:
            row["train_accuracy"] = correct / n
        return row, monitor.epoch_rows(epoch)

    def check_finite(self, epoch: int, row: dict[str, float]) -> None:
        """Weights, optimizer state and the losses must be finite before anything is saved.
        Other metrics may not be (ROC AUC of a validation set of one class is undefined):
        that is no divergence, and the trainer reports them as n/a."""
        for p in self.params:
            if not np.all(np.isfinite(p.value)):
                raise self.diverged(epoch, f"parameter {p.name} became non-finite")
        for name, value in self.optimizer.state_dict()[0].items():
            if not np.all(np.isfinite(value)):
                raise self.diverged(epoch, f"the optimizer state {name} became non-finite")
        for name in ("train_loss", "val_loss"):
            if name in row and not math.isfinite(row[name]):
                raise self.diverged(epoch, f"{name} became {row[name]}")

    def diverged(self, epoch: int, what: str, batch: int | None = None) -> TrainingError:
        """The error for a non-finite loss or weight in `epoch`: checkpoints keep the epoch
        before it, which was checked finite."""
        clip = self.training.grad_clip
        hint = "a lower optimizer.lr" + (
            f" or a smaller training.grad_clip (now {clip:g})"
            if clip is not None
            else " or training.grad_clip: 1.0"
        )
        where = f"{epoch}" if batch is None else f"{epoch}, batch {batch}"
        return TrainingError(
            f"training diverged at epoch {where}: {what}, most likely because the learning rate "
            f"(now {self.optimizer.lr:.3g}) is too high for this data and network. Try {hint}. "
            f"Checkpoints keep the last finite state (epoch {epoch - 1})."
        )


def _predicted(logits: np.ndarray) -> np.ndarray:
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).astype(np.int64)
    return logits.argmax(axis=1)
