"""`nncli init`: a commented starter config, filled from a real CSV when one is given."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from nncli.config.jsonschema import SCHEMA_PATH
from nncli.data.csvio import read_table
from nncli.data.labels import infer_task, sort_classes
from nncli.errors import DataError, NncliError

BUNDLED = Path("datasets") / "iris" / "train.csv"
COMMENT_COLUMN = 34


@dataclass(frozen=True)
class DataFacts:
    """What `init` learns from the training CSV to fill data, task and the network's size."""

    train: Path
    test: Path | None
    target: str
    task: str
    classes: list[str] | None
    features: list[str]
    dropped: list[str]  # non-numeric or incomplete columns left out of the features
    rows: int


def config_path(name: str) -> Path:
    """NAME -> NAME.yaml (a .yaml or .yml name is kept as it is)."""
    path = Path(name)
    if path.name in ("", ".", ".."):
        raise NncliError(f"init {name!r}: NAME must name a file (e.g. iris writes iris.yaml)")
    return path if path.suffix in (".yaml", ".yml") else path.with_name(path.name + ".yaml")


def find_repo(start: Path) -> Path | None:
    """The nncli checkout holding the bundled datasets: the folder we are in (or one of its
    parents), else the one this package was installed from in editable mode."""
    for base in [start, *start.parents, Path(__file__).resolve().parents[2]]:
        if (base / BUNDLED).is_file():
            return base
    return None


def inspect_csv(train: Path, target: str) -> DataFacts:
    """Read the CSV as training would: the target's task and classes, the numeric features."""
    table = read_table(train)
    table.index(target, "target column")
    labels = table.texts(target)
    task = infer_task(labels)
    classes = sort_classes(labels) if task == "classification" else None
    if classes is not None and len(classes) < 2:
        raise DataError(f"{train}: target {target!r} has a single value {classes}")
    features, dropped = [], []
    for column in table.header:
        if column == target:
            continue
        try:
            table.numbers([column])
        except DataError:
            dropped.append(column)
        else:
            features.append(column)
    if not features:
        raise DataError(f"{train}: no numeric feature column besides the target {target!r}")
    test = train.with_name(train.name.replace("train", "test"))
    has_test = "train" in train.name and test.is_file()
    return DataFacts(
        train, test if has_test else None, target, task, classes, features, dropped, len(table)
    )


def write_starter(
    name: str, data: Path | None = None, target: str | None = None, cwd: Path | None = None
) -> tuple[Path, str]:
    """Write NAME.yaml (never over an existing file); returns its path and a note for the user."""
    cwd = cwd or Path.cwd()
    path = config_path(name)
    folder = (cwd / path).parent
    if not folder.is_dir():
        raise NncliError(f"{path}: the folder {folder} does not exist")
    if (data is None) != (target is None):
        raise NncliError("--data and --target go together: the CSV and the column to predict")
    repo = find_repo(cwd)
    if data is not None and target is not None:
        facts = inspect_csv(cwd / data, target)
        note = f"filled from {data}"
    elif repo is not None:
        facts = inspect_csv(repo / BUNDLED, "species")
        note = "on the bundled iris data set; point data.train and data.target at your CSV"
    else:
        facts = None
        note = "no data set found: set data.train and data.target, or use --data and --target"
    schema = repo / SCHEMA_PATH if repo is not None else None
    text = starter_text(facts, folder, schema if schema and schema.is_file() else None, path)
    try:
        with (cwd / path).open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise NncliError(f"{path} already exists; choose another NAME or remove it") from None
    return path, note


