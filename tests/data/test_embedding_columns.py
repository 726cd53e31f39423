"""Embedded text columns end to end: the encoding choice, its checkpoint state, and a titanic
model with an embedded column that trains, reloads and predicts the same, and gradchecks."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pacsv
import pytest
import yaml
from conftest import DATASETS
from rich.console import Console

import nncli
from nncli.build import count_state, input_embeddings
from nncli.data.encoders import ONEHOT_MAX, CategoricalColumn, Seen, column_from_state
from nncli.engine import InputBlock
from nncli.training.diagnose import gradcheck_config
from nncli.training.trainer import train


def _fit(texts: list[str | None], **options) -> CategoricalColumn:
    return CategoricalColumn.fit("c", texts, options, binary=False)


def test_auto_embeds_above_onehot_max_levels_and_always_reserves_other():
    few = _fit([f"l{i}" for i in range(ONEHOT_MAX)] * 5, encoding="auto")
    many = _fit([f"l{i}" for i in range(ONEHOT_MAX + 1)] * 5, encoding="auto")
    sparse = _fit([f"l{i}" for i in range(ONEHOT_MAX + 1)] * 4, encoding="auto")
    assert sparse.encoding == "onehot"  # under 5 rows a level: nothing to learn a vector from
    assert few.encoding == "onehot" and len(few.inputs) == ONEHOT_MAX
    assert many.encoding == "embedding" and many.inputs == ["c (level index)"]
    assert many.levels[-1] == "(other)" and len(many.levels) == ONEHOT_MAX + 2
    assert _fit(["a", "b", "a"], encoding="embedding").levels == ["a", "b", "(other)"]
    assert _fit(["a", "b", "a"]).encoding == "onehot"  # no option: as before encodings


@pytest.mark.parametrize("levels,dim", [(2, 2), (4, 3), (18, 8), (100, 21), (10**6, 600)])
def test_embedding_width_is_fastais_rule(levels, dim):
    column = CategoricalColumn("c", [str(i) for i in range(levels)], encoding="embedding")
    assert column.embedding_dim == dim == min(600, round(1.6 * levels**0.56))


def test_embedded_column_gives_each_row_its_level_index_and_unseen_or_gaps_other():
    column = _fit(["b", "a", "c"], encoding="embedding")  # levels a, b, c, (other)
    seen = Seen()
    out = column.transform(["c", "a", "zzz", None], seen)
    np.testing.assert_array_equal(out, [[2.0], [0.0], [3.0], [3.0]])
    assert seen.unseen["c"] == 1 and seen.missing["c"] == 1
    gappy = _fit(["a", None, "b"], encoding="embedding")  # a, b, (missing), (other)
    np.testing.assert_array_equal(gappy.transform([None, "x"], Seen()), [[2.0], [3.0]])


def test_state_round_trips_and_old_state_without_encoding_is_onehot():
    column = _fit(["a", "b", "c"], encoding="embedding")
    assert column_from_state(column.state()) == column
    old = {"type": "categorical", "name": "c", "levels": ["a", "b", "c"], "binary": False}
    assert column_from_state(old).encoding == "onehot"
    for bad in ({**old, "encoding": "hash"}, {**old, "encoding": "embedding"}):
        with pytest.raises(ValueError, match="encoding"):
            column_from_state(bad)  # an unknown encoding, an embedding without (other)


@pytest.fixture(scope="module")
def titanic(tmp_path_factory):
    """class (a text column) embedded, age and sex as they are; a few epochs."""
    folder = tmp_path_factory.mktemp("titanic_embedding")
    config = {
        "seed": 3,
        "data": {
            "train": str(DATASETS / "titanic" / "train.csv"),
            "test": str(DATASETS / "titanic" / "test.csv"),
            "target": "survived",
            "task": "classification",
            "features": [{"name": "class", "type": "categorical"}, "age", "sex"],
            "categorical": {"encoding": "embedding"},
        },
        "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"}]},
        "training": {"epochs": 4, "batch_size": 32},
    }
    path = folder / "titanic.yaml"
    path.write_text(yaml.safe_dump(config))
    result = train(path, run_dir=folder / "run", console=Console(quiet=True))
    return path, result


def test_titanic_with_an_embedded_column_trains_reloads_and_predicts_the_same(titanic):
    _, result = titanic
    block = result.model.network.children[0][1]
    assert isinstance(block, InputBlock) and block.positions == [0]
    assert result.model.prep.inputs[0] == "class (level index)"
    assert result.summary["test_metrics"]["accuracy"] > 0.6
    prep, out = result.model.prep, result.model.out
    counted = count_state(
        result.model.config, prep.n_inputs, out.n_outputs, input_embeddings(prep.columns)
    )
    assert counted == sum(a.size for a in result.model.network.state_arrays().values())
    rows = pacsv.read_csv(DATASETS / "titanic" / "test.csv")
    loaded = nncli.load(result.run_dir)
    np.testing.assert_array_equal(loaded.predict_proba(rows), result.model.predict_proba(rows))
    messy = {"class": ["1st", "9th", None], "age": [30.0, None, 4.0], "sex": ["male"] * 3}
    assert loaded.predict_proba(messy).shape == (3, 2)  # unseen and missing: (other)


def test_gradcheck_passes_on_the_embedded_titanic_config(titanic):
    path, _ = titanic
    rows = gradcheck_config(path)
    assert "embeddings.0.weight" in {r.name for r in rows}
    assert max(r.error for r in rows) < 1e-6


def test_auto_embeds_a_many_level_column_and_one_hots_a_small_one(titanic, tmp_path):
    path, _ = titanic
    config = yaml.safe_load(path.read_text())
    config["data"]["features"] = [{"name": "age", "type": "categorical"}, "class", "sex"]
    del config["data"]["categorical"]
    config["training"]["epochs"] = 1
    auto = tmp_path / "auto.yaml"
    auto.write_text(yaml.safe_dump(config))
    model = train(auto, run_dir=tmp_path / "run", console=Console(quiet=True)).model
    age, klass = model.prep.columns.columns[:2]
    assert isinstance(age, CategoricalColumn) and age.encoding == "embedding"
    assert isinstance(klass, CategoricalColumn) and klass.encoding == "onehot"
    assert nncli.load(tmp_path / "run").network.children[0][0] == "embeddings"
