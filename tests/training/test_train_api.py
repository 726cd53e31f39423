"""The Python API of SPEC §5, in process: train, load, predict, state_dict, seeds, resume."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS, relpath
from rich.console import Console

import nncli
from nncli import ConfigError

IRIS_TEST = DATASETS / "iris" / "test.csv"
QUIET = Console(file=io.StringIO())


def iris_features(path: Path = IRIS_TEST) -> tuple[np.ndarray, list[str]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    target = header.index("species")
    x = np.array([[float(v) for i, v in enumerate(r) if i != target] for r in body])
    return x, [r[target] for r in body]


def write_config(folder: Path, body: str, name: str = "c") -> Path:
    """An iris config in `folder` (data paths relative to it) plus the given sections."""
    folder.mkdir(parents=True, exist_ok=True)
    data = relpath(DATASETS / "iris", folder)
    config = folder / f"{name}.yaml"
    config.write_text(
        f"data:\n  train: {data}/train.csv\n  test: {data}/test.csv\n  target: species\n" + body,
        encoding="utf-8",
    )
    return config


def train(config: Path, run_dir: Path, **kwargs) -> nncli.RunResult:
    return nncli.train(config, run_dir=run_dir, console=QUIET, **kwargs)


def assert_same_state(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name], b[name]), name


FULL_MODEL = """\
model:
  layers:
    - {type: dense, units: 8}
    - {type: dropout, rate: 0.2}
    - {type: batchnorm}
    - type: residual
      layers:
        - {type: dense, units: 6, activation: gelu}
        - {type: dense, units: 6, activation: linear}
    - {type: activation, name: relu}
    - {type: layernorm}
