"""When checkpoints are fsynced: at most once per SyncClock interval while a run trains, and
every file a run leaves is fsynced (after its last write) by the time the run returns."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from conftest import DATASETS, relpath
from rich.console import Console

import nncli
import nncli.training.trainer as trainer_module
from nncli.store.checkpoint import SyncClock, atomic_write


class Fsyncs:
    """Records, in order, every file renamed into place (os.replace) and every os.fsync (of
    the path its descriptor has then), so a test can ask whether a file's last version was
    fsynced (inode numbers would not do: a freed one is soon reused)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            self.events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def replace(src, dst, **kwargs) -> None:
            real_replace(src, dst, **kwargs)
            self.events.append(("replace", f"{src} -> {dst}"))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)

    def synced(self, path: Path) -> bool:
        """The file now at `path` was fsynced (before its rename into place, under its
        temporary name, or after), and its folder after the rename."""
        last, src = max(
            (i, event[1].split(" -> ")[0])
            for i, event in enumerate(self.events)
            if event[0] == "replace" and event[1].endswith(f" -> {path}")
        )
        before, after = self.events[:last], self.events[last + 1 :]
        data = ("fsync", src) in before or ("fsync", str(path)) in after
        return data and ("fsync", str(path.parent)) in after

    @property
    def files(self) -> int:
        """fsyncs of files (not folders)."""
        return sum(kind == "fsync" and not os.path.isdir(p) for kind, p in self.events)


def write(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()), sync=False)


def test_the_clock_syncs_the_first_write_then_waits_for_its_interval(tmp_path, monkeypatch):
    fsyncs = Fsyncs(monkeypatch)
    clock = SyncClock(interval=3600)
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    write(a, "1")
    clock.written(a)
    assert fsyncs.synced(a)
    write(a, "2")
    clock.written(a)
    write(b, "3")
    clock.written(b)
    assert not fsyncs.synced(a) and not fsyncs.synced(b)  # within the interval
    clock.flush()
    assert fsyncs.synced(a) and fsyncs.synced(b)
    count = len(fsyncs.events)
    clock.flush()  # nothing written since
    assert len(fsyncs.events) == count


def test_the_clock_syncs_again_once_its_interval_passed(tmp_path, monkeypatch):
    fsyncs = Fsyncs(monkeypatch)
    clock = SyncClock(interval=0.0)
    for text in "123":
        write(tmp_path / "a.npz", text)
        clock.written(tmp_path / "a.npz")
        assert fsyncs.synced(tmp_path / "a.npz")


def test_a_file_gone_before_its_sync_is_skipped(tmp_path, monkeypatch):
    Fsyncs(monkeypatch)
    clock = SyncClock(interval=3600)
    write(tmp_path / "a.npz", "1")
    clock.written(tmp_path / "a.npz")
    write(tmp_path / "b.npz", "2")
    clock.written(tmp_path / "b.npz")
    (tmp_path / "b.npz").unlink()
    clock.flush()  # no FileNotFoundError


def iris_config(folder: Path, epochs: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = relpath(DATASETS / "iris", folder)
    path = folder / "iris.yaml"
    path.write_text(
        f"""\
data: {{train: {data}/train.csv, test: {data}/test.csv, target: species}}
model:
  layers:
    - {{type: dense, units: 8}}
training:
  epochs: {epochs}
  checkpoint: {{every: 10}}
  early_stopping: {{monitor: val_loss, patience: 1000}}
""",
        encoding="utf-8",
    )
    return path


def test_a_run_fsyncs_its_checkpoints_rarely_and_all_of_them_at_the_end(tmp_path, monkeypatch):
    """Before, every checkpoint was fsynced (file and folder) as it was written: 2 fsyncs per
    epoch and 2 more per improved one. Now, within the interval, only the first write and the
    files left at the end (and config.yaml, summary.json, written rarely)."""
    monkeypatch.setattr(trainer_module, "SYNC_INTERVAL", 3600.0)
    fsyncs = Fsyncs(monkeypatch)
    config = iris_config(tmp_path / "cfg", epochs=30)
    result = nncli.train(config, run_dir=tmp_path / "run", console=Console(file=io.StringIO()))
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("*.npz"))
    names = [p.name for p in checkpoints]
    assert names == ["best.npz", "epoch-0010.npz", "epoch-0020.npz", "epoch-0030.npz", "last.npz"]
    for path in [*checkpoints, tmp_path / "run" / "summary.json", tmp_path / "run" / "config.yaml"]:
        assert fsyncs.synced(path), path.name
    assert result.summary["epochs_run"] == 30
    assert fsyncs.files <= 9, fsyncs.events  # 30 epochs used to fsync 60+ files
