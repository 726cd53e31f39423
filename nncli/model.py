"""A trained model: network + head + preprocessing, rebuilt from a checkpoint alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nncli.build import OutputInfo, build_head, build_network, output_info
from nncli.checkpoint import Checkpoint, load_checkpoint
from nncli.config import Config
from nncli.data import Preprocessor
from nncli.engine.base import Sequential
from nncli.engine.head import Head
from nncli.errors import CheckpointError, DataError
from nncli.metrics import classification_metrics, confusion_matrix, regression_metrics

PREDICT_CHUNK = 8192


class Model:
    """Predicts from raw (unscaled) feature arrays; classes keep their training-CSV text."""

    def __init__(
        self, config: Config, network: Sequential, head: Head, prep: Preprocessor, out: OutputInfo
    ) -> None:
        self.config = config
        self.network = network
        self.head = head
        self.prep = prep
        self.out = out

    @property
    def classes(self) -> list[str] | None:
        return self.prep.classes

    @property
    def task(self) -> str:
        return self.prep.task

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.config.training.dtype)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and running statistic, named as in SPEC §5."""
        return {name: value.copy() for name, value in self.network.state_arrays().items()}

    def outputs(self, x_scaled: np.ndarray) -> np.ndarray:
        """Head outputs (probabilities or scaled values) in chunks, so memory stays flat."""
        parts = [
            self.head.outputs(self.network.forward(x_scaled[i : i + PREDICT_CHUNK], False))
            for i in range(0, len(x_scaled), PREDICT_CHUNK)
        ]
        width = self.out.n_outputs
        return np.concatenate(parts) if parts else np.zeros((0, width), dtype=self.dtype)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if self.task != "classification":
            raise DataError("predict_proba: this model does regression; use predict")
        return self._proba(self.outputs(self._scaled(x)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class labels (as text) or values in the target's original units."""
        outputs = self.outputs(self._scaled(x))
        if self.task == "classification":
            return self.prep.decode_y(self._proba(outputs).argmax(axis=1))
        return self.prep.decode_y(outputs)

    def evaluate_arrays(self, x_scaled: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Loss and metrics on preprocessed arrays (y encoded as in training)."""
        metrics: dict[str, Any] = {"loss": self.loss(x_scaled, y)}
        outputs = self.outputs(x_scaled)
        if self.task == "classification":
            pred = self._proba(outputs).argmax(axis=1)
            n = len(self.classes or [])
            metrics.update(classification_metrics(y, pred, n))
            metrics["confusion_matrix"] = confusion_matrix(y, pred, n)
        else:
            metrics.update(regression_metrics(self.prep.decode_y(y), self.prep.decode_y(outputs)))
        return metrics

    def loss(self, x_scaled: np.ndarray, y: np.ndarray) -> float:
        total = 0.0
        for i in range(0, len(x_scaled), PREDICT_CHUNK):
            logits = self.network.forward(x_scaled[i : i + PREDICT_CHUNK], False)
            total += self.head.loss(logits, y[i : i + PREDICT_CHUNK]) * len(logits)
        return total / max(len(x_scaled), 1)

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.prep.features):
            raise DataError(
                f"expected a 2-D array with {len(self.prep.features)} feature columns "
                f"({', '.join(self.prep.features)}), got shape {x.shape}"
            )
        return self.prep.transform_x(x).astype(self.dtype, copy=False)

    def _proba(self, outputs: np.ndarray) -> np.ndarray:
        if outputs.shape[1] == 1:  # sigmoid head: p(positive class)
            return np.concatenate([1.0 - outputs, outputs], axis=1)
        return outputs


def model_from_checkpoint(ckpt: Checkpoint) -> Model:
    """Rebuild the architecture from the stored config, then load every array strictly."""
    try:
        config = Config.model_validate(ckpt.meta["config"])
        prep = Preprocessor.from_state(ckpt.meta["preprocessing"], ckpt.group("prep"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{ckpt.path}: damaged manifest ({exc})") from None
    dtype = np.dtype(config.training.dtype)
    n_classes = len(prep.classes or [])
    out = output_info(config, prep.task, n_classes, len(prep.targets))
    rng = np.random.default_rng(0)  # weights are overwritten below
    network = build_network(config, len(prep.features), out, rng, rng, dtype)
    weights = ckpt.group("head").get("class_weights")
    head = build_head(out, weights)
    load_arrays(network, ckpt.group("params"), ckpt.path)
    return Model(config, network, head, prep, out)


def load_arrays(network: Sequential, arrays: dict[str, np.ndarray], source: Path) -> None:
    """Copy named arrays into the network in place; every name and shape must match."""
    targets = network.state_arrays()
    missing = sorted(set(targets) - set(arrays))
    unexpected = sorted(set(arrays) - set(targets))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: weights do not match the architecture "
            f"(missing: {missing[:4]}, unexpected: {unexpected[:4]})"
        )
    for name, target in targets.items():
        value = arrays[name]
        if value.shape != target.shape:
            raise CheckpointError(
                f"{source}: array {name!r} has shape {value.shape}, the architecture needs "
                f"{target.shape}"
            )
        if not np.all(np.isfinite(value)):
            raise CheckpointError(f"{source}: array {name!r} holds non-finite values")
        target[...] = value


def load(target: str | Path) -> Model:
    """A checkpoint file or a run folder (its best checkpoint) -> Model."""
    return model_from_checkpoint(load_checkpoint(target))
