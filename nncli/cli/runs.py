"""`nncli runs`: the table (or JSON list) of the runs under a folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from nncli.cli.output import err, out, print_notes


def show_runs(root: Path, sort: str, as_json: bool) -> None:
    """The runs under `root`, sorted by `sort`: a table on stdout, or a JSON list."""
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
