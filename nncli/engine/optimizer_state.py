"""Where optimizer state lives, and the devices that make a step fast; no update formula here.

An optimizer reads like its math (see optimizers.py): it declares its per-parameter state as
`Slot`s and writes `update` for one array. This module hands it those arrays:

- State is keyed "<slot>/<param name>" (a checkpoint's `optim/` arrays), zeros at the first step.
- Params from `flatten_parameters` (a FlatParams) keep their state in flat arrays too, and a
  step walks them in blocks small enough to stay in L2 cache: a few ufunc calls per block
  instead of a dozen per parameter. The per-parameter entries are views into the flat arrays.
- Scratch arrays are allocated once and reused, so a step allocates nothing.
- State shrinking towards subnormal floats is zeroed every FLUSH_EVERY steps (`flush`).
- Restored state is checked (`check_loaded`, `check_shapes`) before it is used.

Updates are elementwise, so any slicing into blocks gives bit-identical numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from nncli.engine.base import FlatParams, Param

# Elements per block of the flat path: every array a block touches stays in L2 together.
BLOCK = 1 << 16
# Every this many steps, state entries that would turn subnormal within as many steps are
# set to 0. A weight whose gradient stops (a dead ReLU unit) has moments shrinking
# geometrically into subnormal floats, and x86 arithmetic on those is tens of times slower:
# an epoch took 4x as long after a few epochs. The entries zeroed are below 1e-33 (float32),
# so the update changes by less than lr * 1e-23.
FLUSH_EVERY = 16


class DamagedState(ValueError):
    """Optimizer state whose values no run could have written (negative sums of squares,
    nan, a bad step count), as opposed to state from another configuration."""


class Slot(NamedTuple):
    """One per-parameter state array of an optimizer, zeros before the first step.

    `squares`: a sum of squared gradients, never negative (a sqrt is taken); restored
    state holding a negative entry is refused as damaged.
    `shrinks_by`: the factor the array shrinks by each step once a gradient stops; its
    entries about to turn subnormal are then zeroed (`flush`). None (never zeroed) where a
    0 could turn the update into inf or nan, such as a denominator without eps.
    """

    squares: bool = False
    shrinks_by: float | None = None


class Block(NamedTuple):
    """A stretch of parameters one `update` call moves: a whole param or a flat block."""

    value: np.ndarray
    grad: np.ndarray
    decay: bool  # weight decay applies (dense weights)
    state: dict[str, np.ndarray]  # this stretch of every slot, by slot name
    work: np.ndarray  # scratch of the value's shape (the decayed gradient goes here)
    tmp: np.ndarray  # more scratch, for the update's intermediates


class SlotStore:
    """The state arrays of one optimizer, `arrays["<slot>/<param name>"]`, and the blocks
    of one step."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._scratch: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._plan: tuple[np.ndarray, dict[str, np.ndarray], float, list[Block]] | None = None

    def blocks(
        self,
        params: list[Param],
        slots: Callable[[], Iterable[str]],
        weight_decay: float,
        resumed: bool,
    ) -> Iterable[Block]:
        """The blocks covering `params`: flat blocks for a FlatParams, else one per param.
        `slots` gives the slot names (asked only when the flat blocks are planned anew);
        `resumed` (a step was taken before) makes a missing state entry an error, not zeros."""
        if not isinstance(params, FlatParams):
            names = tuple(slots())
            return (self._param_block(p, names, resumed) for p in params)
        plan = self._plan
        if plan and plan[0] is params.values and plan[1] is self.arrays and plan[2] == weight_decay:
            return plan[3]
        return self._flat_plan(params, slots, weight_decay, resumed)

    def _param_block(self, p: Param, slots: tuple[str, ...], resumed: bool) -> Block:
        state = {slot: self._buffer(slot, p, resumed) for slot in slots}
        pair = self._scratch.get(p.name)
        if pair is None or pair[0].shape != p.value.shape or pair[0].dtype != p.value.dtype:
            pair = self._scratch[p.name] = (np.empty_like(p.value), np.empty_like(p.value))
        return Block(p.value, p.grad, p.decay, state, *pair)

    def _buffer(self, slot: str, p: Param, resumed: bool) -> np.ndarray:
        """State array `slot` for `p`: zeros on the first step, an error if lost after that."""
        key = f"{slot}/{p.name}"
        buf = self.arrays.get(key)
        if buf is None:
            if resumed:
                raise ValueError(f"optimizer state has no entry {key!r} (parameters changed?)")
            buf = self.arrays[key] = np.zeros_like(p.value)
        elif buf.shape != p.value.shape:
            raise ValueError(
                f"optimizer state {key!r} has shape {buf.shape}, parameter has {p.value.shape}"
            )
        elif buf.dtype != p.value.dtype:
            buf = self.arrays[key] = buf.astype(p.value.dtype)
        return buf

    def _flat_plan(
        self,
        params: FlatParams,
        slots: Callable[[], Iterable[str]],
        weight_decay: float,
        resumed: bool,
    ) -> list[Block]:
        """Blocks of at most BLOCK elements over the flat buffers, decayed params first.

        Each slot becomes one flat array and `arrays["<slot>/<name>"]` views into it, so
        state_dict and checkpoints see the usual per-parameter arrays. `blocks` plans anew
        (copying the current state in) when the params or `arrays` were replaced
        (load_state_dict) or weight_decay changed (without it, decayed and other params form
        one run of blocks)."""
        values, grads = params.values, params.grads
        flat = {slot: np.zeros_like(values) for slot in slots()}
        for p, sl in zip(params, params.slices, strict=True):
            for slot, array in flat.items():
                array[sl] = self._buffer(slot, p, resumed).reshape(-1)
                self.arrays[f"{slot}/{p.name}"] = array[sl].reshape(p.value.shape)
        work, tmp = np.empty_like(values), np.empty_like(values)
        segments = [(0, params.n_decay, True), (params.n_decay, len(values), False)]
        if not weight_decay:  # the decay flag changes nothing: one run, fewer calls
            segments = [(0, len(values), False)]
        blocks = []
        for lo, hi, decay in segments:
            for start in range(lo, hi, BLOCK):
                sl = slice(start, min(hi, start + BLOCK))
                state = {slot: array[sl] for slot, array in flat.items()}
                blocks.append(Block(values[sl], grads[sl], decay, state, work[sl], tmp[sl]))
        self._plan = (values, self.arrays, weight_decay, blocks)
        return blocks


