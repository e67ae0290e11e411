"""``hpt-data stats``: what a shard set holds, in numbers and plots.

Counts per split and person come from the shards; the stored pairs per split (and the
dataset's pairs left out, by reason) from the manifest; the reasons frames were left out come
from the work folder (the stages' own indexes, via ``hpt_data.gather``'s counts recorded
in the manifest). Plots: pose diversity (the body poses projected on their two main
axes), part visibility (how often each part is seen, and how much of it), depth range.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.shards.reading import ShardFile, load_manifest
from hpt_data.shards.schema import NUM_LABELS

PART_NAMES = ("head", "torso", "left arm", "right arm", "left leg", "right leg")


@dataclass
class ShardStats:
    frames: dict[str, int] = field(default_factory=dict)  # per split
    persons: dict[str, Counter[str]] = field(default_factory=dict)  # split -> person -> n
    dropped: dict[str, int] = field(default_factory=dict)  # stage -> frames left out
    pairs: dict[str, dict[str, Any]] = field(default_factory=dict)  # the manifest's "pairs"
    part_seen: np.ndarray | None = None  # (6,) share of frames where each part is visible
    part_pixels: np.ndarray | None = None  # (6,) mean visible pixels of each part at 512
    depth_min: list[float] = field(default_factory=list)
    depth_max: list[float] = field(default_factory=list)
    poses: list[np.ndarray] = field(default_factory=list)
    pose_persons: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        for split, n in sorted(self.frames.items()):
            people = self.persons.get(split, Counter())
            per = ", ".join(f"{p} {c}" for p, c in sorted(people.items()))
            out.append(f"{split}: {n} frames, {len(people)} persons ({per})")
        if self.dropped:
            out.append(
                "frames left out, by the stage that dropped them: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
            )
        for split, entry in sorted(self.pairs.items()):
            origin = "the dataset's list" if entry.get("origin") == "dataset" else "by the rule"
            text = f"{split} pairs stored: {entry.get('pairs')} ({origin})"
            left = entry.get("left_out") or {}
            if left:
                reasons = ", ".join(f"{k} {v}" for k, v in sorted(left.items()))
                text += f"; left out {sum(left.values())}: {reasons}"
            out.append(text)
        if self.part_seen is not None:
            seen = ", ".join(
                f"{name} {100 * s:.0f}%" for name, s in zip(PART_NAMES, self.part_seen, strict=True)
            )
            out.append(f"parts visible in: {seen} of frames")
        if self.depth_min:
            out.append(
                f"depth range: nearest {min(self.depth_min):.2f} m, "
                f"farthest {max(self.depth_max):.2f} m"
            )
        return out


def collect_stats(shard_dir: Path) -> ShardStats:
    """Read every frame's small fields and coarse maps (not the images or volumes)."""
    manifest = load_manifest(shard_dir)
    stats = ShardStats(
        dropped=dict(manifest.get("dropped", {})), pairs=dict(manifest.get("pairs") or {})
    )
    seen = np.zeros(NUM_LABELS - 1)
    pixels = np.zeros(NUM_LABELS - 1)
    total = 0
    persons: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in manifest["shards"]:
        shard = ShardFile(shard_dir, entry)
        try:
            for i in range(shard.frames):
                frame = shard.read(i, ["person_id", "parsing_512", "depth_512", "body_pose"])
                persons[entry["split"]][frame["person_id"]] += 1
                counts = np.bincount(frame["parsing_512"].ravel(), minlength=NUM_LABELS)[1:]
                seen += counts > 0
                pixels += counts
                depth = frame["depth_512"][np.isfinite(frame["depth_512"])].astype(np.float64)
                if depth.size:
                    stats.depth_min.append(float(depth.min()))
                    stats.depth_max.append(float(depth.max()))
                stats.poses.append(frame["body_pose"].astype(np.float64))
                stats.pose_persons.append(frame["person_id"])
                total += 1
        finally:
            shard.close()
    stats.frames = {split: sum(c.values()) for split, c in persons.items()}
    stats.persons = dict(persons)
    if total:
        stats.part_seen = seen / total
        stats.part_pixels = pixels / total
    return stats


def plot_stats(stats: ShardStats, path: Path) -> Path:
    """One PNG with three panels: pose diversity, part visibility, depth range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    if len(stats.poses) >= 2:
        poses = np.stack(stats.poses)
        centred = poses - poses.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
        for person in sorted(set(stats.pose_persons)):
            sel = np.array([p == person for p in stats.pose_persons])
            ax.scatter(xy[sel, 0], xy[sel, 1], s=8, label=person)
        ax.legend(fontsize=7, markerscale=2)
    ax.set_title("pose diversity (body pose, 2 main axes)")
    ax = axes[1]
    if stats.part_seen is not None:
        ax.bar(PART_NAMES, 100 * stats.part_seen)
        ax.set_ylabel("% of frames where visible")
        ax.tick_params(axis="x", rotation=30)
    ax.set_title("part visibility")
    ax = axes[2]
    if stats.depth_min:
        ax.hist([stats.depth_min, stats.depth_max], bins=30, label=["nearest", "farthest"])
        ax.set_xlabel("depth (m)")
        ax.legend()
    ax.set_title("depth range per frame")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def stats_json(stats: ShardStats) -> dict[str, Any]:
    return {
        "frames": stats.frames,
        "persons": {k: dict(v) for k, v in stats.persons.items()},
        "dropped": stats.dropped,
        "pairs": {
            split: {k: v for k, v in entry.items() if k not in ("file", "bytes", "sha256")}
            for split, entry in stats.pairs.items()
        },
        "part_seen": None if stats.part_seen is None else stats.part_seen.round(4).tolist(),
        "depth_range_m": [min(stats.depth_min), max(stats.depth_max)] if stats.depth_min else None,
    }
