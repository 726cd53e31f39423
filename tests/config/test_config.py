"""Config loading: messages that point into the YAML, --set overrides, defaults, paths (SPEC §2)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import DATASETS, REPO_ROOT, relpath, run_cli

from nncli import ConfigError
from nncli.config import load_config, parse_set_options, resolved_dict

BASE = """\
data:
  train: train.csv
  target: y
"""


def write(folder: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def mark(config: Path, text: str, nth: int = 1) -> str:
    """`file:line:col` of the nth line containing `text`, at the column where it starts."""
    seen = 0
    for number, line in enumerate(config.read_text().splitlines(), start=1):
        if text in line:
            seen += 1
            if seen == nth:
                return f"{config.name}:{number}:{line.index(text) + 1}"
    raise AssertionError(f"{text!r} not in {config}")


def config_error(config: Path, overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(config, overrides)
    return str(info.value)


# --- unknown keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "typo", "dotted", "suggestion"),
    [
        ("optimiser: {type: adam}\n", "optimiser", "optimiser", "optimizer"),
        ("training:\n  epochz: 3\n", "epochz", "training.epochz", "epochs"),
        (
            "training:\n  early_stopping:\n    patiense: 3\n",
            "patiense",
            "training.early_stopping.patiense",
            "patience",
        ),
        (
            "model:\n  layers:\n    - {type: dense, units: 4}\n    - {type: dense, unit: 4}\n",
            "unit:",
            "model.layers[1].unit",
            "units",
        ),
        (
            "model:\n  layers:\n    - type: residual\n      layers:\n"
            "        - {type: dropout, rat: 0.1}\n",
            "rat:",
            "model.layers[0].layers[0].rat",
            "rate",
        ),
        ("optimizer:\n  type: adam\n  betta1: 0.8\n", "betta1", "optimizer.betta1", "beta1"),
        ("data_:\n  x: 1\n", "data_", "data_", "data"),
    ],
)
def test_unknown_key_names_path_line_and_suggestion(tmp_path, body, typo, dotted, suggestion):
    config = write(tmp_path, BASE + body)
    lines = config_error(config).splitlines()
    line = next((ln for ln in lines if ln.startswith(f"{dotted}: unknown key")), None)
    assert line is not None, lines
    assert f"did you mean '{suggestion}'" in line
    assert mark(config, typo) in line


@pytest.mark.parametrize(
    ("text", "typo", "dotted", "meant"),
    [
        ("seed: 1\ndta:\n  train: train.csv\n  target: y\n", "dta:", "dta", "data"),
        ("data:\n  train: train.csv\n  targt: y\n", "targt", "data.targt", "target"),
        ("data:\n  trian: train.csv\n  target: y\n", "trian", "data.trian", "train"),
        (
            BASE + "model:\n  layers:\n    - {type: dense, unit: 4}\n",
            "unit:",
            "model.layers[0].unit",
            "units",
        ),
    ],
)
def test_mistyped_required_key_is_one_error(tmp_path, text, typo, dotted, meant):
    """Not also `missing data`: the unknown key is the required one, mistyped."""
    config = write(tmp_path, text)
    message = config_error(config)
    assert message == message.splitlines()[0], message
    assert message.startswith(f"{dotted}: unknown key '{dotted.rsplit('.', 1)[-1]}'"), message
    assert f"(did you mean '{meant}'?)" in message
    assert message.endswith(f"({mark(config, typo)})"), message
    assert "required key is missing" not in message


def test_unknown_key_without_close_match_lists_allowed_keys(tmp_path):
    config = write(tmp_path, BASE + "training:\n  zzzz: 1\n")
    message = config_error(config)
    assert "training.zzzz" in message
    assert "did you mean" not in message
    assert "epochs" in message and "batch_size" in message


def test_several_errors_are_reported_in_file_order(tmp_path):
    config = write(tmp_path, BASE + "training:\n  epochz: 3\n  batch_sise: 4\n")
    lines = config_error(config).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("training.epochz") and lines[1].startswith("training.batch_sise")


# --- discriminators and names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "bad", "dotted", "suggestion"),
    [
        ("model:\n  layers:\n    - {type: dens, units: 4}\n", "dens", "model.layers[0]", "dense"),
        ("optimizer: {type: adamm}\n", "adamm", "optimizer", "adam"),
        ("model:\n  init: he_normall\n", "he_normall", "model.init", "he_normal"),
        (
            "model:\n  layers:\n    - {type: dense, units: 4, init: xavier_unifrom}\n",
            "xavier_unifrom",
            "model.layers[0].init",
            "xavier_uniform",
        ),
        ("schedule: {type: cosin}\n", "cosin", "schedule", "cosine"),
        (
            "model:\n  activation: {name: leaky_rel, alpha: 0.2}\n",
            "leaky_rel",
            "model",
            "leaky_relu",
        ),
        ("loss: cross_entropyy\n", "cross_entropyy", "loss", "cross_entropy"),
        ("model:\n  layers:\n    - {type: activation, name: tanhh}\n", "tanhh", "model", "tanh"),
    ],
)
def test_bad_discriminator_names_value_and_suggestion(tmp_path, body, bad, dotted, suggestion):
    config = write(tmp_path, BASE + body)
    message = config_error(config)
    assert message.startswith(dotted), message
    assert f"'{bad}'" in message
    assert f"did you mean '{suggestion}'" in message
    line = mark(config, bad).rsplit(":", 2)[1]
    assert re.search(rf"{config.name}:{line}:\d+\)", message), message


def test_missing_discriminator(tmp_path):
    config = write(tmp_path, BASE + "model:\n  layers:\n    - {units: 4}\n")
    message = config_error(config)
    assert message.startswith("model.layers[0]")
    assert "'type'" in message


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "dotted", "value"),
    [
        ("model:\n  layers:\n    - {type: dense, units: 0}\n", "model.layers[0].units", "units: 0"),
        (
            "model:\n  layers:\n    - {type: dropout, rate: 1.5}\n",
            "model.layers[0].rate",
            "rate: 1.5",
        ),
        ("optimizer: {type: sgd, lr: -0.1}\n", "optimizer.lr", "lr: -0.1"),
        ("training:\n  epochs: -1\n", "training.epochs", "epochs: -1"),
        ("training:\n  batch_size: many\n", "training.batch_size", "batch_size: many"),
        ("training:\n  dtype: float16\n", "training.dtype", "dtype: float16"),
        ("seed: -3\n", "seed", "seed: -3"),
    ],
)
def test_out_of_range_value_names_path_and_line(tmp_path, body, dotted, value):
    config = write(tmp_path, BASE + body)
    message = config_error(config)
    assert message.startswith(f"{dotted}: "), message
    line = mark(config, value).rsplit(":", 2)[1]
    assert re.search(rf"{config.name}:{line}:\d+\)", message), message


def test_validation_fraction_out_of_range(tmp_path):
    config = write(tmp_path, BASE.replace("target: y", "target: y\n  validation: 1.5"))
    message = config_error(config)
    assert "data.validation" in message
    assert mark(config, "1.5").rsplit(":", 1)[0] in message


def test_missing_required_keys(tmp_path):
    message = config_error(write(tmp_path, "data:\n  train: a.csv\n"))
    assert "data.target" in message and "missing" in message
    assert "data" in config_error(write(tmp_path, "seed: 1\n", "other.yaml"))


def test_sgd_nesterov_needs_momentum(tmp_path):
    message = config_error(write(tmp_path, BASE + "optimizer: {type: sgd, nesterov: true}\n"))
    assert message.startswith("optimizer")
    assert "momentum" in message


# --- --set -------------------------------------------------------------------------------------


LAYERS = BASE + "model:\n  layers:\n    - {type: dense, units: 4}\n    - {type: dense, units: 4}\n"


def test_set_list_index(tmp_path):
    config = load_config(
        write(tmp_path, LAYERS), parse_set_options(["model.layers.1.units=8", "seed=5"])
    )
    assert [layer.units for layer in config.model.layers] == [4, 8]
    assert config.seed == 5


@pytest.mark.parametrize("key", ["model.layers.2.units", "model.layers.x.units"])
def test_set_bad_index(tmp_path, key):
    message = config_error(write(tmp_path, LAYERS), parse_set_options([f"{key}=8"]))
    assert key in message
    assert "2 entries" in message


def test_set_into_a_scalar_is_an_error(tmp_path):
    message = config_error(write(tmp_path, LAYERS), parse_set_options(["seed.value=1"]))
    assert "seed" in message and "--set" in message


def test_set_unknown_key_points_at_the_option(tmp_path):
    message = config_error(write(tmp_path, LAYERS), parse_set_options(["training.epochz=3"]))
    assert message.startswith("training.epochz: unknown key")
    assert "did you mean 'epochs'" in message
    assert "--set training.epochz" in message


def test_set_invalid_value_gets_the_same_checks(tmp_path):
    message = config_error(write(tmp_path, LAYERS), parse_set_options(["model.layers.0.units=0"]))
    assert message.startswith("model.layers[0].units")
    assert "--set model.layers.0.units" in message


def test_set_values_are_parsed_as_yaml(tmp_path):
    base = BASE + "schedule: {type: cosine}\ntraining: {early_stopping: {patience: 4}}\n"
    options = [
        "data.features=[a, b]",
        "schedule=null",
        "training.shuffle=false",
        "training.early_stopping=null",
        "optimizer={type: sgd, momentum: 0.5, nesterov: yes}",
        "training.grad_clip=1.5",
        "name=my run",
        "model.layers=[{type: dense, units: 3}, {type: dropout}]",
    ]
    config = load_config(write(tmp_path, base), parse_set_options(options))
    assert config.data.features == ["a", "b"]
    assert config.schedule is None
    assert config.training.shuffle is False
    assert config.training.early_stopping is None
    assert (config.optimizer.type, config.optimizer.momentum) == ("sgd", 0.5)
    assert config.optimizer.nesterov is True
    assert config.training.grad_clip == 1.5
    assert config.name == "my run"
    assert [layer.type for layer in config.model.layers] == ["dense", "dropout"]


def test_set_creates_a_missing_section(tmp_path):
    config = load_config(write(tmp_path, BASE), parse_set_options(["schedule.type=step"]))
    assert config.schedule is not None and config.schedule.type == "step"


def test_set_option_needs_key_and_equals():
    for bad in ["seed", "=3", ""]:
        with pytest.raises(ConfigError, match="KEY=VALUE"):
            parse_set_options([bad])


def test_set_value_with_invalid_yaml():
    with pytest.raises(ConfigError) as info:
        parse_set_options(["model.layers=[{type: dense"])
    assert "--set model.layers" in str(info.value)


def test_set_value_may_contain_equals(tmp_path):
    config = load_config(write(tmp_path, BASE), parse_set_options(["name=a=b"]))
    assert config.name == "a=b"


# --- resolved config ---------------------------------------------------------------------------


def test_dense_layers_get_model_defaults(tmp_path):
    body = (
        "model:\n  init: xavier_normal\n  activation: {name: leaky_relu, alpha: 0.2}\n"
        "  layers:\n"
        "    - {type: dense, units: 4}\n"
        "    - {type: dense, units: 4, activation: tanh, init: {name: normal, std: 0.1}}\n"
        "    - type: residual\n      layers:\n        - {type: dense, units: 4}\n"
        "    - {type: dropout}\n"
    )
    model = resolved_dict(load_config(write(tmp_path, BASE + body)))["model"]
    default_act = {"name": "leaky_relu", "alpha": 0.2}
    assert model["layers"][0] == {
        "type": "dense",
        "units": 4,
        "activation": default_act,
        "init": "xavier_normal",
    }
    assert model["layers"][1]["activation"] == "tanh"
    assert model["layers"][1]["init"] == {"name": "normal", "std": 0.1}
    assert model["layers"][2]["layers"][0]["activation"] == default_act
    assert model["layers"][2]["layers"][0]["init"] == "xavier_normal"
    assert model["layers"][3] == {"type": "dropout", "rate": 0.5}


def test_resolved_dict_revalidates_to_the_same_config(tmp_path):
    body = "model:\n  layers:\n    - {type: dense, units: 4, activation: {name: gelu}}\n"
    config = load_config(write(tmp_path, BASE + body))
    again = load_config(write(tmp_path, _yaml(resolved_dict(config)), "again.yaml"))
    assert resolved_dict(again) == resolved_dict(config)


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def test_name_defaults_to_file_stem(tmp_path):
    assert load_config(write(tmp_path, BASE, "my_experiment.yaml")).name == "my_experiment"
    assert load_config(write(tmp_path, "name: given\n" + BASE)).name == "given"


def test_data_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "configs" / "deep"
    text = (
        "data:\n  train: ../../data/train.csv\n  validation: ../../data/val.csv\n"
        "  test: ../../data/test.csv\n  target: y\n"
    )
    config_path = write(folder, text)
    monkeypatch.chdir(tmp_path / "configs")  # the working directory does not matter
    data = load_config(Path("deep") / "cfg.yaml").data
    assert data.train == str((tmp_path / "data" / "train.csv").resolve())
    assert data.validation == str((tmp_path / "data" / "val.csv").resolve())
    assert data.test == str((tmp_path / "data" / "test.csv").resolve())
    assert Path(data.train).is_absolute()
    # An absolute path stays as written; a fraction stays a fraction.
    absolute = str(DATASETS / "iris" / "train.csv")
    config_path.write_text(f"data:\n  train: {absolute}\n  target: y\n  validation: 0.3\n")
    data = load_config(config_path).data
    assert data.train == str(Path(absolute).resolve())
    assert data.validation == 0.3


def test_relative_paths_to_bundled_data(tmp_path):
    rel = relpath(DATASETS / "iris" / "train.csv", tmp_path)
    config = load_config(write(tmp_path, f"data:\n  train: {rel}\n  target: species\n"))
    assert Path(config.data.train).is_file()


# --- YAML --------------------------------------------------------------------------------------


def test_duplicate_keys_name_both_lines(tmp_path):
    config = write(
        tmp_path, BASE + "optimizer:\n  type: adam\n  lr: 0.1\n  beta1: 0.8\n  lr: 0.2\n"
    )
    message = config_error(config)
    assert "duplicate key 'lr'" in message
    assert mark(config, "lr: 0.2") in message
    assert f"line {mark(config, 'lr: 0.1').split(':')[1]}" in message


def test_duplicate_top_level_key(tmp_path):
    config = write(tmp_path, "seed: 1\n" + BASE + "seed: 2\n")
    message = config_error(config)
    assert "duplicate key 'seed'" in message
    assert mark(config, "seed: 2") in message and "line 1" in message


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    config = write(tmp_path, BASE + "\n".join(lines) + "\n")
    start = time.perf_counter()
    message = config_error(config)
    assert time.perf_counter() - start < 5.0
    assert "alias" in message or "nodes" in message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- data\n- model\n", "list"),
        ("just a string\n", "str"),
        ("", "empty"),
        ("# only a comment\n", "empty"),
    ],
)
def test_a_config_must_be_a_mapping(tmp_path, text, needle):
    message = config_error(write(tmp_path, text))
    assert "cfg.yaml" in message
    assert needle in message


def test_invalid_yaml_syntax_has_line_and_column(tmp_path):
    config = write(tmp_path, BASE + "model:\n  layers: [\n    {type: dense\n")
    message = config_error(config)
    assert "invalid YAML" in message
    assert re.search(r"cfg\.yaml:\d+:\d+", message)


def test_multiple_documents_are_refused(tmp_path):
    message = config_error(write(tmp_path, BASE + "---\nseed: 1\n"))
    assert "cfg.yaml" in message


def test_missing_config_file(tmp_path):
    message = config_error(tmp_path / "absent.yaml")
    assert "absent.yaml" in message


def test_python_tags_are_not_executed(tmp_path):
    config = write(tmp_path, BASE + "name: !!python/object/apply:os.getcwd []\n")
    message = config_error(config)
    assert "cfg.yaml:4" in message


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object:os.system ls", "!!python/object:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!custom x", "!custom"),
    ],
)
def test_unsupported_tags_are_one_line_with_line_and_column(tmp_path, value, tag):
    config = write(tmp_path, BASE.replace("train: train.csv", f"train: {value}"))
    proc = run_cli("validate", config, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: {mark(config, tag)}: the YAML tag {tag} is not supported; a config holds "
        "plain values (mappings, lists, strings, numbers, booleans)"
    )


def test_control_characters_are_one_line_with_line_and_column(tmp_path):
    config = write(tmp_path, BASE.replace("train.csv", "tr\x01ain.csv"))
    message = config_error(config)
    assert message == (
        f"{config.name}:2:12: invalid YAML: unacceptable character #x0001: "
        "special characters are not allowed"
    )


def test_merge_keys_are_resolved(tmp_path):
    text = BASE + (
        "model:\n  layers:\n    - &d {type: dense, units: 4}\n    - {<<: *d, units: 6}\n"
    )
    config = load_config(write(tmp_path, text))
    assert [layer.units for layer in config.model.layers] == [4, 6]


def test_duplicate_key_next_to_a_merge_key(tmp_path):
    text = BASE + (
        "model:\n  layers:\n    - &d {type: dense, units: 4}\n    - {<<: *d, units: 6, units: 8}\n"
    )
    config = write(tmp_path, text)
    message = config_error(config)
    assert "duplicate key 'units'" in message
    assert mark(config, "units: 8") in message


def test_set_index_into_a_list_the_file_does_not_have(tmp_path):
    # model.layers comes from the defaults here: there is no list in the file to index.
    message = config_error(write(tmp_path, BASE), parse_set_options(["model.layers.0.units=8"]))
    assert message.startswith("model.layers")
    assert "list" in message and "--set model.layers.0.units" in message


def test_set_digit_keys_of_a_mapping(tmp_path):
    base = BASE + "loss: {name: cross_entropy, class_weights: {'0': 1.0}}\n"
    config = load_config(write(tmp_path, base), parse_set_options(["loss.class_weights.1=2.5"]))
    assert config.loss.class_weights == {"0": 1.0, "1": 2.5}


# --- union fields: one message, about the branch the value was meant for ------------------------


@pytest.mark.parametrize(
    ("text", "start", "needle", "at"),
    [
        (
            BASE + "loss: {name: cross_entropy, label_smoothing: 2}\n",
            "loss.label_smoothing:",
            "less than 1",
            "loss:",
        ),
        (
            BASE + "model:\n  output: {activation: relu6}\n",
            "model.output.activation:",
            "'relu'",
            "relu6",
        ),
        (
            BASE + "model:\n  layers:\n    - {type: activation, name: relu, alpha: 0.1}\n",
            "model.layers[0]:",
            "'alpha'",
            "alpha",
        ),
        (BASE + "  validation: 0\n", "data.validation:", "greater than 0", "validation"),
        (
            BASE + "training:\n  early_stopping: {patience: 0}\n",
            "training.early_stopping.patience:",
            "greater than or equal to 1",
            "patience",
        ),
    ],
)
def test_union_errors_name_the_real_problem_once(tmp_path, text, start, needle, at):
    config = write(tmp_path, text)
    message = config_error(config)
    assert "\n" not in message, message
    assert message.startswith(start), message
    assert needle in message
    for internal in ("literal[", "tagged-union", "constrained-", "function-"):
        assert internal not in message
    line = mark(config, at).split(":")[1]
    assert f"{config.name}:{line}:" in message


@pytest.mark.parametrize("target", ["[]", "''"])
def test_target_must_name_a_column(tmp_path, target):
    config = write(tmp_path, BASE.replace("target: y", f"target: {target}"))
    message = config_error(config)
    assert message.startswith("data.target:")
    assert mark(config, "target").rsplit(":", 1)[0] in message


# --- column lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "dotted", "needle", "at"),
    [
        ("  target: [y, z, y]\n", "data.target", "'y' is listed twice", "target"),
        (
            "  target: y\n  features: [a, b, a]\n",
            "data.features",
            "'a' is listed twice",
            "features",
        ),
        ("  target: y\n  features:\n    - a\n    - a\n", "data.features", "listed twice", "- a"),
        ("  target: y\n  features: []\n", "data.features", "an empty list", "features"),
        ("  target: [y, z]\n  features: [a, z]\n", "data", "'z' is both a feature and", "train"),
    ],
)
def test_column_lists_are_checked_at_config_time(tmp_path, data, dotted, needle, at):
    config = write(tmp_path, "data:\n  train: train.csv\n" + data)
    message = config_error(config)
    assert message.startswith(f"{dotted}: "), message
    assert needle in message and "\n" not in message
    line = mark(config, at).split(":")[1]
    assert f"({config.name}:{line}:" in message, message


def test_duplicate_target_is_refused_by_validate(tmp_path):
    proc = run_cli(
        "validate",
        REPO_ROOT / "configs" / "diabetes.yaml",
        "--set",
        "data.target=[progression, progression]",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: data.target: 'progression' is listed twice (--set data.target)"
    )


# --- sections without their type ---------------------------------------------------------------


def test_optimizer_without_type_is_adam(tmp_path):
    # `--set optimizer.lr=...` on a config without the section, and a file's `{lr: 0.01}`
    config = load_config(write(tmp_path, BASE), parse_set_options(["optimizer.lr=0.01"]))
    assert (config.optimizer.type, config.optimizer.lr) == ("adam", 0.01)
    config = load_config(write(tmp_path, BASE + "optimizer: {lr: 0.02, beta1: 0.8}\n"))
    assert (config.optimizer.type, config.optimizer.lr, config.optimizer.beta1) == (
        "adam",
        0.02,
        0.8,
    )
    assert load_config(write(tmp_path, BASE + "optimizer: {}\n")).optimizer.type == "adam"


@pytest.mark.parametrize(
    ("option", "start"),
    [
        ("loss.label_smoothing=0.1", "loss: missing 'name' key; add name: cross_entropy ("),
        (
            "loss.class_weights=balanced",
            "loss: missing 'name' key; add name: cross_entropy or name: binary_cross_entropy (",
        ),
        ("loss.delta=2", "loss: missing 'name' key; add name: huber ("),
        (
            "optimizer.momentum=0.9",
            "optimizer: missing 'type' key; add type: sgd or type: rmsprop (",
        ),
        ("schedule.gamma=0.5", "schedule: missing 'type' key; add type: step or type: exponential"),
        ("model.layers=[{units: 4}]", "model.layers[0]: missing 'type' key; add type: dense ("),
        ("model.init={std: 0.1}", "model.init: missing 'name' key; add name: normal ("),
    ],
)
def test_a_choice_without_its_name_says_what_to_add(tmp_path, option, start):
    message = config_error(write(tmp_path, BASE), parse_set_options([option]))
    assert message.startswith(start), message
    assert f"(--set {option.split('=')[0]})" in message and "\n" not in message


# --- values of the wrong kind: one line, no class names ----------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("model: null\n", "model: expected a mapping, got null"),
        ("training: null\n", "training: expected a mapping, got null"),
        ("training:\n  early_stopping: 3\n", "training.early_stopping: expected a mapping, got 3"),
        ("training:\n  checkpoint: [1]\n", "training.checkpoint: expected a mapping, got a list"),
        ("loss: null\n", "loss: expected auto or a mapping, got null"),
        ("  validation: [1]\n", "data.validation: expected a number or a string, got a list"),
    ],
)
def test_wrong_kind_of_value_is_one_plain_line(tmp_path, body, expected):
    config = write(tmp_path, BASE + body)
    message = config_error(config)
    assert "\n" not in message, message
    assert message.startswith(expected + f" ({config.name}:"), message
    assert "Config" not in message and "dictionary" not in message


def test_target_of_the_wrong_kind_is_one_line(tmp_path):
    config = write(tmp_path, BASE.replace("target: y", "target: 5"))
    message = config_error(config)
    assert message == f"data.target: expected a string or a list, got 5 ({mark(config, '5')})"
