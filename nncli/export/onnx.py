"""A trained model as one ONNX file: raw columns in, labels and probabilities out, with the
imputation, vocabulary lookup, scaling, network and output decoding inside (opset 17)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nncli.data.encoders import MISSING_LEVEL, OTHER_LEVEL, CategoricalColumn, NumericColumn
from nncli.data.preprocess import Preprocessor
from nncli.data.quantile import ACKLAM, CLIP
from nncli.engine.activations import (
    ELU,
    GELU,
    SELU,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from nncli.engine.base import Layer, Sequential
from nncli.engine.embedding import InputBlock
from nncli.engine.layers import BatchNorm, Dense, Dropout, LayerNorm, Residual
from nncli.errors import NncliError

# onnxruntime 1.x runs opset 17 everywhere (LayerNormalization exists, ReduceMean still takes
# axes as an attribute); the graph uses plain ops only, so older runtimes read it too.
OPSET = 17
ML_OPSET = 2  # ai.onnx.ml: LabelEncoder (text -> slot) with string keys and int64 values
INSTALL_HINT = "pip install 'nncli[onnx]'"
# A text is missing when it is one of these (nncli reads them case-insensitively; ONNX has no
# lowercase for an [N, 1] tensor, so the usual spellings are listed).
MISSING_TEXTS = ("", "na", "NA", "Na", "n/a", "N/A", "nan", "NaN", "NAN", "null", "NULL", "Null")


class ExportError(NncliError):
    """A model, path or environment that cannot give an ONNX file."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    return onnx


class _Graph:
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


def _numeric(g: _Graph, column: NumericColumn, x: str) -> list[str]:
    """Raw inputs of a number: the value with gaps filled, then its 0/1 gap flag."""
    gaps = g.op("IsNaN", x)
    filled = g.op("Where", gaps, g.const(np.full((1, 1), column.fill)), x)
    if column.scale == "quantile":
        filled = _to_normal(g, filled, column.quantiles)
    if not column.indicator:
        return [filled]
    return [filled, g.op("Cast", gaps, to=g.onnx.TensorProto.FLOAT)]


def _to_normal(g: _Graph, x: str, quantiles: list[float]) -> str:
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


def _double(g: _Graph, value: float) -> str:
    return g.const(np.float64(value), double=True)


def _horner(g: _Graph, x: str, coeffs: tuple[float, ...]) -> str:
    out = _double(g, coeffs[0])
    for coeff in coeffs[1:]:
        out = g.op("Add", g.op("Mul", out, x), _double(g, coeff))
    return out


def _interp(g: _Graph, x: str, xp: np.ndarray, fp: np.ndarray) -> str:
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


def _codes(g: _Graph, column: CategoricalColumn, x: str) -> str:
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


def _categorical(g: _Graph, column: CategoricalColumn, x: str) -> str:
    """The column's one-hot rows [N, levels] (binary: one 0/1 column for the second level)."""
    codes = _codes(g, column, x)
    slots = np.array([[1]] if column.binary else [np.arange(len(column.levels))], dtype=np.int64)
    return g.op("Cast", g.op("Equal", codes, g.const(slots)), to=g.onnx.TensorProto.FLOAT)


def _inputs(g: _Graph, prep: Preprocessor, embeddings: dict[int, np.ndarray]) -> tuple[list, str]:
    """Graph inputs (one per column) and the first layer's input: the scaled raw inputs, then
    each embedded column's table row (one-hot @ table: the lookup, exact)."""
    helper, tp = g.helper, g.onnx.TensorProto
    graph_inputs, parts, embedded = [], [], []
    keep: list[int] = []
    position = 0
    for column in prep.columns.columns:
        numeric = isinstance(column, NumericColumn)
        kind = tp.FLOAT if numeric else tp.STRING
        graph_inputs.append(helper.make_tensor_value_info(column.name, kind, ["N", 1]))
        if isinstance(column, NumericColumn):
            parts += _numeric(g, column, column.name)
            keep += [position + k for k in range(len(column.inputs))]
        elif column.embedded:
            onehot = _categorical(g, column, column.name)
            embedded.append(g.op("MatMul", onehot, g.const(embeddings[position], "embedding")))
        else:
            parts.append(_categorical(g, column, column.name))
            keep += [position + k for k in range(len(column.inputs))]
        position += len(column.inputs)
    scaled: list[str] = []
    if parts:
        raw = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)
        # in float64, as nncli scales: a year's offset (2008.03) in float32 is 6e-5 off
        offset = g.const(prep.x_offset[keep].reshape(1, -1), "x_offset", double=True)
        scale = g.const(prep.x_scale[keep].reshape(1, -1), "x_scale", double=True)
        wide = g.op("Cast", raw, to=g.onnx.TensorProto.DOUBLE)
        narrow = g.op("Div", g.op("Sub", wide, offset), scale)
        scaled.append(g.op("Cast", narrow, to=g.onnx.TensorProto.FLOAT))
    pieces = scaled + embedded
    return graph_inputs, pieces[0] if len(pieces) == 1 else g.op("Concat", *pieces, axis=1)


