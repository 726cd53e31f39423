"""`nncli init`: a commented starter config, filled from a real CSV when one is given."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml

from nncli.config.jsonschema import SCHEMA_PATH
from nncli.data.columns import plan_columns
from nncli.data.files import read_frame
from nncli.data.labels import infer_task, sort_classes
from nncli.data.read import label_texts, require_column
from nncli.errors import DataError, NncliError

BUNDLED = Path("datasets") / "iris" / "train.csv"
COMMENT_COLUMN = 34

# `nncli init`'s config. $header and $data_note are optional lines (ending in a newline), the
# other fields whole lines whose comments _c aligns; $path, $width and $output are values.
STARTER = Template("""\
${header}# nncli config. Check it: nncli validate $path   Train: nncli train $path
# Only data.train and data.target are required; the other keys show their default or a
# good first choice, with alternatives in comments. Every key: docs/config.md, or
# `nncli schema` (JSON Schema, for editor completion).
${data_note}
$name
seed: 0                           # drives init, shuffling, the validation split, dropout

data:
$train
$test
$target
$task
$validation
  missing: impute                 # impute | error | drop (a row with a missing value)
  numeric: {scale: standard, impute: median}   # scale: standard | minmax | none
  categorical: {min_frequency: 1, max_categories: 1000}   # one input per level
$features

model:
  activation: relu                # relu | gelu | silu | elu | selu | leaky_relu | tanh | ...
  init: he_normal                 # he_normal | he_uniform | xavier_uniform | lecun_normal | ...
  layers:                         # hidden layers in order; the output layer is added for you
    - {type: dense, units: $width}
    - {type: dense, units: $width}
    # - {type: dropout, rate: 0.2}
    # - {type: batchnorm}         # or {type: layernorm}
    # - type: residual            # out = x + f(x)
    #   layers:
    #     - {type: dense, units: $width}
    #     - {type: dense, units: $width, activation: linear}
  output:
    activation: auto              # auto: $output
    init: xavier_uniform

$loss

optimizer:
  type: adam                      # sgd | adam | adamw | rmsprop | adagrad
  lr: 0.003
  weight_decay: 0.0               # L2 on dense weights (adamw: decoupled)
  # sgd: {type: sgd, lr: 0.01, momentum: 0.9, nesterov: true}

# schedule:                       # learning-rate schedule; default: constant
#   type: cosine                  # constant | step | exponential | cosine | plateau
#   warmup_epochs: 5

training:
  epochs: 200                     # at most; early stopping usually ends sooner
$batch_size
  shuffle: true
  grad_clip: null                 # e.g. 1.0: clip the global gradient norm
  dtype: float32                  # float32 | float64
$early_stopping
  checkpoint:
    every: 0                      # also keep checkpoints/epoch-NNNN.npz every N epochs
""")
LOSS_OPTIONS = "# loss: {name: cross_entropy, label_smoothing: 0.1, class_weights: balanced}"
# patience 10 and min_delta 0.001 (were 20 and 0): with min_delta 0 a val_loss creeping
# towards 0 by 1e-5 an epoch kept penguins training all 200 epochs. Measured from `init`,
# unedited, seeds 0/1/2 (test metric; epochs run; mean seconds of the training loop, from
# summary.json), before -> after:
#   penguins  accuracy 0.986/0.971/0.986 -> same;  200/70/39 -> 47/33/27 epochs;  0.40 -> 0.12 s
#   titanic   accuracy 0.787/0.802/0.802 -> 0.791/0.802/0.806;  62/25/39 -> 39/15/24;  0.23 -> 0.14
#   auto_mpg  r2 0.754/0.588/0.714 -> same;  33/47/47 -> 23/37/37;  0.18 -> 0.16
# and on iris, breast_cancer, diabetes, digits the same test metrics in fewer epochs; wine
# 1.000 -> 0.972 on seed 2 (one test row of 36). lr 0.01 or batch 32/64 were no better.
EARLY_STOPPING = """\
  early_stopping:                 # null: train every epoch
    monitor: val_loss             # any metrics.csv column, e.g. val_accuracy
    patience: 10                  # epochs without improvement before stopping
    min_delta: 0.001              # a smaller gain is no improvement
    restore_best: true            # end with the best epoch's weights"""
