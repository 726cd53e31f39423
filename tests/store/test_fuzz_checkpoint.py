"""Hostile checkpoints (issue 4, promise 5): whatever the bytes, loading raises CheckpointError
or gives a model that predicts; it never raises anything else and never executes code.

Seeds are real checkpoints (classification with batchnorm, layernorm, residual, dropout and
class weights; regression with two scaled targets), mutated at three levels: raw bytes
(truncation, flips, splices), archive members (replaced, reshaped, retyped, added, removed
arrays, pickled object arrays) and the JSON manifest (any value at any path replaced or
deleted, versions, the array list).
"""

from __future__ import annotations

import functools
import io
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS, relpath
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

import nncli
from nncli.build import count_state
from nncli.errors import CheckpointError, ConfigError
from nncli.store.checkpoint import META_KEY, load_checkpoint
from nncli.store.model import model_from_checkpoint

# Examples per fuzz target (each is one load of a mutated file); raise it for a deeper hunt:
# NNCLI_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_checkpoint.py
EXAMPLES = int(os.environ.get("NNCLI_FUZZ_EXAMPLES", "250"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.slow  # subprocess kills, Dask clusters or fuzzing budgets
QUIET = Console(file=io.StringIO())

CLASSIFIER = """\
model:
  layers:
    - {type: dense, units: 6}
    - {type: dropout, rate: 0.2}
    - {type: batchnorm}
    - type: residual
      layers:
        - {type: dense, units: 5, activation: tanh}
    - {type: layernorm}
loss: {name: cross_entropy, class_weights: balanced}
optimizer: {type: adam, lr: 0.01}
training: {epochs: 2, batch_size: 32}
"""
REGRESSOR = """\
model:
  layers:
    - {type: dense, units: 4}
optimizer: {type: sgd, lr: 0.01, momentum: 0.9}
training: {epochs: 2, batch_size: 64, dtype: float64}
"""


@functools.cache
def seeds(folder: str) -> dict[str, bytes]:
    """Real checkpoints as bytes: best and last of a classifier and of a regressor."""
    root = Path(folder)
    iris, diabetes = relpath(DATASETS / "iris", root), relpath(DATASETS / "diabetes", root)
    configs = {
        "cls": f"data:\n  train: {iris}/train.csv\n  target: species\n{CLASSIFIER}",
        "reg": f"data:\n  train: {diabetes}/train.csv\n  target: [progression, bmi]\n" + REGRESSOR,
    }
    out = {}
    for name, text in configs.items():
        config = root / f"{name}.yaml"
        config.write_text(text, encoding="utf-8")
        run = nncli.train(config, run_dir=root / name, console=QUIET)
        for which in ("best", "last"):
            out[f"{name}-{which}"] = (run.run_dir / "checkpoints" / f"{which}.npz").read_bytes()
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_checkpoint")


def members(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz as np.savez writes it (object arrays get pickled, as an attacker's would)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def manifest(arrays: dict[str, np.ndarray]) -> dict:
    return json.loads(arrays[META_KEY].tobytes().decode("utf-8"))


def with_manifest(arrays: dict[str, np.ndarray], meta: object) -> dict[str, np.ndarray]:
    text = json.dumps(meta).encode("utf-8")
    return {**arrays, META_KEY: np.frombuffer(text, dtype=np.uint8)}


def check_load(path: Path) -> None:
    """The property: CheckpointError, or a model that predicts for rows of its features."""
    try:
        model = nncli.load(path)
    except CheckpointError:
        return
    x = np.linspace(-1.0, 1.0, 3 * len(model.prep.features)).reshape(3, -1)
    predictions = model.predict(x)
    assert len(predictions) == 3
    if model.task == "classification":
        proba = model.predict_proba(x)
        assert proba.shape == (3, len(model.classes))


# --- strategies --------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

DTYPES = [
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int64,
    np.uint8,
    np.bool_,
    np.complex128,
    "U3",
    "S4",
    "M8[s]",
    "m8[s]",
    [("a", np.float64), ("b", np.int32)],
    object,
]


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every path into nested dicts and lists (the root included)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += paths(item, (*prefix, i))
    return out


def replace_at(value: object, path: tuple, new: object, delete: bool) -> object:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if delete and not rest:
        del copy[head]
    else:
        copy[head] = replace_at(copy[head], rest, new, delete)
    return copy


def weird_array(draw, like: np.ndarray | None) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(["same_shape", "other_shape", "scalar", "special", "empty"]))
    shape = like.shape if like is not None else (3,)
    if kind == "other_shape":
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    elif kind == "scalar":
        shape = ()
    elif kind == "empty":
        shape = (0, *shape[1:])
    if dtype is object:
        return np.array([draw(JSON) for _ in range(int(np.prod(shape)))] or [None], dtype=object)
    array = np.zeros(shape, dtype=np.dtype(dtype))
    if kind == "special" and array.dtype.kind in "fc" and array.size:
        value = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -0.0]))
        with np.errstate(over="ignore"):  # 1e300 becomes inf in float16/float32
            array.flat[draw(st.integers(0, array.size - 1))] = value
    return array


