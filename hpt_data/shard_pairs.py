"""Which pairs ``write-shards`` stores: the dataset's own, checked against the frames the
chain kept, or (where a dataset defines no test pairs) pairs made by a documented rule.

Dataset pairs (``FramePair``, listed by a source's ``scan``) name frames by video id and
source frame index. A pair is kept when both of its frames were written to the pair's
split; otherwise it is left out and counted under the first reason found, source frame
first (:func:`left_out_reason`). Rule pairs (:func:`rule_pairs`: the one rule of
``hpt_data.pair_rule``) are made from the frames written, so they are all kept.
docs/shards.md, "Pairs", is the user's view.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from hpt_data import pair_rule
from hpt_data.pair_rule import RULE_SEED
from hpt_data.shards.pairs import Pair, PairKey
from hpt_data.sources.base import FramePair
from hpt_data.stages.outputs import frame_id

#: The split for which write-shards makes rule pairs where the dataset defines none.
RULE_SPLITS = ("test",)


@dataclass
class FrameLedger:
    """What became of each frame of the videos given to ``write-shards``.

    ``written``: (video_id, frame_id) -> split of every frame written to the shards;
    ``dropped``: (video_id, frame_id) -> the stage that dropped it; ``gathered``: videos
    whose outputs were read (a frame of theirs in neither dict was never sampled);
    ``failed``: videos whose outputs could not be read; ``splits``: split of each video
    given; ``persons``, ``outfits``: person and outfit (``meta["outfit"]`` where the source
    records one, else the video id) of each video given.
    """

    written: dict[PairKey, str] = field(default_factory=dict)
    dropped: dict[PairKey, str] = field(default_factory=dict)
    gathered: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    splits: dict[str, str] = field(default_factory=dict)
    persons: dict[str, str] = field(default_factory=dict)
    outfits: dict[str, str] = field(default_factory=dict)


def left_out_reason(ledger: FrameLedger, key: PairKey, split: str) -> str | None:
    """Why the frame ``key`` cannot be in a ``split`` pair, or None when it can."""
    video = key[0]
    if key in ledger.written:
        other = ledger.written[key]
        return None if other == split else f"frame in the {other} split"
    if key in ledger.dropped:
        return f"frame dropped by {ledger.dropped[key]}"
    if video in ledger.failed:
        return "video outputs unreadable"
    if video in ledger.gathered:
        return "frame not sampled"
    if video in ledger.splits and ledger.splits[video] not in ("train", "test"):
        return f"video in no split ({ledger.splits[video]})"
    return "video not built"


def resolve_pairs(
    pairs: list[FramePair], ledger: FrameLedger
) -> tuple[dict[str, list[Pair]], dict[str, Counter[str]]]:
    """The dataset's pairs kept per split (in the listed order) and, per split, how many
    were left out for each reason."""
    kept: dict[str, list[Pair]] = defaultdict(list)
    left: dict[str, Counter[str]] = defaultdict(Counter)
    for p in pairs:
        source = (p.source_video, frame_id(p.source_frame))
        target = (p.target_video, frame_id(p.target_frame))
        reason = left_out_reason(ledger, source, p.split)
        reason = reason or left_out_reason(ledger, target, p.split)
        if reason is None:
            kept[p.split].append((source, target))
        else:
            left[p.split][reason] += 1
    return dict(kept), dict(left)


def rule_pairs(ledger: FrameLedger, split: str, seed: int = RULE_SEED) -> tuple[list[Pair], int]:
    """The pairs of the one rule (``hpt_data.pair_rule``) over the frames written to
    ``split``, with the persons and outfits of the videos given, and the number of frames
    left without a pair."""
    frames = [k for k, s in ledger.written.items() if s == split]
    return pair_rule.rule_pairs(frames, ledger.persons, ledger.outfits, seed)


def describe_pairs(scan: dict[str, Any], manifest: dict[str, Any] | None) -> list[str]:
    """What ``hpt-data info`` says about a dataset's pairs: per split, those its scan
    (``videos.json``) lists and where the rest come from, then, where shards exist, what
    they store per split (origin, pairs left out by reason, frames without a pair)."""
    listed = Counter(str(p.get("split")) for p in scan.get("pairs", []))
    splits = {str(v.get("split")) for v in scan.get("videos", [])} | set(listed)
    parts = []
    for split in [s for s in ("train", "test") if s in splits] + sorted(
        s for s in listed if s not in ("train", "test")
    ):
        if listed[split]:
            parts.append(f"{split}: {listed[split]} listed by the dataset")
        elif split in RULE_SPLITS:
            parts.append(f"{split}: none listed (write-shards makes them by the rule)")
        else:
            parts.append(f"{split}: none listed (sampled in training; exports use the rule)")
    lines = [f"pairs (scan): {'; '.join(parts) or 'no videos scanned yet'}"]
    stored = (manifest or {}).get("pairs") or {}
    if manifest is not None:
        parts = []
        for split, entry in sorted(stored.items()):
            text = f"{split}: {entry.get('pairs')} stored ("
            if entry.get("origin") == "dataset":
                left = entry.get("left_out") or {}
                text += "the dataset's list"
                if left:
                    reasons = ", ".join(f"{k} {v}" for k, v in sorted(left.items()))
                    text += f"; left out {sum(left.values())}: {reasons}"
            else:
                text += f"the rule's; {entry.get('frames_without_pair', 0)} frames without a pair"
            parts.append(text + ")")
        lines.append(f"pairs (shards): {'; '.join(parts) or 'none stored (schema < 3)'}")
    return lines
