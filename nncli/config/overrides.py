"""`--set a.b=VALUE` overrides, applied to the raw YAML data before validation (so they get the
same checks and messages as the file's own keys)."""

from __future__ import annotations

from typing import Any

from nncli.config.messages import dotted
from nncli.config.yamlio import Marks, parse_yaml
from nncli.errors import ConfigError


def parse_set_options(options: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings from the command line; VALUE is parsed as YAML."""
    out: dict[str, Any] = {}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {option!r}: expected KEY=VALUE, e.g. optimizer.lr=0.01")
        value, _ = parse_yaml(text, f"--set {key}") if text.strip() else (None, {})
        out[key.strip()] = value
    return out


def apply_override(
    raw: dict,
    marks: Marks,
    key: str,
    value: Any,
    label: str | None = None,
    source: str | None = None,
) -> None:
    """Set a dotted key (list entries by index) in the raw mapping, before validation.

    `label` starts error messages (default `--set KEY`); `source` is the mark recorded for the
    overridden nodes (default: the label), e.g. a sweep file's line and column.
    """
    label = label or f"--set {key}"
    source = source or label
    parts = key.split(".")
    node: Any = raw
    trail: list[str | int] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"{label}: '{part}' is not an index of {dotted(trail)} "
                    f"(a list of {len(node)} entries)"
                )
            index: str | int = int(part)
        elif isinstance(node, dict):
            index = part
            if not last and not isinstance(node.get(part), dict | list):
                node[part] = {}
        else:
            raise ConfigError(f"{label}: {dotted(trail)} is a single value, not a section")
        trail.append(index)
        marks.setdefault(tuple(trail), source)
        if last:
            node[index] = value
            marks[tuple(trail)] = source
            for sub in [p for p in marks if p[: len(trail)] == tuple(trail) and p != tuple(trail)]:
                marks[sub] = source
        else:
            node = node[index]
