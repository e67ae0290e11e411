"""Join one video's stage outputs into shard records (the input of ``write-shards``).

A frame becomes a record when every stage kept it: remove-bg found one whole person,
pose2d found the pose, the fit passed its checks, and render-maps and voxelize rendered it.
Each frame left out is counted under the first stage that dropped it, so ``write-shards``
can say where the frames went.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.errors import HptError
from hpt_data.shards.schema import NUM_BETAS, PART_LAYERS
from hpt_data.sources.base import VideoRecord
from hpt_data.workdir import VideoDir

logger = logging.getLogger(__name__)
SHARD_INPUTS = ("remove-bg", "pose2d", "fit-smpl", "render-maps", "voxelize")


@dataclass
class GatherCounts:
    """Frames turned into records, and frames dropped per stage that dropped them."""

    records: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


def _index(folder: Path) -> dict[str, Any]:
    path = folder / "frames.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HptError(f"{path}: cannot read the stage index ({exc})") from None


def _npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise HptError(f"{path}: cannot read ({exc})") from None


def _by_frame_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["frame_id"]: e for e in entries}


def _depth(depth: np.ndarray) -> np.ndarray:
    """Depth as the schema stores it: float16 metres, +inf on the background. Camera-frame
    z of a weak-perspective fit is relative to the body (it can be 0 or negative), so no
    finite value can mark the background."""
    depth = np.asarray(depth, np.float32)
    return np.where(np.isfinite(depth), depth, np.inf).astype(np.float16)


def gather_video(
    vdir: VideoDir, video: VideoRecord, counts: GatherCounts
) -> Iterator[dict[str, Any]]:
    """Yield the shard records of one video, in frame order."""

    out = {name: vdir.output(name) for name in SHARD_INPUTS}
    for name, folder in out.items():
        if not (folder / "_stage.json").exists():
            raise HptError(f"{vdir.path}: no complete '{name}' output; run hpt-data {name}")
    bg_frames = _index(out["remove-bg"])["frames"]
    pose_index = {int(e["index"]): e for e in _index(out["pose2d"])["frames"]}
    pose = _npz(out["pose2d"] / "pose2d.npz")
    fits = _npz(out["fit-smpl"] / "fits.npz")
    fit_row = {str(fid): i for i, fid in enumerate(fits["frame_ids"])}
    maps_index = _by_frame_id(_index(out["render-maps"])["frames"])
    vox_index = _by_frame_id(_index(out["voxelize"])["frames"])
    betas = np.asarray(fits["betas"], np.float32)[:NUM_BETAS]
    if betas.shape != (NUM_BETAS,):
        raise HptError(f"{out['fit-smpl']}: betas have {betas.shape[0]} values, need {NUM_BETAS}")

    for entry in bg_frames:
        frame_id = f"{int(entry['index']):06d}"
        pose_entry = pose_index.get(int(entry["index"]), {})
        row = fit_row.get(frame_id)
        maps_entry = maps_index.get(frame_id, {})
        vox_entry = vox_index.get(frame_id, {})
        if not entry.get("usable"):
            counts.dropped["remove-bg"] += 1
            continue
        if pose_entry.get("row") is None or not pose["found"][pose_entry["row"]]:
            counts.dropped["pose2d"] += 1
            continue
        if row is None or not bool(fits["ok"][row]):
            counts.dropped["fit-smpl"] += 1
            continue
        if not maps_entry.get("ok") or not maps_entry.get("file"):
            counts.dropped["render-maps"] += 1
            continue
        if not vox_entry.get("ok") or not vox_entry.get("file"):
            counts.dropped["voxelize"] += 1
            continue
        try:
            record = _record(
                out,
                video,
                entry,
                pose,
                pose_entry["row"],
                fits,
                row,
                betas,
                _npz(out["render-maps"] / maps_entry["file"]),
                _npz(out["voxelize"] / vox_entry["file"]),
            )
        except HptError as exc:  # one unreadable frame file: leave the frame out, say so
            logger.warning("%s", exc)
            counts.dropped["unreadable"] += 1
            continue
        yield record
        counts.records += 1


def _record(
    out: dict[str, Path],
    video: VideoRecord,
    entry: dict[str, Any],
    pose: dict[str, np.ndarray],
    pose_row: int,
    fits: dict[str, np.ndarray],
    row: int,
    betas: np.ndarray,
    maps: dict[str, np.ndarray],
    vox: dict[str, np.ndarray],
) -> dict[str, Any]:
    import cv2

    image = cv2.imread(str(out["remove-bg"] / entry["image"]), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(out["remove-bg"] / entry["mask"]), cv2.IMREAD_GRAYSCALE)
    if image is None or mask is None:
        raise HptError(f"{out['remove-bg'] / entry['image']}: cannot read the crop or its mask")
    landmarks = pose["landmarks_crop"][pose_row]  # (33, 5): x, y, z, visibility, presence
    record: dict[str, Any] = {
        "video_id": video.video_id,
        "person_id": video.person_id,
        "frame_id": f"{int(entry['index']):06d}",
        "source": video.source,
        "time_s": np.float64(entry["time_ms"] / 1000.0),
        "image": np.ascontiguousarray(image[:, :, ::-1]),
        "mask": (mask >= 128).astype(np.uint8),
        **map_fields(maps),
        # pose2d keeps MediaPipe's half-pixel convention; shards use integer pixel centres
        "landmarks": (landmarks[:, [0, 1, 3]] - np.array([0.5, 0.5, 0.0])).astype(np.float32),
        "betas": betas,
        "global_orient": fits["global_orient"][row].astype(np.float32),
        "body_pose": fits["body_pose"][row].astype(np.float32),
        "camera": fits["camera"][row].astype(np.float32),
        # fits of fit-smpl before its stage version 2 have no distance: weak perspective
        "camera_distance": np.float32(
            fits["camera_distance"][row] if "camera_distance" in fits else 0.0
        ),
        "voxels": vox["labels"].astype(np.uint8),
        "voxel_z": np.array([vox["z0"], vox["dz"]], np.float32),
    }
    return record


def map_fields(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The shard fields of one frame's render-maps arrays (``maps/<frame_id>.npz``, see
    ``hpt_data.stages.render_maps``): parsing, depth, their 512 versions, joints2d,
    part_boxes and the complete part maps, in the schema's dtypes. Shared with the
    pose-transfer pipelines, which render a target's maps the same way."""
    fields = {
        "parsing": maps["parsing_1024"].astype(np.uint8),
        "depth": _depth(maps["depth_1024"]),
        "parsing_512": maps["parsing_512"].astype(np.uint8),
        "depth_512": _depth(maps["depth_512"]),
        "joints2d": maps["joints2d_1024"].astype(np.float32),
        "part_boxes": maps["boxes"].astype(np.int32),
    }
    for layer in PART_LAYERS:
        fields[f"layer_mask_{layer}"] = maps[f"part_mask_{layer}"].astype(np.uint8)
        fields[f"layer_depth_{layer}"] = _depth(maps[f"part_depth_{layer}"])
    return fields


