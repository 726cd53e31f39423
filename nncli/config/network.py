"""The model section of the config: hidden layer entries, the output layer, their defaults."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from nncli.config.base import (
    ACTIVATION_NAMES,
    ActivationSpec,
    Float,
    InitSpec,
    NamedActivation,
    NamedInit,
    PositiveFloat,
    PositiveInt,
    Strict,
    named,
)

# A wider layer is a typo or a memory error: 1_000_000 x 1_000_000 float32 weights are 4 TB.
MAX_UNITS = 1_000_000

# --- layers ------------------------------------------------------------------------------------


class DenseLayer(Strict):
    """Fully connected layer y = x @ W + b, followed by its activation."""

    type: Literal["dense"] = Field(description="layer type")
    units: PositiveInt = Field(le=MAX_UNITS, description="output width")
    activation: Annotated[ActivationSpec, NamedActivation] | None = Field(
        None, description="null: model.activation"
    )
    init: Annotated[InitSpec, NamedInit] | None = Field(
        None, description="weight initializer; null: model.init (biases start at zero)"
    )


class BatchNormLayer(Strict):
    """Batch normalization over the batch, with running statistics for inference."""

    type: Literal["batchnorm"] = Field(description="layer type")
    momentum: Float = Field(
        0.1, gt=0, le=1, description="running-statistics update weight (PyTorch convention)"
    )
    eps: PositiveFloat = Field(1e-5, description="added to the variance")


class LayerNormLayer(Strict):
    """Layer normalization over the features of each row."""

    type: Literal["layernorm"] = Field(description="layer type")
    eps: PositiveFloat = Field(1e-5, description="added to the variance")


class DropoutLayer(Strict):
    """Zeroes a random fraction of the inputs in training (inverted dropout)."""

    type: Literal["dropout"] = Field(description="layer type")
    rate: Float = Field(0.5, ge=0, lt=1, description="fraction of inputs zeroed in training")


class ActivationLayer(Strict):
    """`{type: activation, name: relu}`; options sit beside the name."""

    type: Literal["activation"] = Field(description="layer type")
    name: Literal[ACTIVATION_NAMES] = Field(  # type: ignore[valid-type]
        description="activation function"
    )
    alpha: Float | None = Field(None, description="leaky_relu and elu only; null: their default")
    approximate: Literal["none", "tanh"] | None = Field(
        None, description="gelu only; null: exact (none)"
    )

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
    """out = x + f(x); a dense projection of x is added when f changes the width."""

    type: Literal["residual"] = Field(description="layer type")
    layers: list[LayerSpec] = Field(min_length=1, description="the layers of f")


LayerSpec = Annotated[
    DenseLayer | BatchNormLayer | LayerNormLayer | DropoutLayer | ActivationLayer | ResidualLayer,
    Field(discriminator="type"),
]
ResidualLayer.model_rebuild()

# --- model -------------------------------------------------------------------------------------


class OutputConfig(Strict):
    """The output dense layer; its width comes from the data (classes or targets)."""

    activation: Annotated[
        Literal["auto"] | ActivationSpec, named(ActivationSpec, *ACTIVATION_NAMES, auto=True)
    ] = Field(
        "auto", description="auto: softmax (multi-class), sigmoid (binary), linear (regression)"
    )
    # A default written as in YAML (a bare name) is validated into its spec: restating
    # Strict's validate_default=True lets the type checker take it for the spec's input.
    init: Annotated[InitSpec, NamedInit] = Field(
        "xavier_uniform",
        validate_default=True,
        description="weight initializer of the output layer",
    )


class ModelConfig(Strict):
    """The network: hidden layers in order, then the output layer."""

    init: Annotated[InitSpec, NamedInit] = Field(
        "he_normal",
        validate_default=True,
        description="default weight initializer of hidden dense layers",
    )
    activation: Annotated[ActivationSpec, NamedActivation] = Field(
        "relu", validate_default=True, description="default activation of hidden dense layers"
    )
    layers: list[LayerSpec] = Field(
        default_factory=lambda: [{"type": "dense", "units": 64}],
        validate_default=True,
        description="hidden layers; the output layer is added for you",
    )
    output: OutputConfig = Field(
        default_factory=OutputConfig, description="the output layer's activation and init"
    )

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
