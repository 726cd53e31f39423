"""The config schema: Config and its loss, optimizer, schedule, training and data sections."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from nncli.config.base import (
    Float,
    Int,
    PositiveFloat,
    PositiveInt,
    Strict,
    named,
    no_bool,
)
from nncli.config.data import DataConfig
from nncli.config.network import ModelConfig
from nncli.engine.metrics import ALL_SCORES, unknown_metric

# --- loss, optimizer, schedule, training, data ---------------------------------------------------

# A class weight far from 1 underflows to 0 or overflows in float32 (and the weighted mean
# divides by the weights' sum); a ratio of 10^12 between two classes is plenty.
ClassWeight = Annotated[float, Field(ge=1e-6, le=1e6), no_bool("a number")]


class CrossEntropyLoss(Strict):
    """Softmax cross-entropy (multi-class)."""

    name: Literal["cross_entropy"] = Field(description="loss")
    label_smoothing: Float = Field(
        0.0, ge=0, lt=1, description="as torch.nn.CrossEntropyLoss's label_smoothing"
    )
    class_weights: Literal["balanced"] | dict[str, ClassWeight] | None = Field(
        None, description="balanced, or a mapping label -> weight; null: all 1"
    )


class BinaryCrossEntropyLoss(Strict):
    """Sigmoid binary cross-entropy (two classes, one output)."""

    name: Literal["binary_cross_entropy"] = Field(description="loss")
    class_weights: Literal["balanced"] | dict[str, ClassWeight] | None = Field(
        None, description="balanced, or a mapping label -> weight; null: all 1"
    )


class RegressionLoss(Strict):
    """Mean squared or mean absolute error."""

    name: Literal["mse", "mae"] = Field(description="loss")


class HuberLoss(Strict):
    """Squared error below delta, absolute error above."""

    name: Literal["huber"] = Field(description="loss")
    delta: PositiveFloat = Field(1.0, description="where the loss turns from squared to linear")


LossSpec = Annotated[
    CrossEntropyLoss | BinaryCrossEntropyLoss | RegressionLoss | HuberLoss,
    Field(discriminator="name"),
]


WD = "L2 penalty: adds wd * W to dense weights' gradients (never biases or norms)"


class SGDConfig(Strict):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""

    type: Literal["sgd"] = Field(description="optimizer")
    lr: PositiveFloat = Field(0.01, description="learning rate")
    momentum: Float = Field(0.0, ge=0, lt=1, description="0: plain SGD")
    nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0)")
    weight_decay: Float = Field(0.0, ge=0, description=WD)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGDConfig:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


class AdamConfig(Strict):
    """Adam with bias correction."""

    type: Literal["adam"] = Field(description="optimizer")
    lr: PositiveFloat = Field(0.001, description="learning rate")
    beta1: Float = Field(0.9, ge=0, lt=1, description="decay of the first-moment average")
    beta2: Float = Field(0.999, ge=0, lt=1, description="decay of the second-moment average")
    eps: PositiveFloat = Field(1e-8, description="added to the denominator")
    weight_decay: Float = Field(0.0, ge=0, description=WD)


class AdamWConfig(AdamConfig):
    """Adam with decoupled weight decay."""

    type: Literal["adamw"] = Field(description="optimizer")  # type: ignore[assignment]
    weight_decay: Float = Field(0.01, ge=0, description="decoupled: W -= lr * wd * W")


class RMSpropConfig(Strict):
    """RMSprop (PyTorch's form: eps outside the square root)."""

    type: Literal["rmsprop"] = Field(description="optimizer")
    lr: PositiveFloat = Field(0.01, description="learning rate")
    rho: Float = Field(0.99, ge=0, lt=1, description="decay of the squared-gradient average")
    eps: PositiveFloat = Field(1e-8, description="added to the denominator")
    momentum: Float = Field(0.0, ge=0, lt=1, description="0: no momentum")
    weight_decay: Float = Field(0.0, ge=0, description=WD)


class AdagradConfig(Strict):
    """Adagrad: per-parameter steps shrink with the sum of squared gradients."""

    type: Literal["adagrad"] = Field(description="optimizer")
    lr: PositiveFloat = Field(0.01, description="learning rate")
    eps: PositiveFloat = Field(1e-10, description="added to the denominator")
    weight_decay: Float = Field(0.0, ge=0, description=WD)


OptimizerSpec = Annotated[
    SGDConfig | AdamConfig | AdamWConfig | RMSpropConfig | AdagradConfig,
    Field(discriminator="type"),
]


def _adam_by_default(value: Any) -> Any:
    """An optimizer section without `type` is adam, the default, if adam takes its keys
    (`--set optimizer.lr=0.01` on a config without the section); otherwise the error says
    which types do."""
    if (
        isinstance(value, dict)
        and "type" not in value
        and set(value) <= set(AdamConfig.model_fields)
    ):
        return {"type": "adam", **value}
    return value


# Every metrics.csv column a monitor can watch, for either task with a validation set (the
# columns of train_report.metric_columns but lr and seconds, from the same metrics.SCORES). Which
# of them a run logs depends on its data, checked when training starts; a name outside them all
# is refused here, before its direction (min or max) is looked up.
LOGGED_METRICS = ("train_loss", "train_accuracy", "val_loss", *(f"val_{s}" for s in ALL_SCORES))


def _logged_metric(name: str) -> str:
    if name not in LOGGED_METRICS:
        raise ValueError(
            unknown_metric(name, LOGGED_METRICS, f"'{name}' is not a logged metric", "logged")
        )
    return name


Monitor = Annotated[str, AfterValidator(_logged_metric)]


class ScheduleBase(Strict):
    """Shared by every schedule."""

    warmup_epochs: Int = Field(0, ge=0, description="linear warm-up epochs before the schedule")


class ConstantSchedule(ScheduleBase):
    """optimizer.lr throughout (after the warm-up)."""

    type: Literal["constant"] = Field(description="schedule")


class StepSchedule(ScheduleBase):
    """Multiply lr by gamma every step_size epochs (after the warm-up)."""

    type: Literal["step"] = Field(description="schedule")
    step_size: PositiveInt = Field(10, description="epochs between decays")
    gamma: PositiveFloat = Field(0.1, description="factor at each decay")


class ExponentialSchedule(ScheduleBase):
    """Multiply lr by gamma every epoch (after the warm-up)."""

    type: Literal["exponential"] = Field(description="schedule")
    gamma: PositiveFloat = Field(0.95, description="factor per epoch")


class CosineSchedule(ScheduleBase):
    """Cosine annealing from optimizer.lr down to min_lr."""

    type: Literal["cosine"] = Field(description="schedule")
    t_max: PositiveInt | None = Field(None, description="null: the epochs after warm-up")
    min_lr: Float = Field(0.0, ge=0, description="the learning rate at the end")


class PlateauSchedule(ScheduleBase):
    """Multiply lr by factor when a metric stops improving."""

    type: Literal["plateau"] = Field(description="schedule")
    monitor: Monitor = Field("val_loss", description="any logged metric (a metrics.csv column)")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="auto: from the metric's name (loss: min, accuracy: max)"
    )
    factor: Float = Field(0.1, gt=0, lt=1, description="lr multiplier on a plateau")
    patience: Int = Field(10, ge=0, description="epochs without improvement before a cut")
    min_lr: Float = Field(0.0, ge=0, description="lower bound of the learning rate")


