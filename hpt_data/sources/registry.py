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


def load_source_class(name: str) -> type[VideoSource]:
    """Import the class registered under ``name``; a broken plugin gives a one-line error."""
    ep = _entry_point(name)
    try:
        cls = ep.load()
    except Exception as exc:  # a plugin's import error must not become our traceback
        raise SourceError(f"video source '{name}' ({ep.value}) failed to import: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, VideoSource)):
        raise SourceError(f"video source '{name}' ({ep.value}) is not a VideoSource subclass")
    return cls
