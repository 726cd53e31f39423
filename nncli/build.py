"""The one place that knows both the config classes and the engine: Config -> engine objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nncli.config import network as M
from nncli.config import sections as C
from nncli.data.encoders import CategoricalColumn
from nncli.data.features import FeatureSet
from nncli.engine.activations import make_activation
from nncli.engine.base import Layer, Sequential
from nncli.engine.embedding import Embedding, InputBlock
from nncli.engine.head import LOSSES, Head
from nncli.engine.initializers import INITIALIZERS
from nncli.engine.layers import BatchNorm, Dense, Dropout, LayerNorm, Residual
from nncli.engine.optimizers import OPTIMIZERS, Optimizer
from nncli.engine.schedules import SCHEDULES, Schedule
from nncli.errors import ConfigError


@dataclass(frozen=True)
class OutputInfo:
    """What the data decides about the output layer: its width, activation and loss."""

    task: str  # "classification" | "regression"
    n_outputs: int  # classes (softmax), 1 (sigmoid, binary) or targets (regression)
    activation: dict[str, Any]
    loss: dict[str, Any]


def output_info(config: C.Config, task: str, n_classes: int, n_targets: int) -> OutputInfo:
    """Resolve `auto` output activation and loss, and refuse pairs that cannot work."""
    spec = config.model.output.activation
    activation = _spec_dict(spec) if spec != "auto" else None
    loss = _spec_dict(config.loss) if config.loss != "auto" else None
    if task == "classification":
        if activation is None:
            activation = {"name": "sigmoid" if n_classes == 2 else "softmax"}
        name = activation["name"]
        if name == "sigmoid" and n_classes != 2:
            raise ConfigError(
                "model.output.activation: sigmoid needs exactly 2 classes, "
                f"the data has {n_classes} (use softmax)"
            )
        if name not in ("softmax", "sigmoid"):
            raise ConfigError(
                f"model.output.activation: '{name}' cannot output class probabilities; "
                "use softmax or sigmoid (binary)"
            )
        expected = "cross_entropy" if name == "softmax" else "binary_cross_entropy"
        loss = loss or {"name": expected}
        if loss["name"] != expected:
            raise ConfigError(
                f"loss: '{loss['name']}' does not fit a {name} output; use {expected}"
            )
        width = n_classes if name == "softmax" else 1
    else:
        activation = activation or {"name": "linear"}
        loss = loss or {"name": "mse"}
        if loss["name"] not in ("mse", "mae", "huber"):
            raise ConfigError(
                f"loss: '{loss['name']}' is for classification; use mse, mae or huber"
            )
        if activation["name"] == "softmax":
            raise ConfigError("model.output.activation: softmax is for classification")
        width = n_targets
    return OutputInfo(task, width, activation, loss)


# Numbers a network may hold: 400 MB of float32 weights, as much again for the gradients and
# twice that for Adam's moments; a wider network is a typo more often than a plan.
MAX_STATE = 100_000_000

# An embedded text column: (its input's position, its levels, the embedding's width).
Embedded = tuple[int, int, int]


def input_embeddings(columns: FeatureSet) -> list[Embedded]:
    """The embedded columns of a model's inputs, for build_network and count_state."""
    found, position = [], 0
    for column in columns.columns:
        if isinstance(column, CategoricalColumn) and column.embedded:
            found.append((position, len(column.levels), column.embedding_dim))
        position += len(column.inputs)
    return found


def build_network(
    config: C.Config,
    n_inputs: int,
    out: OutputInfo,
    init_rng: np.random.Generator,
    dropout_rng: np.random.Generator,
    dtype: np.dtype,
    embeddings: Sequence[Embedded] = (),
) -> Sequential:
    """Hidden layers as `layers.<i>`, then the output dense layer as `output` (ends at logits).
    With embedded columns an InputBlock comes first, as `embeddings.<k>`; its tables are drawn
    last from init_rng (N(0, 1), torch.nn.Embedding's init), so the draws of a network without
    them are as they always were."""
    size = count_state(config, n_inputs, out.n_outputs, embeddings)
    if size > MAX_STATE:
        raise ConfigError(
            f"model: the network would hold {size:,} parameters and buffers (limit "
            f"{MAX_STATE:,}); use fewer or narrower layers"
        )
    builder = _NetworkBuilder(config.model, init_rng, dropout_rng, dtype)
    width = n_inputs + sum(dim - 1 for _, _, dim in embeddings)
    hidden, width = builder.sequence(config.model.layers, width)
    output = builder.dense(width, out.n_outputs, _spec_dict(config.model.output.init))
    if not embeddings:
        return Sequential([hidden, output], names=["layers", "output"])
    tables = [
        Embedding(init_rng.standard_normal((levels, dim)).astype(dtype))
        for _, levels, dim in embeddings
    ]
    block = InputBlock([position for position, _, _ in embeddings], tables)
    return Sequential([block, hidden, output], names=["embeddings", "layers", "output"])


def build_head(out: OutputInfo, class_weights: np.ndarray | None) -> Head:
    options = {k: v for k, v in out.loss.items() if k not in ("name", "class_weights")}
    if out.loss["name"] in ("cross_entropy", "binary_cross_entropy"):
        options["weight"] = None if class_weights is None else class_weights.tolist()
    return Head(make_activation(**out.activation), LOSSES[out.loss["name"]](**options))


