"""What data a run trains on, kept in its checkpoints so that --resume can tell it changed."""

from __future__ import annotations

import zlib
from pathlib import Path

from nncli.config.sections import DataConfig
from nncli.data.dataset import Dataset
from nncli.errors import ConfigError
from nncli.store.manifest import DataFingerprint
from nncli.store.run_folder import RunFolder


def fingerprint(data: Dataset, cfg: DataConfig) -> DataFingerprint:
    """Columns, classes, row counts and a CRC-32 of each data file's bytes (the training
    CSV, and a validation CSV). The bytes, not the arrays: those differ with training.dtype,
    and in their last bits across machines and NumPy versions. Some 0.1 s for 200 MB."""
    files = {"data.train": cfg.train}
    if isinstance(cfg.validation, str) and cfg.validation:
        files["data.validation"] = cfg.validation
    return DataFingerprint(
        features=list(data.prep.features),
        classes=None if data.prep.classes is None else list(data.prep.classes),
        train_rows=len(data.train),
        validation_rows=0 if data.val is None else len(data.val),
        crc32={key: _file_crc32(path) for key, path in files.items()},
    )


def _file_crc32(path: str | Path) -> str | None:
    """None for what cannot be read twice (a pipe) or is gone: that file goes unchecked."""
    crc = 0
    try:
        if not Path(path).is_file():
            return None
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                crc = zlib.crc32(block, crc)
    except OSError:
        return None
    return f"{crc:08x}"


def check_same_data(
    folder: RunFolder,
    now: DataFingerprint | None,
    saved: DataFingerprint | None,
    cfg: DataConfig,
) -> str | None:
    """Refuse to resume on data other than the run's (a CSV edited or replaced at the same
    path): the weights, scaler and class order were fit to the run's data. `now` is None
    for arrays handed to the Trainer (nothing to compare); returns a note when the run
    kept no fingerprint."""
    if now is None:
        return None
    if saved is None:  # a checkpoint written before runs kept a fingerprint of their data
        return (
            "the run's checkpoint predates data fingerprints: that its data is unchanged "
            "is not checked"
        )
    was, new = saved.model_dump(), now.model_dump()
    val_file = "data.validation" in now.crc32

    def refuse(key: str, what: str) -> None:
        path = cfg.validation if key == "data.validation" else cfg.train
        raise ConfigError(  # the config's data section names other data now
            f"--resume {folder}: {key} ({path}) differs from the data the run trained on "
            f"({what}); a resumed run trains on the same data (restore the file, or start a "
            "new run)"
        )

    for name in ("features", "classes"):
        if was[name] != new[name]:
            refuse("data.train", f"{name} {new[name]} now, {was[name]} in the run")
    rows: dict[str, tuple[str, ...]] = {"data.train": ("train_rows",), "data.validation": ()}
    rows["data.validation" if val_file else "data.train"] += ("validation_rows",)
    for key, names in rows.items():
        before, after = (sum(d[n] for n in names) for d in (was, new))
        if names and before != after:
            refuse(key, f"{after} rows now, {before} in the run")
    for key, crc in now.crc32.items():
        if None not in (crc, saved.crc32.get(key)) and saved.crc32[key] != crc:
            refuse(key, "the same number of rows, but other bytes")
    return None
