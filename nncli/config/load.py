"""From a YAML file (and --set overrides) to a validated Config; a resolved Config back to YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from nncli.config.messages import format_errors, shown
from nncli.config.overrides import apply_override
from nncli.config.sections import Config
from nncli.config.yamlio import Marks, read_yaml
from nncli.errors import ConfigError


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read, override, validate; data paths become absolute (they are relative to the file)."""
    path = Path(path)
    raw, marks = read_yaml(path)
    return config_from_raw(raw, marks, path.parent, path.stem, overrides or {})


def config_from_raw(
    raw: Any, marks: Marks, base_dir: Path, default_name: str, overrides: dict[str, Any]
) -> Config:
    source = marks.get((), "config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config must be a YAML mapping, got {shown(raw)}")
    for key, value in overrides.items():
        apply_override(raw, marks, key, value)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, raw, marks)) from None
    return _resolve(config, base_dir, default_name)


def _resolve(config: Config, base_dir: Path, default_name: str) -> Config:
    data = config.data

    def absolute(p: str) -> str:
        return str((base_dir / p).resolve()) if p else p

    validation = absolute(data.validation) if isinstance(data.validation, str) else data.validation
    new_data = data.model_copy(
        update={
            "train": absolute(data.train),
            "test": absolute(data.test) if data.test else None,
            "validation": validation,
        }
    )
    return config.model_copy(update={"data": new_data, "name": config.name or default_name})


def resolved_dict(config: Config) -> dict:
    """The config as plain data, `{name: relu}` written back as `relu` for readability."""

    def compact(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"name"}:
                return value["name"]
            return {k: compact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [compact(v) for v in value]
        return value

    return compact(config.model_dump(mode="json"))


def dump_yaml(config: Config) -> str:
    return yaml.safe_dump(resolved_dict(config), sort_keys=False, allow_unicode=True)
