"""`nncli train`: run the Trainer with the command's console settings, and word an interruption."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console

from nncli.cli.output import err
from nncli.config.load import load_config
from nncli.config.overrides import parse_set_options


def train_config(
    config: Path,
    set_options: list[str],
    run_dir: Path | None,
    resume: Path | None,
    quiet: bool,
    verbose: bool,
) -> int | None:
    """Train; None when the run ended by itself, else the exit code of the signal that
    interrupted it (Ctrl-C or SIGTERM: never 0)."""
    from nncli.training.trainer import Trainer

    trainer = Trainer.for_run(
        load_config(config, parse_set_options(set_options)),
        Console(stderr=True, quiet=True) if quiet else err,
        resume,
    )
    if verbose:
        from nncli.cli.architecture import trainer_table

        trainer.verbose = True
        err.print(trainer_table(trainer))
    result = trainer.run(run_dir, resume)
    if quiet:
        err.print(f"run folder: {result.run_dir}", highlight=False, markup=False)
    if result.signal is None:
        return None
    if result.stop_reason == "interrupted":
        again = shlex.join(["nncli", "train", str(config), *_set_args(set_options)])
        err.print(
            f"interrupted after epoch {result.summary['epochs_run']} (saved); continue with: "
            f"{again} --resume {shlex.quote(str(result.run_dir))}",
            highlight=False,
            markup=False,
        )
    return 128 + result.signal


def _set_args(options: list[str]) -> list[str]:
    return [arg for option in options for arg in ("--set", option)]
