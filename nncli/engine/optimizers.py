"""Optimizers, each its update formula applied in place, with torch.optim's exact arithmetic.

To add one, subclass Optimizer: declare the state it keeps per parameter (`slots`) and write
`update` for one array. Where that state lives and how a step walks it fast (flat buffers in
cache-sized blocks, reused scratch, the subnormal flush, checks on restored state) is
optimizer_state.py's business; an optimizer never needs to read it.
"""

from __future__ import annotations

import math

import numpy as np

from nncli.engine.base import Param
from nncli.engine.optimizer_state import (
    FLUSH_EVERY,
    DamagedState,
    Slot,
    SlotStore,
    check_loaded,
    check_shapes,
    flush,
)

__all__ = ["OPTIMIZERS", "SGD", "Adagrad", "Adam", "AdamW", "DamagedState", "Optimizer", "RMSprop"]


class Optimizer:
    """Base class: `step(params)` moves every param's value in place by `update`.

    A subclass declares
    - `slots()`: the state it keeps per parameter, by name (zeros before the first step);
    - `update(value, g, state, tmp)`: one step of one array. `g` is the gradient with L2
      weight decay already added where it applies, `state` maps each slot to that array's
      state, `tmp` is scratch of the same shape. All are views into the optimizer's buffers:
      write into `value`, `state` and `tmp` with in-place ufuncs (`*=`, `out=`), so a step
      allocates nothing. Elementwise only: the flat path slices the parameters into blocks.

    `lr` is a plain attribute the trainer sets from the schedule every epoch; `t` counts
    steps, the current one included while `update` runs (for bias corrections). Weight decay
    applies only to params with `decay=True` (dense weights): added to the gradient (L2, as
    torch), or with `decoupled` (AdamW) shrinking the value by `lr * weight_decay` instead.
    """

    weight_decay = 0.0
    decoupled = False

    def __init__(self, lr: float) -> None:
        self.lr = _check("lr", lr, 0.0)
        self.t = 0
        self._store = SlotStore()
        self._check_on_step = False  # set by load_state_dict: validate before the first update

    def slots(self) -> dict[str, Slot]:
        """The state this configuration keeps per parameter, by slot name."""
        return {}

    def update(
        self, value: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], tmp: np.ndarray
    ) -> None:
        """Move `value` one step in place; see the class docstring."""
        raise NotImplementedError

    def step(self, params: list[Param]) -> None:
        """Apply one update to every param's value in place, reading param.grad."""
        if self._check_on_step:
            check_shapes(self._store.arrays, self.t, params, self.slots())
            self._check_on_step = False
        blocks = self._store.blocks(params, self.slots, self.weight_decay, self.t > 0)
        self.t += 1
        shrinking = self._shrinking() if self.t % FLUSH_EVERY == 0 else {}
        for value, grad, decay, state, work, tmp in blocks:
            g = self._weight_decayed(value, grad, decay, work)
            self.update(value, g, state, tmp)
            flush(state, shrinking, tmp)

    def _shrinking(self) -> dict[str, float]:
        """The slots `flush` zeroes near-subnormal entries of, with their shrink factors."""
        slots = self.slots().items()
        return {name: slot.shrinks_by for name, slot in slots if slot.shrinks_by is not None}

    def _weight_decayed(
        self, value: np.ndarray, grad: np.ndarray, decay: bool, work: np.ndarray
    ) -> np.ndarray:
        """g = grad + weight_decay * value where decay applies (L2, as torch adds it), in
        `work`; with `decoupled`, value *= 1 - lr * weight_decay and g = grad."""
        if not (decay and self.weight_decay):
            return grad
        if self.decoupled:
            value *= 1.0 - self.lr * self.weight_decay
            return grad
        g = np.multiply(value, self.weight_decay, out=work)
        g += grad
        return g

    def state_kinds(self) -> tuple[str, ...]:
        """The slot names, as state_dict keys start ("<slot>/<param name>")."""
        return tuple(self.slots())

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, float | int]]:
        """Copies of the state arrays ("<slot>/<param name>") and the scalars ({"t": steps})."""
        return {k: v.copy() for k, v in self._store.arrays.items()}, {"t": self.t}

    def load_state_dict(
        self,
        arrays: dict[str, np.ndarray],
        scalars: dict[str, float | int],
        params: list[Param] | None = None,
    ) -> None:
        """Restore a state_dict; raises ValueError naming a missing, unknown or bad entry
        (DamagedState where no run could have written it).

        With `params`, every entry is checked against them now; without, the same check runs
        at the start of the next step, before anything is updated.
        """
        slots = self.slots()
        t = check_loaded(arrays, scalars, slots)
        if params is not None:
            check_shapes(arrays, t, params, slots)
        self.t = t
        self._store.arrays = {k: np.array(v, copy=True) for k, v in arrays.items()}
        self._check_on_step = params is None


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum, as torch.optim.SGD with dampening 0.

        buf = momentum * buf + g              (with momentum; buf starts at 0)
        value -= lr * (g + momentum * buf)    with nesterov
        value -= lr * buf                     with momentum
        value -= lr * g                       without

    weight_decay is L2 added to g.
    """

    def __init__(
        self,
        lr: float,
        *,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr)
        self.momentum = _check("momentum", momentum, 0.0)
        self.nesterov = bool(nesterov)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov requires momentum > 0")

    def slots(self) -> dict[str, Slot]:
        return {"momentum": Slot(shrinks_by=self.momentum)} if self.momentum else {}

    def update(
        self, value: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], tmp: np.ndarray
    ) -> None:
        step = g
        if self.momentum:
            buf = state["momentum"]
            buf *= self.momentum
            buf += g
            step = buf
            if self.nesterov:
                step = np.multiply(buf, self.momentum, out=tmp)
                step += g
        step = np.multiply(step, self.lr, out=tmp)
        value -= step


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as torch.optim.Adam.

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g^2
        value -= lr * m_hat / (sqrt(v_hat) + eps)    m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)

    weight_decay is L2 added to g (AdamW decouples it). The slots keep m and v without their
    (1 - b) factors, as the discounted sums grad_sum = m / (1 - b1) and sq_grad_sum =
    v / (1 - b2); the factors join the step's scalars, which saves two of the twelve passes
    over the parameters an update would otherwise take.
    """

    def __init__(
        self,
        lr: float,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr)
        self.beta1 = _check("beta1", beta1, 0.0, 1.0)
        self.beta2 = _check("beta2", beta2, 0.0, 1.0)
        self.eps = _check("eps", eps, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)

    def slots(self) -> dict[str, Slot]:
        flushed = self.eps > 0  # with eps = 0, a zeroed sum of squares could divide by zero
        return {
            "grad_sum": Slot(shrinks_by=self.beta1 if flushed else None),
            "sq_grad_sum": Slot(squares=True, shrinks_by=self.beta2 if flushed else None),
        }

    def update(
        self, value: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], tmp: np.ndarray
    ) -> None:
        b1, b2, t = self.beta1, self.beta2, self.t
        m, v = state["grad_sum"], state["sq_grad_sum"]  # m / (1 - b1) and v / (1 - b2)
        m *= b1
        m += g
        v *= b2
        v += np.multiply(g, g, out=tmp)
        # sqrt(v_hat) = k * sqrt(v) with k = sqrt((1 - b2) / (1 - b2^t)); eps stays outside.
        k = math.sqrt((1.0 - b2) / (1.0 - b2**t))
        denom = np.sqrt(v, out=tmp)
        denom += self.eps / k
        step = np.divide(m, denom, out=tmp)
        step *= self.lr * (1.0 - b1) / ((1.0 - b1**t) * k)
        value -= step

    def load_state_dict(
        self,
        arrays: dict[str, np.ndarray],
        scalars: dict[str, float | int],
        params: list[Param] | None = None,
    ) -> None:
        """Also takes the m/ and v/ arrays (torch's exp_avg, exp_avg_sq) older checkpoints hold."""
        legacy = {"m": ("grad_sum", self.beta1), "v": ("sq_grad_sum", self.beta2)}
        renamed = {}
        for key, value in arrays.items():
            slot, _, name = key.partition("/")
            floats = isinstance(value, np.ndarray) and value.dtype.kind == "f"  # else refused
            if slot in legacy and name and floats:
                slot, beta = legacy[slot]
                key, value = f"{slot}/{name}", value / (1.0 - beta)
            renamed[key] = value
        super().load_state_dict(renamed, scalars, params)