def _activation(g: _Graph, layer: Layer, x: str) -> str:
    if isinstance(layer, ReLU):
        return g.op("Relu", x)
    if isinstance(layer, LeakyReLU):
        return g.op("LeakyRelu", x, alpha=layer.alpha)
    if isinstance(layer, SELU):  # before ELU: a SELU is an ELU
        return g.op("Mul", g.op("Elu", x, alpha=layer.alpha), g.const(np.float32(layer._scale)))
    if isinstance(layer, ELU):
        return g.op("Elu", x, alpha=layer.alpha)
    if isinstance(layer, GELU):
        half_x = g.op("Mul", x, g.const(np.float32(0.5)))
        if layer.approximate == "tanh":
            cube = g.op("Mul", g.op("Mul", x, x), x)
            inner = g.op("Add", x, g.op("Mul", cube, g.const(np.float32(GELU._TANH_C))))
            t = g.op("Tanh", g.op("Mul", inner, g.const(np.float32(GELU._TANH_K))))
        else:
            t = g.op("Erf", g.op("Mul", x, g.const(np.float32(math.sqrt(0.5)))))
        return g.op("Mul", half_x, g.op("Add", t, g.const(np.float32(1.0))))
    if isinstance(layer, Sigmoid):
        return g.op("Sigmoid", x)
    if isinstance(layer, Tanh):
        return g.op("Tanh", x)
    if isinstance(layer, Softplus):
        limit = g.const(np.float32(layer.threshold))
        soft = g.op("Softplus", g.op("Min", x, limit))
        return g.op("Where", g.op("Greater", x, limit), x, soft)
    if isinstance(layer, SiLU):
        return g.op("Mul", x, g.op("Sigmoid", x))
    if isinstance(layer, Softmax):
        return g.op("Softmax", x, axis=1)
    if isinstance(layer, Linear):
        return x
    raise ExportError(f"ONNX export does not know the layer {layer!r}")


def _layer(g: _Graph, layer: Layer, x: str) -> str:
    """One engine layer in inference mode (dropout is the identity there)."""
    if isinstance(layer, Sequential):
        for _, child in layer.children:
            x = _layer(g, child, x)
        return x
    if isinstance(layer, Dense):
        product = g.op("MatMul", x, g.const(layer.params["weight"], "weight"))
        return g.op("Add", product, g.const(layer.params["bias"], "bias"))
    if isinstance(layer, Dropout):
        return x
    if isinstance(layer, BatchNorm):
        mean, running_var = layer.buffers["running_mean"], layer.buffers["running_var"]
        scale = (1.0 / np.sqrt(running_var + layer.eps)).astype(np.float32)
        return _affine(g, layer, g.op("Mul", g.op("Sub", x, g.const(mean)), g.const(scale)))
    if isinstance(layer, LayerNorm):
        centered = g.op("Sub", x, g.op("ReduceMean", x, axes=[1], keepdims=1))
        var = g.op("ReduceMean", g.op("Mul", centered, centered), axes=[1], keepdims=1)
        eps = g.const(np.float32(layer.eps))
        inv_std = g.op("Reciprocal", g.op("Sqrt", g.op("Add", var, eps)))
        return _affine(g, layer, g.op("Mul", centered, inv_std))
    if isinstance(layer, Residual):
        skip = x if layer.projection is None else _layer(g, layer.projection, x)
        return g.op("Add", _layer(g, layer.body, x), skip)
    return _activation(g, layer, x)