# --- fuzz targets -------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_mutated_bytes_never_escape_checkpoint_error(workdir, data):
    blobs = seeds(str(workdir))
    blob = bytearray(blobs[data.draw(st.sampled_from(sorted(blobs)))])
    how = data.draw(st.sampled_from(["truncate", "flip", "splice", "random"]))
    if how == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    elif how == "splice":
        start = data.draw(st.integers(0, len(blob)))
        blob[start : start + data.draw(st.integers(0, 64))] = data.draw(st.binary(max_size=64))
    else:
        blob = bytearray(data.draw(st.binary(max_size=512)))
    path = workdir / "bytes.npz"
    path.write_bytes(bytes(blob))
    check_load(path)


@FUZZ
@given(data=st.data())
def test_mutated_arrays_never_escape_checkpoint_error(workdir, data):
    blobs = seeds(str(workdir))
    arrays = members(blobs[data.draw(st.sampled_from(sorted(blobs)))])
    names = sorted(n for n in arrays if n != META_KEY)
    meta = manifest(arrays)
    how = data.draw(st.sampled_from(["replace", "remove", "add", "add_listed", "meta_array"]))
    if how == "replace":
        name = data.draw(st.sampled_from(names))
        arrays[name] = weird_array(data.draw, arrays[name])
    elif how == "remove":
        del arrays[data.draw(st.sampled_from(names))]
        if data.draw(st.booleans()):  # keep the manifest honest about it
            arrays = with_manifest(arrays, {**meta, "arrays": sorted(set(arrays) - {META_KEY})})
    elif how in ("add", "add_listed"):
        group = data.draw(st.sampled_from(["params", "prep", "head", "optim", "junk", ""]))
        name = f"{group}/{data.draw(st.text('abcxy_.0', min_size=1, max_size=12))}"
        arrays[name.lstrip("/")] = weird_array(data.draw, None)
        if how == "add_listed":
            arrays = with_manifest(arrays, {**meta, "arrays": sorted(set(arrays) - {META_KEY})})
    else:
        arrays[META_KEY] = weird_array(data.draw, arrays[META_KEY])
    path = workdir / "arrays.npz"
    path.write_bytes(pack(arrays))
    check_load(path)


@FUZZ
@given(data=st.data())
def test_mutated_manifest_never_escapes_checkpoint_error(workdir, data):
    blobs = seeds(str(workdir))
    arrays = members(blobs[data.draw(st.sampled_from(sorted(blobs)))])
    meta = manifest(arrays)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths(meta)))
        delete = bool(where) and data.draw(st.booleans())
        meta = replace_at(meta, where, data.draw(JSON), delete)
    path = workdir / "manifest.npz"
    path.write_bytes(pack(with_manifest(arrays, meta)))
    check_load(path)


