"""What every export reads: the frames of a shard set, their names, and the pairs.

A shard set is read through ``hpt_data.shards.reading`` (manifest, sizes, CRCs checked), so
a truncated or foreign shard stops an export with one line naming the file. Frames are
named once here, for every format: ``<person>_<video>_<frame>``, each part reduced to
``[A-Za-z0-9-]`` (other characters become ``-``). The person comes first because PATN's
``tool/create_pairs_dataset.py`` groups images by the name's part before the first ``_``;
the name has no ``.``, which webdataset's key rule (the basename up to the first dot) needs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpt_data import pair_rule
from hpt_data.errors import HptError
from hpt_data.shards.pairs import read_pairs
from hpt_data.shards.reading import ShardFile, load_manifest

IDS = ("video_id", "person_id", "frame_id")
SPLITS = ("train", "test")
_UNSAFE = re.compile(r"[^A-Za-z0-9-]")


class ExportError(HptError):
    """An export that cannot be made: bad shards, clashing names, an output in the way."""


def safe_part(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9-]`` replaced by ``-``."""
    return _UNSAFE.sub("-", text) or "-"


@dataclass(frozen=True)
class FrameRef:
    """One frame of the shard set: where it is (shard entry, index) and who it is."""

    split: str
    entry: int  # index into the manifest's shard list
    index: int  # frame index in that shard
    video_id: str
    person_id: str
    frame_id: str

    @property
    def key(self) -> tuple[str, str]:
        """(video_id, frame_id): how shards and pairs name a frame."""
        return (self.video_id, self.frame_id)

    @property
    def name(self) -> str:
        """The flat file stem every format uses (module docstring)."""
        return "_".join(safe_part(p) for p in (self.person_id, self.video_id, self.frame_id))


class ShardSet:
    """A shard folder opened for export: its manifest and every frame's ids, by split.

    ``frames[split]`` lists the frames in shard order. Opening reads only the id fields.
    """

    def __init__(self, shard_dir: Path) -> None:
        self.dir = Path(shard_dir)
        self.manifest = load_manifest(self.dir)
        self.entries: list[dict[str, Any]] = list(self.manifest["shards"])
        self.frames: dict[str, list[FrameRef]] = defaultdict(list)
        for e, entry in enumerate(self.entries):
            shard = ShardFile(self.dir, entry)
            try:
                for i in range(shard.frames):
                    ids = shard.read(i, IDS)
                    self.frames[entry["split"]].append(
                        FrameRef(entry["split"], e, i, *(ids[k] for k in IDS))
                    )
            finally:
                shard.close()
        self._check_names()

    @property
    def dataset(self) -> str:
        return str(self.manifest.get("dataset", self.dir.name))

    @property
    def splits(self) -> list[str]:
        """The splits present, train and test first."""
        known = [s for s in SPLITS if self.frames.get(s)]
        return known + sorted(s for s in self.frames if s not in SPLITS and self.frames[s])

    def _check_names(self) -> None:
        seen: dict[str, FrameRef] = {}
        for refs in self.frames.values():
            for ref in refs:
                other = seen.setdefault(ref.name, ref)
                if other is not ref:
                    raise ExportError(
                        f"{self.dir}: frames {other.key} and {ref.key} both export as "
                        f"'{ref.name}' (ids differ only in characters outside [A-Za-z0-9-])"
                    )

    def read(
        self, refs: Sequence[FrameRef], fields: Sequence[str], raw_image: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Each frame of ``refs`` (in order) as ``ShardFile.read`` gives it, one shard open
        at a time; ``raw_image``: also ``image_jpeg``, the image's stored bytes, CRC-checked
        and not decoded (an export that copies them loses nothing to re-encoding)."""
        shard: ShardFile | None = None
        current = -1
        try:
            for ref in refs:
                if ref.entry != current:
                    if shard is not None:
                        shard.close()
                    shard = ShardFile(self.dir, self.entries[ref.entry])
                    current = ref.entry
                frame = shard.read(ref.index, fields)
                if raw_image:
                    frame["image_jpeg"] = shard.encoded_bytes("image", ref.index)
                yield frame
        finally:
            if shard is not None:
                shard.close()


def rule_pairs(refs: Sequence[FrameRef], seed: int) -> list[tuple[FrameRef, FrameRef]]:
    """(source, target) pairs of the one rule (``hpt_data.pair_rule``, the rule of the test
    pairs write-shards stores) over ``refs``, targets in (video, frame) order. The shards do
    not store outfits, so each video is its own outfit here: the source is another frame of
    the same person from another video where the person has one, else from the same video;
    a person with a single frame gives no pair."""
    by_key = {ref.key: ref for ref in refs}
    persons = {ref.video_id: ref.person_id for ref in refs}
    pairs, _ = pair_rule.rule_pairs(by_key, persons, None, seed)
    return [(by_key[s], by_key[t]) for s, t in pairs]


def export_pairs(shards: ShardSet, split: str, seed: int) -> list[tuple[FrameRef, FrameRef]]:
    """The (source, target) pairs an export writes for ``split``: the one place that
    chooses them, for every format.

    Pairs stored in the shards (a dataset's own list, e.g. DeepFashion's official test
    pairs, or the rule pairs write-shards stores for a test split) win; where the shards
    carry none for ``split`` (older shards, a train split), the seeded rule of
    ``rule_pairs`` decides.
    """
    stored = read_pairs(shards.dir, split)
    if stored is not None:
        return frames_of_pairs(shards, split, stored)
    return rule_pairs(shards.frames.get(split, []), seed)


def frames_of_pairs(
    shards: ShardSet, split: str, pairs: Sequence[tuple[tuple[str, str], tuple[str, str]]]
) -> list[tuple[FrameRef, FrameRef]]:
    """Pairs of (video_id, frame_id) keys, (source, target), as frames of ``split``; a key
    that is not a frame of ``split`` is an ``ExportError`` naming it."""
    index = {ref.key: ref for ref in shards.frames.get(split, [])}
    out = []
    for source, target in pairs:
        for key in (source, target):
            if key not in index:
                raise ExportError(f"{shards.dir}: a {split} pair names {key}, not a {split} frame")
        out.append((index[source], index[target]))
    return out


# What the two keypoint-file formats (patn, nted) leave out of a shard frame, both alike.
KEYPOINT_FORMAT_DROPS: tuple[str, ...] = (
    "mask, parsing, depth and their 512 copies",
    "SMPL parameters (betas, global_orient, body_pose, camera, camera_distance)",
    "joints2d",
    "the 15 MediaPipe landmarks COCO-18 lacks (inner/outer eyes, mouth, hands, heels, toes)",
    "landmark visibilities (a point below the threshold is -1)",
    "part layers, part boxes, voxels",
)
