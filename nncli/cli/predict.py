"""`nncli predict`: one prediction per input row, written as CSV, never over a file it reads."""

from __future__ import annotations

from pathlib import Path

from nncli.cli.output import print_notes, write_predictions
from nncli.data.read import iter_features
from nncli.errors import DataError
from nncli.store.model import load
from nncli.store.run_folder import RunFolder


def predict_file(
    checkpoint: Path, input_csv: Path, output: Path | None, proba: bool, strict: bool = False
) -> None:
    """Predict every row of `input_csv`, in order, to `output` (None: stdout)."""
    if output is not None:
        _check_output(output, input_csv, checkpoint)
    model = load(checkpoint)
    if proba and model.task != "classification":
        raise DataError("--proba: this model does regression; there are no class probabilities")
    chunks = iter_features(input_csv, model.prep, model.config.data.delimiter, strict=strict)
    write_predictions(model, chunks, proba, output)
    print_notes(chunks.seen.report(input_csv))


def _check_output(output: Path, input_csv: Path, checkpoint: Path) -> None:
    """Refuse an --output that is a folder, the input, or a file of the run being read:
    predict would replace it with its output."""
    if output.name in ("", ".", "..") or output.is_dir():
        raise DataError(f"--output {output}: is a directory; give a file name")
    if not output.exists():
        return
    run = RunFolder.of(checkpoint)  # None for a checkpoint kept on its own
    owned = [input_csv, checkpoint, *(run.files() if run else [])]
    folder = run or checkpoint.parent
    for path in owned:
        if path.is_file() and output.samefile(path):
            what = "the input CSV" if path == input_csv else f"a file of the run folder {folder}"
            raise DataError(f"--output {output}: is {what}; write the predictions elsewhere")
