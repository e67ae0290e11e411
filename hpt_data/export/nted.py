"""The NTED/PIDM layout: pairs TXT files, ``pose/*.txt`` keypoints and LMDB images.

What their ``data/fashion_data.py`` reads (RenYurui/Neural-Texture-Extraction-Distribution;
ankanbhunia/PIDM's is the same class) and ``scripts/prepare_data.py`` writes:

- ``train_pairs.txt``, ``test_pairs.txt``: one pair a line, ``target,source`` (``item[0]``
  is the target, ``item[1:]`` its sources), paths like DeepFashion's
  ``img/<gender>/<category>/<item>/<view>.jpg``; here ``img/<dataset>/<person>/<video>/
  <frame>.jpg`` (four parts after ``img/``: their ``path_to_fashion_name`` indexes them);
- ``pose/<same path>.txt``: ``np.loadtxt`` gives (18, 2), columns x, y, −1 for a missing
  point, in the 256×256 photo's frame before PATN's crop (their ``trans_keypoins``
  subtracts 40 from x, then scales 176×256 to the image size);
- ``<h>-<w>/``: one LMDB per size (``sub_path``: NTED's configs read ``256-176`` and the
  512 model ``512-352``; PIDM's ``config/data.yaml`` reads ``256-256``), holding PNG bytes
  under the key ``img/....png`` (the pairs path with ``.png`` for ``.jpg``) and the
  frame count under ``length`` as five digits (``format_for_lmdb``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from hpt_data.export.coco18 import MISSING, PATN_CROP, coco18_patn
from hpt_data.export.frames import (
    KEYPOINT_FORMAT_DROPS,
    FrameRef,
    ShardSet,
    export_pairs,
    safe_part,
)
from hpt_data.export.images import middle, png_at

SIZES = ((512, 352), (256, 176), (256, 256))  # (height, width): NTED 512, NTED 256, PIDM
MAP_SIZE = 1 << 40  # as prepare_data.py: a sparse 1 TiB map, only what is written is stored
DROPPED = (
    *KEYPOINT_FORMAT_DROPS,
    "the image outside the middle 704 of 1024 columns",
)


def image_path(dataset: str, ref: FrameRef) -> str:
    """``img/<dataset>/<person>/<video>/<frame>.jpg``, each part made safe."""
    parts = (dataset, ref.person_id, ref.video_id, ref.frame_id)
    return "img/" + "/".join(safe_part(p) for p in parts) + ".jpg"


def pose_text(points: np.ndarray) -> str:
    """(18, 2) points in the 256×176 frame as their ``pose/*.txt``: x moved back by the
    40 cropped columns, one ``x y`` line per point, −1 −1 for a missing one."""
    xy = points.astype(np.float64).copy()
    missing = xy[:, 0] == MISSING
    xy[:, 0] += PATN_CROP
    xy[missing] = MISSING
    return "".join(f"{x:.2f} {y:.2f}\n" for x, y in xy)


def write(
    shards: ShardSet,
    out: Path,
    *,
    seed: int,
    min_visibility: float,
    tick: Callable[[], None],
) -> dict[str, int]:
    """Write the layout into ``out``; returns counts (images, pairs per split)."""
    import lmdb

    dataset = shards.dataset
    envs = {}
    counts: dict[str, int] = {}
    try:
        for h, w in SIZES:
            # no fsync per commit: the folder becomes the export only when complete, and
            # each LMDB is synced once at the end
            envs[(h, w)] = lmdb.open(
                str(out / f"{h}-{w}"), map_size=MAP_SIZE, readahead=False, sync=False
            )
        total = 0
        for split in shards.splits:
            refs = shards.frames[split]
            for ref, frame in zip(refs, shards.read(refs, ("image", "landmarks")), strict=True):
                path = image_path(dataset, ref)
                pose = out / path.replace("img/", "pose/", 1).replace(".jpg", ".txt")
                pose.parent.mkdir(parents=True, exist_ok=True)
                pose.write_text(pose_text(coco18_patn(frame["landmarks"], min_visibility)))
                region = middle(frame["image"])
                key = path.replace(".jpg", ".png").encode("utf-8")
                for size, env in envs.items():
                    with env.begin(write=True) as txn:
                        txn.put(key, png_at(region, size))
                total += 1
                tick()
            pairs = export_pairs(shards, split, seed)
            lines = "".join(
                f"{image_path(dataset, t)},{image_path(dataset, s)}\n" for s, t in pairs
            )
            (out / f"{split}_pairs.txt").write_text(lines)
            counts[f"{split}_images"] = len(refs)
            counts[f"{split}_pairs"] = len(pairs)
        for env in envs.values():
            with env.begin(write=True) as txn:
                txn.put(b"length", str(total).zfill(5).encode("utf-8"))
            env.sync(True)
    finally:
        for env in envs.values():
            env.close()
    return counts
