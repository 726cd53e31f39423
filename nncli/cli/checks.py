"""`nncli validate` and `nncli gradcheck`: check a config, and its network's backprop, before
training."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.markup import escape

from nncli.cli.output import err, gradcheck_table, out
from nncli.config.load import dump_yaml, load_config
from nncli.config.overrides import parse_set_options
from nncli.errors import NncliError


def validate_config(config: Path, set_options: list[str]) -> None:
    """The resolved config as YAML on stdout; the architecture table and `ok` on stderr."""
    from nncli.cli.architecture import describe_network

    resolved = load_config(config, parse_set_options(set_options))
    table = describe_network(resolved)
    sys.stdout.write(dump_yaml(resolved))
    sys.stdout.flush()
    err.print(table)
    err.print(f"[green]ok[/green]: {escape(str(config))} is a valid config", highlight=False)


def check_gradients(config: Path, set_options: list[str], rows: int, max_elements: int) -> None:
    """The gradient check's table on stdout; a NncliError when an error exceeds the tolerance."""
    from nncli.training.diagnose import TOLERANCE, error_is_ok, gradcheck_config, worst

    found = gradcheck_config(config, parse_set_options(set_options), rows, max_elements)
    used = next((r.shape[0] for r in found if r.name == "input"), rows)  # a smaller data set
    out.print(gradcheck_table(found, config, used))
    if not error_is_ok(worst(found)):
        raise NncliError(
            f"gradient check failed: worst relative error {worst(found):.2e} > {TOLERANCE:g}"
        )
    err.print(f"[green]ok[/green]: every relative error <= {TOLERANCE:g}", highlight=False)