"""


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> nncli.RunResult:
    folder = tmp_path_factory.mktemp("full")
    config = write_config(folder, FULL_MODEL + "training: {epochs: 5, batch_size: 16}\n")
    return train(config, folder / "run", overrides={"training.epochs": 3})


def test_train_returns_run_with_loadable_best_checkpoint(full_run):
    assert full_run.summary["epochs_run"] == 3  # the override beat the file's 5
    assert full_run.best_checkpoint.is_file()
    from_file = nncli.load(full_run.best_checkpoint)
    from_folder = nncli.load(full_run.run_dir)
    from_str = nncli.load(str(full_run.best_checkpoint))
    assert_same_state(from_file.state_dict(), from_folder.state_dict())
    assert_same_state(from_file.state_dict(), from_str.state_dict())
    assert from_file.classes == ["setosa", "versicolor", "virginica"]
    assert from_file.task == "classification"


def test_state_dict_names_follow_the_config(full_run):
    state = nncli.load(full_run.best_checkpoint).state_dict()
    expected = {
        "layers.0.weight": (4, 8),
        "layers.0.bias": (8,),
        "layers.2.gamma": (8,),
        "layers.2.beta": (8,),
        "layers.2.running_mean": (8,),
        "layers.2.running_var": (8,),
        "layers.3.layers.0.weight": (8, 6),
        "layers.3.layers.0.bias": (6,),
        "layers.3.layers.1.weight": (6, 6),
        "layers.3.layers.1.bias": (6,),
        "layers.3.projection.weight": (8, 6),
        "layers.5.gamma": (6,),
        "layers.5.beta": (6,),
        "output.weight": (6, 3),
        "output.bias": (3,),
    }
    optional = {"layers.3.projection.bias": (6,)}  # SPEC: `projection.*`
    assert set(expected) <= set(state) <= set(expected) | set(optional)
    for name, shape in {**expected, **optional}.items():
        if name in state:
            assert state[name].shape == shape, name
    # Running statistics moved away from their initial values during training.
    assert not np.allclose(state["layers.2.running_mean"], 0.0)


def test_state_dict_is_a_copy(full_run):
    model = nncli.load(full_run.best_checkpoint)
    state = model.state_dict()
    state["output.weight"][...] = 0.0
    assert not np.allclose(model.state_dict()["output.weight"], 0.0)


def test_predict_and_predict_proba(full_run):
    model = nncli.load(full_run.best_checkpoint)
    x, _ = iris_features()
    predicted = model.predict(x)
    assert len(predicted) == len(x)
    assert set(predicted) <= set(model.classes)
    proba = model.predict_proba(x)
    assert proba.shape == (len(x), len(model.classes))
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert list(predicted) == [model.classes[i] for i in proba.argmax(axis=1)]
    # Row i of the output belongs to row i of the input.
    order = np.random.default_rng(0).permutation(len(x))
    np.testing.assert_allclose(model.predict_proba(x[order]), proba[order], atol=1e-6)
    # Features are raw: scaling them by hand first gives a different answer.
    assert not np.allclose(model.predict_proba(x * 10.0), proba, atol=1e-3)


def test_predict_rejects_wrong_feature_count(full_run):
    model = nncli.load(full_run.best_checkpoint)
    x, _ = iris_features()
    with pytest.raises(nncli.DataError, match="4 feature columns"):
        model.predict(x[:, :3])


def test_predict_proba_column_order_is_model_classes(tmp_path):
    # Labels whose first-seen order differs from their sorted order.
    rows = [["a", "b", "label"]]
    rng = np.random.default_rng(1)
    names = {0: "zebra", 1: "apple", 2: "mango"}
    for _ in range(90):
        k = int(rng.integers(3))
        rows.append([f"{k + rng.normal(0, 0.1):.4f}", f"{-k + rng.normal(0, 0.1):.4f}", names[k]])
    with (tmp_path / "train.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    config = tmp_path / "c.yaml"
    config.write_text(
        "data: {train: train.csv, target: label, validation: null}\n"
        "optimizer: {type: adam, lr: 0.05}\n"
        "training: {epochs: 40}\n"
    )
    run = train(config, tmp_path / "run")
    model = nncli.load(run.best_checkpoint)
    assert model.classes == ["apple", "mango", "zebra"]
    x = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, -2.0]])
    proba = model.predict_proba(x)
    expected = ["zebra", "apple", "mango"]
    assert [model.classes[i] for i in proba.argmax(axis=1)] == expected
    assert list(model.predict(x)) == expected


SEEDED = """\
model:
  layers:
    - {type: dense, units: 8}
    - {type: dropout, rate: 0.3}
    - {type: batchnorm}
    - {type: dense, units: 8}
