"""Thin typer commands over the plain functions; user errors become one red line and exit 1."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from nncli import __version__
from nncli.cli.checks import check_gradients, validate_config
from nncli.cli.evaluate import evaluate_file
from nncli.cli.output import err, out
from nncli.cli.predict import predict_file
from nncli.cli.runs import show_runs
from nncli.cli.train import train_config
from nncli.errors import NncliError

app = typer.Typer(
    help="Train feedforward neural networks from YAML configs (NumPy backpropagation).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a config key, VALUE parsed as YAML: --set optimizer.lr=0.01 "
        "--set model.layers.0.units=32",
        metavar="KEY=VALUE",
    ),
]


def _version(value: bool) -> None:
    if value:
        print(f"nncli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """nncli: YAML in, trained network out. Run `nncli COMMAND --help` for each command."""


@app.command()
def train(
    config: Annotated[
        Path, typer.Argument(readable=False, help="The YAML config.", show_default=False)
    ],
    set_: SetOption = None,
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", readable=False, help="Write the run here (new or empty folder)."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", readable=False, help="Continue the run in this folder."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors and the run folder.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also print the architecture and gradient norms per epoch."
        ),
    ] = False,
) -> None:
    """Train a network; writes runs/<name>/<stamp>/ with metrics and checkpoints.

    Example: nncli train configs/iris.yaml --set optimizer.lr=0.01
    """
    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose exclude each other")
    code = train_config(config, set_ or [], run_dir, resume, quiet, verbose)
    if code is not None:
        raise typer.Exit(code)


@app.command()
def validate(
    config: Annotated[
        Path, typer.Argument(readable=False, help="The YAML config.", show_default=False)
    ],
    set_: SetOption = None,
) -> None:
    """Check a config: print it resolved (YAML, stdout) and the network's layers (stderr).

    Every default is filled in. The architecture table lists each layer by its state_dict
    name with its output width and parameter count. The check reads the data, as training
    would, so a missing or bad CSV is an error (exit 1).

    Example: nncli validate configs/iris.yaml > resolved.yaml
    """
    validate_config(config, set_ or [])


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Writes NAME.yaml in the current folder.")] = "config",
    data: Annotated[
        Path | None,
        typer.Option("--data", readable=False, help="Fill the config from this training CSV."),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="The column of --data to predict.")
    ] = None,
) -> None:
    """Write a commented starter config (never over an existing file).

    Without --data it trains on the bundled iris data set (in an nncli checkout); with --data
    and --target it fills the data section, the task and the network's size from your CSV.

    Example: nncli init iris && nncli train iris.yaml

    Example: nncli init houses --data data/train.csv --target price
    """
    from nncli.cli.starter import write_starter

    path, note = write_starter(name, data, target)
    err.print(f"wrote {path}: {note}", highlight=False, markup=False)
    shown = shlex.quote(str(path))
    err.print(f"next: nncli validate {shown}; nncli train {shown}", highlight=False, markup=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the config on stdout, for editor completion and checking.

    Example: nncli schema > nncli.schema.json, then begin a config with the line
    # yaml-language-server: $schema=nncli.schema.json
    """
    from nncli.config.jsonschema import schema_text

    sys.stdout.write(schema_text())


@app.command()
def runs(
    root: Annotated[
        Path, typer.Argument(readable=False, help="Where to look for run folders.")
    ] = Path("runs"),
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            help="date, name, epochs, a metrics.csv column at the best epoch (val_loss, "
            "val_accuracy: best first) or test_<metric>.",
        ),
    ] = "date",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list on stdout instead.")
    ] = False,
) -> None:
    """Table of the runs under a folder: name, date, epochs, stop reason, best value, test metric.

    Example: nncli runs --sort val_loss
    """
    show_runs(root, sort, as_json)


