"""A trained model: network + head + preprocessing, rebuilt from a checkpoint alone."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from nncli.build import (
    OutputInfo,
    build_head,
    build_network,
    count_state,
    input_embeddings,
    output_info,
)
from nncli.config.sections import Config
from nncli.data.encoders import Seen
from nncli.data.files import as_table
from nncli.data.preprocess import Preprocessor
from nncli.engine.base import Sequential
from nncli.engine.head import Head
from nncli.engine.metrics import (
    classification_scores,
    confusion_matrix,
    regression_metrics,
    regression_metrics_per_output,
)
from nncli.errors import CheckpointError, ConfigError, DataError, NncliError
from nncli.store.checkpoint import FLOATS, Checkpoint, load_checkpoint

PREDICT_CHUNK = 8192
SLACK = 1_000_000  # numbers a config may claim beyond the stored ones (load_arrays names them)
# Beyond this a weight, or a feature once scaled, is the likely culprit of an overflow (trained
# networks keep theirs far below; a feature there is a million spreads from the training data).
HUGE = 1e6


class Predictions(NamedTuple):
    """Class labels (text) and one probability column per class, or values (rows x targets)."""

    values: np.ndarray
    proba: np.ndarray | None


class Model:
    """Predicts from raw (unscaled) feature arrays; classes keep their training-CSV text."""

    def __init__(
        self,
        config: Config,
        network: Sequential,
        head: Head,
        prep: Preprocessor,
        out: OutputInfo,
        source: Path | None = None,
    ) -> None:
        self.config = config
        self.network = network
        self.head = head
        self.prep = prep
        self.out = out
        self.source = source  # the checkpoint it was loaded from, for messages

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

    def outputs(self, x_scaled: np.ndarray, at: Callable[[int], str] | None = None) -> np.ndarray:
        """Head outputs (probabilities or scaled values) in chunks, so memory stays flat.

        With `at`, for user data: no NumPy overflow warnings, and a row whose logits overflow
        (inf or nan) is one error naming it by at(row) (e.g. `file:line`) and the likely
        culprit, never a nan printed as a prediction or counted in a metric."""
        parts = []
        for i in range(0, len(x_scaled), PREDICT_CHUNK):
            x = x_scaled[i : i + PREDICT_CHUNK]
            with np.errstate(all="ignore") if at is not None else nullcontext():
                logits = self.network.forward(x, False)
                outputs = self.head.outputs(logits)
            if at is not None:
                bad = ~(np.isfinite(logits).all(axis=1) & np.isfinite(outputs).all(axis=1))
                if bad.any():
                    row = int(np.argmax(bad))
                    raise self._overflow(at(i + row), x[row])
            parts.append(outputs)
        width = self.out.n_outputs
        return np.concatenate(parts) if parts else np.zeros((0, width), dtype=self.dtype)

    def _overflow(self, where: str, x_row: np.ndarray) -> NncliError:
        """The error for a row whose outputs overflow: blamed on the weights when they are
        huge, else on the row's values when those are, else on both."""
        arrays = self.network.state_arrays().values()
        weight = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0)
        value = float(np.abs(x_row).max()) if x_row.size else 0.0
        text = f"{self.source or 'the model'}: the model's outputs overflow (inf/nan) on {where}"
        if weight > HUGE and value <= HUGE:
            return CheckpointError(f"{text}; its weights are too large (up to {weight:.3g})")
        if value > HUGE and weight <= HUGE:
            return DataError(
                f"{text}; that row's values are too large for it (up to {value:.3g} once scaled)"
            )
        return CheckpointError(
            f"{text}; its weights (up to {weight:.3g}) or that row's values (up to "
            f"{value:.3g} once scaled) are too large"
        )

    def decode(self, outputs: np.ndarray, at: Callable[[int], str] | None = None) -> Predictions:
        """Head outputs (from outputs()) -> class labels and probabilities, or target values.
        With `at`, as in outputs: a value that overflows float64 once in the targets' units
        (finite outputs, a huge target scale) is one error naming its row by at(row)."""
        if self.task == "classification":
            proba = self._proba(outputs)
            return Predictions(self.prep.decode_y(proba.argmax(axis=1)), proba)
        if at is None:
            return Predictions(self.prep.decode_y(outputs), None)
        with np.errstate(over="ignore", invalid="ignore"):
            values = self.prep.decode_y(outputs)
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():  # a prediction of inf is no answer
            raise CheckpointError(
                f"{self.source or 'the model'}: its predictions overflow float64 in the "
                f"target's units on {at(int(np.argmax(bad)))}; its target scaling is too large"
            )
        return Predictions(values, None)

    def predict_proba(self, x: Any) -> np.ndarray:
        if self.task != "classification":
            raise DataError("predict_proba: this model does regression; use predict")
        return self._proba(self.outputs(self._scaled(x)))

    def predict(self, x: Any) -> np.ndarray:
        """Class labels (as text) or values in the target's original units."""
        return self.decode(self.outputs(self._scaled(x))).values

    def export_onnx(self, path: str | Path, force: bool = False) -> Path:
        """Write one ONNX file, raw columns to answers (nncli.export; needs nncli[onnx])."""
        from nncli.export import export_onnx

        return export_onnx(self, path, force)

    def evaluate_arrays(
        self,
        x_scaled: np.ndarray,
        y: np.ndarray,
        per_target: bool = False,
        source: str | Path | None = None,
        baseline: bool | None = None,
    ) -> dict[str, Any]:
        """Loss and metrics on preprocessed arrays (y encoded as in training).

        With `per_target` and several regression targets, `per_target` maps each target's
        name to its own metrics, next to the averages over targets. With `baseline` (by
        default: with `per_target`, as `nncli evaluate` asks), `baseline` maps each metric to
        the trivial predictor's (see baseline_metrics). With `source`, the CSV x and y were
        read from (with this model's data settings), a row whose outputs overflow is an error
        naming its line, and nothing warns (see outputs); without, such a row makes the loss
        nan (training checks for that itself).
        """
        if baseline is None:
            baseline = per_target
        if source is None:
            metrics: dict[str, Any] = {"loss": self.loss(x_scaled, y)}
            outputs = self.outputs(x_scaled)
            metrics = self._metrics(metrics, outputs, y, per_target)
        else:
            outputs = self.outputs(x_scaled, self._row_locator(source))
            with np.errstate(all="ignore"):  # an overflow here is a metric of inf, refused later
                loss = self.loss(x_scaled, y)
                metrics = self._metrics({"loss": loss}, outputs, y, per_target)
        if baseline:
            with np.errstate(all="ignore"):
                metrics["baseline"] = self.baseline_metrics(y, per_target)
        return metrics

    def baseline_metrics(self, y: np.ndarray, per_target: bool = False) -> dict[str, Any]:
        """The metrics of the trivial predictor on encoded targets y, keyed as evaluate_arrays'
        (no confusion matrix): for classification the class frequencies as probabilities
        (so the majority class as the label), for regression the mean.

        The training set's frequencies or mean when the checkpoint knows them (class weights
        `balanced` are n / (k * count); y_offset is the training mean when scale_target is on),
        else those of y itself: the best constant guess on these rows, a bar just as fair.
        """
        n = len(y)
        if self.task == "classification":
            k = len(self.classes or [])
            prior = self._training_prior()
            if prior is None:
                prior = np.bincount(y, minlength=k) / n if n else np.full(k, 1 / k)
            safe = np.clip(prior, 1e-15, 1.0)  # log(0) would make the loss inf or nan
            if self.out.n_outputs == 1:  # sigmoid head: p(positive), logit log(p1 / p0)
                outputs = np.full((n, 1), prior[1])
                logits = np.full((n, 1), np.log(safe[1] / safe[0]))
            else:
                outputs = np.broadcast_to(prior, (n, k))
                logits = np.broadcast_to(np.log(safe), (n, k))
            loss = self.head.loss(logits, y)
        else:
            # outputs are in scaled units: the training mean is 0 there when scale_target is on
            known = self.config.data.scale_target or not n
            mean = np.zeros(y.shape[1]) if known else y.mean(axis=0, dtype=np.float64)
            outputs = np.broadcast_to(mean, y.shape)
            loss = self.head.loss_fn.value_and_grad(np.array(outputs), y)[0]
        metrics = self._metrics({"loss": loss}, outputs, y, per_target)
        metrics.pop("confusion_matrix", None)
        return metrics

    def _training_prior(self) -> np.ndarray | None:
        """The training class frequencies, from `balanced` class weights (n / (k * count))."""
        weight = getattr(self.head.loss_fn, "weight", None)
        if self.out.loss.get("class_weights") != "balanced" or weight is None:
            return None
        inverse = 1.0 / np.asarray(weight, dtype=np.float64)
        return inverse / inverse.sum()

    def _metrics(
        self, metrics: dict[str, Any], outputs: np.ndarray, y: np.ndarray, per_target: bool
    ) -> dict[str, Any]:
        if self.task == "classification":
            proba = self._proba(outputs)
            metrics.update(classification_scores(y, proba))
            metrics["confusion_matrix"] = confusion_matrix(y, proba.argmax(axis=1), proba.shape[1])
        else:
            true, predicted = self.prep.decode_y(y), self.prep.decode_y(outputs)
            metrics.update(regression_metrics(true, predicted))
            targets = self.prep.targets
            if per_target and len(targets) > 1:
                raw = regression_metrics_per_output(true, predicted)
                metrics["per_target"] = {
                    target: {name: float(values[j]) for name, values in raw.items()}
                    for j, target in enumerate(targets)
                }
        return metrics

    def _row_locator(self, source: str | Path) -> Callable[[int], str]:
        from nncli.data.locate import row_location  # data reads CSVs: only for this message

        data = self.config.data
        names = [*self.prep.features, *self.prep.targets]
        return lambda row: row_location(source, row, data.delimiter, data.missing, names)

    def loss(self, x_scaled: np.ndarray, y: np.ndarray) -> float:
        total = 0.0
        for i in range(0, len(x_scaled), PREDICT_CHUNK):
            logits = self.network.forward(x_scaled[i : i + PREDICT_CHUNK], False)
            total += self.head.loss(logits, y[i : i + PREDICT_CHUNK]) * len(logits)
        return total / max(len(x_scaled), 1)

    def evaluate(self, x: Any, y: Any) -> dict[str, Any]:
        """`nncli evaluate --json`'s metrics on rows x (as predict takes) and targets y."""
        if self.prep.classes is None:
            targets = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
            encoded = self.prep.encode_y(targets)
        else:
            encoded, bad = self.prep.class_indices(list(y))
            if bad is not None:
                raise DataError(f"y[{bad}]: label {list(y)[bad]!r} was not in the training data")
        metrics = self.evaluate_arrays(self._scaled(x), encoded, baseline=True)
        metrics.pop("confusion_matrix", None)
        return metrics

    def _scaled(self, x: Any) -> np.ndarray:
        """Model inputs from a table (pandas, pyarrow, a mapping of columns, a list of row
        dicts: gaps and unseen levels as in training) or a 2-D array of raw numbers."""
        numeric = isinstance(x, np.ndarray) or (
            isinstance(x, list) and x and isinstance(x[0], list)
        )
        if not numeric:
            table = as_table(x)
            missing = [name for name in self.prep.features if name not in table.column_names]
            if missing:
                raise DataError(
                    f"the rows have no column {missing[0]!r} (features: {self.prep.features})"
                )
            scaled = self.prep.transform_table(table, Seen(), lambda row: f"row {row + 1}")
            return scaled.astype(self.dtype, copy=False)
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.prep.features):
            raise DataError(
                f"expected a 2-D array with {len(self.prep.features)} feature columns "
                f"({', '.join(self.prep.features)}), got shape {x.shape}"
            )
        return self.prep.transform_x(x).astype(self.dtype, copy=False)

    def _proba(self, outputs: np.ndarray) -> np.ndarray:
        """One probability column per class (the head's outputs, a sigmoid's completed)."""
        if outputs.shape[1] == 1:  # sigmoid head: p(positive class)
            return np.concatenate([1.0 - outputs, outputs], axis=1)
        return outputs