def class_weights_for(
    out: OutputInfo, classes: list[str], y_train: np.ndarray
) -> np.ndarray | None:
    """`balanced` (n / (k * count)) or a label -> weight mapping, as an array in class order."""
    setting = out.loss.get("class_weights")
    if setting is None:
        return None
    if setting == "balanced":
        counts = np.bincount(y_train, minlength=len(classes)).astype(np.float64)
        return len(y_train) / (len(classes) * np.maximum(counts, 1.0))
    unknown = sorted(set(setting) - set(classes))
    if unknown:
        raise ConfigError(
            f"loss.class_weights: unknown class label(s) {unknown}; the classes are {classes}"
        )
    return np.array([float(setting.get(label, 1.0)) for label in classes])


def build_optimizer(config: C.Config) -> Optimizer:
    options = config.optimizer.model_dump(exclude={"type", "lr"})
    return OPTIMIZERS[config.optimizer.type](config.optimizer.lr, **options)


def build_schedule(config: C.Config) -> Schedule:
    spec = config.schedule or C.ConstantSchedule(type="constant")
    options = spec.model_dump(exclude={"type", "warmup_epochs", "monitor", "mode"})
    if isinstance(spec, C.PlateauSchedule):
        options["mode"] = monitor_mode(spec.monitor, spec.mode)
    return SCHEDULES[spec.type](
        config.optimizer.lr, config.training.epochs, spec.warmup_epochs, **options
    )


def monitor_mode(monitor: str, mode: str) -> str:
    from nncli.engine.metrics import metric_mode

    return metric_mode(monitor) if mode == "auto" else mode


def _spec_dict(spec: Any) -> dict[str, Any]:
    return {k: v for k, v in spec.model_dump().items() if v is not None}


class _NetworkBuilder:
    def __init__(
        self,
        model: M.ModelConfig,
        init_rng: np.random.Generator,
        dropout_rng: np.random.Generator,
        dtype: np.dtype,
    ) -> None:
        self.model = model
        self.init_rng = init_rng
        self.dropout_rng = dropout_rng
        self.dtype = dtype

    def sequence(self, specs: list[Any], width: int) -> tuple[Sequential, int]:
        layers = []
        for spec in specs:
            layer, width = self.entry(spec, width)
            layers.append(layer)
        return Sequential(layers), width

    def dense(self, n_in: int, n_out: int, init: dict[str, Any]) -> Dense:
        options = {k: v for k, v in init.items() if k != "name"}
        weight = INITIALIZERS[init["name"]]((n_in, n_out), self.init_rng, self.dtype, **options)
        return Dense(weight, np.zeros(n_out, dtype=self.dtype))

    def entry(self, spec: Any, width: int) -> tuple[Layer, int]:
        if isinstance(spec, M.DenseLayer):
            dense = self.dense(width, spec.units, _spec_dict(spec.init))
            activation = make_activation(**_spec_dict(spec.activation))
            return Sequential([dense, activation], names=["", ""]), spec.units
        if isinstance(spec, M.BatchNormLayer):
            return BatchNorm(width, momentum=spec.momentum, eps=spec.eps, dtype=self.dtype), width
        if isinstance(spec, M.LayerNormLayer):
            return LayerNorm(width, eps=spec.eps, dtype=self.dtype), width
        if isinstance(spec, M.DropoutLayer):
            return Dropout(spec.rate, self.dropout_rng), width
        if isinstance(spec, M.ActivationLayer):
            return make_activation(**spec.spec()), width
        if isinstance(spec, M.ResidualLayer):
            body, out_width = self.sequence(spec.layers, width)
            projection = None
            if out_width != width:
                projection = self.dense(width, out_width, _spec_dict(self.model.init))
            return Residual(body, projection), out_width
        raise AssertionError(f"unhandled layer spec {spec!r}")


def count_state(
    config: C.Config, n_inputs: int, n_outputs: int, embeddings: Sequence[Embedded] = ()
) -> int:
    """How many numbers build_network's state_arrays hold (parameters and buffers), without
    building: a checkpoint whose config claims a huge network is refused before allocating.
    Mirrors _NetworkBuilder; a test keeps the two equal.
    """

    def sequence(specs: list[Any], width: int) -> tuple[int, int]:
        total = 0
        for spec in specs:
            n, width = entry(spec, width)
            total += n
        return total, width

    def entry(spec: Any, width: int) -> tuple[int, int]:
        if isinstance(spec, M.DenseLayer):
            return width * spec.units + spec.units, spec.units
        if isinstance(spec, M.BatchNormLayer):
            return 4 * width, width  # gamma, beta, running mean and variance
        if isinstance(spec, M.LayerNormLayer):
            return 2 * width, width
        if isinstance(spec, M.ResidualLayer):
            n, out = sequence(spec.layers, width)
            return n + (width * out + out if out != width else 0), out
        return 0, width

    tables = sum(levels * dim for _, levels, dim in embeddings)
    total, width = sequence(config.model.layers, n_inputs + sum(d - 1 for _, _, d in embeddings))
    return tables + total + width * n_outputs + n_outputs
