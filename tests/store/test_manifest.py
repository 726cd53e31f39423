"""The checkpoint manifest schema: what older nncli wrote still parses, damaged values are one
CheckpointError worded as before, and a Manifest written back reads the same."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

import nncli
from nncli.errors import CheckpointError
from nncli.store.checkpoint import load_checkpoint, read_meta, save_checkpoint
from nncli.store.manifest import MAX_EPOCH, parse_header, parse_manifest, parse_model_manifest

WHERE = Path("run/checkpoints/last.npz")


@pytest.fixture(scope="module")
def meta(iris_run) -> dict:
    return load_checkpoint(iris_run.run_dir / "checkpoints" / "last.npz").meta


def edited(meta: dict, change) -> dict:
    copied = copy.deepcopy(meta)
    change(copied)
    return copied


def error(parse, meta: dict) -> str:
    with pytest.raises(CheckpointError) as info:
        parse(meta, WHERE)
    message = str(info.value)
    assert message.startswith(f"{WHERE}: ") and "\n" not in message
    return message[len(f"{WHERE}: ") :]


def test_a_checkpoint_of_this_version_parses_whole(meta, iris_run):
    manifest = parse_manifest(meta, WHERE)
    assert manifest.format == "nncli-checkpoint" and manifest.version == 1
    assert sorted(manifest.arrays) == manifest.arrays and "params/output.bias" in manifest.arrays
    assert manifest.preprocessing["task"] == "classification"
    assert manifest.output is not None and manifest.output.activation == {"name": "softmax"}
    state = manifest.training_state
    assert state.epoch == iris_run.epochs and state.stop.best_epoch <= state.epoch
    assert set(state.generators) == {"split", "init", "shuffle", "dropout"}
    assert state.data is not None and state.data.crc32["data.train"]
    assert state.optimizer == {"t": meta["training_state"]["optimizer"]["t"]}


@pytest.mark.parametrize(("saved", "read"), [(None, "error"), ("error", "error"), ("drop", "drop")])
def test_a_config_saved_before_a_default_changed_reads_as_it_was_trained(meta, saved, read):
    """data.missing: a config saved before the key existed (None) was trained strictly, as
    missing: error, not under today's default (impute); a value spelled out stays."""
    assert parse_manifest(meta, WHERE).config.data.missing == "impute"  # this run's

    def change(m: dict) -> None:
        del m["config"]["data"]["missing"]
        if saved is not None:
            m["config"]["data"]["missing"] = saved

    assert parse_model_manifest(edited(meta, change), WHERE).config.data.missing == read


def test_the_manifest_alone_reads_as_load_checkpoint_reads_it(iris_run):
    path = iris_run.run_dir / "checkpoints" / "last.npz"
    assert read_meta(path) == load_checkpoint(path).meta
    with pytest.raises(CheckpointError, match="not a readable nncli checkpoint"):
        read_meta(iris_run.config)  # a YAML file


def test_what_older_versions_left_out_has_the_default_meaning_written_before(meta):
    """Runs before data fingerprints (a6df253) and resume histories (b0105c1), and without
    the informational keys, still parse: no fingerprint to check, no resumes so far."""

    def strip(m: dict) -> None:
        for key in ("output", "saved", "nncli_version", "numpy_version"):
            del m[key]
        del m["training_state"]["data"], m["training_state"]["resumes"]

    manifest = parse_manifest(edited(meta, strip), WHERE)
    assert manifest.training_state.data is None and manifest.training_state.resumes == []
    assert manifest.output is None and manifest.nncli_version is None


def test_keys_this_version_does_not_know_are_ignored(meta):
    def add(m: dict) -> None:
        m["comment"] = "mine"
        m["training_state"]["extra"] = [1, 2]

    parse_manifest(edited(meta, add), WHERE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(format="other"), "not an nncli checkpoint (format 'other')"),
        (lambda m: m.pop("format"), "not an nncli checkpoint (format None)"),
        (lambda m: m.update(version=2), "checkpoint format version 2; this nncli reads up to 1"),
        (lambda m: m.update(version=True), "checkpoint format version True; this nncli reads"),
        (lambda m: m.update(version="1"), "checkpoint format version '1'; this nncli reads"),
        (lambda m: m.update(version=0), "checkpoint format version 0; this nncli reads"),
        (lambda m: m.update(arrays="params/x"), "damaged manifest (no list of arrays)"),
        (lambda m: m.update(arrays=[1]), "damaged manifest (no list of arrays)"),
        (lambda m: m.pop("arrays"), "damaged manifest (no list of arrays)"),
    ],
)
def test_a_header_that_is_no_nncli_checkpoints_is_named(meta, change, message):
    assert error(parse_header, edited(meta, change)).startswith(message)