def flush(state: dict[str, np.ndarray], shrinking: dict[str, float], tmp: np.ndarray) -> None:
    """Zero the entries of each shrinking state array that would turn subnormal within
    FLUSH_EVERY steps of shrinking by its factor (a factor below 0.5 counts as 0.5)."""
    for slot, factor in shrinking.items():
        array = state[slot]
        limit = np.finfo(array.dtype).tiny / max(factor, 0.5) ** FLUSH_EVERY
        np.abs(array, out=tmp)
        np.copyto(array, 0, where=tmp < limit)


def check_loaded(
    arrays: dict[str, np.ndarray], scalars: dict[str, float | int], slots: dict[str, Slot]
) -> int:
    """The step count of a state_dict, after checking its entries could come from a run of
    an optimizer with these slots: ValueError naming the first entry that could not."""
    if "t" not in scalars:
        raise ValueError("optimizer state has no scalar 't'")
    t = scalars["t"]
    if isinstance(t, bool) or not float(t).is_integer() or t < 0:
        raise DamagedState(f"optimizer state scalar 't' must be a count >= 0, got {t!r}")
    unknown = sorted(set(scalars) - {"t"})
    if unknown:
        raise ValueError(f"optimizer state has unknown scalar {unknown[0]!r}")
    for key, value in arrays.items():
        slot, _, name = key.partition("/")
        if slot not in slots or not name:
            raise ValueError(f"optimizer state has unexpected entry {key!r}")
        if not isinstance(value, np.ndarray):
            raise DamagedState(f"optimizer state entry {key!r} is not an array")
        if value.dtype not in (np.float32, np.float64):
            raise DamagedState(
                f"optimizer state {key!r} has dtype {value.dtype}, not float32 or float64"
            )
        if not np.all(np.isfinite(value)):
            raise DamagedState(f"optimizer state {key!r} holds non-finite values")
        if slots[slot].squares and np.any(value < 0):
            raise DamagedState(
                f"optimizer state {key!r} holds {value.min()}, a sum of squares below 0"
            )
    return int(t)


def check_shapes(
    arrays: dict[str, np.ndarray], t: int, params: list[Param], slots: Iterable[str]
) -> None:
    """Every state entry belongs to a param with its shape; none is missing after step 1."""
    shapes = {f"{slot}/{p.name}": p.value.shape for p in params for slot in slots}
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
