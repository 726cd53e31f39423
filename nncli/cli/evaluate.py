"""`nncli evaluate`: a trained model's loss and metrics on a labelled CSV."""

from __future__ import annotations

from pathlib import Path

from nncli.cli.output import print_notes, show_evaluation
from nncli.data.encoders import Seen
from nncli.data.read import read_features
from nncli.errors import DataError
from nncli.store.model import load


def evaluate_file(checkpoint: Path, data: Path | None, as_json: bool, strict: bool = False) -> None:
    """Evaluate on `data`, or on the run's test set; a table, or one JSON object on stdout."""
    model = load(checkpoint)
    path = data if data is not None else model.config.data.test
    if path is None:
        raise DataError(f"{checkpoint}: the run's config has no data.test; pass --data CSV")
    notes: list[str] = []
    seen = Seen()
    data_config = model.config.data
    x, y = read_features(
        path,
        model.prep,
        data_config.delimiter,
        need_target=True,
        missing=data_config.missing,
        notes=notes,
        seen=seen,
        strict=strict,
    )
    notes += seen.report(path)
    assert y is not None  # need_target=True: read_features returns the targets
    print_notes(notes)
    title = f"{Path(path).name} ({len(x)} rows)"
    metrics = model.evaluate_arrays(x, y, per_target=True, source=path)
    show_evaluation(metrics, model.classes, title, as_json)
