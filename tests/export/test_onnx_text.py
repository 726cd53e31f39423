"""Text values in the ONNX graph as nncli reads them: a missing marker in any case is a gap;
blanks around a text are the caller's to strip (opset 17 has no operator that strips), and
the graph then reads the text as an unseen level, as docs/deploy.md says."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS

import nncli
from nncli.data.values import MISSING, is_missing

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from agreement import compare, export, read_rows, run_onnx

HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
CONFIG = """\
name: penguins-text
seed: 0
data:
  train: {train}
  target: species
  categorical: {{encoding: {encoding}}}
model:
  layers: [{{type: dense, units: 8, activation: tanh}}]
training:
  epochs: 3
"""


def spellings(word: str) -> set[str]:
    return {"".join(c) for c in itertools.product(*({ch.lower(), ch.upper()} for ch in word))}


def _row(island: str, sex: str) -> str:
    return f"Adelie,{island},39.1,18.7,181,3750,{sex},2007"


@pytest.fixture(scope="module", params=["onehot", "embedding"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp(f"text-{request.param}")
    config = work / "penguins.yaml"
    train = DATASETS / "penguins/train.csv"
    config.write_text(CONFIG.format(train=train, encoding=request.param), encoding="utf-8")
    return nncli.train(config, run_dir=work / "run").run_dir


def test_every_case_spelling_of_a_missing_marker_is_a_gap(trained: Path, tmp_path: Path) -> None:
    markers = sorted(m for m in MISSING if m)
    texts = sorted(set().union(*(spellings(m) for m in markers)))
    assert len(texts) == sum(2 ** sum(c.isalpha() for c in m) for m in markers)  # 32
    assert all(is_missing(t) for t in texts)  # what nncli predict reads as a gap
    rows = [_row("", ""), _row("Dream", ""), _row("Dream", "unknown")]
    rows += [_row(t, t) for t in texts] + [_row("Dream", t) for t in texts]
    data = tmp_path / "markers.csv"
    data.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    model = export(trained, tmp_path / "m.onnx")

    agreed = compare(model, trained, data, tmp_path)
    assert agreed.max_prob_diff <= 1e-5 and agreed.labels_equal, agreed
    # and in the graph itself: each spelling gives what an empty text (a gap) gives, and a
    # gap is not an unseen level there (sex has a (missing) slot), so this can fail
    probs = run_onnx(model, read_rows(data))["probabilities"]
    gap, dream_gap, dream_unseen = probs[:3]
    assert np.abs(dream_gap - dream_unseen).max() > 1e-4
    n = len(texts)
    np.testing.assert_allclose(probs[3 : 3 + n], np.tile(gap, (n, 1)), rtol=0, atol=1e-6)
    np.testing.assert_allclose(probs[3 + n :], np.tile(dream_gap, (n, 1)), rtol=0, atol=1e-6)


def test_blanks_around_a_text_are_the_callers_to_strip(trained: Path, tmp_path: Path) -> None:
    """nncli predict strips ' Biscoe ' to Biscoe; the graph cannot, so unstripped it reads an
    unseen level, and stripped by the caller it agrees."""
    padded = [_row(" Biscoe ", "male"), _row("Biscoe", " male "), _row("Dream", "  ")]
    data = tmp_path / "padded.csv"
    data.write_text("\n".join([HEADER, *padded]) + "\n", encoding="utf-8")
    model = export(trained, tmp_path / "m.onnx")
    assert compare(model, trained, data, tmp_path).max_prob_diff <= 1e-5  # stripped first

    raw = run_onnx(model, read_rows(data, strip=False))["probabilities"]
    unseen = [_row("Atlantis", "male"), _row("Biscoe", "unknown"), _row("Dream", "unknown")]
    fields = HEADER.split(",")
    as_unseen = run_onnx(model, [dict(zip(fields, r.split(","), strict=True)) for r in unseen])
    np.testing.assert_allclose(raw, as_unseen["probabilities"], rtol=0, atol=1e-6)
