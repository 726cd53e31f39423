"""Shared pieces of the config schema: the strict base, bare-name shorthand, activations, inits."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class Strict(BaseModel):
    """Unknown keys are errors; every float must be finite (no .inf or .nan)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


# --- numbers -----------------------------------------------------------------------------------


def no_bool(kind: str) -> BeforeValidator:
    """YAML's true/false are not numbers (pydantic would read them as 1 and 0)."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected {kind}, got {str(value).lower()}")
        return value

    return BeforeValidator(check)


# Numbers of the config: ints are fine where floats are expected, numeric strings too (YAML
# reads 1e-3 as a string), booleans are not; Strict refuses infinities and NaN. Where a field
# cannot state its bounds itself (in a union or a mapping's values), its alias carries them
# before the boolean check, so the JSON Schema shows them (e.g. sections.ClassWeight).
Float = Annotated[float, no_bool("a number")]
PositiveFloat = Annotated[float, Field(gt=0), no_bool("a number")]
Int = Annotated[int, no_bool("an integer")]
PositiveInt = Annotated[int, Field(gt=0), no_bool("an integer")]

# Beyond these, initial weights overflow float32 (or numpy's uniform) and training cannot start.
MAX_INIT_SCALE = 1000.0


def _named(value: Any) -> Any:
    """Let a bare string stand for `{name: <string>}` (activations, inits, losses)."""
    return {"name": value} if isinstance(value, str) else value


def _auto_or_named(value: Any) -> Any:
    return value if value == "auto" else _named(value)


def named(spec: Any, *names: str, auto: bool = False) -> BeforeValidator:
    """The `_named` validator; its JSON Schema also offers the bare names (and `auto`), which
    the validator turns into mappings, so editors accept `activation: relu`."""
    bare = Literal[(*names, "auto") if auto else names]  # type: ignore[valid-type]
    return BeforeValidator(_auto_or_named if auto else _named, json_schema_input_type=spec | bare)


# --- activations -------------------------------------------------------------------------------

PLAIN_ACTIVATIONS = ("relu", "selu", "sigmoid", "tanh", "softplus", "silu", "softmax", "linear")


class PlainActivation(Strict):
    """An activation without options."""

    name: Literal[PLAIN_ACTIVATIONS] = Field(description="activation function")  # type: ignore[valid-type]


class LeakyReluActivation(Strict):
    """max(x, alpha * x)."""

    name: Literal["leaky_relu"] = Field(description="activation function")
    alpha: Float = Field(0.01, description="slope for negative inputs")


class EluActivation(Strict):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    name: Literal["elu"] = Field(description="activation function")
    alpha: Float = Field(1.0, description="saturation value for negative inputs")


class GeluActivation(Strict):
    """x * Phi(x), exact (erf) or its tanh approximation."""

    name: Literal["gelu"] = Field(description="activation function")
    approximate: Literal["none", "tanh"] = Field(
        "none", description="none: the exact erf form; tanh: the tanh approximation"
    )


ActivationSpec = Annotated[
    PlainActivation | LeakyReluActivation | EluActivation | GeluActivation,
    Field(discriminator="name"),
]
ACTIVATION_NAMES = (*PLAIN_ACTIVATIONS, "leaky_relu", "elu", "gelu")
NamedActivation = named(ActivationSpec, *ACTIVATION_NAMES)


# --- initializers ------------------------------------------------------------------------------

PLAIN_INITS = (
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "glorot_normal",
    "glorot_uniform",
    "lecun_normal",
    "lecun_uniform",
    "zeros",
)
INIT_NAMES = (*PLAIN_INITS, "orthogonal", "normal", "uniform")


class PlainInit(Strict):
    """A weight initializer without options (glorot_* are aliases of xavier_*)."""

    name: Literal[PLAIN_INITS] = Field(description="initializer")  # type: ignore[valid-type]


class OrthogonalInit(Strict):
    """A (semi-)orthogonal matrix times gain."""

    name: Literal["orthogonal"] = Field(description="initializer")
    gain: Float = Field(
        1.0,
        ge=-MAX_INIT_SCALE,
        le=MAX_INIT_SCALE,
        description="multiplies the orthogonal matrix",
    )


class NormalInit(Strict):
    """Plain (not truncated) normal with mean 0."""

    name: Literal["normal"] = Field(description="initializer")
    std: PositiveFloat = Field(0.05, le=MAX_INIT_SCALE, description="standard deviation")


class UniformInit(Strict):
    """Uniform on [-limit, limit]."""

    name: Literal["uniform"] = Field(description="initializer")
    limit: PositiveFloat = Field(0.05, le=MAX_INIT_SCALE, description="half-width of the interval")


InitSpec = Annotated[
    PlainInit | OrthogonalInit | NormalInit | UniformInit, Field(discriminator="name")
]
NamedInit = named(InitSpec, *INIT_NAMES)
