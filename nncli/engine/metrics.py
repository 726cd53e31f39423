"""Classification and regression metrics in NumPy, matching scikit-learn's definitions."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence

import numpy as np

# What evaluate reports besides the loss, per task, in metrics.csv's order (val_<score>): the
# one list the logged columns, the config's monitors and a sweep's metric come from.
SCORES = {
    "classification": (
        "accuracy",
        "balanced_accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc",
        "average_precision",
        "log_loss",
    ),
    "regression": ("mse", "rmse", "mae", "r2"),
}
ALL_SCORES = (*SCORES["classification"], *SCORES["regression"])

# Scores that some rows leave undefined (nan, as sklearn gives), and what such rows hold:
# reported as n/a, never read as an overflow or a divergence.
UNDEFINED = {"roc_auc": "a single class"}


def unknown_metric(name: str, known: Sequence[str], intro: str, listed: str) -> str:
    """`'val_acc' is not a logged metric (did you mean 'val_accuracy'?); logged: a, b`."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{intro}{hint}; {listed}: {', '.join(known)}"


# By the name's start (val_ stripped); log_loss is a loss, minimized.
_MAX: tuple[str, ...] = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "r2")
_MAX += ("roc_auc", "auc", "average_precision")
_MIN = ("loss", "log_loss", "error", "mse", "rmse", "mae", "huber", "cross_entropy")


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


def classification_scores(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Every score of SCORES['classification'], in its order, from class indices and one
    probability column per class; the labels predicted are the most probable ones."""
    proba = np.asarray(proba)
    n_classes = proba.shape[1]
    y = np.asarray(y_true, dtype=np.int64).ravel()
    pred = proba.argmax(axis=1)
    scores = classification_metrics(y, pred, n_classes)
    scores["balanced_accuracy"] = balanced_accuracy(y, pred, n_classes)
    scores["roc_auc"] = roc_auc(y, proba)
    scores["average_precision"] = average_precision(y, proba)
    scores["log_loss"] = log_loss(y, proba)
    return {name: scores[name] for name in SCORES["classification"]}


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """The mean recall over the classes present in y_true (sklearn's balanced_accuracy_score):
    a constant majority-class guess scores 1/k however skewed the classes; 0 with no rows."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    actual = cm.sum(axis=1)
    present = actual > 0
    if not present.any():
        return 0.0
    return float(np.mean(np.diag(cm)[present] / actual[present]))


def roc_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Area under the ROC curve: of column 1 for two classes, else the mean of each class's
    one-vs-rest AUC (sklearn's roc_auc_score, multi_class='ovr', average='macro').

    Each AUC is the Mann-Whitney statistic, (rank sum of the positives - P(P+1)/2) / (P N),
    with tied scores given their average rank (a tie counts one half, as sklearn's
    trapezoids). A class absent from y_true (or the only one present) has no AUC: it is left
    out of the mean, where sklearn raises, so a validation set missing a rare class still
    gets a number. nan when no class has one (all rows one class, or no rows).
    """
    y = np.asarray(y_true, dtype=np.int64).ravel()
    proba = np.asarray(proba)
    if proba.shape[1] == 2:
        return _binary_auc(y == 1, proba[:, 1])
    aucs = [_binary_auc(y == c, proba[:, c]) for c in range(proba.shape[1])]
    defined = [a for a in aucs if not math.isnan(a)]
    return float(np.mean(defined)) if defined else math.nan


def average_precision(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Average precision, sum over thresholds of (R_n - R_{n-1}) P_n: of column 1 for two
    classes, else the mean over every class one-vs-rest (sklearn's average_precision_score,
    average='macro', on one-hot labels). Tied scores form one threshold. A class absent from
    y_true scores 0, as in sklearn (and as precision_macro counts it).
    """
    y = np.asarray(y_true, dtype=np.int64).ravel()
    proba = np.asarray(proba)
    if proba.shape[1] == 2:
        return _binary_ap(y == 1, proba[:, 1])
    return float(np.mean([_binary_ap(y == c, proba[:, c]) for c in range(proba.shape[1])]))


def log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean of -log p(true class), each p clipped to [eps, 1 - eps] with eps the machine
    epsilon of the probabilities' dtype (sklearn's log_loss), so a confident miss costs about
    36 (float64) and never inf; 0 with no rows."""
    y = np.asarray(y_true, dtype=np.int64).ravel()
    proba = np.asarray(proba)
    if not len(y):
        return 0.0
    dtype = proba.dtype if proba.dtype.kind == "f" else np.dtype(np.float64)
    eps = np.finfo(dtype).eps
    p = np.clip(proba[np.arange(len(y)), y], eps, 1 - eps).astype(np.float64)
    return float(-np.mean(np.log(p)))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    n_pos = int(np.count_nonzero(positive))
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    rank_sum = float(_average_ranks(score)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _average_ranks(score: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the scores, ties sharing the mean of the ranks they span."""
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(score)]  # each tie group spans ranks starts+1 .. ends
    group = np.repeat(np.arange(len(starts)), ends - starts)
    ranks = np.empty(len(score), dtype=np.float64)
    ranks[order] = ((starts + 1 + ends) / 2)[group]
    return ranks


def _binary_ap(positive: np.ndarray, score: np.ndarray) -> float:
    """Precision at each distinct score (highest first), weighted by the recall it adds."""
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0:
        return 0.0
    order = np.argsort(-score, kind="stable")
    ordered = score[order]
    last = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])  # end of each threshold
    tp = np.cumsum(positive[order])[last]
    precision = tp / (last + 1)
    recall_gain = np.diff(tp, prepend=0) / n_pos
    return float(np.sum(recall_gain * precision))


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