training: {epochs: 3, batch_size: 16}
"""


def test_same_seed_gives_bit_identical_weights(tmp_path):
    config = write_config(tmp_path, SEEDED)
    a = train(config, tmp_path / "a").model.state_dict()
    b = train(config, tmp_path / "b").model.state_dict()
    assert_same_state(a, b)
    c = train(config, tmp_path / "c", overrides={"seed": 1}).model.state_dict()
    assert not np.array_equal(a["layers.0.weight"], c["layers.0.weight"])


def test_dropout_does_not_change_initial_weights(tmp_path):
    plain = write_config(
        tmp_path,
        "model:\n  layers:\n    - {type: dense, units: 8}\n    - {type: dense, units: 5}\n"
        "training: {epochs: 0}\n",
        name="plain",
    )
    dropped = write_config(
        tmp_path,
        "model:\n  layers:\n    - {type: dense, units: 8}\n    - {type: dropout, rate: 0.5}\n"
        "    - {type: dense, units: 5}\n"
        "training: {epochs: 0}\n",
        name="dropped",
    )
    a = nncli.load(train(plain, tmp_path / "a").last_checkpoint).state_dict()
    b = nncli.load(train(dropped, tmp_path / "b").last_checkpoint).state_dict()
    assert np.array_equal(a["layers.0.weight"], b["layers.0.weight"])
    assert np.array_equal(a["layers.1.weight"], b["layers.2.weight"])
    assert np.array_equal(a["output.weight"], b["output.weight"])


def test_float64_config_gives_float64_params(tmp_path):
    config = write_config(tmp_path, SEEDED)
    run = train(config, tmp_path / "run", overrides={"training.dtype": "float64"})
    state = nncli.load(run.best_checkpoint).state_dict()
    assert {a.dtype for a in state.values()} == {np.dtype(np.float64)}
    default = train(config, tmp_path / "default", overrides={"training.epochs": 0})
    state32 = nncli.load(default.last_checkpoint).state_dict()
    assert {a.dtype for a in state32.values()} == {np.dtype(np.float32)}


def test_early_stopping_and_restore_best(tmp_path):
    # min_delta so large that only the first epoch counts as an improvement.
    config = write_config(
        tmp_path,
        "optimizer: {type: adam, lr: 0.01}\n"
        "training:\n  epochs: 200\n  early_stopping:\n"
        "    monitor: val_loss\n    patience: 3\n    min_delta: 100.0\n    restore_best: true\n",
    )
    run = train(config, tmp_path / "run")
    assert run.stop_reason == "early_stopping"
    assert run.summary["epochs_run"] == 4
    assert run.summary["best_epoch"] == 1
    best = nncli.load(run.best_checkpoint).state_dict()
    last = nncli.load(run.last_checkpoint).state_dict()
    assert_same_state(run.model.state_dict(), best)
    assert not np.array_equal(best["layers.0.weight"], last["layers.0.weight"])
    with (run.run_dir / "metrics.csv").open() as handle:
        assert len(list(csv.reader(handle))) == 1 + 4


def test_early_stopping_without_restore_best_keeps_last(tmp_path):
    config = write_config(
        tmp_path,
        "training:\n  epochs: 200\n  early_stopping:\n"
        "    patience: 2\n    min_delta: 100.0\n    restore_best: false\n",
    )
    run = train(config, tmp_path / "run")
    assert run.stop_reason == "early_stopping"
    assert run.summary["epochs_run"] == 3
    last = nncli.load(run.last_checkpoint).state_dict()
    assert_same_state(run.model.state_dict(), last)


def test_early_stopping_mode_max_from_metric_name(tmp_path):
    config = write_config(
        tmp_path,
        "training:\n  epochs: 30\n  early_stopping:\n"
        "    monitor: val_accuracy\n    patience: 2\n    min_delta: 2.0\n",
    )
    run = train(config, tmp_path / "run")
    assert run.summary["mode"] == "max"
    assert run.stop_reason == "early_stopping" and run.summary["epochs_run"] == 3


@pytest.mark.parametrize(
    ("body", "overrides", "needles"),
    [
        ("training:\n  early_stopping: {monitor: val_acc}\n", {}, ["val_acc", "'val_accuracy'"]),
        (
            "training:\n  early_stopping: {monitor: val_loss}\n",
            {"data.validation": None},  # no validation set: no val_* metrics
            ["training.early_stopping.monitor", "val_loss"],
        ),
        ("schedule: {type: plateau, monitor: val_f1}\n", {}, ["schedule.monitor", "val_f1"]),
    ],
)
def test_monitor_must_be_a_logged_metric(tmp_path, body, overrides, needles):
    config = write_config(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        train(config, tmp_path / "run", overrides=overrides)
    for needle in needles:
        assert needle in str(info.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


RESUMABLE = """\
model:
  layers:
    - {type: dense, units: 8}
    - {type: dropout, rate: 0.2}
    - {type: batchnorm}
    - {type: dense, units: 8}
optimizer: {type: adamw, lr: 0.01}
schedule: {type: step, step_size: 2, gamma: 0.5, warmup_epochs: 1}
training:
  epochs: 6
  batch_size: 16
  early_stopping: {patience: 50, restore_best: false}
