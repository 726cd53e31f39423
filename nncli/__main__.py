"""`python -m nncli` and the `nncli` command: Ctrl-C exits 130 from the first millisecond on."""

import os
import signal
import sys


def main() -> None:
    """Import the CLI, then run it (cli.main turns Ctrl-C into exit 130 from then on).

    The imports take the first fraction of a second of every command. A Ctrl-C then ends
    the process at once with 130 and no traceback: it has done nothing yet, and a
    KeyboardInterrupt raised inside a library's import can come out as another error
    (pydantic-core turns one into a SchemaError).
    """
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored
        signal.signal(signal.SIGINT, _exit_interrupted)
    try:
        from nncli.cli import main as cli_main
    finally:
        if signal.getsignal(signal.SIGINT) is _exit_interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli_main()
    except KeyboardInterrupt:  # after the handler above, before cli.main's own try
        sys.exit(128 + signal.SIGINT)


def _exit_interrupted(signum: int, frame: object) -> None:
    os._exit(128 + signum)  # nothing to flush or clean up: nothing has been written yet


if __name__ == "__main__":
    main()
