"""Metrics against hand-worked numbers, and against scikit-learn where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from nncli.engine.metrics import (
    classification_metrics,
    confusion_matrix,
    metric_mode,
    regression_metrics,
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
