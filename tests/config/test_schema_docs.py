"""`nncli schema`, the committed schema file, the shipped configs' editor line, docs/config.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import REPO_ROOT, run_cli

from nncli.config.docgen import config_reference
from nncli.config.jsonschema import SCHEMA_PATH, config_schema
from nncli.config.load import config_from_raw
from nncli.errors import ConfigError

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def training_configs() -> list[Path]:
    """The shipped training configs (configs/ also holds sweep files, which have no `data`)."""
    found = []
    for path in sorted((REPO_ROOT / "configs").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and "data" in raw:
            found.append(path)
    return found


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def pydantic_accepts(raw: dict) -> bool:
    try:
        config_from_raw(raw, {}, REPO_ROOT, "c", {})
    except ConfigError:
        return False
    return True


def test_schema_command_prints_the_committed_schema(tmp_path):
    proc = run_cli("schema", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == config_schema()
    committed = (REPO_ROOT / SCHEMA_PATH).read_text(encoding="utf-8")
    assert json.loads(committed) == printed, (
        f"{SCHEMA_PATH} is stale: regenerate it with `nncli schema > {SCHEMA_PATH}`"
    )
    assert proc.stdout == committed


def test_every_field_has_a_description_and_a_default():
    schema = config_schema()
    models = {"config": schema, **schema["$defs"]}
    for model_name, model in models.items():
        required = set(model.get("required", []))
        for key, prop in model.get("properties", {}).items():
            assert prop.get("description"), f"{model_name}.{key} has no description"
            if key not in required:
                assert "default" in prop, f"{model_name}.{key} has no default"
    assert schema["properties"]["optimizer"]["default"] == {"type": "adam"}
    layers = schema["$defs"]["ModelConfig"]["properties"]["layers"]
    assert layers["default"] == [{"type": "dense", "units": 64}]


def test_shipped_configs_carry_the_schema_line_and_validate(validator):
    configs = training_configs()
    assert len(configs) >= 5
    for path in configs:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        match = MODELINE.match(first)
        assert match, f"{path.name}: first line should be `# yaml-language-server: $schema=...`"
        assert (path.parent / match.group(1)).resolve() == (REPO_ROOT / SCHEMA_PATH).resolve()
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(raw)]
        assert errors == [], (path.name, errors)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c.update(optimiser={"type": "adam"}),
        lambda c: c["data"].update(targt="species"),
        lambda c: c["model"]["layers"][0].update(unit=8),
        lambda c: c["training"].update(early_stopping={"monitor": "val_loss", "patience_": 3}),
        lambda c: c.update(optimizer={"type": "adam", "momentum": 0.9}),
        lambda c: c["model"]["layers"].append({"type": "conv"}),
        lambda c: c["model"].update(activation="rellu"),
        lambda c: c["data"].pop("target"),
    ],
)
def test_schema_rejects_what_the_config_rejects(validator, edit):
    config = yaml.safe_load((REPO_ROOT / "configs" / "iris.yaml").read_text(encoding="utf-8"))
    edit(config)
    assert not validator.is_valid(config)
    assert not pydantic_accepts(config)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c["model"].update(activation="gelu", init="orthogonal"),
        lambda c: c["model"].update(activation={"name": "leaky_relu", "alpha": 0.2}),
        lambda c: c["model"]["layers"].append({"type": "activation", "name": "elu", "alpha": 1}),
        lambda c: c["model"].update(output={"activation": "auto", "init": "zeros"}),
        lambda c: c.update(loss="cross_entropy"),
        lambda c: c.update(loss={"name": "cross_entropy", "label_smoothing": 0.1}),
        lambda c: c.update(schedule={"type": "cosine", "warmup_epochs": 2}),
        lambda c: c["data"].update(validation=None, features=["petal width (cm)"]),
        lambda c: c.update(optimizer={"lr": 0.01}),  # without a type: adam
    ],
)
def test_schema_accepts_the_short_and_long_forms(validator, edit):
    config = yaml.safe_load((REPO_ROOT / "configs" / "iris.yaml").read_text(encoding="utf-8"))
    edit(config)
    assert [e.message for e in validator.iter_errors(config)] == []
    assert pydantic_accepts(config)


def test_config_reference_is_current():
    committed = (REPO_ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == config_reference(), (
        "docs/config.md is stale: regenerate it with "
        "`python -m nncli.config.docgen > docs/config.md`"
    )


def test_config_reference_lists_every_field_with_its_default():
    text = config_reference()
    schema = config_schema()
    for model in [schema, *schema["$defs"].values()]:
        for key, prop in model.get("properties", {}).items():
            if key in ("type", "name") and ("const" in prop or "enum" in prop):
                continue  # a union's tag: the heading of its subsection
            rows = [line for line in text.splitlines() if line.startswith(f"| `{key}` |")]
            assert rows, f"docs/config.md has no row for {key}"
            assert any(prop.get("description", "") in row for row in rows), key
    assert "| `lr` | number (> 0) | `0.001` | learning rate |" in text
    assert "### `type: residual`" in text and "### `name: gelu`" in text
