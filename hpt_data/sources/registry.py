"""Find video sources through the ``hpt_data.sources`` entry-point group.

Our own sources are declared in ``pyproject.toml`` like any contributor's, so there is one
way in: a package adds

    [project.entry-points."hpt_data.sources"]
    my_source = "my_package.module:MySource"

and ``hpt-data sources`` lists it after ``pip install``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from hpt_data.errors import SourceError
from hpt_data.sources.base import VideoSource
from hpt_data.yaml_schema import schema_problem

GROUP = "hpt_data.sources"


@dataclass(frozen=True)
class SourceEntry:
    name: str
    target: str  # "module:Class", as declared
    distribution: str  # the package that declares it


def list_sources() -> list[SourceEntry]:
    """Every registered source, sorted by name (without importing any of them)."""
    found = []
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        found.append(SourceEntry(ep.name, ep.value, dist))
    return sorted(found, key=lambda e: e.name)


def _entry_point(name: str) -> EntryPoint:
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(e.name for e in list_sources()) or "none"
        raise SourceError(f"unknown video source '{name}' (registered: {known})")
    return matches[0]


def source_class_problem(cls: object) -> str | None:
    """Why ``cls`` cannot serve as a video source, in one line, or None.

    Checked when the class is loaded, so a plugin whose ``Options`` is no dataclass, or has
    a field ``datasets.yaml`` cannot express (``set[int]``, a custom class), is refused by
    name before any config is read, instead of failing with a traceback later.
    """
    if not (isinstance(cls, type) and issubclass(cls, VideoSource)):
        return f"{cls!r} is not a VideoSource subclass"
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        return f"{cls.__qualname__} sets no 'name' (the source name its records carry)"
    return schema_problem(cls.Options, "Options")


def load_source_class(name: str) -> type[VideoSource]:
    """Import the class registered under ``name``; a broken plugin gives a one-line error."""
    ep = _entry_point(name)
    try:
        cls = ep.load()
    except Exception as exc:  # a plugin's import error must not become our traceback
        raise SourceError(f"video source '{name}' ({ep.value}) failed to import: {exc}") from exc
    problem = source_class_problem(cls)
    if problem is not None:
        raise SourceError(f"video source '{name}' ({ep.value}): {problem}")
    return cls
