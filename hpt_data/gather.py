"""Join one video's stage outputs into shard records (the input of ``write-shards``).

The outputs are read through ``hpt_data.stages.outputs`` (one reader per stage output);
frames are joined on their source index (``frame_id`` from fit-smpl on).

A frame becomes a record when every stage kept it: remove-bg found one whole person,
pose2d found the pose, the fit passed its checks, and render-maps and voxelize rendered it.
Each frame left out is counted under the first stage that dropped it, so ``write-shards``
can say where the frames went; which frame each stage dropped is kept too, so that the
dataset's pairs that name it are left out with that reason (``hpt_data.shard_pairs``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpt_data.errors import HptError
from hpt_data.pair_rule import RULE, RULE_SEED
from hpt_data.shard_pairs import RULE_SPLITS, FrameLedger, resolve_pairs, rule_pairs
from hpt_data.shards.schema import NUM_BETAS, text_problem
from hpt_data.sources.base import FramePair, VideoRecord
from hpt_data.stages.outputs import (
    Crop,
    Crops,
    Fits,
    FittedFrame,
    Frames,
    Maps,
    Pose2D,
    VolumeFrame,
    Volumes,
    frame_id,
)
from hpt_data.workdir import VideoDir

if TYPE_CHECKING:  # shard_tasks imports this module
    from hpt_data.shard_tasks import RangeSpan

logger = logging.getLogger(__name__)
SHARD_INPUTS = ("remove-bg", "pose2d", "fit-smpl", "render-maps", "voxelize")


@dataclass
class GatherCounts:
    """Frames turned into records, and frames dropped per stage that dropped them (and,
    in ``dropped_frames``, frame id -> that stage)."""

    records: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    dropped_frames: dict[str, str] = field(default_factory=dict)

    def drop(self, fid: str, stage: str) -> None:
        self.dropped[stage] += 1
        self.dropped_frames[fid] = stage


@dataclass
class VideoOutputs:
    """One video's stage outputs that the shards are made of, read once."""

    crops: Crops
    pose: Pose2D
    fits: Fits
    maps: Maps
    volumes: Volumes

    @classmethod
    def read(cls, vdir: VideoDir) -> VideoOutputs:
        for name in SHARD_INPUTS:
            if not (vdir.output(name) / "_stage.json").exists():
                raise HptError(f"{vdir.path}: no complete '{name}' output; run hpt-data {name}")
        crops = Crops.read(vdir.output("remove-bg"))
        # crop_file: matte: the crops are rebuilt from sample-frames' frames, which must
        # all be there (or their source, image_format: video): else the video fails in one
        # line here, not frame by frame as unreadable
        if crops.crop_file == "matte":
            if not (vdir.output(Frames.STAGE) / "_stage.json").exists():
                raise HptError(
                    f"{vdir.path}: no complete 'sample-frames' output, which remove-bg's "
                    "crops are rebuilt from; run hpt-data sample-frames"
                )
            frames = Frames.read(vdir.output(Frames.STAGE))
            frames.check_readable(c.source_file for c in crops.frames if c.has_crop)
        return cls(
            crops,
            Pose2D.read(vdir.output("pose2d")),
            Fits.read(vdir.output("fit-smpl")),
            Maps.read(vdir.output("render-maps")),
            Volumes.read(vdir.output("voxelize")),
        )


