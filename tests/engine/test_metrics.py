"""Metrics against hand-worked numbers, and against scikit-learn where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from nncli.engine.metrics import (
    SCORES,
    average_precision,
    balanced_accuracy,
    classification_metrics,
    classification_scores,
    confusion_matrix,
    log_loss,
    metric_mode,
    regression_metrics,
    roc_auc,
)

Y_TRUE = np.array([0, 0, 1, 1, 1, 2])
Y_PRED = np.array([0, 1, 1, 1, 0, 0])


def test_confusion_matrix_rows_true_columns_predicted():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_classification_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED, 3)
    # precision: class 0 1/3, class 1 2/3, class 2 0/0 -> 0; recall: 1/2, 2/3, 0/1
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["precision_macro"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert m["recall_macro"] == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    f1 = [2 * 1 / (3 + 2), 2 * 2 / (3 + 3), 0.0]  # 2 tp / (predicted + actual)
    assert m["f1_macro"] == pytest.approx(sum(f1) / 3)
    assert all(isinstance(v, float) for v in m.values())


def test_macro_averages_count_classes_absent_from_both():
    # A 4th class never seen nor predicted scores 0 (zero_division=0), pulling macro down.
    three = classification_metrics(Y_TRUE, Y_PRED, 3)
    four = classification_metrics(Y_TRUE, Y_PRED, 4)
    assert four["precision_macro"] == pytest.approx(three["precision_macro"] * 3 / 4)
    assert four["accuracy"] == three["accuracy"]


def test_perfect_and_empty():
    assert classification_metrics([1, 0], [1, 0], 2) == {
        "accuracy": 1.0,
        "precision_macro": 1.0,
        "recall_macro": 1.0,
        "f1_macro": 1.0,
    }
    assert classification_metrics([], [], 2)["accuracy"] == 0.0


def test_regression_metrics_by_hand():
    m = regression_metrics(np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [2.0], [5.0]]))
    assert m["mse"] == pytest.approx(5 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert m["mae"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 5 / 2)


def test_regression_metrics_average_uniformly_over_outputs():
    t = np.array([[0.0, 10.0], [2.0, 10.0]])
    p = np.array([[0.0, 10.0], [1.0, 10.0]])
    m = regression_metrics(t, p)
    assert m["mse"] == pytest.approx((0.5 + 0) / 2)
    assert m["rmse"] == pytest.approx((np.sqrt(0.5) + 0) / 2)
    # output 0: 1 - 1/2; output 1 is constant and predicted exactly: 1 (sklearn's force_finite)
    assert m["r2"] == pytest.approx((0.5 + 1.0) / 2)
    assert regression_metrics([1.0, 2.0], [1.0, 2.0])["r2"] == 1.0  # 1-D is one output


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("val_loss", "min"),
        ("train_loss", "min"),
        ("loss", "min"),
        ("val_mse", "min"),
        ("rmse", "min"),
        ("val_mae", "min"),
        ("val_accuracy", "max"),
        ("precision_macro", "max"),
        ("val_recall_macro", "max"),
        ("val_f1_macro", "max"),
        ("r2", "max"),
        ("val_balanced_accuracy", "max"),
        ("val_roc_auc", "max"),
        ("val_average_precision", "max"),
        ("val_log_loss", "min"),
        ("log_loss", "min"),
    ],
)
def test_metric_mode(name, mode):
    assert metric_mode(name) == mode


def test_metric_mode_unknown_name():
    with pytest.raises(ValueError, match=r"early_stopping\.mode"):
        metric_mode("val_banana")


def test_matches_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for n_classes in (2, 3, 7):
        t = rng.integers(0, n_classes, 200)
        p = np.where(rng.random(200) < 0.6, t, rng.integers(0, n_classes, 200))
        labels = list(range(n_classes))
        ours = classification_metrics(t, p, n_classes)
        assert ours["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
        for name, fn in [
            ("precision_macro", skm.precision_score),
            ("recall_macro", skm.recall_score),
            ("f1_macro", skm.f1_score),
        ]:
            want = fn(t, p, labels=labels, average="macro", zero_division=0)
            assert ours[name] == pytest.approx(want)
        assert np.array_equal(
            confusion_matrix(t, p, n_classes), skm.confusion_matrix(t, p, labels=labels)
        )
    t = rng.normal(size=(50, 3))
    p = t + rng.normal(scale=0.5, size=(50, 3))
    ours = regression_metrics(t, p)
    assert ours["mse"] == pytest.approx(skm.mean_squared_error(t, p))
    assert ours["rmse"] == pytest.approx(skm.root_mean_squared_error(t, p))
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(t, p))
    assert ours["r2"] == pytest.approx(skm.r2_score(t, p))


def test_every_score_has_a_direction():
    for name in (*SCORES["classification"], *SCORES["regression"]):
        assert metric_mode(f"val_{name}") in ("min", "max")


def random_labels_and_proba(rng, n, n_classes, distinct=None, classes=None):
    """n labels drawn from their own probability rows, those rows picked among `distinct`
    ones (so every column has at most that many scores: ties everywhere) or all different;
    the labels only from `classes` when given."""
    pool = rng.dirichlet(np.full(n_classes, 0.5), size=distinct or n)
    p = pool[rng.integers(0, len(pool), n)] if distinct else pool
    allowed = np.zeros(n_classes) if classes is None else np.full(n_classes, -np.inf)
    if classes is not None:
        allowed[classes] = 0.0
    weights = np.exp(np.log(np.maximum(p, 1e-300)) + allowed)
    y = np.array([rng.choice(n_classes, p=w / w.sum()) for w in weights])
    return y, p


@pytest.mark.parametrize("n_classes", [2, 3, 6])
@pytest.mark.parametrize("distinct", [None, 5])  # 5: five distinct scores, ties everywhere
def test_probability_scores_match_sklearn(n_classes, distinct):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(n_classes * 10 + (distinct or 0))
    for _ in range(5):
        y, p = random_labels_and_proba(rng, 120, n_classes, distinct)
        y[:n_classes] = np.arange(n_classes)  # every class present
        labels = list(range(n_classes))
        if n_classes == 2:
            auc = skm.roc_auc_score(y, p[:, 1])
            ap = skm.average_precision_score(y, p[:, 1])
        else:
            auc = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels)
            ap = skm.average_precision_score(np.eye(n_classes)[y], p, average="macro")
        assert roc_auc(y, p) == pytest.approx(auc, rel=1e-12)
        assert average_precision(y, p) == pytest.approx(ap, rel=1e-12)
        assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p, labels=labels), rel=1e-12)
        pred = p.argmax(axis=1)
        want = skm.balanced_accuracy_score(y, pred)
        assert balanced_accuracy(y, pred, n_classes) == pytest.approx(want, rel=1e-12)


def test_a_class_missing_from_y_true():
    """roc_auc leaves the absent class out of its mean (sklearn says nan); average_precision
    counts it 0, as sklearn does; balanced_accuracy averages the present classes' recall."""
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    y, p = random_labels_and_proba(rng, 150, 4, distinct=12, classes=[0, 1, 3])
    assert set(y) == {0, 1, 3}  # class 2 of 4 never occurs
    per_class = [skm.roc_auc_score(y == c, p[:, c]) for c in (0, 1, 3)]
    assert roc_auc(y, p) == pytest.approx(np.mean(per_class), rel=1e-12)
    with pytest.warns(UserWarning, match="not defined"):
        assert np.isnan(skm.roc_auc_score(y, p, multi_class="ovr", labels=[0, 1, 2, 3]))
    with pytest.warns(UserWarning):  # sklearn: "No positive class found in y_true"
        ap = skm.average_precision_score(np.eye(4)[y], p, average="macro")
    assert average_precision(y, p) == pytest.approx(ap, rel=1e-12)
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2, 3]), rel=1e-12)
    pred = p.argmax(axis=1)
    assert 2 in pred  # predicted but never true: sklearn leaves it out (and warns)
    with pytest.warns(UserWarning):
        want = skm.balanced_accuracy_score(y, pred)
    assert balanced_accuracy(y, pred, 4) == pytest.approx(want, rel=1e-12)


