"""Validate YAML against typed dataclasses, with the file and line in every error.

PyYAML's ``compose`` keeps each node's position, so the config is checked node by node
against the dataclasses that describe it (their type hints are the schema) and every
error reads ``datasets.yaml:12: datasets.demo.split.by: expected one of 'person',
'action', got 'persn'``. Supported field types: ``int``, ``float``, ``str``, ``bool``,
``list[T]``, ``dict[str, T]``, ``Literal[...]``, ``T | None`` and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from hpt_data.errors import ConfigError, HptError


class ConfigLocation:
    """Where a node sits: the file, its 1-based line and its dotted key path."""

    def __init__(self, file: Path, line: int, key_path: str) -> None:
        self.file = file
        self.line = line
        self.key_path = key_path

    def error(self, message: str) -> ConfigError:
        where = f"{self.key_path}: " if self.key_path else ""
        return ConfigError(f"{self.file}:{self.line}: {where}{message}")


def at(file: Path, node: yaml.Node, key_path: str) -> ConfigLocation:
    return ConfigLocation(file, node.start_mark.line + 1, key_path)


class Entry(typing.NamedTuple):
    """One ``key: value`` of a mapping; ``line`` is the key's line, where errors point."""

    key: str
    node: yaml.Node
    line: int

    def loc(self, file: Path, parent_path: str) -> ConfigLocation:
        return ConfigLocation(file, self.line, join(parent_path, self.key))


def compose_file(path: Path) -> yaml.Node:
    """Parse ``path`` into a node tree; syntax errors become one-line ``ConfigError``s."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc}") from None
    if node is None:
        raise ConfigError(f"{path}:1: the file is empty")
    return node


def mapping_items(node: yaml.Node, loc: ConfigLocation) -> list[Entry]:
    """The entries of a mapping, refusing duplicates and non-string keys."""
    if not isinstance(node, yaml.MappingNode):
        raise loc.error(f"expected a mapping, got {describe(node)}")
    seen: dict[str, int] = {}
    items = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
            raise ConfigError(f"{loc.file}:{line}: {loc.key_path}: keys must be strings")
        key = key_node.value
        if key in seen:
            raise ConfigError(
                f"{loc.file}:{line}: {join(loc.key_path, key)}: duplicate key "
                f"(first given on line {seen[key]})"
            )
        seen[key] = line
        items.append(Entry(key, value_node, line))
    return items


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    value = yaml.safe_load(yaml.serialize(node))
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"


def unknown_key_error(
    file: Path, key_node_line: int, key_path: str, key: str, allowed: list[str]
) -> ConfigError:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    options = ", ".join(allowed) if allowed else "none"
    return ConfigError(
        f"{file}:{key_node_line}: {join(key_path, key)}: unknown key "
        f"(expected one of: {options}){hint}"
    )


def load_dataclass(cls: type, node: yaml.Node, loc: ConfigLocation) -> Any:
    """Build an instance of dataclass ``cls`` from a mapping node, checking every field."""
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        node = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for entry in mapping_items(node, loc):
        if entry.key not in fields:
            raise unknown_key_error(loc.file, entry.line, loc.key_path, entry.key, sorted(fields))
        kwargs[entry.key] = convert(hints[entry.key], entry.node, entry.loc(loc.file, loc.key_path))
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise loc.error(f"missing required key '{missing[0]}'")
    try:
        return cls(**kwargs)
    except (ValueError, HptError) as exc:  # a dataclass's own __post_init__ check
        raise loc.error(str(exc)) from None


_SCALAR_TAGS = {
    int: "tag:yaml.org,2002:int",
    bool: "tag:yaml.org,2002:bool",
    str: "tag:yaml.org,2002:str",
}


def convert(hint: Any, node: yaml.Node, loc: ConfigLocation) -> Any:
    """Convert one node to the Python value the type hint asks for, or raise at its line."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        is_null = isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
        if type(None) in args and is_null:
            return None
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            return convert(non_null[0], node, loc)
        for option in non_null:
            try:
                return convert(option, node, loc)
            except ConfigError:
                continue
        raise loc.error(f"got {describe(node)}, which fits none of the allowed types")
    if origin is Literal:
        value = scalar(node, loc)
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise loc.error(f"expected one of {allowed}, got {value!r}")
        return value
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(node, yaml.SequenceNode):
            raise loc.error(f"expected a list, got {describe(node)}")
        item_hint = args[0] if args else Any
        items = [
            convert(item_hint, item, at(loc.file, item, f"{loc.key_path}[{i}]"))
            for i, item in enumerate(node.value)
        ]
        return tuple(items) if (origin is tuple or hint is tuple) else items
    if origin is dict or hint is dict:
        value_hint = args[1] if args else Any
        return {
            e.key: convert(value_hint, e.node, e.loc(loc.file, loc.key_path))
            for e in mapping_items(node, loc)
        }
    if dataclasses.is_dataclass(hint):
        return load_dataclass(hint, node, loc)
    if hint is Any:
        return yaml.safe_load(yaml.serialize(node))
    if hint is float:
        value = scalar(node, loc)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise loc.error(f"expected a number, got {describe(node)}")
        return float(value)
    if hint in _SCALAR_TAGS:
        value = scalar(node, loc)
        if type(value) is not hint:
            raise loc.error(f"expected {hint.__name__}, got {describe(node)}")
        return value
    if hint is Path:
        return Path(convert(str, node, loc))
    raise TypeError(f"unsupported type hint {hint!r} in config schema")  # a bug, not bad input


def scalar(node: yaml.Node, loc: ConfigLocation) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise loc.error(f"expected a single value, got {describe(node)}")
    return yaml.safe_load(yaml.serialize(node))