@settings(FUZZ, max_examples=max(EXAMPLES // 2, 10))
@given(data=st.data())
def test_resume_from_a_mutated_last_checkpoint_never_escapes_nncli_errors(workdir, data):
    """--resume reads more than load does (optimizer, schedule, early stopping, generators):
    a damaged training state is a CheckpointError, a misfit one a ConfigError; a finite but
    absurd one may make training diverge, which is reported as such (exit 1 too)."""
    blobs = seeds(str(workdir))
    kind = data.draw(st.sampled_from(["cls", "reg"]))
    arrays = members(blobs[f"{kind}-last"])
    meta = manifest(arrays)
    if data.draw(st.booleans()):
        where = data.draw(st.sampled_from(paths(meta["training_state"])))
        delete = bool(where) and data.draw(st.booleans())
        meta["training_state"] = replace_at(meta["training_state"], where, data.draw(JSON), delete)
        arrays = with_manifest(arrays, meta)
    else:
        name = data.draw(st.sampled_from(sorted(n for n in arrays if n.startswith("optim/"))))
        arrays[name] = weird_array(data.draw, arrays[name])
    run_dir = workdir / f"resume-{kind}"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(workdir / kind, run_dir)
    (run_dir / "checkpoints" / "last.npz").write_bytes(pack(arrays))
    try:
        run = nncli.train(
            workdir / f"{kind}.yaml", {"training.epochs": 3}, resume=run_dir, console=QUIET
        )
    except (CheckpointError, ConfigError):
        return
    except nncli.NncliError as exc:  # finite but absurd state (a moment of 1e300) can diverge
        assert "diverged" in str(exc)
        return
    assert run.stop_reason in ("completed", "early_stopping")
    nncli.load(run.last_checkpoint)


# --- specific hostile files, each with its one clear message ------------------------------------


def seed_arrays(workdir: Path, name: str = "cls-last") -> dict[str, np.ndarray]:
    return members(seeds(str(workdir))[name])


def load_error(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        model_from_checkpoint(load_checkpoint(path))
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_pickled_object_array_is_refused_without_running_it(workdir, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    arrays = seed_arrays(workdir)
    arrays["params/output.bias"] = np.array([Payload()], dtype=object)
    assert b"touch" in pickle.dumps(Payload())  # the payload really would run on unpickling
    path = tmp_path / "evil.npz"
    path.write_bytes(pack(arrays))
    assert "output.bias" in load_error(path)
    assert not marker.exists()


def test_newer_format_version_is_named(workdir, tmp_path):
    arrays = seed_arrays(workdir)
    path = tmp_path / "future.npz"
    path.write_bytes(pack(with_manifest(arrays, {**manifest(arrays), "version": 2})))
    assert "version 2" in load_error(path)


def test_wrong_shape_names_the_array_and_both_shapes(workdir, tmp_path):
    arrays = seed_arrays(workdir)
    arrays["params/layers.0.weight"] = np.zeros((4, 7), dtype=np.float32)
    path = tmp_path / "shape.npz"
    path.write_bytes(pack(arrays))
    message = load_error(path)
    assert "layers.0.weight" in message and "(4, 7)" in message and "(4, 6)" in message


def test_weights_beyond_the_models_float_range_are_refused(workdir, tmp_path):
    # Finite in float64, inf once cast to the model's float32: a model that would only ever
    # predict nan, so the checkpoint is refused instead.
    arrays = seed_arrays(workdir)
    weight = arrays["params/layers.0.weight"].astype(np.float64)
    weight[0, 0] = 1e300
    arrays["params/layers.0.weight"] = weight
    path = tmp_path / "huge.npz"
    path.write_bytes(pack(arrays))
    message = load_error(path)
    assert "layers.0.weight" in message and "float32" in message


def test_unexpected_array_is_named(workdir, tmp_path):
    arrays = seed_arrays(workdir)
    arrays["junk/x"] = np.zeros(3)
    path = tmp_path / "extra.npz"
    listed = sorted(set(arrays) - {META_KEY})
    path.write_bytes(pack(with_manifest(arrays, {**manifest(arrays), "arrays": listed})))
    assert "junk/x" in load_error(path)


def test_claimed_huge_array_is_refused_without_allocating(workdir, tmp_path):
    """A header may claim any shape; the data must really be in the file."""
    good = tmp_path / "good.npz"
    good.write_bytes(seeds(str(workdir))["cls-best"])
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(huge, "w") as dst:
        for info in src.infolist():
            payload = src.read(info)
            if info.filename == "params/output.bias.npy":
                header = io.BytesIO()
                shape = {"descr": "<f4", "fortran_order": False, "shape": (4_000_000_000,)}
                np.lib.format.write_array_header_1_0(header, shape)
                payload = header.getvalue() + payload[-12:]  # the real 3 float32 values
            dst.writestr(info, payload)
    assert "output.bias" in load_error(huge)


def test_deeply_nested_manifest_is_refused(workdir, tmp_path):
    arrays = seed_arrays(workdir)
    text = b'{"format": "nncli-checkpoint", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    arrays[META_KEY] = np.frombuffer(text, dtype=np.uint8)
    path = tmp_path / "deep.npz"
    path.write_bytes(pack(arrays))
    assert "manifest" in load_error(path)


def test_compressed_archive_is_refused(workdir, tmp_path):
    arrays = seed_arrays(workdir)
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **arrays)
    assert "compress" in load_error(path)


def test_config_claiming_a_huge_network_is_refused_before_building(workdir, tmp_path):
    arrays = seed_arrays(workdir, "reg-best")
    meta = manifest(arrays)
    meta["config"]["model"]["layers"] = [{"type": "dense", "units": 10**6}] * 3
    path = tmp_path / "huge_config.npz"
    path.write_bytes(pack(with_manifest(arrays, meta)))
    assert "numbers expected" in load_error(path)  # 2e12 weights were never allocated


def test_count_state_matches_the_built_network(workdir, tmp_path):
    """The size check above mirrors build_network; both must count the same numbers."""
    for name, blob in seeds(str(workdir)).items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(blob)
        model = nncli.load(path)
        n_state = sum(a.size for a in model.state_dict().values())
        assert count_state(model.config, len(model.prep.features), model.out.n_outputs) == n_state


@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.float16])
def test_weights_of_a_dtype_nncli_never_saves_are_refused(workdir, tmp_path, dtype):
    # int32, bool and float16 weights were cast on loading and the model predicted with them
    arrays = seed_arrays(workdir)
    arrays["params/layers.0.weight"] = arrays["params/layers.0.weight"].astype(dtype)
    path = tmp_path / "retyped.npz"
    path.write_bytes(pack(arrays))
    message = load_error(path)
    assert "params/layers.0.weight" in message and np.dtype(dtype).name in message


def resume_error(workdir: Path, tmp_path: Path, change, overrides: dict | None = None) -> str:
    """--resume of a copy of the classifier run whose last.npz went through change(arrays,
    meta): the CheckpointError's message; the run folder is left as it was."""
    arrays = seed_arrays(workdir)
    meta = manifest(arrays)
    change(arrays, meta)
    run_dir = tmp_path / "run"
    shutil.copytree(workdir / "cls", run_dir)
    (run_dir / "checkpoints" / "last.npz").write_bytes(pack(with_manifest(arrays, meta)))
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError) as info:
        overrides = {"training.epochs": 3, **(overrides or {})}
        nncli.train(workdir / "cls.yaml", overrides, resume=run_dir, console=QUIET)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
    message = str(info.value)
    assert "last.npz" in message and "\n" not in message
    return message


