"""Thin typer commands over the plain functions; user errors become one red line and exit 1."""

from __future__ import annotations

import json
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from nncli import __version__
from nncli.cli.output import (
    err,
    gradcheck_table,
    out,
    print_notes,
    show_evaluation,
    write_predictions,
)
from nncli.config.load import dump_yaml, load_config, parse_set_options
from nncli.data.read import iter_features, read_features
from nncli.errors import DataError, NncliError
from nncli.store.model import load

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
    from nncli.training.trainer import Trainer

    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose exclude each other")
    trainer = Trainer(
        load_config(config, parse_set_options(set_ or [])),
        Console(stderr=True, quiet=True) if quiet else err,
    )
    if verbose:
        from nncli.cli.architecture import trainer_table

        trainer.verbose = True
        err.print(trainer_table(trainer))
    result = trainer.run(run_dir, resume)
    if quiet:
        err.print(f"run folder: {result.run_dir}", highlight=False, markup=False)
    if result.signal is not None:  # Ctrl-C or SIGTERM: never exit 0
        if result.stop_reason == "interrupted":
            again = shlex.join(["nncli", "train", str(config), *_set_args(set_)])
            err.print(
                f"interrupted after epoch {result.summary['epochs_run']} (saved); continue with: "
                f"{again} --resume {shlex.quote(str(result.run_dir))}",
                highlight=False,
                markup=False,
            )
        raise typer.Exit(128 + result.signal)


def _set_args(options: list[str] | None) -> list[str]:
    return [arg for option in options or [] for arg in ("--set", option)]


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
    from nncli.cli.architecture import describe_network

    resolved = load_config(config, parse_set_options(set_ or []))
    table = describe_network(resolved)
    sys.stdout.write(dump_yaml(resolved))
    sys.stdout.flush()
    err.print(table)
    err.print(f"[green]ok[/green]: {escape(str(config))} is a valid config", highlight=False)


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
    from nncli.store.history import find_runs, runs_table, sort_runs, table_width

    found, notes = find_runs(root)
    found = sort_runs(found, sort) if found else []
    print_notes(notes)
    if as_json:
        sys.stdout.write(json.dumps([run.to_json() for run in found], indent=2) + "\n")
    elif found:
        table = runs_table(found, sort, Path.cwd())
        width = None if out.is_terminal else max(out.width, table_width(table))
        Console(highlight=False, width=width).print(table)  # piped: no 80-column wrap
    else:
        err.print(f"no runs under {root}", highlight=False, markup=False)


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
) -> None:
    """Loss and metrics of a trained model on a labelled CSV.

    Example: nncli evaluate runs/iris/20260101-120000 --json
    """
    model = load(checkpoint)
    path = data if data is not None else model.config.data.test
    if path is None:
        raise DataError(f"{checkpoint}: the run's config has no data.test; pass --data CSV")
    notes: list[str] = []
    data_config = model.config.data
    x, y = read_features(
        path,
        model.prep,
        data_config.delimiter,
        need_target=True,
        missing=data_config.missing,
        notes=notes,
    )
    assert y is not None  # need_target=True: read_features returns the targets
    print_notes(notes)
    title = f"{Path(path).name} ({len(x)} rows)"
    metrics = model.evaluate_arrays(x, y, per_target=True, source=path)
    show_evaluation(metrics, model.classes, title, as_json)


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
) -> None:
    """One prediction per input row, in order; features are taken by name from the header.

    Example: nncli predict runs/iris/20260101-120000 datasets/iris/test.csv --proba
    """
    if output is not None:
        _check_output(output, input_csv, checkpoint)
    model = load(checkpoint)
    if proba and model.task != "classification":
        raise DataError("--proba: this model does regression; there are no class probabilities")
    chunks = iter_features(input_csv, model.prep, model.config.data.delimiter)
    write_predictions(model, chunks, proba, output)


def _check_output(output: Path, input_csv: Path, checkpoint: Path) -> None:
    """Refuse an --output that is a folder, the input, or a file of the run being read:
    predict would replace it with its output."""
    if output.name in ("", ".", "..") or output.is_dir():
        raise DataError(f"--output {output}: is a directory; give a file name")
    if not output.exists():
        return
    run = checkpoint if checkpoint.is_dir() else checkpoint.parent
    if run.name == "checkpoints":
        run = run.parent
    owned = [input_csv, checkpoint]
    if (run / "checkpoints").is_dir():  # a run folder, not a checkpoint kept on its own
        run_files = ("config.yaml", "metrics.csv", "gradients.csv", "summary.json")
        owned += [*(run / name for name in run_files), *run.glob("checkpoints/*.npz")]
    for path in owned:
        if path.is_file() and output.samefile(path):
            what = "the input CSV" if path == input_csv else f"a file of the run folder {run}"
            raise DataError(f"--output {output}: is {what}; write the predictions elsewhere")


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
    from nncli.training.diagnose import TOLERANCE, error_is_ok, gradcheck_config, worst

    rows_ = gradcheck_config(config, parse_set_options(set_ or []), rows, max_elements)
    used = next((r.shape[0] for r in rows_ if r.name == "input"), rows)  # a smaller data set
    out.print(gradcheck_table(rows_, config, used))
    if not error_is_ok(worst(rows_)):
        raise NncliError(
            f"gradient check failed: worst relative error {worst(rows_):.2e} > {TOLERANCE:g}"
        )
    err.print(f"[green]ok[/green]: every relative error <= {TOLERANCE:g}", highlight=False)


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
    from nncli.sweep.runner import report, run_sweep

    result = run_sweep(sweep_file, out_dir, scheduler, workers, err)
    report(result, err, out)
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
