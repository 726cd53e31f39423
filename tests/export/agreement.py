"""What the ONNX tests share: a CSV's columns fed to onnxruntime as a service would, and its
outputs set beside `nncli predict [--proba]` (the command's own code, run in process)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from nncli.cli.export import export_file
from nncli.cli.predict import predict_file


def number(text: str) -> float:
    """A CSV field as the float32 input gets it: a gap (empty, NA) is NaN."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def feeds(session: ort.InferenceSession, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """One [N, 1] input per feature column, named as the column: the text as written (the
    caller strips it, as docs/deploy.md says), numbers as float32 with NaN for a gap."""
    out = {}
    for spec in session.get_inputs():
        column = [row[spec.name] for row in rows]
        if spec.type == "tensor(string)":
            out[spec.name] = np.array(column, dtype=object).reshape(-1, 1)
        else:
            out[spec.name] = np.array([number(v) for v in column], np.float32).reshape(-1, 1)
    return out


def read_rows(path: Path, strip: bool = True) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v.strip() for k, v in row.items()} for row in rows] if strip else rows


def run_onnx(model_path: Path, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds(session, rows)), strict=True))


@dataclass
class Predicted:
    """`nncli predict` output: the label column(s) as text and the proba_<class> columns."""

    labels: list[list[str]]
    proba: np.ndarray | None


def run_predict(checkpoint: Path, data: Path, out: Path) -> Predicted:
    """`nncli predict CHECKPOINT DATA --proba` (without --proba for regression), its CSV read
    back at full precision (nncli writes repr floats)."""
    proba = True
    try:
        predict_file(checkpoint, data, out, proba=True)
    except Exception as exc:  # regression: --proba is refused in one line
        if "--proba" not in str(exc):
            raise
        proba = False
        predict_file(checkpoint, data, out, proba=False)
    with out.open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    header, body = table[0], table[1:]
    p_cols = [i for i, name in enumerate(header) if name.startswith("proba_")]
    l_cols = [i for i in range(len(header)) if i not in p_cols]
    labels = [[row[i] for i in l_cols] for row in body]
    probs = np.array([[float(row[i]) for i in p_cols] for row in body]) if proba else None
    return Predicted(labels, probs)


@dataclass
class Agreement:
    """How far onnxruntime's outputs are from nncli predict's over some rows."""

    rows: int
    max_prob_diff: float  # classification: max |p_onnx - p_nncli|; else nan
    labels_equal: bool  # classification: every label identical
    max_rel_diff: float  # regression: max |y_onnx - y_nncli| / |y_nncli|; else nan


def compare(model_path: Path, checkpoint: Path, data: Path, work: Path) -> Agreement:
    """onnxruntime on data's columns beside `nncli predict` on the same file."""
    want = run_predict(checkpoint, data, work / f"predicted-{data.parent.name}-{data.stem}.csv")
    got = run_onnx(model_path, read_rows(data))
    if want.proba is not None:
        probs = got["probabilities"]
        assert probs.shape == want.proba.shape, (probs.shape, want.proba.shape)
        diff = float(np.max(np.abs(probs - want.proba)))
        labels = got["label"].ravel().tolist()
        same = labels == [row[0] for row in want.labels]
        return Agreement(len(labels), diff, same, math.nan)
    values = np.array([[float(v) for v in row] for row in want.labels])
    assert got["label"].shape == values.shape, (got["label"].shape, values.shape)
    rel = float(np.max(np.abs(got["label"] - values) / np.abs(values)))
    return Agreement(len(values), math.nan, True, rel)


def export(checkpoint: Path, target: Path) -> Path:
    """`nncli export CHECKPOINT --format onnx --output target --force`."""
    export_file(checkpoint, "onnx", target, force=True)
    return target
