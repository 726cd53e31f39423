"""What a run leaves behind and how it is read back: the run folder, checkpoint files and
their manifest, the Model rebuilt from one, and the history of past runs."""

from nncli.store.checkpoint import Checkpoint, atomic_write, load_checkpoint, save_checkpoint
from nncli.store.history import RunInfo, collect_runs, find_runs, read_metrics
from nncli.store.logs import CsvLog, EpochPrinter, Stopwatch, write_json
from nncli.store.manifest import (
    Header,
    Manifest,
    ModelManifest,
    TrainingState,
    parse_manifest,
    parse_model_manifest,
)
from nncli.store.model import Model, Predictions, load, load_arrays, model_from_checkpoint
from nncli.store.run_folder import RunFolder
from nncli.store.runlock import run_lock

__all__ = [
    "Checkpoint",
    "CsvLog",
    "EpochPrinter",
    "Header",
    "Manifest",
    "Model",
    "ModelManifest",
    "Predictions",
    "RunFolder",
    "RunInfo",
    "Stopwatch",
    "TrainingState",
    "atomic_write",
    "collect_runs",
    "find_runs",
    "load",
    "load_arrays",
    "load_checkpoint",
    "model_from_checkpoint",
    "parse_manifest",
    "parse_model_manifest",
    "read_metrics",
    "run_lock",
    "save_checkpoint",
    "write_json",
]
