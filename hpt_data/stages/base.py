"""The stage contract: a pure per-video unit with declared inputs and outputs.

A stage reads the output folders of the stages it ``requires`` and writes its own files
into an empty folder it is handed. It knows nothing of skipping, atomic renames, status
records, processes or shards: the orchestrator does all of that, the same way for every
stage and every executor. Errors that concern one video's data are raised as
``StageError`` with a one-line reason; the orchestrator records them and goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hpt_data.sources.base import VideoRecord


@dataclass(frozen=True)
class NoSettings:
    """Settings of a stage that takes none."""


@dataclass
class StageContext:
    """What one call of a stage gets.

    ``inputs`` maps each required stage's name to its complete output folder.
    ``out_dir`` is an empty temporary folder: everything the stage writes goes there.
    ``previous`` is this stage's last complete output for the video when it was made with
    the same settings and inputs but has lost files since (a stage may reuse what is still
    there, e.g. redo only the missing frames); otherwise None.
    """

    video: VideoRecord
    inputs: dict[str, Path]
    out_dir: Path
    previous: Path | None = None


@dataclass
class StageResult:
    """A small summary copied into the video's status record (counts, flags, timings)."""

    metrics: dict[str, Any] = field(default_factory=dict)


class Stage(ABC):
    """Base class of the per-video stages.

    Subclasses set ``name`` (the CLI command), ``requires`` (upstream stage names),
    ``Settings`` (a frozen dataclass: the stage's keys under ``stages:`` in
    ``datasets.yaml``) and ``version`` (bump it when the outputs' meaning changes, so
    old outputs are redone), and implement ``run``. Instances are pickled to worker
    processes: load heavy models lazily inside ``run`` (cached per process).
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[int] = 1
    Settings: ClassVar[type] = NoSettings
    #: Boolean settings that only add files no later stage reads (``keep: all``): left out
    #: of the fingerprint while off, so that adding such a switch redoes no existing output.
    extra_files: ClassVar[tuple[str, ...]] = ()
    #: settings added after outputs existed that leave the outputs of every video as they
    #: were while at their default: left out of the fingerprint at the default, so adding
    #: them does not make existing outputs stale (a non-default value is fingerprinted)
    late_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Any | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()
        if not isinstance(self.settings, self.Settings):
            raise TypeError(f"{self.name}: settings must be {self.Settings.__name__}")

    def fingerprint(self) -> str:
        """Identifies the stage's code version, settings and :meth:`dependencies`; outputs
        made under another fingerprint are stale (and so are the later stages' outputs made
        from them)."""
        settings = dataclasses.asdict(self.settings)
        for name in self.extra_files:
            if not settings[name]:
                del settings[name]
        defaults = dataclasses.asdict(self.Settings()) if self.late_settings else {}
        for key in self.late_settings:
            if settings[key] == defaults[key]:
                del settings[key]
        settings = self.fingerprinted(settings)
        payload = {"stage": self.name, "version": self.version, "settings": settings}
        extra = self.dependencies()
        if extra:  # only when there is any, so other stages' fingerprints stay as they were
            payload["dependencies"] = extra
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @staticmethod
    def fingerprinted(settings: dict[str, Any]) -> dict[str, Any]:
        """The settings as the fingerprint sees them: a stage whose settings name one
        output in several ways (the same pixels stored differently) maps them to one."""
        return settings

    def provenance(self) -> dict[str, Any]:
        """What makes this stage's outputs, as plain JSON data: ``version``, ``fingerprint``,
        the resolved ``settings`` (every key, defaults included, in the form
        ``datasets.yaml`` takes: ``hpt_data.yaml_schema.load_dataclass`` reads them back)
        and the ``dependencies`` when there are any. ``_stage.json`` and the shard manifest
        record it, so an output can say how it was made."""
        from hpt_data.yaml_schema import to_plain

        out: dict[str, Any] = {
            "version": self.version,
            "fingerprint": self.fingerprint(),
            "settings": to_plain(self.settings),
        }
        extra = self.dependencies()
        if extra:
            out["dependencies"] = extra
        return out

    def dependencies(self) -> dict[str, str]:
        """What the outputs depend on beyond the settings and the inputs, e.g. the version
        of a built-in model; part of the fingerprint. Must stay cheap (no model loading)."""
        return {}

    @abstractmethod
    def run(self, ctx: StageContext) -> StageResult:
        """Process one video: read ``ctx.inputs``, write into ``ctx.out_dir``."""
