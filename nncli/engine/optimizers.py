"""Optimizers that update Param values in place, following torch.optim's formulas exactly."""

from __future__ import annotations

import math

import numpy as np

from nncli.engine.base import FlatParams, Param

# Elements per block of the flat path: every array a block touches stays in L2 together.
_BLOCK = 1 << 16
# Every this many steps, state entries that would turn subnormal within as many steps are
# set to 0 (see Optimizer.decaying). A weight whose gradient stops (a dead ReLU unit) has
# moments shrinking geometrically into subnormal floats, and x86 arithmetic on those is tens
# of times slower: an epoch took 4x as long after a few epochs. The entries zeroed are below
# 1e-33 (float32), so the update changes by less than lr * 1e-23.
FLUSH_EVERY = 16


class DamagedState(ValueError):
    """Optimizer state whose values no run could have written (negative sums of squares,
    nan, a bad step count), as opposed to state from another configuration."""


def _check(name: str, value: float, low: float, high: float = math.inf) -> float:
    """Range-check one hyperparameter so a bad config fails at build time, not mid-run."""
    if not low <= value < high:
        bound = f"in [{low}, {high})" if high < math.inf else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)


class Optimizer:
    """Base class: lazily created per-parameter state keyed "<kind>/<param name>".

    `lr` is a plain attribute the trainer sets from the schedule every epoch. `t` counts
    completed steps. Weight decay, where an optimizer has it, applies only to params with
    `decay=True` (dense weights). Update arithmetic runs in place on preallocated buffers.
    """

    weight_decay = 0.0

    def __init__(self, lr: float) -> None:
        self.lr = _check("lr", lr, 0.0)
        self.t = 0
        self._state: dict[str, np.ndarray] = {}
        self._scratch: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._plan: tuple | None = None  # the flat path's blocks (see _flat_plan)
        self._check_on_step = False  # set by load_state_dict: validate before the first update

    def state_kinds(self) -> tuple[str, ...]:
        """The per-parameter state arrays this configuration keeps (e.g. ("m", "v"))."""
        return ()

    def squares(self) -> tuple[str, ...]:
        """State kinds that accumulate squared gradients: never negative (a sqrt is taken)."""
        return ()

    def decaying(self) -> dict[str, float]:
        """State kinds that shrink by a constant factor per step once gradients stop, with
        that factor: their near-subnormal entries are zeroed every FLUSH_EVERY steps. Only
        where a 0 there cannot turn the update into inf or nan (a denominator has eps)."""
        return {}

    def step(self, params: list[Param]) -> None:
        """Apply one update to every param's value in place, reading param.grad.

        Params from `flatten_parameters` (a FlatParams) are updated a segment at a time on
        their flat buffers; the arithmetic is the same elementwise sequence either way.
        """
        if self._check_on_step:
            self._check_against(self._state, self.t, params)
            self._check_on_step = False
        resumed = self.t > 0
        self.t += 1
        flush = self.decaying() if self.t % FLUSH_EVERY == 0 else {}
        if isinstance(params, FlatParams):
            for value, grad, decay, state, work, tmp in self._flat_plan(params, resumed):
                self._apply(value, grad, decay, state, work, tmp)
                _flush(state, flush, tmp)
            return
        kinds = self.state_kinds()
        for p in params:
            state = {kind: self._buffer(kind, p, resumed) for kind in kinds}
            work, tmp = self._scratch_for(p)
            self._apply(p.value, p.grad, p.decay, state, work, tmp)
            _flush(state, flush, tmp)

    def _apply(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        decay: bool,
        state: dict[str, np.ndarray],
        work: np.ndarray,
        tmp: np.ndarray,
    ) -> None:
        """Update `value` in place from `grad`; `state` holds this slice's arrays by kind,
        `work` and `tmp` are scratch of the same shape. Elementwise only, so any slicing of
        the parameters into blocks gives the same numbers."""
        raise NotImplementedError

    def _buffer(self, kind: str, p: Param, resumed: bool) -> np.ndarray:
        """State array `kind` for `p`: zeros on the first step, an error if lost after that."""
        key = f"{kind}/{p.name}"
        buf = self._state.get(key)
        if buf is None:
            if resumed:
                raise ValueError(f"optimizer state has no entry {key!r} (parameters changed?)")
            buf = self._state[key] = np.zeros_like(p.value)
        elif buf.shape != p.value.shape:
            raise ValueError(
                f"optimizer state {key!r} has shape {buf.shape}, parameter has {p.value.shape}"
            )
        elif buf.dtype != p.value.dtype:
            buf = self._state[key] = buf.astype(p.value.dtype)
        return buf

    def _scratch_for(self, p: Param) -> tuple[np.ndarray, np.ndarray]:
        """Two work arrays shaped like `p`, reused every step so updates allocate nothing."""
        pair = self._scratch.get(p.name)
        if pair is None or pair[0].shape != p.value.shape or pair[0].dtype != p.value.dtype:
            pair = self._scratch[p.name] = (np.empty_like(p.value), np.empty_like(p.value))
        return pair

    def _flat_plan(self, params: FlatParams, resumed: bool) -> list[tuple]:
        """(value, grad, decay, state, work, tmp) blocks covering the flat buffers.

        State lives in flat arrays too, and `_state["<kind>/<name>"]` are views into them, so
        state_dict and checkpoints see the usual per-parameter arrays. Rebuilt (copying the
        current state in) when the params or the state dict were replaced (load_state_dict), or
        weight_decay changed (without it, decayed and other params form one run of blocks)."""
        plan = self._plan
        if (
            plan
            and plan[0] is params.values
            and plan[1] is self._state
            and plan[2] == self.weight_decay
        ):
            return plan[3]
        values, grads = params.values, params.grads
        flat = {kind: np.zeros_like(values) for kind in self.state_kinds()}
        for p, sl in zip(params, params.slices, strict=True):
            for kind, array in flat.items():
                array[sl] = self._buffer(kind, p, resumed).reshape(-1)
                self._state[f"{kind}/{p.name}"] = array[sl].reshape(p.value.shape)
        work, tmp = np.empty_like(values), np.empty_like(values)
        blocks = []
        segments = [(0, params.n_decay, True), (params.n_decay, len(values), False)]
        if not self.weight_decay:  # the decay flag changes nothing: one run, fewer calls
            segments = [(0, len(values), False)]
        for lo, hi, decay in segments:
            for start in range(lo, hi, _BLOCK):
                sl = slice(start, min(hi, start + _BLOCK))
                state = {kind: array[sl] for kind, array in flat.items()}
                blocks.append((values[sl], grads[sl], decay, state, work[sl], tmp[sl]))
        self._plan = (values, self._state, self.weight_decay, blocks)
        return blocks

    def _decayed_grad(
        self, value: np.ndarray, grad: np.ndarray, decay: bool, out: np.ndarray
    ) -> np.ndarray:
        """grad + wd * value (L2 as torch adds it) in `out`, or the grad itself without decay."""
        if self.weight_decay == 0.0 or not decay:
            return grad
        np.multiply(value, self.weight_decay, out=out)
        out += grad
        return out

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, float | int]]:
        """Copies of the state arrays ("<kind>/<param name>") and the scalars ({"t": steps})."""
        return {k: v.copy() for k, v in self._state.items()}, {"t": self.t}

    def load_state_dict(
        self,
        arrays: dict[str, np.ndarray],
        scalars: dict[str, float | int],
        params: list[Param] | None = None,
    ) -> None:
        """Restore a state_dict; raises ValueError naming a missing, unknown or bad entry.

        With `params`, every entry is checked against them now; without, the same check runs
        at the start of the next step, before anything is updated.
        """
        if "t" not in scalars:
            raise ValueError("optimizer state has no scalar 't'")
        t = scalars["t"]
        if isinstance(t, bool) or not float(t).is_integer() or t < 0:
            raise DamagedState(f"optimizer state scalar 't' must be a count >= 0, got {t!r}")
        unknown = sorted(set(scalars) - {"t"})
        if unknown:
            raise ValueError(f"optimizer state has unknown scalar {unknown[0]!r}")
        kinds = self.state_kinds()
        for key, value in arrays.items():
            kind, _, name = key.partition("/")
            if kind not in kinds or not name:
                raise ValueError(f"optimizer state has unexpected entry {key!r}")
            if not isinstance(value, np.ndarray):
                raise DamagedState(f"optimizer state entry {key!r} is not an array")
            if value.dtype not in (np.float32, np.float64):
                raise DamagedState(
                    f"optimizer state {key!r} has dtype {value.dtype}, not float32 or float64"
                )
            if not np.all(np.isfinite(value)):
                raise DamagedState(f"optimizer state {key!r} holds non-finite values")
            if kind in self.squares() and np.any(value < 0):
                raise DamagedState(
                    f"optimizer state {key!r} holds {value.min()}, a sum of squares below 0"
                )
        if params is not None:
            self._check_against(arrays, int(t), params)
        self.t = int(t)
        self._state = {k: np.array(v, copy=True) for k, v in arrays.items()}
        self._check_on_step = params is None

    def _check_against(self, arrays: dict[str, np.ndarray], t: int, params: list[Param]) -> None:
        """Every state entry belongs to a param with its shape; none is missing after step 1."""
        shapes = {f"{kind}/{p.name}": p.value.shape for p in params for kind in self.state_kinds()}
        for key, value in arrays.items():
            if key not in shapes:
                raise ValueError(f"optimizer state entry {key!r} matches no parameter")
            if value.shape != shapes[key]:
                raise ValueError(
                    f"optimizer state {key!r} has shape {value.shape}, parameter has {shapes[key]}"
                )
        missing = [key for key in shapes if key not in arrays]
        if t > 0 and missing:
            raise ValueError(f"optimizer state is missing {missing[0]!r}")


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum; torch.optim.SGD with dampening 0."""

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

    def state_kinds(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum else ()

    def decaying(self) -> dict[str, float]:
        return {"momentum": self.momentum} if self.momentum else {}

    def _apply(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        decay: bool,
        state: dict[str, np.ndarray],
        work: np.ndarray,
        tmp: np.ndarray,
    ) -> None:
        g = self._decayed_grad(value, grad, decay, work)
        if self.momentum:
            # buf = momentum * buf + g; starting from zeros this equals torch's buf = g.clone().
            buf = state["momentum"]
            buf *= self.momentum
            buf += g
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                g = tmp
            else:
                g = buf
        np.multiply(g, self.lr, out=work)
        value -= work


class Adam(Optimizer):
    """Adam with bias correction; weight_decay is L2 added to the gradient (torch.optim.Adam).

    The state is torch's exp_avg and exp_avg_sq without their (1 - beta) factors: the
    discounted sums grad_sum = b1*grad_sum + g (= m / (1-b1)) and sq_grad_sum = b2*sq_grad_sum
    + g*g (= v / (1-b2)). Those factors move into the per-step scalars, which saves two of
    the twelve passes over the parameters an update otherwise takes.
    """

    decoupled = False

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

    def state_kinds(self) -> tuple[str, ...]:
        return ("grad_sum", "sq_grad_sum")

    def squares(self) -> tuple[str, ...]:
        return ("sq_grad_sum",)

    def decaying(self) -> dict[str, float]:
        return {"grad_sum": self.beta1, "sq_grad_sum": self.beta2} if self.eps > 0 else {}

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
            kind, _, name = key.partition("/")
            floats = isinstance(value, np.ndarray) and value.dtype.kind == "f"  # else refused
            if kind in legacy and name and floats:
                kind, beta = legacy[kind]
                key, value = f"{kind}/{name}", value / (1.0 - beta)
            renamed[key] = value
        super().load_state_dict(renamed, scalars, params)

    def _apply(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        decay: bool,
        state: dict[str, np.ndarray],
        work: np.ndarray,
        tmp: np.ndarray,
    ) -> None:
        if self.decoupled:
            if self.weight_decay and decay:
                value *= 1.0 - self.lr * self.weight_decay
            g = grad
        else:
            g = self._decayed_grad(value, grad, decay, work)
        u, w = state["grad_sum"], state["sq_grad_sum"]
        u *= self.beta1
        u += g
        np.multiply(g, g, out=tmp)
        w *= self.beta2
        w += tmp
        # value -= lr * m_hat / (sqrt(v_hat) + eps), where m_hat = (1-b1)/(1-b1^t) * u and
        # sqrt(v_hat) = k * sqrt(w) with k = sqrt((1-b2)/(1-b2^t)); eps stays outside the sqrt.
        k = math.sqrt((1.0 - self.beta2) / (1.0 - self.beta2**self.t))
        np.sqrt(w, out=tmp)
        tmp += self.eps / k
        np.divide(u, tmp, out=tmp)
        tmp *= self.lr * (1.0 - self.beta1) / ((1.0 - self.beta1**self.t) * k)
        value -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: value *= 1 - lr*wd before the update (torch AdamW)."""

    decoupled = True