@app.command()
def plot(
    run: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN...",
            readable=False,
            help="Run folders, or folders of runs.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", readable=False, help="The PNG to write.")
    ] = Path("curves.png"),
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Second panel: a metrics.csv column (default: val_accuracy or val_r2).",
        ),
    ] = None,
) -> None:
    """Loss curves (train and validation) and a metric of one or several runs, in one PNG.

    Needs matplotlib: pip install 'nncli[plot]'.

    Example: nncli plot runs/iris/20260101-120000 runs/iris/20260101-130000 -o iris.png
    """
    from nncli.cli.plots import plot_runs
    from nncli.store.history import collect_runs

    found = collect_runs(run)
    plot_runs(found, output, metric)
    err.print(
        f"wrote {output} ({len(found)} run{'s' * (len(found) != 1)})", highlight=False, markup=False
    )


STRICT_HELP = "A missing value or a level training never saw is an error, not a note."


@app.command()
def evaluate(
    checkpoint: Annotated[
        Path, typer.Argument(readable=False, help="A checkpoint file or a run folder.")
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", readable=False, help="CSV to evaluate on (default: the config's test set)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help=STRICT_HELP)] = False,
) -> None:
    """Loss and metrics of a trained model on a labelled CSV.

    Example: nncli evaluate runs/iris/20260101-120000 --json
    """
    evaluate_file(checkpoint, data, as_json, strict)


@app.command()
def predict(
    checkpoint: Annotated[
        Path, typer.Argument(readable=False, help="A checkpoint file or a run folder.")
    ],
    input_csv: Annotated[
        Path, typer.Argument(metavar="INPUT.csv", readable=False, help="Rows to predict.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", readable=False, help="Write CSV here (default: stdout)."),
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add one proba_<label> column per class.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help=STRICT_HELP)] = False,
) -> None:
    """One prediction per input row, in order; features are taken by name from the header.

    Example: nncli predict runs/iris/20260101-120000 datasets/iris/test.csv --proba
    """
    predict_file(checkpoint, input_csv, output, proba, strict)


@app.command()
def export(
    checkpoint: Annotated[
        Path, typer.Argument(readable=False, help="A checkpoint file or a run folder.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="The file format: onnx.")] = "onnx",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", readable=False, help="Where (default: model.onnx)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """One file any ONNX runtime runs: raw columns in, labels and probabilities out.

    Example: nncli export runs/iris/20260101-120000 --format onnx --output iris.onnx
    """
    from nncli.cli.export import export_file

    export_file(checkpoint, fmt, output, force)


@app.command()
def gradcheck(
    config: Annotated[
        Path, typer.Argument(readable=False, help="The YAML config.", show_default=False)
    ],
    set_: SetOption = None,
    rows: Annotated[int, typer.Option("--rows", min=2, help="Training rows in the batch.")] = 16,
    max_elements: Annotated[
        int, typer.Option("--max-elements", min=1, help="Entries probed per parameter array.")
    ] = 2000,
) -> None:
    """Check backprop against central finite differences, in float64, for the configured
    network on a small batch of its training data; exit 1 if any relative error > 1e-6.

    Example: nncli gradcheck configs/digits.yaml
    """
    check_gradients(config, set_ or [], rows, max_elements)


@app.command()
def sweep(
    sweep_file: Annotated[
        Path, typer.Argument(metavar="SWEEP.yaml", readable=False, help="The sweep file.")
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            readable=False,
            help="Output folder (default: sweeps/<name>); the same one resumes.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="A running Dask scheduler: its address or scheduler file (default: an "
            "embedded cluster).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Worker processes of the embedded cluster (default: cores)."
        ),
    ] = None,
) -> None:
    """Hyperparameter sweep: every trial is a training, run in parallel on Dask.

    Example: nncli sweep configs/iris-sweep.yaml --workers 2
    """
    from nncli.sweep.runner import print_result, run_sweep

    result = run_sweep(sweep_file, out_dir, scheduler, workers, err)
    print_result(result, err, out)
    if result.signal is not None:
        raise typer.Exit(128 + result.signal)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # SIGTERM outside training: stop like Ctrl-C, no traceback


def main() -> None:
    """Entry point: the one place where user errors turn into a message and an exit code
    (0 ok, 1 user error, 2 usage, 130/143 interrupted: README "Exit codes")."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except NncliError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(128 + signal.SIGINT)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except OSError as exc:  # the environment: permissions, a full disk, a vanished folder
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc}"
        err.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
        sys.exit(1)
