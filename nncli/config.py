"""The config schema: one frozen pydantic model per section, unknown keys forbidden."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    model_validator,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _named(value: Any) -> Any:
    """Let a bare string stand for `{name: <string>}` (activations, inits, losses)."""
    return {"name": value} if isinstance(value, str) else value


Named = BeforeValidator(_named)


def _auto_or_named(value: Any) -> Any:
    return value if value == "auto" else _named(value)


AutoOrNamed = BeforeValidator(_auto_or_named)


# --- activations -------------------------------------------------------------------------------

PLAIN_ACTIVATIONS = ("relu", "selu", "sigmoid", "tanh", "softplus", "silu", "softmax", "linear")


class PlainActivation(Strict):
    name: Literal["relu", "selu", "sigmoid", "tanh", "softplus", "silu", "softmax", "linear"]


class LeakyReluActivation(Strict):
    name: Literal["leaky_relu"]
    alpha: float = Field(0.01, description="slope for negative inputs")


class EluActivation(Strict):
    name: Literal["elu"]
    alpha: float = Field(1.0, description="saturation value for negative inputs")


class GeluActivation(Strict):
    name: Literal["gelu"]
    approximate: Literal["none", "tanh"] = Field("none", description="none: exact erf form")


ActivationSpec = Annotated[
    PlainActivation | LeakyReluActivation | EluActivation | GeluActivation,
    Field(discriminator="name"),
]
ACTIVATION_NAMES = (*PLAIN_ACTIVATIONS, "leaky_relu", "elu", "gelu")


# --- initializers ------------------------------------------------------------------------------

INIT_NAMES = (
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "glorot_normal",
    "glorot_uniform",
    "lecun_normal",
    "lecun_uniform",
    "zeros",
    "orthogonal",
    "normal",
    "uniform",
)


class PlainInit(Strict):
    name: Literal[
        "he_normal",
        "he_uniform",
        "xavier_normal",
        "xavier_uniform",
        "glorot_normal",
        "glorot_uniform",
        "lecun_normal",
        "lecun_uniform",
        "zeros",
    ]


class OrthogonalInit(Strict):
    name: Literal["orthogonal"]
    gain: float = 1.0


class NormalInit(Strict):
    name: Literal["normal"]
    std: PositiveFloat = 0.05


class UniformInit(Strict):
    name: Literal["uniform"]
    limit: PositiveFloat = 0.05


InitSpec = Annotated[
    PlainInit | OrthogonalInit | NormalInit | UniformInit, Field(discriminator="name")
]


# --- layers ------------------------------------------------------------------------------------


class DenseLayer(Strict):
    type: Literal["dense"]
    units: PositiveInt
    activation: Annotated[ActivationSpec | None, Named] = Field(
        None, description="null: model.activation"
    )
    init: Annotated[InitSpec | None, Named] = Field(None, description="null: model.init")


class BatchNormLayer(Strict):
    type: Literal["batchnorm"]
    momentum: float = Field(0.1, gt=0, le=1, description="PyTorch convention")
    eps: PositiveFloat = 1e-5


class LayerNormLayer(Strict):
    type: Literal["layernorm"]
    eps: PositiveFloat = 1e-5


class DropoutLayer(Strict):
    type: Literal["dropout"]
    rate: float = Field(0.5, ge=0, lt=1)


class ActivationLayer(Strict):
    """`{type: activation, name: relu}`; options sit beside the name."""

    type: Literal["activation"]
    name: Literal[ACTIVATION_NAMES]  # type: ignore[valid-type]
    alpha: float | None = None
    approximate: Literal["none", "tanh"] | None = None

    @model_validator(mode="after")
    def _options_fit_name(self) -> ActivationLayer:
        if self.alpha is not None and self.name not in ("leaky_relu", "elu"):
            raise ValueError(f"'alpha' is an option of leaky_relu and elu, not {self.name}")
        if self.approximate is not None and self.name != "gelu":
            raise ValueError(f"'approximate' is an option of gelu, not {self.name}")
        return self

    def spec(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"type"}).items() if v is not None}


class ResidualLayer(Strict):
    type: Literal["residual"]
    layers: list[LayerSpec] = Field(min_length=1)


LayerSpec = Annotated[
    DenseLayer | BatchNormLayer | LayerNormLayer | DropoutLayer | ActivationLayer | ResidualLayer,
    Field(discriminator="type"),
]
ResidualLayer.model_rebuild()


# --- model, loss, optimizer, schedule, training, data -------------------------------------------


class OutputConfig(Strict):
    activation: Annotated[Literal["auto"] | ActivationSpec, BeforeValidator(_auto_or_named)] = (
        Field(
            "auto", description="auto: softmax (multi-class), sigmoid (binary), linear (regression)"
        )
    )
    init: Annotated[InitSpec, Named] = "xavier_uniform"


class ModelConfig(Strict):
    init: Annotated[InitSpec, Named] = Field("he_normal", description="default dense weight init")
    activation: Annotated[ActivationSpec, Named] = Field(
        "relu", description="default activation of hidden dense layers"
    )
    layers: list[LayerSpec] = Field(
        default_factory=lambda: [{"type": "dense", "units": 64}],
        description="hidden layers; the output layer is added for you",
    )
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _fill_dense_defaults(self) -> ModelConfig:
        """Write model.activation/init into every dense layer that left them out."""
        object.__setattr__(self, "layers", [self._filled(layer) for layer in self.layers])
        return self

    def _filled(self, layer: Any) -> Any:
        if isinstance(layer, DenseLayer):
            return layer.model_copy(
                update={
                    "activation": layer.activation or self.activation,
                    "init": layer.init or self.init,
                }
            )
        if isinstance(layer, ResidualLayer):
            return layer.model_copy(update={"layers": [self._filled(x) for x in layer.layers]})
        return layer


class CrossEntropyLoss(Strict):
    name: Literal["cross_entropy"]
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    class_weights: Literal["balanced"] | dict[str, PositiveFloat] | None = Field(
        None, description="balanced, or a mapping label -> weight"
    )


class BinaryCrossEntropyLoss(Strict):
    name: Literal["binary_cross_entropy"]
    class_weights: Literal["balanced"] | dict[str, PositiveFloat] | None = None


class RegressionLoss(Strict):
    name: Literal["mse", "mae"]


class HuberLoss(Strict):
    name: Literal["huber"]
    delta: PositiveFloat = 1.0


LossSpec = Annotated[
    CrossEntropyLoss | BinaryCrossEntropyLoss | RegressionLoss | HuberLoss,
    Field(discriminator="name"),
]


class SGDConfig(Strict):
    type: Literal["sgd"]
    lr: PositiveFloat = 0.01
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGDConfig:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


class AdamConfig(Strict):
    type: Literal["adam"]
    lr: PositiveFloat = 0.001
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: PositiveFloat = 1e-8
    weight_decay: float = Field(0.0, ge=0)


class AdamWConfig(AdamConfig):
    type: Literal["adamw"]  # type: ignore[assignment]
    weight_decay: float = Field(0.01, ge=0, description="decoupled: W -= lr * wd * W")


class RMSpropConfig(Strict):
    type: Literal["rmsprop"]
    lr: PositiveFloat = 0.01
    rho: float = Field(0.99, ge=0, lt=1)
    eps: PositiveFloat = 1e-8
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)


class AdagradConfig(Strict):
    type: Literal["adagrad"]
    lr: PositiveFloat = 0.01
    eps: PositiveFloat = 1e-10
    weight_decay: float = Field(0.0, ge=0)


OptimizerSpec = Annotated[
    SGDConfig | AdamConfig | AdamWConfig | RMSpropConfig | AdagradConfig,
    Field(discriminator="type"),
]


class ScheduleBase(Strict):
    warmup_epochs: int = Field(0, ge=0, description="linear warm-up epochs before the schedule")


class ConstantSchedule(ScheduleBase):
    type: Literal["constant"]


class StepSchedule(ScheduleBase):
    type: Literal["step"]
    step_size: PositiveInt = 10
    gamma: PositiveFloat = 0.1


class ExponentialSchedule(ScheduleBase):
    type: Literal["exponential"]
    gamma: PositiveFloat = 0.95


class CosineSchedule(ScheduleBase):
    type: Literal["cosine"]
    t_max: PositiveInt | None = Field(None, description="null: the epochs after warm-up")
    min_lr: float = Field(0.0, ge=0)


class PlateauSchedule(ScheduleBase):
    type: Literal["plateau"]
    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(10, ge=0)
    min_lr: float = Field(0.0, ge=0)


ScheduleSpec = Annotated[
    ConstantSchedule | StepSchedule | ExponentialSchedule | CosineSchedule | PlateauSchedule,
    Field(discriminator="type"),
]


class EarlyStoppingConfig(Strict):
    monitor: str = Field("val_loss", description="any logged metric")
    mode: Literal["auto", "min", "max"] = "auto"
    patience: int = Field(10, ge=1)
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = True


class CheckpointConfig(Strict):
    every: int = Field(0, ge=0, description="also keep a checkpoint every N epochs (0: off)")


class TrainingConfig(Strict):
    epochs: int = Field(100, ge=0)
    batch_size: PositiveInt = 32
    shuffle: bool = True
    grad_clip: PositiveFloat | None = Field(None, description="max global gradient norm")
    dtype: Literal["float32", "float64"] = "float32"
    early_stopping: EarlyStoppingConfig | None = None
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)


class DataConfig(Strict):
    train: str = Field(description="training CSV, relative to the config file")
    validation: Annotated[float, Field(gt=0, lt=1)] | str | None = Field(
        0.2, description="fraction held out of train, a CSV path, or null"
    )
    test: str | None = None
    target: str | list[str] = Field(
        description="target column (a list: several regression targets)"
    )
    features: list[str] | None = Field(None, description="null: every other column")
    task: Literal["auto", "classification", "regression"] = "auto"
    scale: Literal["standard", "minmax", "none"] = "standard"
    scale_target: bool = True
    delimiter: str = Field(",", min_length=1, max_length=1)


class Config(Strict):
    name: str | None = Field(None, description="run name (default: the config file's stem)")
    seed: int = Field(0, ge=0)
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: Annotated[Literal["auto"] | LossSpec, AutoOrNamed] = "auto"
    optimizer: OptimizerSpec = Field(default_factory=lambda: AdamConfig(type="adam"))
    schedule: ScheduleSpec | None = None
    training: TrainingConfig = Field(default_factory=TrainingConfig)
