"""Model.decode is the one decoder of head outputs: predict, predict_proba, evaluate and the
CLI's predict all go through it."""

from __future__ import annotations

import io

import numpy as np
from conftest import DATASETS
from rich.console import Console

import nncli

QUIET = Console(file=io.StringIO())


def test_a_classifier_decodes_to_labels_and_one_probability_per_class(iris_run):
    model = nncli.load(iris_run.run_dir)
    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    labels, proba = model.decode(model.outputs(model.prep.transform_x(x)))
    assert proba is not None and proba.shape == (2, len(model.classes or []))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(labels) == [model.classes[i] for i in proba.argmax(axis=1)]
    assert list(labels) == list(model.predict(x))
    np.testing.assert_array_equal(proba, model.predict_proba(x))


def test_a_sigmoid_head_gets_its_negative_class_column(tmp_path):
    config = tmp_path / "binary.yaml"
    data = DATASETS / "breast_cancer" / "train.csv"
    config.write_text(
        f"data: {{train: {data}, target: diagnosis}}\n"
        "model: {output: {activation: sigmoid}}\ntraining: {epochs: 1}\n",
        encoding="utf-8",
    )
    model = nncli.train(config, run_dir=tmp_path / "run", console=QUIET).model
    outputs = np.array([[0.25], [0.75]], dtype=model.dtype)
    labels, proba = model.decode(outputs)
    np.testing.assert_array_equal(proba, [[0.75, 0.25], [0.25, 0.75]])
    assert list(labels) == [model.classes[0], model.classes[1]]


def test_a_regressor_decodes_to_values_in_the_targets_units(diabetes_run):
    model = nncli.load(diabetes_run.run_dir)
    x = np.zeros((3, len(model.prep.features)))
    values, proba = model.decode(model.outputs(model.prep.transform_x(x)))
    assert proba is None and values.shape == (3, 1)
    np.testing.assert_array_equal(values, model.predict(x))
