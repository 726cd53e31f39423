"""Safe YAML reading that keeps each node's line and column, refuses duplicate keys and bombs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nncli.errors import ConfigError

# A node's place: mapping keys (YAML's may be numbers or booleans too) and list indices.
Path_ = tuple[str | int | float, ...]
Marks = dict[Path_, str]

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 50


def read_yaml(path: Path) -> tuple[Any, Marks]:
    """Parse one YAML document into plain Python data plus `path -> "file:line:col"` marks."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a YAML file")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(f"{path}: {size} bytes is too large for a config (limit {MAX_BYTES})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_yaml(text, path.name)


def parse_yaml(text: str, source: str) -> tuple[Any, Marks]:
    """Parse YAML text; `source` names the file in marks and messages."""
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses control characters right here
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        where = f"{source}:{before.count(chr(10)) + 1}:{len(before.rsplit(chr(10), 1)[-1]) + 1}"
        raise ConfigError(
            f"{where}: invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {_one_line(exc)}") from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {_one_line(exc)}") from None
    except RecursionError:  # PyYAML composes recursively: thousands of [[[ or nested keys
        raise ConfigError(f"{source}: nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    if node is None:
        raise ConfigError(f"{source}: the file is empty; a config is a YAML mapping")
    builder = _Builder(loader, source)
    return builder.build(node, (), 0), builder.marks


def _one_line(exc: yaml.YAMLError) -> str:
    """PyYAML's own message without the lines that quote the text and point at it."""
    problem = getattr(exc, "problem", None)
    return problem or str(exc).splitlines()[0]


class _Builder:
    """Turns a composed node graph into data, counting nodes so aliases cannot explode."""

    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.marks: Marks = {}
        self.count = 0

    def where(self, node: yaml.Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ConfigError(f"{self.source}: more than {MAX_NODES} YAML nodes (alias bomb?)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{self.where(node)}: nesting deeper than {MAX_DEPTH} levels")
        self.marks[path] = self.where(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            if node.tag not in self.loader.yaml_constructors:  # !!python/object:os.system, !foo
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                raise ConfigError(
                    f"{self.where(node)}: the YAML tag {tag} is not supported; "
                    "a config holds plain values (mappings, lists, strings, numbers, booleans)"
                ) from None
            raise ConfigError(f"{self.where(node)}: invalid value: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{self.where(node)}: invalid value: {_one_line(exc)}") from None
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError):
            # PyYAML's constructors for explicitly tagged scalars (`!!int abc`,
            # `!!timestamp x`, `!!bool maybe`) fail with plain Python exceptions
            raise ConfigError(
                f"{self.where(node)}: invalid value {node.value!r} for the tag {node.tag}"
            ) from None

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict:
        # Resolve YAML merge keys (<<): merged pairs come first and the mapping's own keys
        # override them, so only a key written twice in the mapping itself is a duplicate.
        own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:  # `<<:` given something other than mappings
            mark = exc.problem_mark or node.start_mark
            where = f"{self.source}:{mark.line + 1}:{mark.column + 1}"
            raise ConfigError(f"{where}: invalid YAML merge: {exc.problem}") from None
        out: dict = {}
        first_seen: dict = {}
        for key_node, value_node in node.value:
            key = self.build(key_node, (*path, "<key>"), depth + 1)
            if not isinstance(key, str | int | float | bool):
                raise ConfigError(f"{self.where(key_node)}: a mapping key must be a plain scalar")
            if id(key_node) in own:
                if key in first_seen:
                    raise ConfigError(
                        f"{self.where(key_node)}: duplicate key {key!r} "
                        f"(first defined at line {first_seen[key].start_mark.line + 1})"
                    )
                first_seen[key] = key_node
            out[key] = self.build(value_node, (*path, key), depth + 1)
            self.marks[(*path, key, "<key>")] = self.where(key_node)
        self.marks.pop((*path, "<key>"), None)
        return out
