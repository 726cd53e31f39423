"""ONNX export beside `nncli predict` on every layer, activation and initializer nncli offers,
on several regression targets, and on each bundled data set (issue 14's tests).

Every file is exported through the command's own code and run by onnxruntime on the CSV's
columns as a service would feed them; the reference is `nncli predict --proba` on the same
file: probabilities within 1e-5 and identical labels, regression within 1e-5 relative."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import DATASETS, REPO_ROOT

import nncli
from nncli.config import base as S
from nncli.config import network as M
from nncli.engine.activations import ACTIVATIONS, GELU, Activation
from nncli.engine.base import Layer
from nncli.engine.initializers import INITIALIZERS
from nncli.engine.layers import BatchNorm, Dense, Dropout, LayerNorm, Residual

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from agreement import compare, export, read_rows, run_onnx  # noqa: E402  (needs onnxruntime)

PROB_ATOL = 1e-5
REL_TOL = 1e-5
# unseen levels (an island, a sex), gaps as blank, NA and nA, a known row
ODD_ROWS = """\
species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year
Adelie,Atlantis,,18.5,192,4100,male,2008
Gentoo,Biscoe,47,,,5000,,2009
Adelie,Dream,40,18,NA,3900,NA,2007
Adelie,Torgersen,39,19,nA,3700,nA,2008
Gentoo,Biscoe,48,15,215,,unknown,2009
Chinstrap,Dream,50.1,19.5,200,3800,female,2008
"""
# The bundled tables without a config: `nncli init --data train.csv --target COL` writes one.
MIXED = {"penguins": "species", "titanic": "survived", "auto_mpg": "mpg"}


def _tags(union: Any, key: str) -> set[str]:
    """The discriminator values of an Annotated union of config classes."""
    members = typing.get_args(typing.get_args(union)[0])
    return {tag for m in members for tag in typing.get_args(m.model_fields[key].annotation)}


# --- every layer type, activation and initializer ----------------------------------------------

ACTIVATION_OPTIONS = {"leaky_relu": {"alpha": 0.2}, "elu": {"alpha": 0.7}}
INIT_OPTIONS = {"orthogonal": {"gain": 1.3}, "normal": {"std": 0.2}, "uniform": {"limit": 0.3}}


def every_layer_config() -> list[dict[str, Any]]:
    """Hidden layers using each initializer once, each activation (in a dense layer), gelu in
    both forms, and each layer type, a residual with a projection among them."""
    activations = sorted(ACTIVATIONS)
    layers: list[dict[str, Any]] = []
    for k, init in enumerate(sorted(INITIALIZERS)):
        name = activations[k % len(activations)]
        layers.append(
            {
                "type": "dense",
                "units": 8,
                "activation": {"name": name, **ACTIVATION_OPTIONS.get(name, {})},
                "init": {"name": init, **INIT_OPTIONS.get(init, {})},
            }
        )
        if k == 1:
            layers.append({"type": "batchnorm", "momentum": 0.3})
        if k == 3:
            layers.append({"type": "layernorm"})
        if k == 5:
            layers.append({"type": "dropout", "rate": 0.3})
        if k == 7:
            layers.append({"type": "activation", "name": "gelu", "approximate": "tanh"})
    body = [
        {"type": "dense", "units": 6, "activation": "tanh"},
        {"type": "batchnorm"},
        {"type": "dropout", "rate": 0.2},
        {"type": "layernorm", "eps": 1e-3},
    ]
    layers.append({"type": "residual", "layers": body})  # 8 -> 6: a projection
    layers.append({"type": "residual", "layers": [{"type": "dense", "units": 6}]})
    layers.append({"type": "activation", "name": "leaky_relu"})
    return layers


def _walk(layer: Layer) -> list[Layer]:
    found = [layer]
    for _, child in layer.children:
        found += _walk(child)
    if isinstance(layer, Residual) and layer.projection is not None:
        found += _walk(layer.projection)
    return found


def test_the_config_uses_every_name_the_registries_offer() -> None:
    layers = every_layer_config()
    flat = layers + [inner for spec in layers for inner in spec.get("layers", [])]
    dense = [spec for spec in flat if spec["type"] == "dense"]
    named = [s["activation"] for s in dense if "activation" in s]
    used_activations = {a if isinstance(a, str) else a["name"] for a in named}
    used_activations |= {s["name"] for s in flat if s["type"] == "activation"}
    assert used_activations == set(ACTIVATIONS) == set(S.ACTIVATION_NAMES)
    assert {s["init"]["name"] for s in dense if "init" in s} == set(INITIALIZERS)
    assert set(INITIALIZERS) == set(S.INIT_NAMES)
    assert {s["type"] for s in flat} == _tags(M.LayerSpec, "type")
    gelus = [a for a in named + flat if isinstance(a, dict) and a.get("name") == "gelu"]
    forms = typing.get_args(S.GeluActivation.model_fields["approximate"].annotation)
    assert {a.get("approximate", "none") for a in gelus} == set(forms)


def test_every_layer_activation_and_initializer_agrees(tmp_path: Path) -> None:
    config = {
        "name": "every-layer",
        "seed": 0,
        "data": {
            "train": str(DATASETS / "penguins/train.csv"),
            "target": "species",
            "validation": 0.2,
        },
        "model": {"layers": every_layer_config()},
        "training": {"epochs": 4, "batch_size": 32},
    }
    path = tmp_path / "every.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run = nncli.train(path, run_dir=tmp_path / "run")
    network = _walk(run.model.network)
    built = {layer.name for layer in network if isinstance(layer, Activation)}
    assert built == set(ACTIVATIONS)  # the config reached the engine, no default filled in
    assert {type(layer) for layer in network} >= {Dense, BatchNorm, LayerNorm, Dropout, Residual}
    assert {g.approximate for g in network if isinstance(g, GELU)} == {"none", "tanh"}
    assert any(isinstance(r, Residual) and r.projection is not None for r in network)

    model = export(run.run_dir, tmp_path / "every.onnx")
    odd = tmp_path / "odd.csv"
    odd.write_text(ODD_ROWS, encoding="utf-8")
    for data in (DATASETS / "penguins/train.csv", DATASETS / "penguins/test.csv", odd):
        agreed = compare(model, run.run_dir, data, tmp_path)
        assert agreed.max_prob_diff <= PROB_ATOL, (data, agreed)
        assert agreed.labels_equal, (data, agreed)
    # inference mode: a row's answer does not depend on the rows beside it (batchnorm's
    # running statistics, no dropout mask)
    rows = read_rows(DATASETS / "penguins/test.csv")[:8]
    batch = run_onnx(model, rows)["probabilities"]
    single = np.vstack([run_onnx(model, [row])["probabilities"] for row in rows])
    np.testing.assert_allclose(single, batch, rtol=0, atol=1e-6)
    ops = {node.op_type for node in onnx.load(str(model)).graph.node}
    assert "Dropout" not in ops and "BatchNormalization" not in ops


# --- several regression targets ----------------------------------------------------------------


def test_several_regression_targets_in_their_units(tmp_path: Path) -> None:
    targets = ["mpg", "acceleration", "weight"]
    config = {
        "name": "auto-mpg-3",
        "seed": 0,
        "data": {
            "train": str(DATASETS / "auto_mpg/train.csv"),
            "test": str(DATASETS / "auto_mpg/test.csv"),
            "target": targets,
            "missing": "impute",
        },
        "model": {"layers": [{"type": "dense", "units": 16}, {"type": "layernorm"}]},
        "training": {"epochs": 10, "batch_size": 32},
    }
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run = nncli.train(path, run_dir=tmp_path / "run")
    assert run.model.prep.targets == targets
    model = export(run.run_dir, tmp_path / "multi.onnx")
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert yaml.safe_load(meta["targets"]) == targets
    for split in ("train", "test"):
        agreed = compare(model, run.run_dir, DATASETS / f"auto_mpg/{split}.csv", tmp_path)
        assert agreed.max_rel_diff <= REL_TOL, (split, agreed)
    label = run_onnx(model, read_rows(DATASETS / "auto_mpg/test.csv"))["label"]
    assert label.shape == (80, 3)
    # in the targets' units, not standardized: about their training means
    means = label.mean(axis=0)
    assert 10 < means[0] < 45 and 8 < means[1] < 25 and 1500 < means[2] < 5200, means


# --- each bundled data set ---------------------------------------------------------------------


def _bundled_configs() -> list[Path]:
    """configs/*.yaml that train (a sweep file names a base config instead of data)."""
    found = []
    for path in sorted((REPO_ROOT / "configs").glob("*.yaml")):
        if "data" in yaml.safe_load(path.read_text(encoding="utf-8")):
            found.append(path)
    return found


def _dataset_of(config: Path) -> Path:
    train = yaml.safe_load(config.read_text(encoding="utf-8"))["data"]["train"]
    return (config.parent / train).resolve().parent


# Trained as shipped, these take 10-50 s on a busy 2-core machine (1,437 digits, up to 100
# epochs, 20 layers): the fast loop trains them for two epochs, the slow one as shipped.
SLOW = {"digits", "deep-cured", "deep-sigmoid"}
BUNDLED = [
    pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else [])
    for p in _bundled_configs()
]


def test_every_bundled_data_set_is_covered() -> None:
    folders = {p.name for p in DATASETS.iterdir() if (p / "train.csv").is_file()}
    covered = {_dataset_of(p).name for p in _bundled_configs()} | set(MIXED)
    assert folders == covered
    assert {p.stem for p in _bundled_configs()} >= SLOW


def _agrees_on_its_data(run_dir: Path, dataset: Path, tmp_path: Path) -> None:
    model = export(run_dir, tmp_path / "model.onnx")
    for split in ("train", "test"):
        agreed = compare(model, run_dir, dataset / f"{split}.csv", tmp_path)
        assert agreed.rows > 0
        if np.isnan(agreed.max_rel_diff):
            assert agreed.max_prob_diff <= PROB_ATOL, (split, agreed)
            assert agreed.labels_equal, (split, agreed)
        else:
            assert agreed.max_rel_diff <= REL_TOL, (split, agreed)


@pytest.mark.parametrize("config", BUNDLED)
def test_bundled_config_agrees(config: Path, tmp_path: Path) -> None:
    """Each bundled config trained as shipped."""
    run = nncli.train(config, run_dir=tmp_path / "run")
    _agrees_on_its_data(run.run_dir, _dataset_of(config), tmp_path)


@pytest.mark.parametrize(
    "config", [p for p in _bundled_configs() if p.stem in SLOW], ids=lambda p: p.stem
)
def test_bundled_config_briefly_agrees(config: Path, tmp_path: Path) -> None:
    """The slow bundled configs for two epochs: their data and layers in the fast loop."""
    run = nncli.train(config, overrides={"training.epochs": 2}, run_dir=tmp_path / "run")
    _agrees_on_its_data(run.run_dir, _dataset_of(config), tmp_path)


@pytest.mark.parametrize("name", sorted(MIXED))
def test_bundled_mixed_table_from_init_agrees(name: str, tmp_path: Path) -> None:
    """init -> train -> export on the tables with text, gaps and ids (unseen levels in test);
    the config as init wrote it, its 200 epochs capped at 30 for the fast loop."""
    from nncli.cli.starter import write_starter

    write_starter(name, data=DATASETS / name / "train.csv", target=MIXED[name], cwd=tmp_path)
    config = tmp_path / f"{name}.yaml"
    run = nncli.train(config, overrides={"training.epochs": 30}, run_dir=tmp_path / "run")
    _agrees_on_its_data(run.run_dir, DATASETS / name, tmp_path)


# --- each activation on its own, where a network would blur a small slip ------------------------


def _activation_variants() -> list[Any]:
    """Each registry activation with its default options, and each option nncli offers."""
    from nncli.engine.activations import make_activation

    layers = [make_activation(name) for name in sorted(ACTIVATIONS)]
    layers += [make_activation(name, **options) for name, options in ACTIVATION_OPTIONS.items()]
    return [*layers, make_activation("gelu", approximate="tanh")]


def test_each_activation_matches_the_engine_pointwise() -> None:
    """The graph's op(s) for an activation beside its engine forward on [-30, 30] (the softplus
    threshold, saturation and zero included): the gelu forms differ by 5e-4 at most, less
    than a trained network's probabilities show, so they are checked here. Within 2e-6 plus
    1e-6 relative: onnxruntime's float32 Sigmoid is up to 1e-7 off in its tails (x * that, in
    silu); every other op is within 1e-6."""
    from nncli.export.graph import Graph
    from nncli.export.onnx import OPSET, _activation

    x = np.concatenate([np.linspace(-30, 30, 601), [-1e-3, 0.0, 1e-3, 19.99, 20.0, 20.01]])
    x = np.stack([x, -x, 0.5 * x], axis=1).astype(np.float32)  # 3 columns: softmax's rows
    variants = _activation_variants()
    assert {layer.name for layer in variants} == set(ACTIVATIONS)
    for layer in variants:
        g = Graph(onnx)
        out = _activation(g, layer, "x")
        g.nodes.append(onnx.helper.make_node("Identity", [out], ["y"]))
        tensor = onnx.helper.make_tensor_value_info
        graph = onnx.helper.make_graph(
            g.nodes,
            "one",
            [tensor("x", onnx.TensorProto.FLOAT, ["N", 3])],
            [tensor("y", onnx.TensorProto.FLOAT, ["N", 3])],
            g.inits,
        )
        proto = onnx.helper.make_model(
            graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], ir_version=8
        )
        session = ort.InferenceSession(proto.SerializeToString())
        got = session.run(None, {"x": x})[0]
        want = layer.forward(x)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=2e-6, err_msg=repr(layer))