class AdamW(Adam):
    """Adam with decoupled weight decay, as torch.optim.AdamW: value *= 1 - lr * weight_decay
    before the Adam step on the plain gradient."""

    decoupled = True


class RMSprop(Optimizer):
    """Non-centered RMSprop, as torch.optim.RMSprop (rho is torch's alpha).

        sq = rho * sq + (1 - rho) * g^2
        step = g / (sqrt(sq) + eps)
        buf = momentum * buf + step,  step = buf    (with momentum; buf starts at 0)
        value -= lr * step

    weight_decay is L2 added to g.
    """

    def __init__(
        self,
        lr: float,
        *,
        rho: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr)
        self.rho = _check("rho", rho, 0.0, 1.0)
        self.eps = _check("eps", eps, 0.0)
        self.momentum = _check("momentum", momentum, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)

    def slots(self) -> dict[str, Slot]:
        found = {"square_avg": Slot(squares=True, shrinks_by=self.rho if self.eps > 0 else None)}
        if self.momentum:
            found["momentum"] = Slot(shrinks_by=self.momentum)
        return found

    def update(
        self, value: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], tmp: np.ndarray
    ) -> None:
        sq = state["square_avg"]
        sq *= self.rho
        g2 = np.multiply(g, g, out=tmp)
        g2 *= 1.0 - self.rho
        sq += g2
        denom = np.sqrt(sq, out=tmp)
        denom += self.eps
        step = np.divide(g, denom, out=tmp)
        if self.momentum:
            buf = state["momentum"]
            buf *= self.momentum
            buf += step
            step = np.multiply(buf, self.lr, out=tmp)
        else:
            step *= self.lr
        value -= step


class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad without lr_decay.

        sum = sum + g^2                        (sum starts at 0)
        value -= lr * g / (sqrt(sum) + eps)

    weight_decay is L2 added to g.
    """

    def __init__(self, lr: float, *, eps: float = 1e-10, weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.eps = _check("eps", eps, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)

    def slots(self) -> dict[str, Slot]:
        return {"sum": Slot(squares=True)}

    def update(
        self, value: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], tmp: np.ndarray
    ) -> None:
        total = state["sum"]
        total += np.multiply(g, g, out=tmp)
        denom = np.sqrt(total, out=tmp)
        denom += self.eps
        step = np.divide(g, denom, out=tmp)
        step *= self.lr
        value -= step


def _check(name: str, value: float, low: float, high: float = math.inf) -> float:
    """Range-check one hyperparameter so a bad config fails at build time, not mid-run."""
    if not low <= value < high:
        bound = f"in [{low}, {high})" if high < math.inf else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}