NO_EARLY_STOPPING = "  early_stopping: null            # needs validation data to watch"


@dataclass(frozen=True)
class DataFacts:
    """What `init` learns from the training CSV to fill data, task and the network's size."""

    train: Path
    test: Path | None
    target: str
    task: str
    classes: list[str] | None
    features: list[str]
    dropped: list[str]  # columns left out (ids, constants), with the reason
    rows: int
    kinds: list[str] = field(default_factory=list)  # each used column's type and why


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
    """Read the file as training will: the target's task and classes, each column's type."""
    frame = read_frame(train)
    require_column(str(train), frame, target, "target column", ",")
    labels = [v for v in label_texts(frame.column(target)) if v]
    task = infer_task(labels)
    classes = sort_classes(labels) if task == "classification" else None
    if classes is not None and len(classes) < 2:
        raise DataError(f"{train}: target {target!r} has a single value {classes}")
    plans = plan_columns(frame, [target], None, [])
    features = [p.name for p in plans if p.used]
    dropped = [f"{p.name} ({p.reason})" for p in plans if not p.used]
    if not features:
        raise DataError(f"{train}: no usable feature column besides the target {target!r}")
    table = frame
    test = train.with_name(train.name.replace("train", "test"))
    has_test = "train" in train.name and test.is_file()
    kinds = [f"{p.name}: {p.type} ({p.reason})" for p in plans if p.used]
    return DataFacts(
        train, test if has_test else None, target, task, classes, features, dropped,
        table.num_rows, kinds,
    )  # fmt: skip


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
    header = f"# yaml-language-server: $schema={_relative(schema, folder)}\n" if schema else ""
    if facts is None:
        facts = DataFacts(Path("data/train.csv"), None, "label", "auto", None, [], [], 0)
        train, test, data_note = "data/train.csv", None, ""
    else:
        train = _relative(facts.train, folder)
        test = _relative(facts.test, folder) if facts.test else None
        data_note = f"# Data: {_describe(facts)}\n"
    small = 0 < facts.rows < 20
    if test is not None:
        test_line = _c(f"  test: {_scalar(test)}", "evaluated once, after training")
    else:
        test_line = _c("  test: null", "a test CSV, evaluated once after training")
    features = _c("  features: null", "null: every column but the target, types inferred")
    features += "".join(f"\n  #   {kind}" for kind in facts.kinds)
    if facts.dropped:
        features += f"\n  # left out: {'; '.join(facts.dropped)}"
    features += "\n" + _c("  exclude: []", "columns never used as features")
    if facts.task == "regression":
        loss = _c("loss: auto", "auto: mse; or mae, huber, {name: huber, delta: 1.0}")
    else:
        loss = _c("loss: auto", f"auto: {_loss(facts)}; or with options:") + "\n" + LOSS_OPTIONS
    batch_size = 16 if facts.rows and facts.rows < 500 else 32
    return STARTER.substitute(
        header=header,
        path=path,
        data_note=data_note,
        name=_c(
            f"# name: {path.stem}", "run name (default: this file's name): runs/<name>/<time>/"
        ),
        train=_c(f"  train: {_scalar(train)}", "CSV with a header row, relative to this file"),
        test=test_line,
        target=_c(f"  target: {_scalar(facts.target)}", "the column to predict"),
        task=_c(f"  task: {facts.task}", "auto | classification | regression"),
        validation=_c(
            f"  validation: {'null' if small else '0.2'}",
            "fraction of train held out, a CSV path, or null",
        ),
        features=features,
        width=_width(len(facts.features) or 8, len(facts.classes) if facts.classes else 1),
        output=_output(facts),
        loss=loss,
        batch_size=_c(f"  batch_size: {batch_size}", "rows per step"),
        early_stopping=NO_EARLY_STOPPING if small else EARLY_STOPPING,
    )


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
    text = f"{facts.rows} rows, {len(facts.features)} features; target {facts.target!r}"
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