def model_from_checkpoint(ckpt: Checkpoint) -> Model:
    """Rebuild the architecture from the stored config, then load every array strictly.
    Everything a checkpoint says is checked before it is used, so a damaged or hostile file
    gives one CheckpointError here and never a crash later in predict or evaluate."""
    where = ckpt.path
    manifest = ckpt.model_manifest()
    config = manifest.config
    try:
        prep = Preprocessor.from_state(manifest.preprocessing, ckpt.group("prep"))
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    dtype = np.dtype(config.training.dtype)
    if prep.dtype != dtype:
        raise CheckpointError(f"{where}: preprocessing dtype {prep.dtype} != {dtype} of the config")
    n_classes = len(prep.classes or [])
    try:
        out = output_info(config, prep.task, n_classes, len(prep.targets))
    except ConfigError as exc:
        raise CheckpointError(f"{where}: its config does not fit its data ({exc})") from None
    params = ckpt.group("params")
    embeddings = input_embeddings(prep.columns)
    expected = count_state(config, prep.n_inputs, out.n_outputs, embeddings)
    stored = sum(a.size for a in params.values())
    if expected > stored + SLACK:  # checked before building, so nothing huge is allocated
        raise CheckpointError(
            f"{where}: weights do not match the architecture of its config "
            f"({expected} numbers expected, {stored} stored)"
        )
    weights = _class_weights(ckpt, out, n_classes)
    rng = np.random.default_rng(0)  # weights are overwritten below
    network = build_network(config, prep.n_inputs, out, rng, rng, dtype, embeddings)
    head = build_head(out, weights)
    load_arrays(network, params, where)
    return Model(config, network, head, prep, out, where)


