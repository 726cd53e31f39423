"""The `nncli` command: typer commands (app), each calling one plain function of this package."""

from nncli.cli.commands import app, main

__all__ = ["app", "main"]