def starter_text(facts: DataFacts | None, folder: Path, schema: Path | None, path: Path) -> str:
    """The commented config: every section, the useful options, alternatives in comments."""
    lines: list[str] = []
    add = lines.append
    if schema is not None:
        add(f"# yaml-language-server: $schema={_relative(schema, folder)}")
    add(f"# nncli config. Check it: nncli validate {path}   Train: nncli train {path}")
    add("# Only data.train and data.target are required; the other keys show their default or a")
    add("# good first choice, with alternatives in comments. Every key: docs/config.md, or")
    add("# `nncli schema` (JSON Schema, for editor completion).")
    if facts is None:
        facts = DataFacts(Path("data/train.csv"), None, "label", "auto", None, [], [], 0)
        train, test = "data/train.csv", None
    else:
        train = _relative(facts.train, folder)
        test = _relative(facts.test, folder) if facts.test else None
        add(f"# Data: {_describe(facts)}")
    n_out = len(facts.classes) if facts.classes else 1
    width = _width(len(facts.features) or 8, n_out)
    small = 0 < facts.rows < 20
    add("")
    add(_c(f"# name: {path.stem}", "run name (default: this file's name): runs/<name>/<time>/"))
    add(_c("seed: 0", "drives init, shuffling, the validation split, dropout"))
    add("")
    add("data:")
    add(_c(f"  train: {_scalar(train)}", "CSV with a header row, relative to this file"))
    if test is not None:
        add(_c(f"  test: {_scalar(test)}", "evaluated once, after training"))
    else:
        add(_c("  test: null", "a test CSV, evaluated once after training"))
    add(_c(f"  target: {_scalar(facts.target)}", "the column to predict"))
    add(_c(f"  task: {facts.task}", "auto | classification | regression"))
    validation = "null" if small else "0.2"
    add(_c(f"  validation: {validation}", "fraction of train held out, a CSV path, or null"))
    add(_c("  scale: standard", "standard | minmax | none (fit on the training rows)"))
    if facts.dropped:
        add(_c(f"  features: {_scalar(facts.features)}", "null: every column but the target"))
        add(f"  # left out, not numbers: {', '.join(facts.dropped)}")
    else:
        add(_c("  features: null", "null: every column but the target; or a list"))
    add("")
    add("model:")
    add(_c("  activation: relu", "relu | gelu | silu | elu | selu | leaky_relu | tanh | ..."))
    add(_c("  init: he_normal", "he_normal | he_uniform | xavier_uniform | lecun_normal | ..."))
    add(_c("  layers:", "hidden layers in order; the output layer is added for you"))
    add(f"    - {{type: dense, units: {width}}}")
    add(f"    - {{type: dense, units: {width}}}")
    add("    # - {type: dropout, rate: 0.2}")
    add(_c("    # - {type: batchnorm}", "or {type: layernorm}"))
    add(_c("    # - type: residual", "out = x + f(x)"))
    add("    #   layers:")
    add(f"    #     - {{type: dense, units: {width}}}")
    add(f"    #     - {{type: dense, units: {width}, activation: linear}}")
    add("  output:")
    add(_c("    activation: auto", f"auto: {_output(facts)}"))
    add("    init: xavier_uniform")
    add("")
    if facts.task == "regression":
        add(_c("loss: auto", "auto: mse; or mae, huber, {name: huber, delta: 1.0}"))
    else:
        add(_c("loss: auto", f"auto: {_loss(facts)}; or with options:"))
        add("# loss: {name: cross_entropy, label_smoothing: 0.1, class_weights: balanced}")
    add("")
    add("optimizer:")
    add(_c("  type: adam", "sgd | adam | adamw | rmsprop | adagrad"))
    add("  lr: 0.003")
    add(_c("  weight_decay: 0.0", "L2 on dense weights (adamw: decoupled)"))
    add("  # sgd: {type: sgd, lr: 0.01, momentum: 0.9, nesterov: true}")
    add("")
    add(_c("# schedule:", "learning-rate schedule; default: constant"))
    add(_c("#   type: cosine", "constant | step | exponential | cosine | plateau"))
    add("#   warmup_epochs: 5")
    add("")
    add("training:")
    add(_c("  epochs: 200", "at most; early stopping usually ends sooner"))
    add(_c(f"  batch_size: {16 if facts.rows and facts.rows < 500 else 32}", "rows per step"))
    add("  shuffle: true")
    add(_c("  grad_clip: null", "e.g. 1.0: clip the global gradient norm"))
    add(_c("  dtype: float32", "float32 | float64"))
    if small:
        add(_c("  early_stopping: null", "needs validation data to watch"))
    else:
        add(_c("  early_stopping:", "null: train every epoch"))
        add(_c("    monitor: val_loss", "any metrics.csv column, e.g. val_accuracy"))
        add("    patience: 20")
        add(_c("    restore_best: true", "end with the best epoch's weights"))
    add("  checkpoint:")
    add(_c("    every: 0", "also keep checkpoints/epoch-NNNN.npz every N epochs"))
    return "\n".join(lines) + "\n"


def _c(code: str, comment: str) -> str:
    return f"{code:<{COMMENT_COLUMN - 1}} # {comment}"


def _scalar(value: object) -> str:
    """One YAML value on one line, quoted only when needed."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...")


def _relative(target: Path, folder: Path) -> str:
    """Relative to the config's folder, as config paths are."""
    return Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix()


def _width(n_features: int, n_outputs: int) -> int:
    """Hidden width: the power of two above features + outputs, between 16 and 256."""
    return min(256, max(16, 2 ** math.ceil(math.log2(n_features + n_outputs))))


def _describe(facts: DataFacts) -> str:
    text = f"{facts.rows} rows, {len(facts.features)} numeric features; target {facts.target!r}"
    if facts.classes:
        shown = ", ".join(facts.classes[:8]) + (", ..." if len(facts.classes) > 8 else "")
        return f"{text}: classification, {len(facts.classes)} classes ({shown})"
    return f"{text}: {facts.task}"


def _output(facts: DataFacts) -> str:
    if facts.task == "regression":
        return "linear, for regression"
    if facts.classes and len(facts.classes) == 2:
        return "sigmoid, for 2 classes"
    if facts.classes:
        return f"softmax over the {len(facts.classes)} classes"
    return "softmax (multi-class), sigmoid (2 classes), linear (regression)"


def _loss(facts: DataFacts) -> str:
    if facts.classes and len(facts.classes) == 2:
        return "binary_cross_entropy"
    return "cross_entropy" if facts.classes else "from the task"
