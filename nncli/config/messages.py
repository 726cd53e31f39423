"""Validation errors as one located line each: `model.layers[2].units: ... (config.yaml:14:7)`.

pydantic's `loc` is mapped back onto the YAML node tree (the union-tag segments it inserts are
dropped), and a mistyped key or name gets the nearest valid one from difflib.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from nncli.config.sections import Config
from nncli.config.yamlio import Marks, Path_

MAX_ERRORS = 8


def format_errors(exc: ValidationError, raw: Any, marks: Marks, root: type = Config) -> str:
    """One line per problem, in file order; `root` is the model validated (a sweep's, too)."""
    errors = exc.errors(include_url=False)
    paths = [_walk(error["loc"], raw, root)[0] for error in errors]
    typos = _typos_of_missing_keys(errors, paths)
    kept: list[tuple[ErrorDetails, Path_]] = []
    for error, path in zip(errors, paths, strict=True):
        if error["type"] in _BRANCH_MISMATCH and any(
            other[: len(path)] == path
            and (len(other) > len(path) or e["type"] not in _BRANCH_MISMATCH)
            for e, other in zip(errors, paths, strict=True)
        ):
            continue  # a union branch the value was not meant for; another error says more
        if error["type"] == "missing" and path in typos.values():
            continue  # the unknown key next to it is this key mistyped; its error says so
        kept.append((error, path))
    # Every branch of a union refused the value's type (`loss: null`, `target: 5`): one line.
    mismatches: dict[Path_, list[ErrorDetails]] = {}
    for error, path in kept:
        if error["type"] in _BRANCH_MISMATCH:
            mismatches.setdefault(path, []).append(error)
    found: dict[str, int] = {}  # line -> its line number in the file
    for error, path in kept:
        group = mismatches.get(path, [])
        if len(group) > 1:
            if error is not group[0]:
                continue
            line, where = _format_mismatches(group, path, raw, marks)
        else:
            line, where = _format_one(error, raw, marks, root, typos.get(path))
        found.setdefault(line, _line_number(where))
    lines = sorted(found, key=found.__getitem__)
    if len(lines) > MAX_ERRORS:
        lines = [*lines[:MAX_ERRORS], f"... and {len(lines) - MAX_ERRORS} more"]
    return "\n".join(lines)


# Errors of a union branch whose type the value does not have (e.g. `auto` for a mapping).
_BRANCH_MISMATCH = {
    "literal_error",
    "string_type",
    "float_type",
    "int_type",
    "bool_type",
    "dict_type",
    "list_type",
    "model_type",
    "model_attributes_type",
    "none_required",
}


def _typos_of_missing_keys(errors: list[ErrorDetails], paths: list[Path_]) -> dict[Path_, Path_]:
    """Unknown key -> the missing required key beside it that it is a typo of (`dta` for
    `data`), so the two errors become one: unknown key 'dta' (did you mean 'data'?)."""
    missing: dict[Path_, list[str]] = {}
    for error, path in zip(errors, paths, strict=True):
        if error["type"] == "missing" and path and isinstance(path[-1], str):
            missing.setdefault(path[:-1], []).append(path[-1])
    typos = {}
    for error, path in zip(errors, paths, strict=True):
        if error["type"] == "extra_forbidden" and path:
            close = difflib.get_close_matches(str(path[-1]), missing.get(path[:-1], []), n=1)
            if close:
                typos[path] = (*path[:-1], close[0])
    return typos


def _format_one(
    error: ErrorDetails, raw: Any, marks: Marks, root: type, meant: Path_ | None = None
) -> tuple[str, str]:
    """One error's line and its `file:line:col`; `meant` is the missing key a typo stands for."""
    path, owner, annotation = _walk_typed(error["loc"], raw, root)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = path[-1]
        allowed = list(getattr(owner, "model_fields", {}))
        options = [str(meant[-1])] if meant else allowed
        message = f"unknown key '{key}'{_suggest(str(key), options)}"
        if allowed:
            message += f"; allowed here: {', '.join(allowed)}"
    elif kind == "union_tag_invalid":
        ctx = error["ctx"]
        tags = re.findall(r"'([^']*)'", ctx["expected_tags"])
        noun = _TAG_NOUNS.get(_last_key(path), ctx["discriminator"].strip("'"))
        message = f"unknown {noun} '{ctx['tag']}'{_suggest(ctx['tag'], tags)}"
        message += f"; expected one of: {', '.join(tags)}"
        if isinstance(_at(raw, path), dict) and ctx["discriminator"].strip("'") in _at(raw, path):
            path = (*path, ctx["discriminator"].strip("'"))
    elif kind == "union_tag_not_found":
        tag = error["ctx"]["discriminator"].strip("'")
        message = f"missing '{tag}' key" + _tag_hint(tag, _at(raw, path), annotation)
    elif kind in _MAPPING_TYPES:
        message = f"expected a mapping, got {shown(_at(raw, path))}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "literal_error":
        options = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        got = _at(raw, path)
        message = f"got {got!r}, expected one of: {', '.join(options)}"
        message += _suggest(str(got), options)
    else:
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        message = message[0].lower() + message[1:]
    key_mark = marks.get((*path, "<key>")) if kind == "extra_forbidden" else None
    where = key_mark or _mark_for(path, marks)
    return f"{dotted(path) or 'config'}: {message}" + (f" ({where})" if where else ""), where


def _format_mismatches(
    group: list[ErrorDetails], path: Path_, raw: Any, marks: Marks
) -> tuple[str, str]:
    """One line for a value that no branch of a union takes: what each branch expected."""
    wanted: list[str] = []
    for error in group:
        if error["type"] == "literal_error":
            options = re.findall(r"'([^']*)'", error["ctx"]["expected"])
            expected = ", ".join(options)
        else:
            expected = _TYPE_NOUNS.get(error["type"], error["type"])
        if expected not in wanted:
            wanted.append(expected)
    where = _mark_for(path, marks)
    message = f"expected {' or '.join(wanted)}, got {shown(_at(raw, path))}"
    return f"{dotted(path) or 'config'}: {message}" + (f" ({where})" if where else ""), where


_MAPPING_TYPES = {"dict_type", "model_type", "model_attributes_type"}
_TYPE_NOUNS = {
    "string_type": "a string",
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "none_required": "null",
    **dict.fromkeys(_MAPPING_TYPES, "a mapping"),
}


def shown(value: Any) -> str:
    """A value as YAML writes it: null, true, 5, 'text', a mapping, a list."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _tag_hint(tag: str, value: Any, annotation: Any) -> str:
    """Which `tag: ...` to add to a mapping without one: the choices that take all its keys."""
    fitting, every = [], []
    for member in _candidates(annotation):
        fields = getattr(member, "model_fields", {})
        if tag not in fields or typing.get_origin(fields[tag].annotation) is not typing.Literal:
            continue
        names = [str(n) for n in typing.get_args(fields[tag].annotation)]
        every += [n for n in names if n not in every]
        if isinstance(value, dict) and set(value) <= set(fields):
            fitting += [n for n in names if n not in fitting]
    if not every:
        return ""
    if value and fitting and len(fitting) < len(every):
        return "; add " + " or ".join(f"{tag}: {n}" for n in fitting)
    return f"; add {tag}: one of {', '.join(every)}"


def _line_number(where: str) -> int:
    match = re.search(r":(\d+):\d+$", where)
    return int(match.group(1)) if match else 0


_TAG_NOUNS = {
    "activation": "activation",
    "init": "initializer",
    "loss": "loss",
    "optimizer": "optimizer type",
    "schedule": "schedule type",
    "layers": "layer type",
}


def _last_key(path: Path_) -> str:
    return next((str(p) for p in reversed(path) if isinstance(p, str)), "")


def _walk(loc: tuple, raw: Any, root: type = Config) -> tuple[Path_, Any]:
    """Follow pydantic's loc through the raw data, dropping the union-tag segments it inserts.

    Returns the path in the raw data and the model class owning its last key.
    """
    path, owner, _ = _walk_typed(loc, raw, root)
    return path, owner


def _walk_typed(loc: tuple, raw: Any, root: type = Config) -> tuple[Path_, Any, Any]:
    """`_walk`, and the annotation of the value at the path (a union's, say)."""
    node, path = raw, []
    annotation: Any = root
    owner: Any = None
    for i, part in enumerate(loc):
        last_field = i == len(loc) - 1 and (
            typing.get_origin(annotation) is dict or part in _fields_of(annotation, node)
        )
        if isinstance(node, dict) and (part in node or last_field):
            if typing.get_origin(annotation) is dict:  # free keys, e.g. a sweep's parameters
                owner, annotation = None, typing.get_args(annotation)[1]
            else:
                owner = _member(annotation, node)
                annotation = _field_annotation(owner, part)
            path.append(part)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            path.append(part)
    return tuple(path), owner, annotation


def _fields_of(annotation: Any, node: Any) -> Any:
    """Field names of the model `annotation` selects for `node` (a missing key is one of them;
    pydantic's union-branch segments, such as `literal['auto']` or a tag value, are not)."""
    return getattr(_member(annotation, node), "model_fields", {})


def _field_annotation(model: Any, key: Any) -> Any:
    fields = getattr(model, "model_fields", {})
    return fields[key].annotation if key in fields else None


def _member(annotation: Any, value: Any) -> Any:
    """The BaseModel class an annotation selects for `value` (unions resolved by their tag)."""
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            fields = candidate.model_fields
            tag_key = next((k for k in ("type", "name", "distribution") if k in fields), None)
            tags = typing.get_args(fields[tag_key].annotation) if tag_key else ()
            literal = tag_key and typing.get_origin(fields[tag_key].annotation) is typing.Literal
            if not literal or not isinstance(value, dict) or value.get(tag_key) in tags:
                return candidate
    return None


def _candidates(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _candidates(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [c for arg in typing.get_args(annotation) for c in _candidates(arg)]
    if origin is list:
        return _candidates(typing.get_args(annotation)[0])
    return [annotation]


def _at(raw: Any, path: Path_) -> Any:
    node = raw
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _mark_for(path: Path_, marks: Marks) -> str:
    for end in range(len(path), -1, -1):
        if path[:end] in marks:
            return marks[path[:end]]
    return ""


def dotted(path: Path_ | list) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
