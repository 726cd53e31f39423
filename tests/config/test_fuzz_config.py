"""Hostile YAML (issue 4, promise 6): whatever the text or data, the config loader raises
ConfigError or returns a valid Config; never another exception, never a hang.

Text is fuzzed from a YAML-ish alphabet and from real configs with YAML's sharp tools
spliced in (anchors, aliases, merge keys, tags, flow collections, tabs, NUL bytes);
structured data goes straight to config_from_raw and through --set overrides.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nncli.config import (
    Config,
    config_from_raw,
    load_config,
    parse_set_options,
    parse_yaml,
    resolved_dict,
)
from nncli.config.yamlio import MAX_BYTES
from nncli.errors import ConfigError

EXAMPLES = int(os.environ.get("NNCLI_FUZZ_EXAMPLES", "250"))  # per target
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

pytestmark = pytest.mark.slow  # subprocess kills, Dask clusters or fuzzing budgets
HERE = Path(__file__).resolve().parent
CONFIGS = sorted(p for p in (HERE.parents[1] / "configs").glob("*.yaml") if "sweep" not in p.name)
BASE = "data:\n  train: train.csv\n  target: y\n"


def load_text(text: str) -> Config:
    raw, marks = parse_yaml(text, "fuzz.yaml")
    return config_from_raw(raw, marks, HERE, "fuzz", {})


def check_text(text: str) -> None:
    """The property for YAML text: a Config (that re-validates from its dump) or ConfigError."""
    try:
        config = load_text(text)
    except ConfigError:
        return
    assert Config.model_validate(resolved_dict(config)) is not None


# --- strategies --------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
    | st.sampled_from(["relu", "adam", "dense", "auto", "cosine", "species", "", "\0", "~"])
)
KEYS = st.sampled_from(
    [
        "name", "seed", "data", "train", "target", "model", "layers", "type", "units",
        "activation", "init", "loss", "optimizer", "lr", "schedule", "training", "epochs",
        "early_stopping", "checkpoint", "every", "dropout", "rate", "residual", "name ",
    ]
) | st.text(max_size=6)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
YAMLISH = st.text(
    alphabet="ab:-{}[],&*!<>|'\"#%@`?\n \t.0123456789~\\\0",
    max_size=200,
)
SPLICES = st.sampled_from(
    [
        "&a ", "*a", "<<: *a\n", "<<: [*a, *a]\n", "<<: 5\n", "!!python/object:os.system ",
        "!!binary aGk=", "!!int x", "!!bool maybe", "!!set {a, b}", "!!omap [a: 1]",
        "!!timestamp 2001-12-14", "? [a]\n",
        "{", "}", "[", "]", "\t", "\0", "\n  ", ": ", "- ", "---\n", "...\n", "%YAML 1.2\n",
        "'", '"', "\\u0000", "1e400", ".nan", "0x1F", "0o17", "2026-01-01", "y", "yes", "=",
    ]
)  # fmt: skip


def config_texts() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in CONFIGS]


# --- fuzz targets -------------------------------------------------------------------------------


@FUZZ
@given(text=YAMLISH)
def test_random_yamlish_text(text):
    check_text(text)


@FUZZ
@given(data=st.data())
def test_real_configs_with_yaml_features_spliced_in(data):
    text = data.draw(st.sampled_from(config_texts()))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["splice", "delete", "duplicate_line"]))
        if how == "splice":
            text = text[:at] + data.draw(SPLICES) + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 20)) :]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                i = data.draw(st.integers(0, len(lines) - 1))
                lines.insert(data.draw(st.integers(0, len(lines))), lines[i])
                text = "".join(lines)
    check_text(text)


@FUZZ
@given(raw=st.dictionaries(KEYS, VALUES, max_size=8) | VALUES)
def test_arbitrary_data(raw):
    with contextlib.suppress(ConfigError):
        config_from_raw(raw, {}, HERE, "fuzz", {})


def paths_of(value: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += paths_of(item, (*prefix, i))
    return out


@FUZZ
@given(data=st.data())
def test_valid_configs_with_one_value_replaced(data):
    """Real configs, resolved, with values replaced or deleted at any depth."""
    raw = resolved_dict(load_config(data.draw(st.sampled_from(CONFIGS))))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths_of(raw)))
        node = raw
        for part in path[:-1]:
            node = node[part]
        if data.draw(st.booleans()) and isinstance(node, dict):
            node.pop(path[-1])
        else:
            node[path[-1]] = data.draw(VALUES)
        if not paths_of(raw):
            break
    try:
        config = config_from_raw(raw, {}, HERE, "fuzz", {})
    except ConfigError:
        return
    assert Config.model_validate(resolved_dict(config)) is not None


@FUZZ
@given(
    options=st.lists(
        st.tuples(
            st.lists(KEYS | st.sampled_from(["0", "1", "-1", "99"]), min_size=1, max_size=4),
            YAMLISH | VALUES.map(lambda v: yaml.safe_dump(v, default_flow_style=True)),
        ),
        max_size=3,
    )
)
def test_set_overrides(options):
    raw, marks = parse_yaml(BASE + "model:\n  layers:\n    - {type: dense, units: 4}\n", "c")
    texts = [".".join(parts) + "=" + value for parts, value in options]
    try:
        overrides = parse_set_options(texts)
        config_from_raw(copy.deepcopy(raw), dict(marks), HERE, "fuzz", overrides)
    except ConfigError:
        pass


# --- bounds: refused quickly with one clear message ----------------------------------------------


def refused_quickly(text: str, *needles: str, source: Path | None = None) -> str:
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        if source is None:
            load_text(text)
        else:
            load_config(source)
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    return message


@pytest.mark.parametrize(
    "text",
    [
        BASE + "x: " + "[" * 20_000 + "]" * 20_000 + "\n",
        BASE + "x: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n",
        BASE + "".join("  " * i + f"k{i}:\n" for i in range(3_000)) + "  " * 3_000 + "v\n",
        BASE + "x:\n" + "".join("  " * i + "- \n" for i in range(3_000)),
    ],
    ids=["flow-lists", "flow-maps", "block-maps", "block-lists"],
)
def test_very_deep_nesting_is_refused(text):
    refused_quickly(text, "fuzz.yaml", "nest")


def test_a_file_over_the_size_bound_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(BASE + "# " + "x" * MAX_BYTES + "\n")
    refused_quickly("", "huge.yaml", "too large", source=path)


def test_merging_a_non_mapping_names_the_place(tmp_path):
    message = refused_quickly(BASE + "model: {<<: 5}\n", "fuzz.yaml:4")
    assert "merg" in message


def test_a_nul_byte_in_a_data_path_is_a_config_error():
    message = refused_quickly('data: {train: "tr\\0ain.csv", target: y}\n', "data.train")
    assert "NUL" in message or "null" in message


@pytest.mark.parametrize("value", ["!!int abc", "!!timestamp soon", "!!bool maybe", "!!float x"])
def test_a_tag_that_does_not_fit_its_value_names_the_place(value):
    refused_quickly(BASE + f"seed: {value}\n", "fuzz.yaml:4:7", "invalid value")