ScheduleSpec = Annotated[
    ConstantSchedule | StepSchedule | ExponentialSchedule | CosineSchedule | PlateauSchedule,
    Field(discriminator="type"),
]


class EarlyStoppingConfig(Strict):
    """Stop when the monitored metric has not improved for `patience` epochs."""

    monitor: Monitor = Field("val_loss", description="any logged metric (a metrics.csv column)")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="auto: from the metric's name (loss: min, accuracy: max)"
    )
    patience: Int = Field(10, ge=1, description="epochs without improvement before stopping")
    min_delta: Float = Field(0.0, ge=0, description="smallest change that counts as improvement")
    restore_best: bool = Field(True, description="end with the best epoch's weights")


class CheckpointConfig(Strict):
    """Extra checkpoints beside best and last."""

    every: Int = Field(0, ge=0, description="also keep a checkpoint every N epochs (0: off)")


class TrainingConfig(Strict):
    """The loop: epochs of shuffled mini-batches."""

    epochs: Int = Field(
        100, ge=0, description="maximum epochs; 0 saves the initialized network as the last"
    )
    batch_size: PositiveInt = Field(32, description="rows per gradient step")
    shuffle: bool = Field(True, description="reshuffle the training rows every epoch")
    grad_clip: PositiveFloat | None = Field(
        None, description="max global gradient norm; null: no clipping"
    )
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point type")
    early_stopping: EarlyStoppingConfig | None = Field(None, description="null: train all epochs")
    checkpoint: CheckpointConfig = Field(
        default_factory=CheckpointConfig, description="extra periodic checkpoints"
    )


LOSS_NAMES = ("cross_entropy", "binary_cross_entropy", "mse", "mae", "huber")


class Config(Strict):
    """An nncli config: data, model, loss, optimizer, schedule and training."""

    name: str | None = Field(None, description="run name (default: the config file's stem)")
    seed: Int = Field(
        0, ge=0, description="one seed drives init, shuffling, the validation split, dropout"
    )
    data: DataConfig = Field(description="the CSV files and how to read them")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the network")
    loss: Annotated[Literal["auto"] | LossSpec, named(LossSpec, *LOSS_NAMES, auto=True)] = Field(
        "auto", description="auto: cross_entropy, binary_cross_entropy or mse, from the task"
    )
    optimizer: Annotated[OptimizerSpec, BeforeValidator(_adam_by_default)] = Field(
        default_factory=lambda: AdamConfig(type="adam"),
        description="the optimizer; without a type: adam",
    )
    schedule: ScheduleSpec | None = Field(
        None, description="learning-rate schedule; null: constant"
    )
    training: TrainingConfig = Field(
        default_factory=TrainingConfig, description="the training loop"
    )