def _class_weights(ckpt: Checkpoint, out: OutputInfo, n_classes: int) -> np.ndarray | None:
    """The stored loss class weights: present exactly when the config asks for them."""
    head = ckpt.group("head")
    unexpected = sorted(set(head) - {"class_weights"})
    if unexpected:
        raise CheckpointError(f"{ckpt.path}: unexpected array 'head/{unexpected[0]}'")
    weights = head.get("class_weights")
    wanted = out.loss.get("class_weights") is not None
    if weights is None:
        if wanted:
            raise CheckpointError(f"{ckpt.path}: the config's class weights are missing")
        return None
    if not wanted or weights.shape != (n_classes,):
        raise CheckpointError(f"{ckpt.path}: class weights that do not fit the config")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise CheckpointError(f"{ckpt.path}: class weights must be finite and >= 0")
    return weights.astype(np.float64)


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
        if value.dtype.name not in FLOATS:
            raise CheckpointError(
                f"{source}: array {name!r} has dtype {value.dtype}, not {' or '.join(FLOATS)}"
            )
        if not np.all(np.isfinite(value)):
            raise CheckpointError(f"{source}: array {name!r} holds non-finite values")
        if name.endswith("running_var") and np.any(value < 0):
            raise CheckpointError(f"{source}: array {name!r} holds negative variances")
        with np.errstate(over="ignore"):
            cast = value.astype(target.dtype, copy=False)
        if not np.all(np.isfinite(cast)):
            raise CheckpointError(
                f"{source}: array {name!r} holds values too large for {target.dtype}"
            )
        target[...] = cast


def load(target: str | Path) -> Model:
    """A checkpoint file or a run folder (its best checkpoint) -> Model."""
    return model_from_checkpoint(load_checkpoint(target))
