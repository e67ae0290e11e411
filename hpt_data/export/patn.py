"""The PATN/GFLA layout: image folders, a pairs CSV and an annotation CSV per split.

What their loaders read (tengteng95/Pose-Transfer ``data/keypoint.py``,
``tool/generate_pose_map_fashion.py``; RenYurui/Global-Flow-Local-Attention
``data/fashion_dataset.py``, ``data/base_dataset.py``):

- ``<split>/<name>.jpg``: 256×176 images (``images.patn_image``);
- ``<prefix>-pairs-<split>.csv``: ``pd.read_csv`` with columns ``from,to`` (image names);
- ``<prefix>-annotation-<split>.csv``: ``pd.read_csv(sep=':')``, columns
  ``name:keypoints_y:keypoints_x``, each a bracketed list of 18 integers that
  ``json.loads`` reads, −1 for a missing point (``coco18``), in the 256×176 frame;
- ``<split>.lst``: the split's image names, one a line (Pose-Transfer's
  ``fashion_data/train.lst``).

The prefix is PATN's ``fasion-resize`` by default (their spelling); GFLA's loader opens
``fasion-pairs-*.csv`` and ``fasion-annotation-*.csv`` (``--prefix fasion``). PATN's pose
heatmaps (``trainK/``) are made from the annotation CSV by their own script.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hpt_data.export.coco18 import MISSING, coco18_patn
from hpt_data.export.frames import KEYPOINT_FORMAT_DROPS, ShardSet, export_pairs
from hpt_data.export.images import jpeg_bytes, patn_image

DEFAULT_PREFIX = "fasion-resize"
DROPPED = (
    *KEYPOINT_FORMAT_DROPS,
    "the image outside the middle 704 of 1024 columns, and detail above 256×176",
)


def annotation_row(name: str, points: np.ndarray) -> list[str]:
    """One annotation row: name, y list, x list; points (18, 2) x, y float, ``MISSING``
    for both of a missing point. Coordinates are rounded to whole pixels."""
    missing = points[:, 0] == MISSING
    xy = np.where(missing[:, None], MISSING, np.rint(points)).astype(int)
    return [name, json.dumps(xy[:, 1].tolist()), json.dumps(xy[:, 0].tolist())]


def write(
    shards: ShardSet,
    out: Path,
    *,
    seed: int,
    prefix: str = DEFAULT_PREFIX,
    min_visibility: float,
    tick: Callable[[], None],
) -> dict[str, int]:
    """Write the layout into ``out``; returns counts (images, pairs per split)."""
    counts: dict[str, int] = {}
    for split in shards.splits:
        refs = shards.frames[split]
        folder = out / split
        folder.mkdir()
        rows = []
        for ref, frame in zip(refs, shards.read(refs, ("image", "landmarks")), strict=True):
            name = f"{ref.name}.jpg"
            (folder / name).write_bytes(jpeg_bytes(patn_image(frame["image"])))
            rows.append(annotation_row(name, coco18_patn(frame["landmarks"], min_visibility)))
            tick()
        with open(out / f"{prefix}-annotation-{split}.csv", "w", newline="") as fh:
            writer = csv.writer(fh, delimiter=":", lineterminator="\n")
            writer.writerow(["name", "keypoints_y", "keypoints_x"])
            writer.writerows(rows)
        pairs = export_pairs(shards, split, seed)
        with open(out / f"{prefix}-pairs-{split}.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["from", "to"])
            writer.writerows([f"{s.name}.jpg", f"{t.name}.jpg"] for s, t in pairs)
        (out / f"{split}.lst").write_text("".join(f"{r.name}.jpg\n" for r in refs))
        counts[f"{split}_images"] = len(refs)
        counts[f"{split}_pairs"] = len(pairs)
    return counts
