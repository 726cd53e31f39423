"""A trained model as one ONNX file: raw columns in, labels and probabilities out, with the
imputation, vocabulary lookup, scaling, network and output decoding inside (opset 17)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nncli.data.encoders import CategoricalColumn, NumericColumn
from nncli.data.preprocess import Preprocessor
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
from nncli.export.graph import Graph, text_slots, to_normal

# onnxruntime 1.x runs opset 17 everywhere (LayerNormalization exists, ReduceMean still takes
# axes as an attribute); the graph uses plain ops only, so older runtimes read it too.
OPSET = 17
ML_OPSET = 2  # ai.onnx.ml: LabelEncoder (text -> slot) with string keys and int64 values
INSTALL_HINT = "pip install 'nncli[onnx]'"


class ExportError(NncliError):
    """A model, path or environment that cannot give an ONNX file."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    return onnx


def _numeric(g: Graph, column: NumericColumn, x: str) -> list[str]:
    """Raw inputs of a number: the value with gaps filled, then its 0/1 gap flag."""
    gaps = g.op("IsNaN", x)
    filled = g.op("Where", gaps, g.const(np.full((1, 1), column.fill)), x)
    if column.scale == "quantile":
        filled = to_normal(g, filled, column.quantiles)
    if not column.indicator:
        return [filled]
    return [filled, g.op("Cast", gaps, to=g.onnx.TensorProto.FLOAT)]


def _categorical(g: Graph, column: CategoricalColumn, x: str) -> str:
    """The column's one-hot rows [N, levels] (binary: one 0/1 column for the second level)."""
    codes = text_slots(g, column, x)
    slots = np.array([[1]] if column.binary else [np.arange(len(column.levels))], dtype=np.int64)
    return g.op("Cast", g.op("Equal", codes, g.const(slots)), to=g.onnx.TensorProto.FLOAT)


def _inputs(g: Graph, prep: Preprocessor, embeddings: dict[int, np.ndarray]) -> tuple[list, str]:
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


def _activation(g: Graph, layer: Layer, x: str) -> str:
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


def _layer(g: Graph, layer: Layer, x: str) -> str:
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


def _affine(g: Graph, layer: Layer, xhat: str) -> str:
    scaled = g.op("Mul", xhat, g.const(layer.params["gamma"], "gamma"))
    return g.op("Add", scaled, g.const(layer.params["beta"], "beta"))


def _outputs(g: Graph, model: Any, head_out: str) -> list[Any]:
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
    g = Graph(onnx)
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