"""


RESUME_VARIANTS = {
    "adamw+step": {},
    "sgd+plateau": {
        "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
        "schedule": {"type": "plateau", "monitor": "val_accuracy", "patience": 0, "factor": 0.5},
    },
    "rmsprop+cosine": {
        "optimizer": {"type": "rmsprop", "lr": 0.005, "momentum": 0.5},
        "schedule": {"type": "cosine", "t_max": 6, "min_lr": 0.0001},
    },
    "adagrad+exponential+float64+clip": {
        "optimizer": {"type": "adagrad", "lr": 0.05, "weight_decay": 0.001},
        "schedule": {"type": "exponential", "gamma": 0.8},
        "training.dtype": "float64",
        "training.grad_clip": 0.5,
    },
}


@pytest.mark.parametrize("variant", list(RESUME_VARIANTS))
def test_resume_gives_identical_final_weights(tmp_path, variant):
    overrides = RESUME_VARIANTS[variant]
    config = write_config(tmp_path, RESUMABLE)
    straight = train(config, tmp_path / "straight", overrides=overrides)
    first = train(config, tmp_path / "resumed", overrides={**overrides, "training.epochs": 3})
    assert first.summary["epochs_run"] == 3
    resumed = nncli.train(
        config,
        overrides={**overrides, "training.epochs": 6},
        resume=first.run_dir,
        console=QUIET,
    )
    assert resumed.run_dir == first.run_dir
    assert resumed.summary["epochs_run"] == 6
    assert_same_state(
        nncli.load(straight.last_checkpoint).state_dict(),
        nncli.load(resumed.last_checkpoint).state_dict(),
    )
    assert_same_state(straight.model.state_dict(), resumed.model.state_dict())
    assert_same_state(
        nncli.load(straight.best_checkpoint).state_dict(),
        nncli.load(resumed.best_checkpoint).state_dict(),
    )
    assert resumed.summary["best_epoch"] == straight.summary["best_epoch"]
    assert resumed.summary["test_metrics"] == straight.summary["test_metrics"]
    with (
        (straight.run_dir / "metrics.csv").open() as a,
        (resumed.run_dir / "metrics.csv").open() as b,
    ):
        rows_a, rows_b = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert [r["epoch"] for r in rows_b] == ["1", "2", "3", "4", "5", "6"]
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for column in ra:
            if column != "seconds":
                assert ra[column] == rb[column], (ra["epoch"], column)


def test_resume_refuses_a_changed_model(tmp_path):
    config = write_config(tmp_path, RESUMABLE)
    first = train(config, tmp_path / "run", overrides={"training.epochs": 1})
    with pytest.raises(ConfigError, match="model"):
        nncli.train(
            config, overrides={"model.layers.0.units": 9}, resume=first.run_dir, console=QUIET
        )


# --- checkpoints (SPEC §4) ---------------------------------------------------------------------


def rewrite_checkpoint(source: Path, target: Path, edit) -> None:
    """Copy a checkpoint, letting `edit(meta, arrays)` change its manifest and arrays."""
    import json

    with np.load(source, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    edit(meta, arrays)
    meta["arrays"] = sorted(arrays)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with target.open("wb") as handle:
        np.savez(handle, **arrays)


def test_checkpoint_needs_neither_config_nor_data(tmp_path):
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.csv", "test.csv"):
        shutil.copy(DATASETS / "iris" / name, data / name)
    config = tmp_path / "cfg" / "c.yaml"
    config.parent.mkdir()
    config.write_text(
        "data: {train: ../data/train.csv, test: ../data/test.csv, target: species}\n"
        "training: {epochs: 2}\n"
    )
    run = train(config, tmp_path / "run")
    x, _ = iris_features()
    expected = nncli.load(run.last_checkpoint).predict_proba(x)
    moved = tmp_path / "elsewhere" / "model.npz"
    moved.parent.mkdir()
    shutil.move(run.last_checkpoint, moved)
    for folder in (data, config.parent, run.run_dir):
        shutil.rmtree(folder)
    model = nncli.load(moved)
    np.testing.assert_array_equal(model.predict_proba(x), expected)
    assert model.classes == ["setosa", "versicolor", "virginica"]


class _Trap:
    """Unpickling this object creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_checkpoint_loading_never_unpickles(full_run, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npz"

    def add_object_array(meta, arrays):
        arrays["params/trap"] = np.array([_Trap(marker)], dtype=object)

    rewrite_checkpoint(full_run.last_checkpoint, evil, add_object_array)
    with pytest.raises(nncli.CheckpointError) as info:
        nncli.load(evil)
    assert "evil.npz" in str(info.value)
    assert not marker.exists()


def test_checkpoint_with_wrong_shape_names_the_array(full_run, tmp_path):
    bad = tmp_path / "bad.npz"

    def reshape(meta, arrays):
        arrays["params/output.weight"] = np.zeros((5, 3), dtype=np.float32)

    rewrite_checkpoint(full_run.last_checkpoint, bad, reshape)
    with pytest.raises(nncli.CheckpointError, match=r"output\.weight"):
        nncli.load(bad)


def test_checkpoint_missing_array_is_named(full_run, tmp_path):
    bad = tmp_path / "bad.npz"
    rewrite_checkpoint(
        full_run.last_checkpoint, bad, lambda meta, arrays: arrays.pop("params/layers.2.gamma")
    )
    with pytest.raises(nncli.CheckpointError, match=r"layers\.2\.gamma"):
        nncli.load(bad)


def test_checkpoint_from_a_newer_format_is_refused(full_run, tmp_path):
    newer = tmp_path / "newer.npz"
    rewrite_checkpoint(
        full_run.last_checkpoint, newer, lambda meta, arrays: meta.update(version=999)
    )
    with pytest.raises(nncli.CheckpointError, match="999"):
        nncli.load(newer)


def test_checkpoint_write_is_atomic(full_run, tmp_path, monkeypatch):
    from nncli.store import checkpoint

    target = tmp_path / "ckpt.npz"
    target.write_bytes(full_run.last_checkpoint.read_bytes())
    before = nncli.load(target).state_dict()

    def crash(handle, **arrays):
        handle.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(target, {"x": 1}, {"params": {"w": np.zeros(3)}})
    monkeypatch.undo()
    assert_same_state(nncli.load(target).state_dict(), before)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


# --- where runs go -----------------------------------------------------------------------------


def test_runs_in_the_same_second_get_distinct_folders(tmp_path, monkeypatch):
    config = write_config(tmp_path / "cfg", "name: ../../escape/me\ntraining: {epochs: 0}\n")
    monkeypatch.chdir(tmp_path)
    a = nncli.train(config, console=QUIET)
    b = nncli.train(config, console=QUIET)
    assert a.run_dir != b.run_dir
    for run in (a, b):
        # The name cannot lead the folder out of runs/.
        assert run.run_dir.resolve().parent.parent == (tmp_path / "runs").resolve()
        assert run.last_checkpoint.is_file()


def test_run_dir_may_be_an_existing_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = train(write_config(tmp_path, "training: {epochs: 1}\n"), empty)
    assert run.run_dir == empty
    assert (empty / "summary.json").is_file()


def test_a_non_finite_test_metric_is_null_in_summary_json(tmp_path, monkeypatch):
    """summary.json stays JSON (NaN is not) and the closing lines say n/a and why."""
    import json

    from nncli.store.model import Model

    real = Model.evaluate_arrays

    def overflowing(self, x, y, **kwargs):
        metrics = real(self, x, y, **kwargs)
        return {**metrics, "loss": float("nan")}

    monkeypatch.setattr(Model, "evaluate_arrays", overflowing)
    out = io.StringIO()
    config = write_config(tmp_path / "cfg", "training: {epochs: 1}\n")
    overrides = {"data.validation": None}  # so evaluate_arrays runs on the test set only
    nncli.train(config, overrides, tmp_path / "run", console=Console(file=out, width=200))
    text = (tmp_path / "run" / "summary.json").read_text()
    assert "NaN" not in text
    metrics = json.loads(text)["test_metrics"]
    assert metrics["loss"] is None and 0 <= metrics["accuracy"] <= 1
    assert "test: loss n/a, accuracy" in out.getvalue()
    assert "some test metrics are not finite" in out.getvalue()
