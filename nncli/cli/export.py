"""`nncli export`: a checkpoint or run folder to one ONNX file, preprocessing included."""

from __future__ import annotations

import time
from pathlib import Path

from nncli.cli.output import err
from nncli.errors import NncliError


def export_file(checkpoint: Path, fmt: str, output: Path | None, force: bool) -> None:
    """Load, export, say where, how big and how long; refusals are one-line NncliErrors."""
    if fmt != "onnx":
        raise NncliError(f"--format {fmt!r}: the formats are: onnx")
    from nncli.export import export_onnx
    from nncli.store.model import load

    target = output if output is not None else Path("model.onnx")
    if target.exists() and not force:
        raise NncliError(f"{target} exists; pass --force to overwrite it")
    model = load(checkpoint)
    start = time.perf_counter()
    path = export_onnx(model, target, force=True)
    seconds = time.perf_counter() - start
    size = path.stat().st_size
    err.print(f"wrote {path} ({size:,} bytes, {seconds:.2f} s)", markup=False, highlight=False)
