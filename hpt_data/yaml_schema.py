"""Validate YAML against typed dataclasses, with the file and line in every error.

PyYAML's ``compose`` keeps each node's position, so the config is checked node by node
against the dataclasses that describe it (their type hints are the schema) and every
error reads ``datasets.yaml:12: datasets.demo.split.by: expected one of 'person',
'action', got 'persn'``. Supported field types: :data:`SUPPORTED_TYPES`;
:func:`schema_problem` checks a dataclass against them up front, so that a plugin's
``Options`` with a ``set[int]`` field is refused in one line when it is registered, not
with a traceback when a config is read.
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


SUPPORTED_TYPES = (
    "int, float, str, bool, Path, Any, list[T], tuple[T, ...], dict[str, T], Literal[...], "
    "T | None, a union of these, a nested dataclass"
)
_PLAIN_TYPES = (int, float, str, bool, Path)
_LITERAL_VALUE_TYPES = (int, float, str, bool, type(None))


def type_text(hint: Any) -> str:
    """A type hint as a reader writes it: ``set[int]``, ``Foo``, ``int | None``."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__qualname__
    return repr(hint).replace("typing.", "")


def _unsupported(hint: Any, seen: set[type]) -> Any | None:
    """The part of ``hint`` that :func:`convert` cannot read, or None when it reads it all."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint in _PLAIN_TYPES:
        return None
    if origin in (Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        return next((bad for a in non_null if (bad := _unsupported(a, seen)) is not None), None)
    if origin is Literal:
        ok = all(type(a) in _LITERAL_VALUE_TYPES for a in args)
        return None if ok else hint
    if hint in (list, tuple, dict):
        return None
    if origin is list:
        return _unsupported(args[0], seen) if args else None
    if origin is tuple:  # convert() reads every item with the first item's type
        items = [a for a in args if a is not Ellipsis]
        if any(a != items[0] for a in items):
            return hint
        return _unsupported(items[0], seen) if items else None
    if origin is dict:
        if args and args[0] is not str:  # YAML keys are read as strings
            return hint
        return _unsupported(args[1], seen) if args else None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint in seen:
            return None
        seen.add(hint)
        try:
            hints = typing.get_type_hints(hint)
        except Exception:  # an unresolvable hint in a nested dataclass
            return hint
        for f in dataclasses.fields(hint):
            if f.init and _unsupported(hints[f.name], seen) is not None:
                return hint
        return None
    return hint


def schema_problem(cls: Any, name: str, _seen: frozenset[type] = frozenset()) -> str | None:
    """Why ``cls`` cannot be read from YAML by :func:`load_dataclass`, in one line, or None.

    ``name`` is how the message calls ``cls`` (``"Options"``). Checks that ``cls`` is a
    dataclass (frozen or not), that its type hints resolve, and that every init field has
    a type :func:`convert` reads (:data:`SUPPORTED_TYPES`).
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        got = f"class {cls.__qualname__}" if isinstance(cls, type) else type(cls).__name__
        return f"{name} must be a dataclass (got {got})"
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # NameError for a name imported only under TYPE_CHECKING
        return f"{name}'s type hints cannot be resolved ({type(exc).__name__}: {exc})"
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            nested = (
                None if hint in _seen else schema_problem(hint, f"{name}.{f.name}", _seen | {cls})
            )
            if nested is not None:
                return nested
        elif _unsupported(hint, {cls, *_seen}) is not None:
            return (
                f"{name}.{f.name} has type {type_text(hint)}, which datasets.yaml cannot "
                f"express (supported: {SUPPORTED_TYPES})"
            )
    return None


def to_plain(value: Any) -> Any:
    """``value`` (a dataclass instance, list, dict, Path, scalar) as plain YAML data that
    :func:`load_dataclass` reads back to an equal value: dataclasses become mappings of
    their init fields, paths strings, tuples lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value
