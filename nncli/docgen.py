"""docs/config.md, the config reference, generated from the JSON Schema of the pydantic models.

Regenerate with `python -m nncli.docgen > docs/config.md`; a test fails when the file is stale.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from nncli.schema import config_schema

HEADER = """\
# Config reference

<!-- Generated from nncli/config.py by `python -m nncli.docgen > docs/config.md`; do not edit. -->

Every key an nncli config accepts, with its type, default and meaning. Unknown keys are
errors. Paths are relative to the config file. Only `data.train` and `data.target` are
required; `nncli validate CONFIG` prints a config with every default filled in, and
`nncli schema` prints the JSON Schema this page is generated from (see the README for
editor completion).

A *choice* is a mapping whose `type` (or `name`) key selects which other keys it takes.
Activations, initializers and losses may also be written as a bare name: `activation: relu`
stands for `activation: {name: relu}`.
"""


@dataclass
class _Section:
    anchor: str
    title: str
    refs: list[str]  # one $defs model, or the members of a discriminated union
    tag: str | None  # the union's tag key


class _Doc:
    """Walks the schema from the top, collecting one section per model or union on first use."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.defs: dict[str, Any] = schema["$defs"]
        self.sections: dict[tuple[str, ...], _Section] = {}
        self.order: list[tuple[str, ...]] = []

    def section_for(self, refs: list[str], tag: str | None, path: str) -> _Section:
        key = tuple(refs)
        if key not in self.sections:
            anchor = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "top-level"
            self.sections[key] = _Section(anchor, path or "top level", refs, tag)
            self.order.append(key)
        return self.sections[key]

    def type_text(self, node: dict[str, Any], path: str) -> str:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            section = self.section_for([name], None, path)
            return f"mapping ([{section.title}](#{section.anchor}))"
        if "oneOf" in node:
            return self._union_text(node, path, "a choice")
        if "anyOf" in node:
            return self._any_of_text(node["anyOf"], path)
        if "const" in node:
            return f"`{node['const']}`"
        if "enum" in node:
            return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
        kind = node.get("type", "any")
        if kind == "array":
            items = node.get("items", {})
            inner = self.type_text(items, f"{path}[]")
            text = f"list, each {inner}" if "oneOf" in items else f"list of {inner}s"
        elif kind == "object":
            value = node.get("additionalProperties")
            text = "mapping" + (f" of name to {self.type_text(value, path)}" if value else "")
        else:
            text = kind
        limits = _limits(node)
        return f"{text} ({limits})" if limits else text

    def _union_text(self, node: dict[str, Any], path: str, what: str) -> str:
        refs = [m["$ref"].rsplit("/", 1)[-1] for m in node["oneOf"]]
        tag = node["discriminator"]["propertyName"]
        section = self.section_for(refs, tag, path)
        return f"{what} by `{tag}` ([{section.title}](#{section.anchor}))"

    def _any_of_text(self, parts: list[dict[str, Any]], path: str) -> str:
        """Alternatives; a union's bare names (`relu` for `{name: relu}`) fold into the union."""
        union = next((p for p in parts if "oneOf" in p), None)
        texts = []
        for part in parts:
            if union is not None and "enum" in part:
                tag = union["discriminator"]["propertyName"]
                refs = [m["$ref"].rsplit("/", 1)[-1] for m in union["oneOf"]]
                names = {v for r in refs for v in _tag_values(self.defs[r], tag)}
                texts += [f"`{v}`" for v in part["enum"] if v not in names]
            elif part is union and any("enum" in p for p in parts):
                texts.append(self._union_text(part, path, "a name or a choice"))
            else:
                texts.append(self.type_text(part, path))
        return ", or ".join(dict.fromkeys(texts))

    def table(self, ref: str, path: str, tag: str | None) -> list[str]:
        model = self.defs[ref]
        required = set(model.get("required", []))
        rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
        for key, prop in model.get("properties", {}).items():
            if key == tag:
                continue
            where = f"{path}.{key}" if path else key
            kind = self.type_text(prop, where)
            default = "*required*" if key in required else _value(prop.get("default"))
            rows.append(f"| `{key}` | {kind} | {default} | {_cell(prop.get('description', ''))} |")
        return rows if len(rows) > 2 else []

    def render(self) -> str:
        self.defs["__root__"] = self.schema
        lines = [HEADER, "## Top level", "", self.schema.get("description", ""), ""]
        lines += self._children(lambda: self.table("__root__", "", None))
        text = "\n".join(lines)
        return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"

    def _children(self, produce) -> list[str]:
        """The lines `produce` returns, then the sections it discovered (depth first)."""
        known = len(self.order)
        lines = produce()
        for key in self.order[known:]:
            lines += self._section(self.sections[key])
        return lines

    def _section(self, section: _Section) -> list[str]:
        lines = ["", f'<a id="{section.anchor}"></a>', "", f"## `{section.title}`", ""]
        if section.tag is None:
            ref = section.refs[0]
            lines += [self.defs[ref].get("description", ""), ""]
            return lines + self._children(lambda: self.table(ref, section.title, None))
        names = [_tag_values(self.defs[r], section.tag) for r in section.refs]
        listed = ", ".join(f"`{v}`" for group in names for v in group)
        lines += [f"A choice: set `{section.tag}` to one of {listed}.", ""]
        for ref, values in zip(section.refs, names, strict=True):
            shown = " | ".join(values)
            lines += [f"### `{section.tag}: {shown}`", ""]
            lines += [self.defs[ref].get("description", ""), ""]
            table = self._children(lambda r=ref: self.table(r, section.title, section.tag))
            lines += [*table, ""] if table else ["No options.", ""]
        return lines


def _tag_values(model: dict[str, Any], tag: str) -> list[str]:
    node = model["properties"][tag]
    return [node["const"]] if "const" in node else list(node["enum"])


def _limits(node: dict[str, Any]) -> str:
    signs = {
        "exclusiveMinimum": ">",
        "minimum": "≥",
        "exclusiveMaximum": "<",
        "maximum": "≤",
        "minItems": "at least",
        "minLength": "length ≥",
        "maxLength": "length ≤",
    }
    if "minLength" in node and node.get("maxLength") == node["minLength"]:
        node = {k: v for k, v in node.items() if k != "maxLength"}
        signs["minLength"] = "length"
    return ", ".join(f"{sign} {_number(node[k])}" for k, sign in signs.items() if k in node)


def _number(value: Any) -> str:
    return json.dumps(value)


def _value(value: Any) -> str:
    """A default as it would be written in YAML."""
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`" if value.strip() else f'`"{value}"`'
    text = json.dumps(value, separators=(", ", ": "))
    return f"`{_cell(text.replace(chr(34), ''))}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_reference() -> str:
    """The whole docs/config.md text."""
    return _Doc(config_schema()).render()


if __name__ == "__main__":
    sys.stdout.write(config_reference())