@dataclass
class ShardsSummary:
    """What ``write_dataset_shards`` wrote: records per split, drops per stage, failures."""

    out_dir: Path
    frames: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (video id, reason)
    seconds: float = 0.0  # wall time of the whole write


def write_dataset_shards(
    dataset: str,
    videos: list[tuple[VideoRecord, VideoDir]],
    out_dir: Path,
    max_bytes: int,
    progress: bool = True,
) -> ShardsSummary:
    """Write every usable frame of ``videos`` into shards under ``out_dir`` (one new
    generation; see ``hpt_data.shards.writer``). A video whose outputs cannot be read is
    reported and left out; the others are written."""
    from tqdm import tqdm

    from hpt_data.shards.writer import ShardWriter

    summary = ShardsSummary(Path(out_dir))
    with ShardWriter(out_dir, dataset, max_bytes=max_bytes) as writer:
        for video, vdir in tqdm(videos, desc="write-shards", unit="video", disable=not progress):
            if video.split not in ("train", "test"):
                continue
            counts = GatherCounts()
            try:  # a video whose indexes cannot be read fails before its first record
                for record in gather_video(vdir, video, counts):
                    writer.write(video.split, record)
            except HptError as exc:
                summary.failed.append((video.video_id, str(exc)))
                continue
            summary.frames[video.split] += counts.records
            summary.dropped.update(counts.dropped)
        writer.extra["dropped"] = dict(summary.dropped)  # read when the manifest is written
        writer.extra["failed_videos"] = dict(summary.failed)
    return summary