def test_resume_refuses_weights_of_another_dtype(workdir, tmp_path):
    def retype(arrays, meta):
        arrays["params/layers.0.weight"] = arrays["params/layers.0.weight"].astype(np.int32)

    assert "params/layers.0.weight" in resume_error(workdir, tmp_path, retype)


@pytest.mark.parametrize("epoch", [10**30, 10**9, -3, 2.0, True])
def test_resume_refuses_an_epoch_that_is_no_count_of_epochs(workdir, tmp_path, epoch):
    # 10**30 was accepted: "resuming after epoch 1000000000000000000000000000000"
    def edit(arrays, meta):
        meta["training_state"]["epoch"] = epoch

    assert "epoch" in resume_error(workdir, tmp_path, edit)


@pytest.mark.parametrize("resumes", ["oops", {"epoch": 1}, [1, 2], [{"epoch": 99}]])
def test_resume_refuses_a_resumes_history_that_is_no_list_of_resumes(workdir, tmp_path, resumes):
    # "oops" ended up in summary.json as ["o", "o", "p", "s"]
    def edit(arrays, meta):
        meta["training_state"]["resumes"] = resumes

    assert "resumes" in resume_error(workdir, tmp_path, edit)


def test_resume_refuses_a_negative_sum_of_squared_gradients(workdir, tmp_path):
    # Adam's second-moment sum is >= 0; a negative one made training diverge after resuming
    name = "optim/sq_grad_sum/output.bias"

    def edit(arrays, meta):
        arrays[name] = -np.ones_like(arrays[name])

    assert "sq_grad_sum/output.bias" in resume_error(workdir, tmp_path, edit)
    # with a changed optimizer key it was blamed on the config ("keep their types")
    changed_lr = resume_error(workdir, tmp_path / "lr", edit, {"optimizer.lr": 0.005})
    assert "damaged training state" in changed_lr and "sq_grad_sum/output.bias" in changed_lr


@pytest.mark.parametrize(
    ("kind", "options", "squares"),
    [
        ("adam", {}, "sq_grad_sum"),
        ("adamw", {}, "sq_grad_sum"),
        ("rmsprop", {}, "square_avg"),
        ("adagrad", {}, "sum"),
        ("rmsprop", {"momentum": 0.9}, "square_avg"),
    ],
)
def test_optimizer_state_of_squares_must_not_be_negative(kind, options, squares):
    from nncli.engine.base import Param
    from nncli.engine.optimizers import OPTIMIZERS

    optimizer = OPTIMIZERS[kind](0.01, **options)
    param = Param("w", np.zeros(3, np.float32), np.zeros(3, np.float32), True)
    state = {f"{k}/w": np.zeros(3, np.float32) for k in optimizer.state_kinds()}
    optimizer.load_state_dict(state, {"t": 1}, [param])  # zeros are fine
    state[f"{squares}/w"] = np.array([1.0, -1e-3, 0.0], np.float32)
    with pytest.raises(ValueError, match=f"{squares}/w"):
        optimizer.load_state_dict(state, {"t": 1}, [param])
    state[f"{squares}/w"] = np.ones(3, np.int32)
    with pytest.raises(ValueError, match="int32"):
        optimizer.load_state_dict(state, {"t": 1}, [param])


def test_an_unreadable_checkpoint_says_so_not_that_it_is_no_archive(iris_run, monkeypatch):
    """Permissions cannot be tested as root, so the open itself fails here."""
    path = iris_run.run_dir / "checkpoints" / "best.npz"
    real_open = Path.open

    def denied(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == f"{path}: cannot read the file (Permission denied)"
