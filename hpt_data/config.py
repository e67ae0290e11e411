"""``datasets.yaml``: the registry of datasets, its schema and its validation.

Schema (version 1)::

    version: 1
    work_root: work                 # optional; outputs go to <work_root>/<dataset>/
    datasets:
      demo:
        description: "..."          # optional
        source: synthetic           # a registered video source (hpt-data sources)
        root: data/demo             # the source's folder; relative to this file
        options: {persons: 4}       # the source's own options (its Options dataclass)
        split: {by: person, test_fraction: 0.1, seed: 0}
        stages:                     # optional per-stage settings (each stage's Settings)
          sample-frames: {...}
        shards: {max_mb: 1024}      # optional: shard size bound
        keep: needed                # optional: needed (default) or all (KEEP_ALL_EXTRAS)

Every error names the file, the line and the key, and says what was expected.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpt_data.errors import ConfigError, HptError
from hpt_data.names import ADVICE as NAME_ADVICE
from hpt_data.names import path_name_problem
from hpt_data.sources.base import VideoSource
from hpt_data.sources.registry import load_source_class
from hpt_data.sources.split import SplitRule
from hpt_data.stages import STAGE_NAMES, stage_class
from hpt_data.yaml_schema import (
    ConfigLocation,
    compose_file,
    convert,
    load_dataclass,
    mapping_items,
    unknown_key_error,
)

SCHEMA_VERSION = 1
CONFIG_ENV = "HPT_DATASETS"
WORK_ROOT_ENV = "HPT_WORK_ROOT"


@dataclass(frozen=True)
class ShardSettings:
    """``shards:`` of a dataset: how ``write-shards`` cuts the HDF5 files."""

    max_mb: int = 1024  # a shard is closed once it reaches this size (MiB)

    def __post_init__(self) -> None:
        if self.max_mb < 1:
            raise ValueError(f"max_mb must be at least 1, got {self.max_mb}")


#: ``keep:`` values. ``needed``: the stages write what a later stage or a rebuild reads;
#: ``all``: also what only people read (KEEP_ALL_EXTRAS), for debugging.
KEEP_VALUES = ("needed", "all")
#: The stage settings ``keep: all`` (and ``--keep-intermediates``) turns on.
KEEP_ALL_EXTRAS: dict[str, dict[str, Any]] = {
    "remove-bg": {"alpha": True},  # the soft matte, beside the binary mask
    "voxelize": {"binvox": True},  # .binvox files of the body and each part
}


@dataclass(frozen=True)
class DatasetConfig:
    """One dataset, validated: its source class and options are already checked."""

    name: str
    source: str
    root: Path
    options: Any
    split: SplitRule
    stages: dict[str, Any]  # stage name -> that stage's Settings instance
    description: str = ""
    shards: ShardSettings = field(default_factory=ShardSettings)
    keep: str = "needed"  # KEEP_VALUES

    def make_source(self) -> VideoSource:
        return load_source_class(self.source)(self.root, self.options, dataset=self.name)

    def stage_settings(self, name: str, settings_cls: type) -> Any:
        """The settings stage ``name`` runs with: ``stages:``'s (or the defaults), with
        what ``keep: all`` turns on."""
        settings = self.stages.get(name) or settings_cls()
        if self.keep == "all" and name in KEEP_ALL_EXTRAS:
            settings = dataclasses.replace(settings, **KEEP_ALL_EXTRAS[name])
        return settings


@dataclass(frozen=True)
class DatasetsFile:
    path: Path
    version: int
    work_root: Path
    datasets: dict[str, DatasetConfig] = field(default_factory=dict)

    def dataset(self, name: str) -> DatasetConfig:
        if name not in self.datasets:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise ConfigError(f"{self.path}: no dataset named '{name}' (datasets: {known})")
        return self.datasets[name]


_TOP_KEYS = ("version", "work_root", "datasets")
_DATASET_KEYS = (
    "description",
    "source",
    "root",
    "options",
    "split",
    "stages",
    "shards",
    "keep",
)


def find_config(explicit: Path | None) -> Path:
    """``--config``, else ``$HPT_DATASETS``, else ``./datasets.yaml``."""
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path("datasets.yaml")
    if local.exists():
        return local
    raise ConfigError(
        "no datasets.yaml in the current folder; pass --config PATH or set $HPT_DATASETS"
    )


def load_datasets(path: Path, work_root: Path | None = None) -> DatasetsFile:
    """Parse and validate a ``datasets.yaml``; raises ``ConfigError`` (one line) if bad."""
    path = Path(path)
    root_node = compose_file(path)
    top = ConfigLocation(path, root_node.start_mark.line + 1, "")
    items = {e.key: e for e in mapping_items(root_node, top)}
    for e in items.values():
        if e.key not in _TOP_KEYS:
            raise unknown_key_error(path, e.line, "", e.key, list(_TOP_KEYS))
    if "version" not in items:
        raise top.error("missing required key 'version' (this schema is version 1)")
    version = convert(int, items["version"].node, items["version"].loc(path, ""))
    if version != SCHEMA_VERSION:
        raise (
            items["version"]
            .loc(path, "")
            .error(
                f"unsupported schema version {version} (this hpt reads version {SCHEMA_VERSION})"
            )
        )
    base = path.resolve().parent
    if work_root is None and os.environ.get(WORK_ROOT_ENV):
        work_root = Path(os.environ[WORK_ROOT_ENV])
    if work_root is None:
        rel = Path("work")
        if "work_root" in items:
            rel = convert(Path, items["work_root"].node, items["work_root"].loc(path, ""))
        work_root = base / rel
    if "datasets" not in items:
        raise top.error("missing required key 'datasets'")
    datasets_loc = items["datasets"].loc(path, "")
    datasets = {}
    for e in mapping_items(items["datasets"].node, datasets_loc):
        datasets[e.key] = _load_dataset(path, base, e.key, e.node, e.line)
    if not datasets:
        raise datasets_loc.error("no datasets defined")
    return DatasetsFile(path=path, version=version, work_root=Path(work_root), datasets=datasets)


def _load_dataset(path: Path, base: Path, name: str, node: yaml.Node, line: int) -> DatasetConfig:
    key_path = f"datasets.{name}"
    loc = ConfigLocation(path, line, key_path)
    problem = path_name_problem(name)  # the name becomes <work_root>/<name>/
    if problem is not None:
        raise loc.error(f"dataset name {name!r} {problem}; {NAME_ADVICE}")
    items = {e.key: e for e in mapping_items(node, loc)}
    for e in items.values():
        if e.key not in _DATASET_KEYS:
            raise unknown_key_error(path, e.line, key_path, e.key, list(_DATASET_KEYS))
    for required in ("source", "root"):
        if required not in items:
            raise loc.error(f"missing required key '{required}'")

    def sub(key: str) -> ConfigLocation:
        return items[key].loc(path, key_path)

    source_name = convert(str, items["source"].node, sub("source"))
    try:
        source_cls = load_source_class(source_name)
    except HptError as exc:
        raise sub("source").error(str(exc)) from None

    root = convert(Path, items["root"].node, sub("root"))
    root = root if root.is_absolute() else base / root
    if source_cls.root_must_exist and not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise sub("root").error(f"folder '{root}' {what}")

    if "options" in items:
        options = load_dataclass(source_cls.Options, items["options"].node, sub("options"))
    else:  # read as empty, so that an Options field without a default is named in one line
        empty = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
        options_loc = ConfigLocation(path, line, f"{key_path}.options")
        options = load_dataclass(source_cls.Options, empty, options_loc)

    split = SplitRule()
    if "split" in items:
        split = load_dataclass(SplitRule, items["split"].node, sub("split"))

    stages: dict[str, Any] = {}
    if "stages" in items:
        stages_loc = sub("stages")
        for e in mapping_items(items["stages"].node, stages_loc):
            if e.key not in STAGE_NAMES:
                raise unknown_key_error(path, e.line, stages_loc.key_path, e.key, list(STAGE_NAMES))
            settings_cls = stage_class(e.key).Settings
            stages[e.key] = load_dataclass(settings_cls, e.node, e.loc(path, stages_loc.key_path))

    shards = ShardSettings()
    if "shards" in items:
        shards = load_dataclass(ShardSettings, items["shards"].node, sub("shards"))

    description = ""
    if "description" in items:
        description = convert(str, items["description"].node, sub("description"))
    keep = "needed"
    if "keep" in items:
        keep = convert(str, items["keep"].node, sub("keep"))
        if keep not in KEEP_VALUES:
            raise sub("keep").error(f"keep must be one of {', '.join(KEEP_VALUES)}, got {keep!r}")
    return DatasetConfig(
        name=name,
        source=source_name,
        root=root,
        options=options,
        split=split,
        stages=stages,
        description=description,
        shards=shards,
        keep=keep,
    )
