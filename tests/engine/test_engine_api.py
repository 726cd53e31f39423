"""nncli.engine re-exports its public names, and importing it pulls in NumPy only."""

from __future__ import annotations

import subprocess
import sys

import nncli.engine as engine


def test_every_exported_name_exists_and_registries_hold_exported_classes() -> None:
    assert all(hasattr(engine, name) for name in engine.__all__)
    exported = {id(getattr(engine, name)) for name in engine.__all__}
    for registry in (engine.ACTIVATIONS, engine.LOSSES, engine.OPTIMIZERS, engine.SCHEDULES):
        assert all(id(cls) in exported for cls in registry.values()), registry


def test_importing_the_engine_loads_no_config_or_cli_library() -> None:
    code = (
        "import sys, nncli.engine; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'yaml', 'rich', 'typer', 'pyarrow'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
