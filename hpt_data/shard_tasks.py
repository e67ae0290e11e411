"""write-shards in parallel: the plan of shard ranges, and the task that writes one range.

A split's candidate frames (remove-bg's frames of its videos, in video order) are cut into
ranges of ``frames_per_range`` (:func:`plan_ranges`): the cut depends on the frames and
``max_bytes`` only, never on the number of workers. Each range is one picklable
:class:`ShardRangeTask`, run by any executor (a local process, a Ray task): it gathers its
frames (``hpt_data.gather``) and writes them into the new generation folder as
``<split>-r<range>-<k>.h5`` (:class:`hpt_data.shards.writer.RangeWriter`). The driver
renames the shards to ``<split>-<nnnnn>.h5`` in (range, k) order and writes the manifest
last (:func:`write_dataset_shards`). So a serial write and a write on N
processes make the same files, byte for byte; a writer killed at any moment publishes
nothing, and the manifest in force (and its generation) stays untouched.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpt_data.errors import HptError
from hpt_data.executors import Executor, WorkerLost
from hpt_data.gather import GatherCounts, ShardsSummary, gather_video, other_makers, store_pairs
from hpt_data.shard_pairs import FrameLedger
from hpt_data.shards.pairs import PairKey
from hpt_data.shards.writer import RangeWriter, ShardInfo, new_generation, publish
from hpt_data.sources.base import FramePair, VideoRecord
from hpt_data.stages.outputs import Crops
from hpt_data.workdir import VideoDir

#: Shard bytes per frame assumed when the ranges are cut (a 1024 frame with its maps and
#: voxels is about 0.51 MB in a shard since the labels, masks and volume are BloscLZ,
#: docs/shards.md; a little above, so that a range fills one shard rather than spilling a
#: few frames into a second).
BYTES_PER_FRAME_ESTIMATE = 520_000


@dataclass(frozen=True)
class FrameSlice:
    """Candidate frames ``[start, stop)`` of one video (``stop`` None: to its end)."""

    video: VideoRecord
    video_dir: Path
    start: int = 0
    stop: int | None = None


@dataclass(frozen=True)
class ShardRangeTask:
    """One range of one split: its frame slices, written into ``gen_dir``."""

    dataset: str
    split: str
    index: int  # the range's number within its split
    slices: tuple[FrameSlice, ...]
    gen_dir: Path
    max_bytes: int

    @property
    def stem(self) -> str:
        return f"{self.split}-r{self.index:05d}"


@dataclass(frozen=True)
class RangeSpan:
    """When a range task ran and where: the writers' timeline (how long the last range kept
    one worker busy while the others had nothing left; ``benchmarks/chain.py``). Wall
    clock (``time.time``), so spans from processes of one machine line up."""

    worker: str  # host:pid
    start: float
    end: float


@dataclass
class RangeOutcome:
    """What one range task wrote: its shards in order, frames, drops and failed videos, and
    which frame became what (``written``, ``dropped_frames``, ``gathered``: the pairs'
    ledger, ``hpt_data.shard_pairs.FrameLedger``)."""

    split: str
    index: int
    shards: list[ShardInfo] = field(default_factory=list)
    frames: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (video id, reason)
    videos_written: list[str] = field(default_factory=list)
    written: list[PairKey] = field(default_factory=list)
    dropped_frames: dict[PairKey, str] = field(default_factory=dict)
    gathered: list[str] = field(default_factory=list)
    span: RangeSpan | None = None


def candidate_count(vdir: VideoDir) -> int | None:
    """How many frames remove-bg kept for the video; None when its output is unreadable
    (the range task then reports the video's error)."""
    try:
        return len(Crops.read(vdir.output("remove-bg")).frames)
    except (HptError, OSError, ValueError, KeyError, TypeError):
        return None


def plan_ranges(
    dataset: str,
    videos: list[tuple[VideoRecord, VideoDir]],
    gen_dir: Path,
    max_bytes: int,
    frames_per_range: int | None = None,
) -> list[ShardRangeTask]:
    """Cut each split's candidate frames, in the order of ``videos``, into ranges of
    ``frames_per_range`` (default: about one shard's worth, ``max_bytes`` over
    :data:`BYTES_PER_FRAME_ESTIMATE`). Videos outside train/test are left out."""
    per_range = frames_per_range or max(1, max_bytes // BYTES_PER_FRAME_ESTIMATE)
    slices: dict[str, list[list[FrameSlice]]] = {}
    filled: dict[str, int] = {}
    for video, vdir in videos:
        if video.split not in ("train", "test"):
            continue
        ranges = slices.setdefault(video.split, [[]])
        count = candidate_count(vdir)
        if count is None:  # unreadable: one slice, whose task reports the error
            ranges[-1].append(FrameSlice(video, vdir.path))
            continue
        start = 0
        while start < count:
            room = per_range - filled.get(video.split, 0)
            stop = min(count, start + room)
            ranges[-1].append(FrameSlice(video, vdir.path, start, stop))
            filled[video.split] = filled.get(video.split, 0) + stop - start
            start = stop
            if filled[video.split] >= per_range:
                ranges.append([])
                filled[video.split] = 0
    tasks = []
    for split, ranges in slices.items():
        for i, r in enumerate(x for x in ranges if x):
            tasks.append(ShardRangeTask(dataset, split, i, tuple(r), Path(gen_dir), max_bytes))
    return tasks


def execute_range_task(task: ShardRangeTask) -> RangeOutcome:
    """Write one range's shards (closed and renamed, unpublished). A video whose outputs
    cannot be read is reported in the outcome and left out; the others are written."""
    start = time.time()
    outcome = RangeOutcome(task.split, task.index)
    writer = RangeWriter(task.gen_dir, task.dataset, task.split, task.stem, task.max_bytes)
    try:
        for sl in task.slices:
            counts = GatherCounts()
            try:  # a video whose indexes cannot be read fails before its first record
                for record in gather_video(
                    VideoDir(sl.video_dir), sl.video, counts, sl.start, sl.stop
                ):
                    writer.write(record)
                    outcome.written.append((sl.video.video_id, record["frame_id"]))
            except HptError as exc:
                outcome.failed.append((sl.video.video_id, str(exc)))
                continue
            outcome.gathered.append(sl.video.video_id)
            for fid, stage in counts.dropped_frames.items():
                outcome.dropped_frames[(sl.video.video_id, fid)] = stage
            outcome.frames += counts.records
            outcome.dropped.update(counts.dropped)
            if counts.records:
                outcome.videos_written.append(sl.video.video_id)
        outcome.shards = writer.close()
    except BaseException:
        writer.abort()
        raise
    outcome.span = RangeSpan(f"{socket.gethostname()}:{os.getpid()}", start, time.time())
    return outcome


def write_dataset_shards(
    dataset: str,
    videos: list[tuple[VideoRecord, VideoDir]],
    out_dir: Path,
    max_bytes: int,
    progress: bool = True,
    provenance: dict[str, Any] | None = None,
    executor: Executor | None = None,
    frames_per_range: int | None = None,
    pairs: list[FramePair] | None = None,
) -> ShardsSummary:
    """Write every usable frame of ``videos`` into shards under ``out_dir`` (one new
    generation; see ``hpt_data.shards.writer``), one range task per shard range on
    ``executor`` (None: in this process, one after the other; same bytes either way). A
    video whose outputs cannot be read is reported and left out; the others are written.
    ``provenance`` (``hpt_data.provenance.dataset_provenance``) goes into the manifest,
    with the outputs made under another stage fingerprint than it names
    (``hpt_data.gather.other_makers``). ``frames_per_range``: see :func:`plan_ranges`.
    ``pairs``: the dataset's pairs (its source's ``scan``), stored with the shards where
    both frames were written to the pair's split; a split without them gets rule pairs
    (``hpt_data.gather.store_pairs``).
    A range whose writer died on every retry stops the write: nothing is published and
    the shards in force stay as they were."""
    out_dir = Path(out_dir)
    gen = new_generation()
    gen_dir = out_dir / gen
    gen_dir.mkdir(parents=True, exist_ok=False)
    try:
        tasks = plan_ranges(dataset, videos, gen_dir, max_bytes, frames_per_range)
        outcomes = _run_ranges(tasks, executor, progress)
        summary, shards, written = _collect(out_dir, gen_dir, outcomes)
        pair_entries = store_pairs(gen_dir, list(pairs or []), _ledger(videos, outcomes), summary)
        by_id = {v.video_id: vdir for v, vdir in videos}
        extra: dict[str, Any] = {
            "dropped": dict(summary.dropped),
            "failed_videos": dict(summary.failed),
        }
        if provenance is not None:
            extra["provenance"] = other_makers(provenance, [by_id[v] for v in written])
        publish(out_dir, dataset, gen, shards, extra, pair_entries)
    except BaseException:
        shutil.rmtree(gen_dir, ignore_errors=True)
        raise
    return summary


def _run_ranges(
    tasks: list[ShardRangeTask], executor: Executor | None, progress: bool
) -> list[RangeOutcome]:
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="write-shards", unit="range", disable=not progress)
    outcomes = []
    try:
        if executor is None:
            results: Any = ((t, execute_range_task(t)) for t in tasks)
        else:
            results = executor.imap_unordered(execute_range_task, tasks, step="write-shards")
        for task, result in results:
            if isinstance(result, WorkerLost):
                raise HptError(
                    f"write-shards: the writer of {task.stem} died ({result.message}); "
                    "nothing was published, the shards in force are unchanged"
                )
            outcomes.append(result)
            bar.update(1)
    finally:
        bar.close()
    return sorted(outcomes, key=lambda o: (o.split, o.index))


def _collect(
    out_dir: Path, gen_dir: Path, outcomes: list[RangeOutcome]
) -> tuple[ShardsSummary, list[ShardInfo], list[str]]:
    """Rename the ranges' shards to ``<split>-<nnnnn>.h5`` in (range, k) order, drop what
    killed attempts left, and sum the outcomes."""
    summary = ShardsSummary(out_dir)
    shards: list[ShardInfo] = []
    written: list[str] = []
    count: Counter[str] = Counter()
    for o in outcomes:
        summary.frames[o.split] += o.frames
        if o.span is not None:
            summary.range_spans.append(o.span)
        summary.dropped.update(o.dropped)
        summary.failed += [f for f in o.failed if f not in summary.failed]
        written += [v for v in o.videos_written if v not in written]
        for info in o.shards:
            name = f"{o.split}-{count[o.split]:05d}.h5"
            count[o.split] += 1
            os.replace(out_dir / info.file, gen_dir / name)
            shards.append(dataclasses.replace(info, file=f"{gen_dir.name}/{name}"))
    kept = {Path(s.file).name for s in shards}
    for stray in gen_dir.iterdir():
        if stray.name not in kept:
            stray.unlink()
    return summary, shards, written


def _ledger(
    videos: list[tuple[VideoRecord, VideoDir]], outcomes: list[RangeOutcome]
) -> FrameLedger:
    """What became of every frame, from the videos given and the ranges' outcomes."""
    ledger = FrameLedger()
    for video, _ in videos:
        ledger.splits[video.video_id] = video.split
        ledger.persons[video.video_id] = video.person_id
        ledger.outfits[video.video_id] = str(video.meta.get("outfit", video.video_id))
    for o in outcomes:
        ledger.written.update((key, o.split) for key in o.written)
        ledger.dropped.update(o.dropped_frames)
        ledger.gathered.update(o.gathered)
        ledger.failed.update(video_id for video_id, _ in o.failed)
    return ledger
