"""What a video source is: the records it yields and the interface a plugin implements.

A source lists the videos of one dataset (``scan``) and, where the videos do not exist as
files yet (the synthetic source renders them), makes one video's files on demand
(``materialize``). Every later stage reads a real file or image folder through OpenCV, so
a source never hands frames over in memory.

Sources are registered under the entry-point group ``hpt_data.sources`` (see
``hpt_data.sources.registry``); a contributor's package adds one without editing ours.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

SPLITS = ("train", "test")


@dataclass(frozen=True)
class VideoRecord:
    """One video of one person: the unit of work of every stage.

    ``path`` is a video file OpenCV can decode or a folder of numbered images.
    ``ground_truth`` points to a file of per-frame truth where the source has one (the
    synthetic source writes an ``.npz``; see ``hpt_data.sources.synthetic``).
    """

    video_id: str
    person_id: str
    source: str
    path: str
    split: str = "unassigned"
    action: str | None = None
    ground_truth: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoRecord:
        return cls(**data)


@dataclass(frozen=True)
class SourceProblem:
    """A file the source found but cannot use, with the reason in one line."""

    path: str
    reason: str


@dataclass(frozen=True)
class FramePair:
    """One evaluation or training pair a dataset defines: a source frame and a target frame.

    Frames are named as the shards name them: ``video_id`` and the frame's index in that
    video (``frame_id`` in a shard is that index as six digits). ``split`` is the split the
    pair belongs to (``train`` or ``test``). Where a dataset publishes pairs (DeepFashion's
    test pairs CSV), its source lists them here so that evaluation scores exactly that list.
    """

    split: str
    source_video: str
    source_frame: int
    target_video: str
    target_frame: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FramePair:
        return cls(**data)


@dataclass
class SourceScan:
    """What ``VideoSource.scan`` found: usable videos, the files it had to skip, and the
    pairs the dataset defines (empty where it defines none)."""

    videos: list[VideoRecord] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)
    pairs: list[FramePair] = field(default_factory=list)


@dataclass(frozen=True)
class NoOptions:
    """Options of a source that takes none."""


class VideoSource(ABC):
    """Base class of a video source plugin.

    Subclasses set ``name`` and ``Options`` (a frozen dataclass whose fields are the
    source's keys under ``options:`` in ``datasets.yaml``; the config loader validates them
    by their type hints) and implement ``scan``. Constructed in the parent process and
    pickled to workers, so keep heavy state out of ``__init__``.
    """

    name: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    #: whether ``root`` must exist when the config is loaded (False for generated data)
    root_must_exist: ClassVar[bool] = True

    def __init__(self, root: Path, options: Any | None = None, dataset: str = "") -> None:
        self.root = Path(root)
        self.options = options if options is not None else self.Options()
        self.dataset = dataset

    @abstractmethod
    def scan(self) -> SourceScan:
        """List the dataset's videos, with ``split`` left as ``"unassigned"`` (the split
        rule of ``datasets.yaml`` assigns it), or set to ``train``/``test``/``excluded``
        where the dataset defines its own split (kept by ``split: {by: source}``)."""

    def materialize(self, video: VideoRecord) -> None:  # noqa: B027 - a no-op by default
        """Make ``video.path`` (and its ground truth) exist; a no-op for files on disk.

        Runs in a worker process, one call per video; must write atomically (temporary
        name, then rename) so that a killed worker leaves nothing a later run trusts.
        """

    def is_materialized(self, video: VideoRecord) -> bool:
        return Path(video.path).exists()
