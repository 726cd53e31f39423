"""The config's data section: files, target, feature columns and their types, missing values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from nncli.config.base import Float, PositiveInt, Strict, no_bool

# A validation fraction (the other choices are a CSV path or null).
Fraction = Annotated[float, Field(gt=0, lt=1), no_bool("a number")]
Categories = Annotated[int, Field(ge=2, le=100_000), no_bool("an integer")]


class FeatureSpec(Strict):
    """One feature column with its type and options; unset options take the type's defaults."""

    name: str = Field(min_length=1, description="the column's name in the file")
    type: Literal["numeric", "categorical", "binary"] | None = Field(
        None, description="null: inferred from the training values"
    )
    impute: Literal["median", "mean", "constant", "error"] | None = Field(
        None, description="numeric: how a gap is filled (error: a gap is an error)"
    )
    fill_value: Float | None = Field(
        None, description="numeric: the value impute: constant fills in"
    )
    scale: Literal["standard", "minmax", "quantile", "none"] | None = Field(
        None, description="numeric: this column's scaling"
    )
    min_frequency: PositiveInt | None = Field(
        None, description="categorical: rarer levels share the trained (other) slot"
    )
    max_categories: Categories | None = Field(
        None, description="categorical: at most this many levels (the most frequent) get a slot"
    )
    encoding: Literal["auto", "onehot", "embedding"] | None = Field(
        None, description="categorical: one input per level, or a learned embedding"
    )


class NumericDefaults(Strict):
    """Defaults for numeric features."""

    scale: Literal["standard", "minmax", "quantile", "none"] | None = Field(
        None, description="null: data.scale (standard unless set)"
    )
    impute: Literal["median", "mean", "constant", "error"] = Field(
        "median", description="a gap's fill, from the training rows (error: a gap is an error)"
    )
    fill_value: Float = Field(0.0, description="the value impute: constant fills in")


class CategoricalDefaults(Strict):
    """Defaults for text (and declared categorical) features: one input per level, or a
    learned embedding of min(600, round(1.6 * levels ** 0.56)) numbers (fastai's rule)."""

    min_frequency: PositiveInt = Field(
        1, description="levels seen fewer times share the trained (other) slot"
    )
    max_categories: Categories = Field(
        1000, description="at most this many levels (the most frequent) get a slot"
    )
    encoding: Literal["auto", "onehot", "embedding"] = Field(
        "auto",
        description=(
            "auto: an embedding above 50 levels (missing included) with 5+ training rows a "
            "level, else one-hot"
        ),
    )


class DataConfig(Strict):
    """CSV files with a header row; paths are relative to the config file."""

    train: str = Field(description="training CSV, relative to the config file")
    validation: Fraction | str | None = Field(
        0.2,
        description="fraction held out of train (stratified for classification), "
        "a CSV path, or null",
    )
    test: str | None = Field(None, description="test CSV, evaluated after training; or null")
    target: str | list[str] = Field(
        description="target column (a list: several regression targets)"
    )
    features: list[str | FeatureSpec] | None = Field(
        None,
        description="null: every other column, types inferred (ids and constants left out); "
        "or names and/or {name, type, options}",
    )
    exclude: list[str] = Field([], description="columns never used as features")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto",
        description="auto: a non-numeric target or few distinct integers means classification",
    )
    scale: Literal["standard", "minmax", "quantile", "none"] = Field(
        "standard", description="numeric feature scaling, fit on the training rows only"
    )
    numeric: NumericDefaults = Field(NumericDefaults(), description="defaults for numeric features")
    categorical: CategoricalDefaults = Field(
        CategoricalDefaults(), description="defaults for text (and declared categorical) features"
    )
    scale_target: bool = Field(
        True, description="regression: standardize targets; predictions in original units"
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field separator")
    missing: Literal["impute", "error", "drop"] = Field(
        "impute",
        description="a missing value (empty, NA, N/A, nan, null): impute (numbers as "
        "numeric.impute says, text as its own level), error, or drop the row (training, "
        "validation, test, evaluate; predict imputes and reports)",
    )

    @field_validator("train", "validation", "test")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\0" in value:
            raise ValueError("a file path cannot contain a NUL byte")
        return value

    @field_validator("target")
    @classmethod
    def _some_target(cls, value: str | list[str]) -> str | list[str]:
        if not value:
            raise ValueError("name the target column (or a list of at least one)")
        if isinstance(value, list):
            _listed_once(value)
        return value

    @field_validator("features")
    @classmethod
    def _some_features(
        cls, value: list[str | FeatureSpec] | None
    ) -> list[str | FeatureSpec] | None:
        if value is not None:
            if not value:
                raise ValueError("an empty list; name the feature columns, or null for all")
            _listed_once(feature_names(value))
        return value

    @model_validator(mode="after")
    def _features_are_not_targets(self) -> DataConfig:
        targets = [self.target] if isinstance(self.target, str) else self.target
        both = [f for f in feature_names(self.features or []) if f in targets]
        if both:
            raise ValueError(f"column {both[0]!r} is both a feature and a target")
        return self


def _listed_once(names: list[str]) -> None:
    """A column named twice (the run's outputs and its checkpoint could not tell them apart)."""
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{name!r} is listed twice")
        seen.add(name)


def feature_names(features: list[str | FeatureSpec]) -> list[str]:
    return [f if isinstance(f, str) else f.name for f in features]