def test_ranking_scores_by_hand():
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.5, 0.5, 0.9])  # one tie between a negative and a positive
    p = np.stack([1 - p1, p1], axis=1)
    assert roc_auc(y, p) == pytest.approx((1 + 1 + 0.5 + 1) / 4)  # the tied pair counts 1/2
    # thresholds 0.9 (P 1, R 1/2), 0.5 (P 2/3, R 1): 1/2 * 1 + 1/2 * 2/3
    assert average_precision(y, p) == pytest.approx(0.5 + 1 / 3)
    constant = np.full((4, 2), 0.5)
    assert roc_auc(y, constant) == 0.5 and average_precision(y, constant) == 0.5


def test_single_class_auc_is_nan_and_log_loss_is_clipped():
    p = np.array([[1.0, 0.0], [0.3, 0.7]])
    assert np.isnan(roc_auc(np.array([1, 1]), p))
    assert np.isnan(roc_auc(np.zeros(0, dtype=int), np.zeros((0, 3))))
    assert average_precision(np.array([0, 0]), p) == 0.0  # no positives: sklearn's 0
    # p(true) = 0 is clipped to eps: -log(eps) / 2 for the first row, -log(0.7) / 2 the second
    eps = np.finfo(np.float64).eps
    assert log_loss(np.array([1, 1]), p) == pytest.approx((-np.log(eps) - np.log(0.7)) / 2)
    eps32 = np.finfo(np.float32).eps  # float32 probabilities clip at float32's epsilon
    assert log_loss(np.array([1]), p[:1].astype(np.float32)) == pytest.approx(-np.log(eps32))
    assert log_loss(np.zeros(0, dtype=int), np.zeros((0, 2))) == 0.0


def test_classification_scores_in_scores_order():
    y, p = random_labels_and_proba(np.random.default_rng(3), 40, 3)
    scores = classification_scores(y, p)
    assert tuple(scores) == SCORES["classification"]
    assert all(isinstance(v, float) for v in scores.values())
    pred = p.argmax(axis=1)
    assert scores == {
        **classification_metrics(y, pred, 3),
        "balanced_accuracy": balanced_accuracy(y, pred, 3),
        "roc_auc": roc_auc(y, p),
        "average_precision": average_precision(y, p),
        "log_loss": log_loss(y, p),
    }
