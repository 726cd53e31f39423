"""The pieces of the ONNX graph below the network: a node collector with fresh names, the
quantile scaling (data/quantile.to_normal) and the vocabulary lookup of a text column."""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np

from nncli.data.encoders import MISSING_LEVEL, OTHER_LEVEL, CategoricalColumn
from nncli.data.quantile import ACKLAM, CLIP
from nncli.data.values import MISSING


def case_spellings(word: str) -> list[str]:
    """Every upper/lower-case spelling of word ("na": na, nA, Na, NA)."""
    return sorted({"".join(chars) for chars in product(*({c.lower(), c.upper()} for c in word))})


# A text nncli reads as missing: a MISSING marker in any case (values.is_missing). opset 17 has
# no lowercase for an [N, 1] tensor that keeps the vocabulary's case, so every spelling is a key
# (33 of them). Blanks around a text are not stripped: no opset-17 operator can (docs/deploy.md).
MISSING_TEXTS = tuple(sorted(s for marker in MISSING for s in case_spellings(marker)))


class Graph:
    """Nodes and constants being collected, with fresh names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, value: Any, stem: str = "c", double: bool = False) -> str:
        name = self.fresh(stem)
        array = np.asarray(value)
        if array.dtype.kind == "f" and not double:
            array = array.astype(np.float32)
        if array.dtype.kind == "U":
            array = array.astype(object)
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        out = self.fresh(kind.lower())
        self.nodes.append(self.helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def ops(self) -> list[str]:
        return sorted({node.op_type for node in self.nodes})


def to_normal(g: Graph, x: str, quantiles: list[float]) -> str:
    """data/quantile.to_normal in float64: the mean of the rank read up and down the quantiles
    (np.interp each way), clipped, then Acklam's normal quantile, its three pieces by Where."""
    tp = g.onnx.TensorProto
    q = np.asarray(quantiles, dtype=np.float64)
    ranks = np.linspace(0.0, 1.0, len(q))
    wide = g.op("Cast", x, to=tp.DOUBLE)
    up = _interp(g, wide, q, ranks)
    down = _interp(g, g.op("Neg", wide), -q[::-1], -ranks[::-1])
    rank = g.op("Mul", g.op("Sub", up, down), _double(g, 0.5))
    p = g.op("Clip", rank, _double(g, CLIP), _double(g, 1.0 - CLIP))
    r = g.op("Sub", p, _double(g, 0.5))
    s = g.op("Mul", r, r)
    a, b, c, d = ACKLAM
    mid = g.op("Div", g.op("Mul", r, _horner(g, s, a)), _horner(g, s, (*b, 1.0)))
    tails = []
    for tail in (p, g.op("Sub", _double(g, 1.0), p)):
        t = g.op("Sqrt", g.op("Mul", g.op("Log", tail), _double(g, -2.0)))
        tails.append(g.op("Div", _horner(g, t, c), _horner(g, t, (*d, 1.0))))
    low = g.op("Less", p, _double(g, 0.02425))
    high = g.op("Greater", p, _double(g, 1 - 0.02425))
    out = g.op("Where", low, tails[0], g.op("Where", high, g.op("Neg", tails[1]), mid))
    return g.op("Cast", out, to=tp.FLOAT)


def _double(g: Graph, value: float) -> str:
    return g.const(np.float64(value), double=True)


def _horner(g: Graph, x: str, coeffs: tuple[float, ...]) -> str:
    out = _double(g, coeffs[0])
    for coeff in coeffs[1:]:
        out = g.op("Add", g.op("Mul", out, x), _double(g, coeff))
    return out


def _interp(g: Graph, x: str, xp: np.ndarray, fp: np.ndarray) -> str:
    """np.interp(x, xp, fp) for sorted xp, x a float32 value held as float64: j = the last knot
    <= x; the ends held flat. nncli reads 43.2 as the double 43.2, a service feeds float32's
    43.2000008: so a knot that rounds to x's float32 is compared with the shortest decimal of
    that float32 (what the CSV said), and x is taken as knot j when it rounds to it."""
    tp = g.onnx.TensorProto
    key = xp.astype(np.float32).astype(np.float64)
    clean = np.array([float(str(np.float32(v))) for v in key])  # shortest decimal
    le = g.const((xp <= clean).reshape(1, -1))
    keys = g.const(key.reshape(1, -1), double=True)
    tied = g.op("And", g.op("Equal", keys, x), le)
    below = g.op("Cast", g.op("Or", g.op("Less", keys, x), tied), to=tp.INT64)
    count = g.op("ReduceSum", below, g.const(np.array([1], dtype=np.int64)), keepdims=1)
    one, top = g.const(np.int64(1)), g.const(np.int64(max(len(xp) - 2, 0)))
    j = g.op("Clip", g.op("Sub", count, one), g.const(np.int64(0)), top)
    j1 = g.op("Add", j, one)
    x0, x1 = (g.op("Gather", g.const(xp, double=True), k) for k in (j, j1))
    f0, f1 = (g.op("Gather", g.const(fp, double=True), k) for k in (j, j1))
    at_knot = g.op("Equal", g.op("Gather", g.const(key, double=True), j), x)
    x = g.op("Where", at_knot, x0, x)
    slope = g.op("Div", g.op("Sub", f1, f0), g.op("Sub", x1, x0))
    inside = g.op("Add", g.op("Mul", slope, g.op("Sub", x, x0)), f0)
    lo, hi = _double(g, float(fp[0])), _double(g, float(fp[-1]))
    held = g.op("Where", g.op("Equal", count, g.const(np.int64(0))), lo, inside)
    return g.op("Where", g.op("Equal", count, g.const(np.int64(len(xp)))), hi, held)


def text_slots(g: Graph, column: CategoricalColumn, x: str) -> str:
    """Each text's slot [N, 1] int64, as CategoricalColumn.codes (ai.onnx.ml LabelEncoder): a
    gap to (missing), an unseen text (the literal slot names too) to (other); -1 (no input)
    without that slot. Embedded, a gap without a (missing) slot reads as (other)."""
    index = {level: i for i, level in enumerate(column.levels)}
    other = index.get(OTHER_LEVEL, -1)
    gap = index.get(MISSING_LEVEL, other if column.embedded else -1)
    if column.binary:
        other = gap = -1
    levels = [v for v in column.levels if v not in (MISSING_LEVEL, OTHER_LEVEL)]
    keys = levels + list(MISSING_TEXTS)
    values = [index[v] for v in levels] + [gap] * len(MISSING_TEXTS)
    return g.op(
        "LabelEncoder",
        x,
        domain="ai.onnx.ml",
        keys_strings=keys,
        values_int64s=values,
        default_int64=other,
    )
