"""How a dataset was built, as plain JSON data: the code, the source and its options, the
split rule and every stage's resolved settings. ``write-shards`` records it in the shard
manifest (``provenance``), each stage's ``_stage.json`` records its own part
(:meth:`hpt_data.stages.base.Stage.provenance`), and ``hpt-data info`` prints it, so that a
shard set can say how it was made and be made again.

The settings are recorded in the form ``datasets.yaml`` takes (``hpt_data.yaml_schema``):
every key, defaults included, so a later change of a default does not change what the
record says.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpt_data.config import DatasetConfig
from hpt_data.stages.base import Stage
from hpt_data.yaml_schema import to_plain

__all__ = ["code_version", "dataset_provenance", "describe_settings"]


@functools.cache
def code_version() -> dict[str, Any]:
    """The ``hpt`` package version and, when it runs from a git checkout, the commit and
    whether the checkout had uncommitted changes to tracked files (None where unknown)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package: str | None = version("hpt")
    except PackageNotFoundError:
        package = None
    root = Path(__file__).resolve().parent.parent
    commit, dirty = None, None
    try:
        commit = _git(root, "rev-parse", "HEAD")
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        pass
    return {"hpt_version": package, "git_commit": commit, "git_dirty": dirty}


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def dataset_provenance(config: DatasetConfig, stages: Mapping[str, Stage]) -> dict[str, Any]:
    """The dataset's source (name, root, options), split rule and each stage's
    :meth:`~hpt_data.stages.base.Stage.provenance`, with :func:`code_version`."""
    return {
        **code_version(),
        "source": {
            "name": config.source,
            "root": str(config.root),
            "options": to_plain(config.options),
        },
        "split": to_plain(config.split),
        "stages": {name: stage.provenance() for name, stage in stages.items()},
    }


def describe_settings(settings: Any) -> str:
    """One compact line of a settings (or options) dataclass: the keys that differ from
    their defaults, ``key=value`` (``defaults`` when none does)."""
    changed = []
    for f in dataclasses.fields(settings):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING  # a required key: always shown
        value = getattr(settings, f.name)
        if default is dataclasses.MISSING or to_plain(value) != to_plain(default):
            changed.append(f"{f.name}={_short(to_plain(value))}")
    return ", ".join(changed) if changed else "defaults"


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


def shards_line(manifest: dict[str, Any] | None, current: dict[str, Any]) -> str:
    """One line on a shard manifest for ``hpt-data info``: its generation and frames, the
    code that wrote it, and how its provenance compares with ``current`` (the dataset's
    :func:`dataset_provenance` now)."""
    if not manifest:
        return "shards: none written yet (hpt-data write-shards)"
    frames = ", ".join(f"{n} {s}" for s, n in sorted(manifest.get("frames", {}).items()))
    head = f"shards: {manifest.get('generation', '?')}, {frames or 'no frames'}"
    made = manifest.get("provenance")
    if not made:
        return f"{head}; no provenance (written before it was recorded)"
    commit = made.get("git_commit")
    code = f"hpt {made.get('hpt_version') or '?'}"
    if commit:
        dirty = " with uncommitted changes" if made.get("git_dirty") else ""
        code += f" at {commit[:10]}{dirty}"
    differ = [
        name
        for name, stage in made.get("stages", {}).items()
        if stage.get("other_fingerprints")
        or stage.get("fingerprint") != current["stages"].get(name, {}).get("fingerprint")
    ]
    if made.get("source") != current["source"] or made.get("split") != current["split"]:
        differ.insert(0, "source")
    same = (
        f"made with other settings than now for: {', '.join(differ)}"
        if differ
        else "made with the settings above"
    )
    return f"{head}; written by {code}; {same}"
