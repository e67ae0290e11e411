"""webdataset tar shards: every frame's image, mask, maps, SMPL parameters and keypoints.

The webdataset convention (webdataset ``tariterators.base_plus_ext``): a sample is the
run of consecutive tar members that share a key, the member's path up to the first ``.``
of its base name; what follows is the field name. So a key holds no ``.``
(``FrameRef.name``), and each sample's members are written together. Per sample:

| member | holds |
| --- | --- |
| ``KEY.jpg`` | the shard's 1024² JPEG, its bytes as stored (no re-encoding) |
| ``KEY.mask.png`` | person mask, 8-bit, 0 or 255 |
| ``KEY.parsing.png`` | part labels 0..6, 8-bit (DESIGN.md's labels) |
| ``KEY.depth.npy.gz`` | (1024, 1024) float16 depth in metres, ``inf`` = background, gzipped |
| ``KEY.landmarks.npy`` | (33, 3) float32: MediaPipe x, y (crop pixels), visibility |
| ``KEY.joints2d.npy`` | (24, 2) float32: projected SMPL joints, crop pixels |
| ``KEY.smpl.json`` | betas, global_orient, body_pose, camera (s, tx, ty), camera_distance |
| ``KEY.json`` | split, video_id, person_id, frame_id, source, time_s, part_boxes |

Depth is gzipped at level 1 (the raw array is 2 MiB; its constant background compresses
well); webdataset's decoder ungzips a ``.gz`` member before decoding by the rest of the
extension. Tars are ``<split>-NNNNNN.tar`` with at most ``samples_per_tar`` samples; the
pairs of a split (which a tar has no slot for) go beside them as ``<split>-pairs.csv``
(``source,target`` keys).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.export.frames import FrameRef, ShardSet, export_pairs
from hpt_data.export.images import png_bytes

FIELDS = (
    "mask",
    "parsing",
    "depth",
    "landmarks",
    "joints2d",
    "betas",
    "global_orient",
    "body_pose",
    "camera",
    "camera_distance",
    "source",
    "time_s",
    "part_boxes",
)
SMPL = ("betas", "global_orient", "body_pose", "camera", "camera_distance")
DEFAULT_SAMPLES_PER_TAR = 1000
DROPPED = (
    "parsing_512 and depth_512 (the 1024 maps at half size)",
    "part layers (layer_mask_*, layer_depth_*)",
    "voxels and voxel_z",
)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True).encode("utf-8")


def sample_members(ref: FrameRef, frame: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The (member name, bytes) of one sample, in the order written; ``frame`` as
    ``ShardSet.read(..., raw_image=True)`` gives it."""
    key = ref.name
    smpl = {k: np.asarray(frame[k]).tolist() for k in SMPL}
    meta = {
        "split": ref.split,
        "video_id": ref.video_id,
        "person_id": ref.person_id,
        "frame_id": ref.frame_id,
        "source": frame["source"],
        "time_s": float(frame["time_s"]),
        "part_boxes": np.asarray(frame["part_boxes"]).tolist(),
    }
    return [
        (f"{key}.jpg", frame["image_jpeg"]),
        (f"{key}.mask.png", png_bytes(np.asarray(frame["mask"]) * np.uint8(255))),
        (f"{key}.parsing.png", png_bytes(frame["parsing"])),
        (f"{key}.depth.npy.gz", gzip.compress(_npy(frame["depth"]), compresslevel=1, mtime=0)),
        (f"{key}.landmarks.npy", _npy(frame["landmarks"])),
        (f"{key}.joints2d.npy", _npy(frame["joints2d"])),
        (f"{key}.smpl.json", _json(smpl)),
        (f"{key}.json", _json(meta)),
    ]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write(
    shards: ShardSet,
    out: Path,
    *,
    seed: int,
    samples_per_tar: int = DEFAULT_SAMPLES_PER_TAR,
    tick: Callable[[], None],
) -> dict[str, int]:
    """Write the tars and pairs CSVs into ``out``; returns counts (samples, tars, pairs)."""
    if samples_per_tar < 1:
        raise ValueError(f"samples_per_tar must be at least 1, got {samples_per_tar}")
    counts: dict[str, int] = {}
    for split in shards.splits:
        refs = shards.frames[split]
        tars = 0
        for start in range(0, len(refs), samples_per_tar):
            chunk = refs[start : start + samples_per_tar]
            path = out / f"{split}-{tars:06d}.tar"
            with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
                frames = shards.read(chunk, FIELDS, raw_image=True)
                for ref, frame in zip(chunk, frames, strict=True):
                    for name, data in sample_members(ref, frame):
                        _add(tar, name, data)
                    tick()
            tars += 1
        pairs = export_pairs(shards, split, seed)
        with open(out / f"{split}-pairs.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["source", "target"])
            writer.writerows([s.name, t.name] for s, t in pairs)
        counts[f"{split}_samples"] = len(refs)
        counts[f"{split}_tars"] = tars
        counts[f"{split}_pairs"] = len(pairs)
    return counts
