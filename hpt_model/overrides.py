"""Settings from a file plus command-line overrides, typed by a dataclass's fields.

``hpt-model train`` takes a settings file (JSON or YAML, the keys of
:class:`~hpt_model.training.TrainSettings`), a few common options and ``--set KEY=VALUE``
for any other field, instead of one option per field. The values of ``--set`` are text;
:func:`parse_assignments` types them through the dataclass's annotations (``int | None``,
``Path``, ``bool``, ...), and an unknown key is one line naming it and its close matches.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from hpt_model.errors import ModelError

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_NONE = ("none", "null", "")


def field_types(cls: type) -> dict[str, Any]:
    """Each field of dataclass ``cls`` with its resolved annotation."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def check_keys(keys: Sequence[str], cls: type, origin: str) -> None:
    """ModelError naming the first key of ``keys`` that ``cls`` has no field for, with the
    close matches (or every field when none is close)."""
    known = list(field_types(cls))
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"keys: {', '.join(known)}"
            raise ModelError(f"{origin}: unknown {cls.__name__} key {key!r}; {hint}")


def coerce(text: str, hint: Any, key: str) -> Any:
    """``text`` as a value of type ``hint`` (str, int, float, bool, Path, optional)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in _NONE:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise ValueError(f"{key}: no text form for {hint}")
        hint = inner[0]
    try:
        if hint is bool:
            low = text.strip().lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError(f"not one of {'/'.join(_TRUE + _FALSE)}")
        if hint in (int, float, str, Path):
            return hint(text)
    except ValueError as exc:
        raise ModelError(f"--set {key}={text}: expected {hint.__name__} ({exc})") from None
    raise ValueError(f"{key}: no text form for {hint}")


def parse_assignments(items: Sequence[str], cls: type) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``--set``) as ``{field: typed value}`` of dataclass ``cls``."""
    types_ = field_types(cls)
    values: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key:
            raise ModelError(f"--set {item}: expected KEY=VALUE")
        check_keys([key], cls, f"--set {item}")
        values[key] = coerce(text, types_[key], key)
    return values


def read_settings_file(path: Path, cls: type) -> dict[str, Any]:
    """The mapping in a JSON or YAML settings file, its keys checked against ``cls``."""
    if not path.is_file():
        raise ModelError(f"--settings {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())  # JSON is YAML too
    except yaml.YAMLError as exc:
        why = " ".join(str(exc).split())
        raise ModelError(f"--settings {path}: not JSON or YAML ({why})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ModelError(f"--settings {path}: expected a mapping of settings, got {data!r:.60}")
    check_keys(list(data), cls, f"--settings {path}")
    types_ = field_types(cls)
    for key, value in data.items():
        if not _fits(value, types_[key]):
            raise ModelError(f"--settings {path}: {key}: expected {types_[key]}, got {value!r}")
    return dict(data)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a value read from a file can be a field of type ``hint`` (a path as text, an
    int where a float goes)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is Path:
        return isinstance(value, str | Path)
    return isinstance(value, hint)


def merge_settings(
    file_values: Mapping[str, Any],
    options: Mapping[str, tuple[str, Any]],
    assignments: Mapping[str, Any],
) -> dict[str, Any]:
    """The settings fields: the file's, then the options given (``{field: (flag, value)}``,
    value None: not given), then ``--set``; a field given by an option and ``--set`` both
    is an error (which one wins would be a guess)."""
    merged = dict(file_values)
    for field, (flag, value) in options.items():
        if value is None:
            continue
        if field in assignments:
            raise ModelError(f"{field} is given twice: {flag} and --set {field}=...")
        merged[field] = value
    merged.update(assignments)
    return merged