def test_a_manifest_that_is_no_json_object_is_damaged():
    assert error(parse_header, [1, 2]) == "damaged manifest (not a JSON object)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m["config"]["model"]["layers"][0].update(units=0),
            "damaged manifest: its config is invalid (model.layers.0.dense.units: ",
        ),
        (lambda m: m.update(preprocessing=[1]), "preprocessing state is not a mapping"),
        (lambda m: m.update(nncli_version=3), "damaged manifest (nncli_version: "),
        (lambda m: m.update(output={"loss": {}}), "damaged manifest (output.activation: "),
    ],
)
def test_what_a_model_needs_is_checked_before_it_is_built(meta, change, message):
    assert error(parse_model_manifest, edited(meta, change)).startswith(message)


def test_a_damaged_training_state_does_not_stop_a_prediction(meta):
    damaged = edited(meta, lambda m: m["training_state"].update(epoch="three"))
    assert parse_model_manifest(damaged, WHERE).preprocessing == meta["preprocessing"]
    assert "damaged training state (epoch 'three'" in error(parse_manifest, damaged)


def state(key: str, value: object):
    return lambda m: m["training_state"].update({key: value})


def stop(key: str, value: object):
    return lambda m: m["training_state"]["stop"].update({key: value})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (state("epoch", 10**30), f"epoch {10**30} is not a count of epochs below {MAX_EPOCH}"),
        (state("epoch", -3), f"epoch -3 is not a count of epochs below {MAX_EPOCH}"),
        (state("epoch", 2.0), f"epoch 2.0 is not a count of epochs below {MAX_EPOCH}"),
        (state("epoch", True), f"epoch True is not a count of epochs below {MAX_EPOCH}"),
        (stop("wait", -1), f"wait -1 is not a count of epochs below {MAX_EPOCH}"),
        (stop("best_epoch", "1"), f"best epoch '1' is not a count of epochs below {MAX_EPOCH}"),
        (stop("best_epoch", 99), "best epoch 99 after epoch 3"),
        (stop("wait", 99), "early stopping has waited 99 epochs after epoch 3"),
        (stop("best_value", float("nan")), "best value nan"),
        (stop("best_value", True), "best value True"),
        (state("resumes", "oops"), "resumes 'oops' is not a list"),
        (state("resumes", {"epoch": 1}), "resumes {'epoch': 1} is not a list"),
        (state("resumes", [1, 2]), "resumes entry 1 is not a mapping"),
        (state("resumes", [{"epoch": 99}]), "resumes entry {'epoch': 99} is not one of epoch <= 3"),
        (state("generators", {"shuffle": {"state": "garbage"}}), "generator 'shuffle': "),
        (state("stop", None), "stop: "),
        (state("data", {"features": []}), "data.classes: Field required"),
        (lambda m: m.pop("training_state"), "the manifest has none)"),
    ],
)
def test_a_damaged_training_state_is_named(meta, change, message):
    assert error(parse_manifest, edited(meta, change)).startswith(
        f"damaged training state ({message}"
    )


def test_a_manifest_written_back_reads_the_same(meta, iris_run, tmp_path):
    """save_checkpoint takes the typed Manifest as well as a mapping; the file is the same."""
    source = load_checkpoint(iris_run.run_dir / "checkpoints" / "last.npz")
    manifest = source.manifest()
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name in source.arrays:
        group, _, rest = name.partition("/")
        groups.setdefault(group, {})[rest] = source.arrays[name]
    save_checkpoint(tmp_path / "typed.npz", manifest, groups)
    save_checkpoint(tmp_path / "dict.npz", source.meta, groups)
    typed, plain = load_checkpoint(tmp_path / "typed.npz"), load_checkpoint(tmp_path / "dict.npz")
    assert typed.manifest() == plain.manifest() == manifest
    assert json.loads(json.dumps(typed.meta["config"])) == meta["config"]
    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    expected = nncli.load(iris_run.run_dir / "checkpoints" / "last.npz").predict_proba(x)
    np.testing.assert_array_equal(nncli.load(tmp_path / "typed.npz").predict_proba(x), expected)
