"""The pair list a shard set stores for a split, as frame indices of ``ShardFrames``.

``write-shards`` stores per split the dataset's own pairs (DeepFashion's test pairs, ...)
or, for a test split without them, pairs of a documented rule (``hpt_data.shards.pairs``,
docs/shards.md "Pairs"). ``PairDataset(pairs=...)`` picks between them and sampling:

- ``"stored"``: the stored list, in its order; an error when the split has none;
- ``"sampled"``: every frame a target once per epoch, its source drawn (``pair_indices``);
- ``"auto"`` (default): the stored list for any split but ``train`` when there is one
  (evaluation scores exactly the published pairs), else sampling (training sees new
  pairs every epoch).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hpt_data.shards.pairs import pairs_entry, read_pairs
from hpt_data.shards.reading import MANIFEST, ShardError, load_manifest
from hpt_model.data.shards import ShardFrames

PairMode = Literal["auto", "stored", "sampled"]
PAIR_MODES: tuple[str, ...] = ("auto", "stored", "sampled")


def stored_pair_indices(frames: ShardFrames, mode: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(source indices (P,), target indices (P,)) of the stored pairs of ``frames``' split
    when ``mode`` uses them (see the module docstring), else None. A pair naming a frame the
    split does not hold, or an empty stored list (every pair left out), is a ``ShardError``
    naming the pair file (and line)."""
    if mode not in PAIR_MODES:
        raise ValueError(f"pairs must be one of {', '.join(PAIR_MODES)}, got {mode!r}")
    if mode == "sampled" or (mode == "auto" and frames.split == "train"):
        return None
    listed = read_pairs(frames.shard_dir, frames.split)
    if listed is None:
        if mode == "stored":
            raise ShardError(
                f"{frames.shard_dir / MANIFEST}: no stored '{frames.split}' pairs (shards of "
                "schema 3 store them; rewrite with hpt-data write-shards, or sample pairs)"
            )
        return None
    entry = pairs_entry(load_manifest(frames.shard_dir), frames.split) or {}
    where = frames.shard_dir / str(entry.get("file", MANIFEST))
    if not listed:
        left = entry.get("left_out") or {}
        raise ShardError(
            f"{where}: the stored '{frames.split}' pair list is empty (write-shards left out "
            f"{sum(left.values())} pairs: {left}); use pairs='sampled' (hpt eval --pairs sampled)"
        )
    index = {key: i for i, key in enumerate(frames.frame_keys)}  # "video_id/frame_id"
    out = np.empty((2, len(listed)), np.int64)
    for p, pair in enumerate(listed):
        for side, (video, frame) in enumerate(pair):
            i = index.get(f"{video}/{frame}")
            if i is None:
                raise ShardError(
                    f"{where} line {p + 2}: frame {video}/{frame} is not in the "
                    f"'{frames.split}' shards"
                )
            out[side, p] = i
    return out[0], out[1]