def _affine(g: _Graph, layer: Layer, xhat: str) -> str:
    scaled = g.op("Mul", xhat, g.const(layer.params["gamma"], "gamma"))
    return g.op("Add", scaled, g.const(layer.params["beta"], "beta"))


def _outputs(g: _Graph, model: Any, head_out: str) -> list[Any]:
    """`probabilities` [N, classes] and `label` [N, 1] (class text), or `label` [N, targets]
    (values in the targets' units) for regression."""
    helper, tp, prep = g.helper, g.onnx.TensorProto, model.prep
    if prep.classes is None:
        wide = g.op("Cast", head_out, to=tp.DOUBLE)  # in float64, as decode_y
        values = g.op("Mul", wide, g.const(prep.y_scale.reshape(1, -1), "y_scale", double=True))
        values = g.op("Add", values, g.const(prep.y_offset.reshape(1, -1), double=True))
        g.nodes.append(helper.make_node("Cast", [values], ["label"], to=tp.FLOAT))
        return [helper.make_tensor_value_info("label", tp.FLOAT, ["N", len(prep.targets)])]
    k = len(prep.classes)
    if model.out.n_outputs == 1:  # sigmoid head: p(positive) -> both columns
        negative = g.op("Sub", g.const(np.float32(1.0)), head_out)
        g.nodes.append(helper.make_node("Concat", [negative, head_out], ["probabilities"], axis=1))
    else:
        g.nodes.append(helper.make_node("Identity", [head_out], ["probabilities"]))
    index = g.op("ArgMax", "probabilities", axis=1, keepdims=1)
    classes = g.const(np.array(prep.classes, dtype=object), "classes")
    g.nodes.append(helper.make_node("Gather", [classes, index], ["label"], axis=0))
    return [
        helper.make_tensor_value_info("label", tp.STRING, ["N", 1]),
        helper.make_tensor_value_info("probabilities", tp.FLOAT, ["N", k]),
    ]


def _metadata(model: Any) -> dict[str, str]:
    version = sys.modules["nncli"].__version__  # the package, imported first; no import cycle
    prep = model.prep
    features = [
        {"name": c.name, "type": "number" if isinstance(c, NumericColumn) else "text"}
        for c in prep.columns.columns
    ]
    return {
        "nncli_version": version,
        "task": prep.task,
        "features": json.dumps(features),
        "classes": json.dumps(prep.classes),
        "targets": json.dumps(prep.targets),
        "opset": str(OPSET),
    }


def build_onnx(model: Any) -> Any:
    """The ModelProto of a Model (store.model.Model: network, head, prep, out)."""
    onnx = _onnx()
    prep = model.prep
    g = _Graph(onnx)
    network: Sequential = model.network
    children = [layer for _, layer in network.children]
    embeddings: dict[int, np.ndarray] = {}
    first = children[0] if children else None
    if isinstance(first, InputBlock):
        children.pop(0)
        for position, table in zip(first.positions, first.embeddings, strict=True):
            embeddings[position] = table.params["weight"]
    graph_inputs, x = _inputs(g, prep, embeddings)
    for layer in children:
        x = _layer(g, layer, x)
    head_out = _activation(g, model.head.activation, x)
    graph_outputs = _outputs(g, model, head_out)
    graph = onnx.helper.make_graph(g.nodes, "nncli", graph_inputs, graph_outputs, g.inits)
    proto = onnx.helper.make_model(
        graph,
        opset_imports=[
            onnx.helper.make_opsetid("", OPSET),
            onnx.helper.make_opsetid("ai.onnx.ml", ML_OPSET),
        ],
        producer_name="nncli",
        ir_version=8,
    )
    onnx.helper.set_model_props(proto, _metadata(model))
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model: Any, path: str | Path, force: bool = False) -> Path:
    """Write model to path as ONNX; an existing file only with force."""
    target = Path(path)
    if target.exists() and not force:
        raise ExportError(f"{target} exists; pass --force to overwrite it")
    proto = build_onnx(model)
    target.write_bytes(proto.SerializeToString())
    return target


def op_types(model: Any) -> list[str]:
    """The distinct ONNX operators the model's graph uses (for reports)."""
    return sorted({node.op_type for node in build_onnx(model).graph.node})
