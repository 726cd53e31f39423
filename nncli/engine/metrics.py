"""Classification and regression metrics in NumPy, matching scikit-learn's definitions."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

# What evaluate reports besides the loss, per task, in metrics.csv's order (val_<score>): the
# one list the logged columns, the config's monitors and a sweep's metric come from.
SCORES = {
    "classification": ("accuracy", "precision_macro", "recall_macro", "f1_macro"),
    "regression": ("mse", "rmse", "mae", "r2"),
}
ALL_SCORES = (*SCORES["classification"], *SCORES["regression"])


def unknown_metric(name: str, known: Sequence[str], intro: str, listed: str) -> str:
    """`'val_acc' is not a logged metric (did you mean 'val_accuracy'?); logged: a, b`."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{intro}{hint}; {listed}: {', '.join(known)}"


_MAX = ("accuracy", "precision", "recall", "f1", "r2", "auc")
_MIN = ("loss", "error", "mse", "rmse", "mae", "huber", "cross_entropy")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes) as int64: rows are true classes, columns predicted."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} entries, y_pred {p.size}")
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
) -> dict[str, float]:
    """Accuracy and macro precision/recall/F1 over all n_classes; 0/0 counts as 0
    (scikit-learn's zero_division=0), so a class never predicted or never seen scores 0.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, actual)
    f1 = _safe_div(2 * tp, predicted + actual)
    total = cm.sum()
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MSE, RMSE, MAE and R² averaged uniformly over outputs (scikit-learn's defaults).

    RMSE is the mean over outputs of each output's RMSE, as sklearn's
    root_mean_squared_error.
    """
    raw = regression_metrics_per_output(y_true, y_pred)
    return {name: float(values.mean()) for name, values in raw.items()}


def regression_metrics_per_output(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """MSE, RMSE, MAE and R² of each output column (sklearn's multioutput='raw_values').

    R² of a constant true column is 1 if predicted exactly, else 0 (sklearn's force_finite).
    """
    t = _as_2d(y_true)
    p = _as_2d(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape}, y_pred {p.shape}")
    err = p - t
    mse = np.mean(err**2, axis=0)
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    ss_res = np.sum(err**2, axis=0)
    r2 = np.where(ss_tot > 0, 1.0 - _safe_div(ss_res, ss_tot), np.where(ss_res == 0, 1.0, 0.0))
    return {"mse": mse, "rmse": np.sqrt(mse), "mae": np.mean(np.abs(err), axis=0), "r2": r2}


def metric_mode(name: str) -> str:
    """'min' or 'max': which way is better for a logged metric, e.g. val_loss -> min."""
    base = name.lower()
    for prefix in ("val_", "train_", "test_"):
        if base.startswith(prefix):
            base = base[len(prefix) :]
            break
    if base.startswith(_MAX):
        return "max"
    if base.startswith(_MIN) or base.endswith(("loss", "error")):
        return "min"
    raise ValueError(f"no known direction for metric {name!r}; set early_stopping.mode")


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den != 0)


def _as_2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(len(a), -1)
