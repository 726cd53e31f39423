"""`python -m nncli` works like the `nncli` command."""

from nncli.cli import main

main()
