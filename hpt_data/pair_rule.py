"""The one pair rule: (source, target) frame pairs where a dataset defines none.

Used by ``write-shards`` for the test pairs it stores (``hpt_data.shard_pairs``) and by the
exports for a split whose shards store no pairs (``hpt_data.export.frames``), so the pairs
a trainer reads from an export and the pairs ``hpt eval`` scores follow the same rule:

    every frame is a target once; its source is drawn uniformly from the same person's
    frames in another outfit, else in another video, else from the other frames of the
    same video, with ``numpy.random.default_rng([seed, crc32("video_id/frame_id")])`` of
    the target; a person with one frame gets no pair.

A pair depends on its target and the seed alone (not on the other frames' order or on
which other videos are there). The outfit is a video's ``meta["outfit"]`` where its source
records one (iPER); where it is unknown (the shards do not store it, so an export of a
split without stored pairs never knows it) each video is its own outfit, and the first
tier is the second. docs/shards.md, "Pairs", is the user's view.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping

import numpy as np

PairKey = tuple[str, str]  # (video_id, frame_id)

#: The rule's default seed: fixed, so that every write of the same frames gives the same pairs.
RULE_SEED = 0
#: The rule, in one line, as the shard manifest records it.
RULE = (
    "every test frame is a target once; its source is drawn uniformly from the same "
    "person's frames in another outfit, else in another video, else other frames of the "
    f"same video (numpy default_rng([seed, crc32('video_id/frame_id')]), seed {RULE_SEED}); "
    "a person with one frame gets no pair"
)


def rule_pairs(
    frames: Iterable[PairKey],
    persons: Mapping[str, str],
    outfits: Mapping[str, str] | None = None,
    seed: int = RULE_SEED,
) -> tuple[list[tuple[PairKey, PairKey]], int]:
    """Pairs of the rule (module docstring) over ``frames`` (one split's), targets in
    (video, frame) order, and the number of frames left without a pair.

    ``persons``: video id -> person id (a video missing is its own person); ``outfits``:
    video id -> outfit (a video missing, or ``outfits`` None, is its own outfit).
    """
    outfits = outfits or {}
    ordered = sorted(set(frames))
    by_person: dict[str, list[PairKey]] = defaultdict(list)
    for key in ordered:
        by_person[persons.get(key[0], key[0])].append(key)
    out: list[tuple[PairKey, PairKey]] = []
    alone = 0
    for target in ordered:
        video = target[0]
        outfit = outfits.get(video, video)
        mates = [k for k in by_person[persons.get(video, video)] if k != target]
        tiers = (
            [k for k in mates if outfits.get(k[0], k[0]) != outfit],
            [k for k in mates if k[0] != video],
            mates,
        )
        pool = next((t for t in tiers if t), None)
        if pool is None:
            alone += 1
            continue
        rng = np.random.default_rng([seed, zlib.crc32(f"{target[0]}/{target[1]}".encode())])
        out.append((pool[int(rng.integers(len(pool)))], target))
    return out, alone