class RMSprop(Optimizer):
    """Non-centered RMSprop (torch.optim.RMSprop; rho is torch's alpha), optional momentum."""

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

    def state_kinds(self) -> tuple[str, ...]:
        return ("square_avg", "momentum") if self.momentum else ("square_avg",)

    def squares(self) -> tuple[str, ...]:
        return ("square_avg",)

    def decaying(self) -> dict[str, float]:
        found = {"square_avg": self.rho} if self.eps > 0 else {}
        return found | ({"momentum": self.momentum} if self.momentum else {})

    def _apply(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        decay: bool,
        state: dict[str, np.ndarray],
        work: np.ndarray,
        tmp: np.ndarray,
    ) -> None:
        g = self._decayed_grad(value, grad, decay, work)
        sq = state["square_avg"]
        # sq = rho*sq + (1-rho)*g*g;  step = g / (sqrt(sq) + eps)
        sq *= self.rho
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.rho
        sq += tmp
        np.sqrt(sq, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum:
            # torch starts this buffer at zeros: buf = momentum*buf + g/avg.
            buf = state["momentum"]
            buf *= self.momentum
            buf += tmp
            np.multiply(buf, self.lr, out=tmp)
        else:
            tmp *= self.lr
        value -= tmp


class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad without lr_decay, initial accumulator 0)."""

    def __init__(self, lr: float, *, eps: float = 1e-10, weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.eps = _check("eps", eps, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)

    def state_kinds(self) -> tuple[str, ...]:
        return ("sum",)

    def squares(self) -> tuple[str, ...]:
        return ("sum",)

    def _apply(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        decay: bool,
        state: dict[str, np.ndarray],
        work: np.ndarray,
        tmp: np.ndarray,
    ) -> None:
        g = self._decayed_grad(value, grad, decay, work)
        total = state["sum"]
        # sum += g*g;  value -= lr * g / (sqrt(sum) + eps)
        np.multiply(g, g, out=tmp)
        total += tmp
        np.sqrt(total, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= self.lr
        value -= tmp


def _flush(state: dict[str, np.ndarray], decaying: dict[str, float], tmp: np.ndarray) -> None:
    """Zero the entries of each decaying state array that would turn subnormal within
    FLUSH_EVERY steps of shrinking by its factor (a factor below 0.5 counts as 0.5)."""
    for kind, factor in decaying.items():
        array = state[kind]
        limit = np.finfo(array.dtype).tiny / max(factor, 0.5) ** FLUSH_EVERY
        np.abs(array, out=tmp)
        np.copyto(array, 0, where=tmp < limit)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}
