"""Valid shard records with structure (blobs, boxes), made from a seed, for shard tests."""

from __future__ import annotations

import numpy as np

from hpt_data.shards.schema import (
    COARSE,
    CROP,
    NUM_BETAS,
    NUM_JOINTS,
    NUM_KEYPOINTS,
    NUM_LANDMARKS,
    PART_LAYER_SIZE,
    PART_LAYERS,
    VOXELS,
)


def _blob_labels(rng: np.random.Generator, size: int) -> np.ndarray:
    labels = np.zeros((size, size), np.uint8)
    for label in range(1, 7):
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w, h = rng.integers(size // 16, size // 4, 2)
        labels[y0 : y0 + h, x0 : x0 + w] = label
    return labels


def make_record(seed: int, person: str = "p0", video: str = "v0") -> dict:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:CROP, 0:CROP]
    image = np.stack(
        [(xx * 255 // CROP), (yy * 255 // CROP), np.full_like(xx, 40 * (seed % 6))], axis=-1
    ).astype(np.uint8)
    parsing = _blob_labels(rng, CROP)
    # per-pixel depth, as rendered surfaces have: it also keeps a frame near 0.4 MB stored,
    # so that the tests' 1 MiB shards roll over
    surface = rng.random() * 0.5 - 0.25 + rng.normal(0.0, 0.02, parsing.shape)
    depth = np.where(parsing > 0, surface, np.inf).astype(np.float16)
    record = {
        "video_id": video,
        "person_id": person,
        "frame_id": f"{seed:06d}",
        "source": "test",
        "time_s": np.float64(seed / 15.0),
        "image": image,
        "mask": (parsing > 0).astype(np.uint8),
        "parsing": parsing,
        "depth": depth,
        "parsing_512": parsing[::2, ::2].copy(),
        "depth_512": depth[::2, ::2].copy(),
        "joints2d": rng.uniform(0, CROP, (NUM_JOINTS, 2)).astype(np.float32),
        "keypoints": np.random.default_rng([seed, 3])  # its own stream: rng's draws stay
        .uniform((0, 0, 2.5), (CROP, CROP, 3.5), (NUM_KEYPOINTS, 3))
        .astype(np.float32),
        "landmarks": rng.uniform(0, 1, (NUM_LANDMARKS, 3)).astype(np.float32),
        "betas": rng.normal(size=NUM_BETAS).astype(np.float32),
        "global_orient": rng.normal(size=3).astype(np.float32),
        "body_pose": rng.normal(size=69).astype(np.float32) * 0.1,
        "camera": np.array([0.9, 0.0, 0.1], np.float32),
        "camera_distance": np.float32(3.0),
        "part_boxes": np.array(
            [[rng.integers(0, 900), rng.integers(0, 900), PART_LAYER_SIZE[p]] for p in PART_LAYERS],
            np.int32,
        ),
        "voxels": np.zeros(VOXELS, np.uint8),
        "voxel_z": np.array([2.5, 0.02], np.float32),
    }
    z0 = int(rng.integers(0, 32))
    record["voxels"][z0 : z0 + 20, 60:200, 100:160] = 2
    record["voxels"][z0 : z0 + 10, 20:60, 110:150] = 1
    for layer in PART_LAYERS:
        size = PART_LAYER_SIZE[layer]
        mask = _blob_labels(rng, size) > 0
        record[f"layer_mask_{layer}"] = mask.astype(np.uint8)
        record[f"layer_depth_{layer}"] = np.where(mask, 0.1, np.inf).astype(np.float16)
    assert record["parsing_512"].shape == (COARSE, COARSE)
    return record
