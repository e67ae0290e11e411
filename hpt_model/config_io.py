"""Reading and writing :class:`~hpt_model.config.HPTConfig` as plain dicts: the generic
dataclass ↔ dict conversion (unknown keys refused), and the migration of dicts saved by
earlier releases (checkpoints keep their config), so an old checkpoint loads as it was
trained."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

# Switches of configs saved before the variant section: (section, key) → variant meaning.
_LEGACY_KEYS = (("inputs", "use_parsing"), ("inputs", "use_depth"), ("loss", "complete_layers"))


def migrate_legacy(data: Any) -> Any:
    """Translate ``inputs.use_parsing``/``use_depth`` (coarse inputs S, D) and
    ``loss.complete_layers`` (PL vs PL⁻) into a ``variant`` section; F stays on, as it was."""
    if not isinstance(data, dict):
        return data
    found: dict[str, Any] = {}
    data = dict(data)
    volume = data.get("volume")
    if isinstance(volume, dict) and "pose_depth" not in volume:  # saved before the 3D pose
        data["volume"] = {**volume, "pose_depth": False}
    for section, key in _LEGACY_KEYS:
        part = data.get(section)
        if isinstance(part, dict) and key in part:
            part = dict(part)
            found[key] = part.pop(key)
            data[section] = part
    if not found:
        return data
    if "variant" in data:
        raise ValueError(
            f"config: legacy key(s) {sorted(found)} next to a 'variant' section; keep the variant"
        )
    for key, value in found.items():
        if not isinstance(value, bool):
            raise ValueError(f"config: legacy key {key} must be true or false, got {value!r}")
    maps = ["H"] + ["S"] * found.get("use_parsing", True) + ["D"] * found.get("use_depth", True)
    layers = "complete" if found.get("complete_layers", True) else "incomplete"
    data["variant"] = {"maps": maps, "layers": layers, "fusion": True}
    return data


_T = TypeVar("_T")


def to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def _to_tuple(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_to_tuple(v) for v in value)
    return value


def from_dict(cls: type[_T], data: Any, where: str) -> _T:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    defaults = cls()  # type: ignore[call-arg]
    for name, value in data.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = from_dict(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple):
            kwargs[name] = _to_tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)