def gather_video(
    vdir: VideoDir,
    video: VideoRecord,
    counts: GatherCounts,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the shard records of one video, in frame order; of remove-bg's frames (the
    candidates) only those in ``[start, stop)`` (a range of ``hpt_data.shard_tasks``)."""

    for name in ("video_id", "person_id", "source"):  # here, not in the writer's range
        problem = text_problem(getattr(video, name))
        if problem:
            raise HptError(f"{vdir.path}: {name} {problem}")
    out = VideoOutputs.read(vdir)
    pose_index = out.pose.by_index()
    maps_index = out.maps.by_frame_id()
    vox_index = out.volumes.by_frame_id()
    fit_row = {fid: i for i, fid in enumerate(out.fits.frame_ids)}
    betas = np.asarray(out.fits.betas, np.float32)[:NUM_BETAS]
    if betas.shape != (NUM_BETAS,):
        raise HptError(
            f"{vdir.output('fit-smpl')}: betas have {betas.shape[0]} values, need {NUM_BETAS}"
        )

    for entry in out.crops.frames[start:stop]:
        fid = frame_id(entry.index)
        pose_entry = pose_index.get(int(entry.index))
        row = fit_row.get(fid)
        maps_entry = maps_index.get(fid)
        vox_entry = vox_index.get(fid)
        if not entry.usable:
            counts.drop(fid, "remove-bg")
            continue
        landmarks = None if pose_entry is None else out.pose.landmarks(pose_entry)
        if landmarks is None:
            counts.drop(fid, "pose2d")
            continue
        if row is None or not bool(out.fits.ok[row]):
            counts.drop(fid, "fit-smpl")
            continue
        if maps_entry is None or not maps_entry.ok or not maps_entry.file:
            counts.drop(fid, "render-maps")
            continue
        if vox_entry is None or not vox_entry.ok or not vox_entry.file:
            counts.drop(fid, "voxelize")
            continue
        try:
            record = _record(out, video, entry, landmarks, row, betas, maps_entry, vox_entry)
        except HptError as exc:  # one unreadable frame file: leave the frame out, say so
            logger.warning("%s", exc)
            counts.drop(fid, "unreadable")
            continue
        yield record
        counts.records += 1


def _record(
    out: VideoOutputs,
    video: VideoRecord,
    entry: Crop,
    landmarks: np.ndarray,
    row: int,
    betas: np.ndarray,
    maps_entry: FittedFrame,
    vox_entry: VolumeFrame,
) -> dict[str, Any]:
    """One frame's shard record. ``landmarks`` (33, 5): x, y, z, visibility, presence.
    Arrays already in the shard's dtype are passed as they are (``copy=False``): the
    writer only reads them, and the 4 MB volume copied per frame was memory traffic."""
    maps = out.maps.maps(maps_entry)
    vox = out.volumes.volume(vox_entry)
    image, mask = out.crops.image_and_mask(entry)
    if mask is None:
        raise HptError(f"{out.crops.folder}/{entry.mask}: cannot read the crop or its mask")
    fits = out.fits
    import cv2  # a channel swap in one pass (a numpy ::-1 copy costs several times more)

    record: dict[str, Any] = {
        "video_id": video.video_id,
        "person_id": video.person_id,
        "frame_id": frame_id(entry.index),
        "source": video.source,
        "time_s": np.float64(entry.time_ms / 1000.0),
        "image": cv2.cvtColor(image, cv2.COLOR_BGR2RGB),
        "mask": mask.astype(np.uint8, copy=False),
        **maps.shard_fields(),
        # pose2d keeps MediaPipe's half-pixel convention; shards use integer pixel centres
        "landmarks": (landmarks[:, [0, 1, 3]] - np.array([0.5, 0.5, 0.0])).astype(np.float32),
        "betas": betas,
        "global_orient": fits.global_orient[row].astype(np.float32),
        "body_pose": fits.body_pose[row].astype(np.float32),
        "camera": fits.camera[row].astype(np.float32),
        # fits of fit-smpl before its stage version 2 have no distance: read as 0, weak
        # perspective, as they were fitted
        "camera_distance": np.float32(fits.camera_distance[row]),
        "voxels": vox.labels.astype(np.uint8, copy=False),
        "voxel_z": np.array([vox.z0, vox.dz], np.float32),
    }
    return record


@dataclass
class ShardsSummary:
    """What ``write_dataset_shards`` wrote: records per split, drops per stage, failures;
    pairs stored per split, their origin (``dataset`` or ``rule``) and the dataset's pairs
    left out per split and reason."""

    out_dir: Path
    frames: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (video id, reason)
    seconds: float = 0.0  # wall time of the whole write
    pairs: dict[str, int] = field(default_factory=dict)
    pairs_origin: dict[str, str] = field(default_factory=dict)
    pairs_left_out: dict[str, Counter[str]] = field(default_factory=dict)
    # when and where each range was written, in range order
    range_spans: list[RangeSpan] = field(default_factory=list)


def store_pairs(
    gen_dir: Path, pairs: list[FramePair], ledger: FrameLedger, summary: ShardsSummary
) -> dict[str, dict[str, Any]]:
    """Write each split's pairs into the generation folder ``gen_dir`` and return their
    manifest entries: the dataset's where it lists any for the split (those whose frames
    were written, the others counted by reason in the manifest's ``left_out``), else, for
    the test split, the rule's (``hpt_data.pair_rule.RULE``)."""
    from hpt_data.shards.writer import write_pairs_file

    entries: dict[str, dict[str, Any]] = {}
    kept, left = resolve_pairs(pairs, ledger)
    for split in sorted({p.split for p in pairs}):
        summary.pairs[split] = len(kept.get(split, []))
        summary.pairs_origin[split] = "dataset"
        summary.pairs_left_out[split] = left.get(split, Counter())
        entries[split] = write_pairs_file(
            gen_dir,
            split,
            kept.get(split, []),
            origin="dataset",
            left_out=dict(sorted(summary.pairs_left_out[split].items())),
        )
    for split in RULE_SPLITS:
        if split in summary.pairs or split not in ledger.written.values():
            continue
        made, alone = rule_pairs(ledger, split)
        summary.pairs[split] = len(made)
        summary.pairs_origin[split] = "rule"
        entries[split] = write_pairs_file(
            gen_dir,
            split,
            made,
            origin="rule",
            rule=RULE,
            seed=RULE_SEED,
            frames_without_pair=alone,
        )
    return entries


def other_makers(provenance: dict[str, Any], videos: list[VideoDir]) -> dict[str, Any]:
    """``provenance`` with, per stage whose output in some of ``videos`` was made under
    another fingerprint (``write-shards`` run after a settings change, without the stages),
    ``other_fingerprints``: fingerprint -> the videos and the settings their
    ``_stage.json`` recorded (None for outputs made before settings were recorded)."""
    out = {**provenance, "stages": {k: dict(v) for k, v in provenance["stages"].items()}}
    for name, stage in out["stages"].items():
        others: dict[str, dict[str, Any]] = {}
        for vdir in videos:
            manifest = vdir.manifest(name) or {}
            fingerprint = manifest.get("fingerprint")
            if fingerprint != stage["fingerprint"]:
                entry = others.setdefault(
                    str(fingerprint), {"videos": [], "settings": manifest.get("settings")}
                )
                entry["videos"].append(vdir.path.name)
        if others:
            stage["other_fingerprints"] = others
    return out
