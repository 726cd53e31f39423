"""Ctrl-C in the first fraction of a second, while nncli is still importing, exits 130 with
no traceback, through `python -m nncli` and through the installed `nncli` command alike."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLI_TIMEOUT, cli_env

pytestmark = pytest.mark.slow  # subprocess kills, Dask clusters or fuzzing budgets

# Started through sitecustomize, so it runs before any of nncli: SIGINT to the process itself
# at the moment the named module starts importing, exactly as a Ctrl-C then would.
TRIPWIRE = """\
import os, signal, sys

class _Tripwire:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["NNCLI_TEST_SIGINT_AT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, _Tripwire())
"""

# From the first module the command imports to ones deep inside its imports.
MODULES = ["nncli.cli.commands", "numpy", "typer", "pydantic", "nncli.store.model"]


def console_script() -> Path:
    script = Path(sys.executable).parent / "nncli"
    assert script.is_file(), f"{script}: the nncli command is not installed (pip install -e .)"
    return script


@pytest.mark.parametrize("route", ["python -m nncli", "nncli"])
@pytest.mark.parametrize("module", MODULES)
def test_ctrl_c_while_importing_exits_130_without_traceback(tmp_path, route, module):
    (tmp_path / "sitecustomize.py").write_text(TRIPWIRE, encoding="utf-8")
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["NNCLI_TEST_SIGINT_AT"] = module
    command = [sys.executable, "-m", "nncli"] if route.startswith("python") else [console_script()]
    proc = subprocess.run(
        [*command, "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    # 130, not 0: the interrupt really landed during the imports (help never printed).
    assert proc.returncode == 128 + signal.SIGINT, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr
    assert proc.stdout == ""
