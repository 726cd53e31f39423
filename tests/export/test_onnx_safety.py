"""The export never runs code from the checkpoint: it reads through nncli's own .npz reader
(no pickle, no np.load), and a checkpoint carrying a pickled payload is refused in one line
before anything in it runs."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, run_cli

import nncli
from nncli.cli.export import export_file
from nncli.errors import NncliError
from nncli.store.checkpoint import resolve_checkpoint_path

pytest.importorskip("onnx")


class Payload:
    """Unpickled, it creates the file `sentinel`: proof that code from the file ran."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple:
        return (open, (str(self.sentinel), "w"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("safety")
    run = nncli.train(
        REPO_ROOT / "configs/iris.yaml", overrides={"training.epochs": 1}, run_dir=work / "run"
    )
    return resolve_checkpoint_path(run.run_dir)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _with_payload(source: Path, target: Path, member: str, sentinel: Path) -> Path:
    """source with `member` replaced by an object array holding the payload, stored as
    nncli stores its arrays (uncompressed), so only the dtype gives it away."""
    members = _members(source)
    assert member in members, sorted(members)
    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload(sentinel)], dtype=object), allow_pickle=True)
    members[member] = buffer.getvalue()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _payload_is_live(crafted: Path, member: str, sentinel: Path) -> None:
    """np.load with allow_pickle=True would run it: the test's payload really is one."""
    assert not sentinel.exists()
    with np.load(crafted, allow_pickle=True) as archive:
        archive[member.removesuffix(".npy")]
    assert sentinel.exists()


@pytest.mark.parametrize("member", ["params/output.weight.npy", "__meta__.npy"])
def test_a_pickled_payload_is_refused_unrun(checkpoint: Path, tmp_path: Path, member: str) -> None:
    sentinel = tmp_path / "ran"
    crafted = _with_payload(checkpoint, tmp_path / "crafted.npz", member, sentinel)
    target = tmp_path / "m.onnx"
    with pytest.raises(NncliError) as refused:
        export_file(crafted, "onnx", target, force=False)
    message = str(refused.value)
    assert "\n" not in message and str(crafted) in message, message
    assert "unsupported dtype object" in message, message
    assert not sentinel.exists() and not target.exists()
    _payload_is_live(crafted, member, sentinel)


def test_the_command_refuses_it_in_one_line(checkpoint: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    member = "params/output.weight.npy"
    crafted = _with_payload(checkpoint, tmp_path / "crafted.npz", member, sentinel)
    target = tmp_path / "m.onnx"
    result = run_cli("export", crafted, "--format", "onnx", "--output", target)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unsupported dtype object" in lines[0], result.stderr
    assert "allow_pickle" not in result.stderr  # never advise a user to unpickle
    assert not sentinel.exists() and not target.exists()
    _payload_is_live(crafted, member, sentinel)


def test_a_plain_pickle_posing_as_a_checkpoint_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    crafted = tmp_path / "best.npz"
    crafted.write_bytes(pickle.dumps(Payload(sentinel)))
    with pytest.raises(NncliError, match=r"not an \.npz archive"):
        export_file(crafted, "onnx", tmp_path / "m.onnx", force=False)
    assert not sentinel.exists()
    np.load(crafted, allow_pickle=True)  # what a careless loader would do
    assert sentinel.exists()


def test_export_reads_without_pickle_or_np_load(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A genuine checkpoint exports with every unpickling path and np.load disabled."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the export unpickled or called np.load")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(np, "load", forbidden)
    monkeypatch.setattr(np.lib.format, "read_array", forbidden)
    target = tmp_path / "m.onnx"
    export_file(checkpoint, "onnx", target, force=False)
    assert target.stat().st_size > 0
