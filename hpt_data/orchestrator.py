"""Runs stages over a dataset's videos: opening and scanning the dataset, skipping, the
order of the steps, parallelism, the shards and the build's report.

The unit of work is one (stage, video) pair, shipped to an executor as a picklable
``StageTask`` and run by ``execute_stage_task`` in a worker (:mod:`hpt_data.tasks`). The
trust rule for outputs is described in ``hpt_data.workdir`` and applied by
:mod:`hpt_data.output_state`. Stages run one after the other over all videos (so each
worker loads a stage's models once and a progress bar counts videos per stage); a video
that failed upstream is ``blocked`` downstream, the others go on.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hpt_data.config import DatasetConfig
from hpt_data.errors import HptError
from hpt_data.executors import Executor, WorkerLost
from hpt_data.gather import ShardsSummary
from hpt_data.names import ADVICE as NAME_ADVICE
from hpt_data.names import path_name_problem
from hpt_data.output_state import assess_output
from hpt_data.person_clips import CLIPS_STEP, after_split, expand_videos, person_all
from hpt_data.preflight import preflight
from hpt_data.provenance import dataset_provenance
from hpt_data.shard_tasks import write_dataset_shards
from hpt_data.sources.base import FramePair, SourceProblem, VideoRecord, VideoSource
from hpt_data.sources.split import assign_splits
from hpt_data.stages import STAGES, Stage
from hpt_data.tasks import (
    SOURCE_STEP,
    MaterializeTask,
    StageTask,
    State,
    TaskOutcome,
    VideoChainTask,
    execute_materialize_task,
    execute_stage_task,
    execute_video_chain,
    utc_now,
)
from hpt_data.workdir import (
    DatasetDir,
    VideoDir,
    read_json,
    write_json_atomic,
)


@dataclass
class Dataset:
    """A dataset opened for work: its config, its source, its work folder and its stages
    (in pipeline order, each with this dataset's settings)."""

    config: DatasetConfig
    dirs: DatasetDir
    source: VideoSource
    stages: dict[str, Stage]

    @classmethod
    def open(
        cls,
        config: DatasetConfig,
        work_root: Path,
        stage_classes: Sequence[type[Stage]] = STAGES,
    ) -> Dataset:
        stages = {c.name: c(config.stage_settings(c.name, c.Settings)) for c in stage_classes}
        return cls(config, DatasetDir(Path(work_root) / config.name), config.make_source(), stages)

    def stage(self, name: str) -> Stage:
        if name not in self.stages:
            raise HptError(f"unknown stage '{name}' (stages: {', '.join(self.stages)})")
        return self.stages[name]

    def upstream_fingerprints(self, stage: Stage) -> dict[str, str]:
        return {req: self.stage(req).fingerprint() for req in stage.requires}


@dataclass
class ScanResult:
    videos: list[VideoRecord]
    problems: list[SourceProblem]
    pairs: list[FramePair] = field(default_factory=list)  # between the videos kept


def scan_videos(
    ds: Dataset,
    limit: int | None = None,
    check: Callable[[list[VideoRecord]], None] | None = None,
) -> ScanResult:
    """List the dataset's videos, assign splits, record them in the work folder.

    ``limit`` keeps the first N videos by id (after splitting, so splits do not depend on
    the limit). ``check`` (a ``preflight``) sees the videos before anything is written, so
    a run it stops leaves no trace.
    """
    scan = ds.source.scan()
    scan.videos, bad = _split_unsafe_ids(scan.videos, ds.config.source)
    scan.problems = [*scan.problems, *bad]
    videos = sorted(assign_splits(scan.videos, ds.config.split), key=lambda v: v.video_id)
    ids = [v.video_id for v in videos]
    dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dupes:
        raise HptError(f"source '{ds.config.source}' gave duplicate video ids: {dupes[:5]}")
    if limit is not None:
        if limit < 1:
            raise HptError(f"--limit must be at least 1, got {limit}")
        videos = videos[:limit]
    if check is not None:
        check(videos)
    kept = {v.video_id for v in videos}
    pairs = [p for p in scan.pairs if p.source_video in kept and p.target_video in kept]
    write_json_atomic(
        ds.dirs.videos_json,
        {
            "dataset": ds.config.name,
            "source": ds.config.source,
            "scanned_at": utc_now(),
            "videos": [v.to_json() for v in videos],
            "problems": [dataclasses.asdict(p) for p in scan.problems],
            "pairs": [p.to_json() for p in pairs],
        },
    )
    for v in videos:
        vdir = ds.dirs.video(v.video_id)
        if read_json(vdir.record_json) != v.to_json():
            write_json_atomic(vdir.record_json, v.to_json())
    return ScanResult(videos, scan.problems, pairs)


def _split_unsafe_ids(
    videos: list[VideoRecord], source: str
) -> tuple[list[VideoRecord], list[SourceProblem]]:
    """Videos whose id is a safe folder name, and a problem for each other one.

    A video id becomes ``videos/<id>/``; an id like ``../x`` from a plugin would write
    outside the work folder. One bad id is reported as a skipped video (with the reason),
    so it does not lose the rest of the scan.
    """
    good, bad = [], []
    for v in videos:
        problem = path_name_problem(v.video_id)
        if problem is None:
            good.append(v)
        else:
            reason = f"{source} source: video id {v.video_id!r} {problem}; {NAME_ADVICE}"
            bad.append(SourceProblem(v.path, reason))
    return good, bad


# --------------------------------------------------------------------------- runs


@dataclass
class StepSummary:
    """What one stage (or the source step) did over the videos."""

    step: str
    outcomes: list[TaskOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, state: State) -> int:
        return sum(o.state == state for o in self.outcomes)

    @property
    def failures(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.state in ("failed", "blocked")]

    def line(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("ok", "skipped", "failed", "blocked")]
        return f"{self.step:<14} {', '.join(parts)}  ({self.seconds:.1f} s)"


def _run_tasks(
    executor: Executor, fn: Any, tasks: Sequence[Any], desc: str, progress: bool
) -> list[TaskOutcome]:
    outcomes = []
    bar = tqdm(total=len(tasks), desc=desc, unit="video", disable=not progress, leave=True)
    try:
        for task, result in executor.imap_unordered(fn, tasks, step=desc):
            if isinstance(result, WorkerLost):
                result = TaskOutcome(task.video.video_id, "failed", result.message)
                VideoDir(task.video_dir).write_status(
                    desc,
                    {
                        "stage": desc,
                        "state": "failed",
                        "error": result.error,
                        "finished_at": utc_now(),
                    },
                )
            outcomes.append(result)
            bar.update(1)
    finally:
        bar.close()
    return sorted(outcomes, key=lambda o: o.video_id)


def materialize_videos(
    ds: Dataset, videos: Sequence[VideoRecord], executor: Executor, progress: bool = True
) -> StepSummary:
    start = time.perf_counter()
    tasks = [MaterializeTask(ds.source, v, ds.dirs.video(v.video_id).path) for v in videos]
    outcomes = _run_tasks(executor, execute_materialize_task, tasks, SOURCE_STEP, progress)
    return StepSummary(SOURCE_STEP, outcomes, time.perf_counter() - start)


def run_stage(
    ds: Dataset,
    stage: Stage,
    videos: Iterable[VideoRecord],
    executor: Executor,
    *,
    force: bool = False,
    progress: bool = True,
) -> StepSummary:
    """Run ``stage`` on every video whose output is not up to date (all with ``force``)."""
    start = time.perf_counter()
    upstream = ds.upstream_fingerprints(stage)
    outcomes, tasks = [], []
    for v in videos:
        vdir = ds.dirs.video(v.video_id)
        state, _ = assess_output(vdir, stage, upstream)
        if state == "done" and not force:
            outcomes.append(TaskOutcome(v.video_id, "skipped"))
        else:
            tasks.append(StageTask(stage, v, vdir.path, upstream, force))
    outcomes += _run_tasks(executor, execute_stage_task, tasks, stage.name, progress)
    outcomes.sort(key=lambda o: o.video_id)
    return StepSummary(stage.name, outcomes, time.perf_counter() - start)


#: The step name of fused tasks (``run_stages_fused``) for executors and progress.
FUSED_STEP = "stages"


def run_stages_fused(
    ds: Dataset,
    stages: Sequence[Stage],
    videos: Sequence[VideoRecord],
    executor: Executor,
    *,
    force: bool = False,
    progress: bool = True,
) -> list[StepSummary]:
    """Every stage of ``stages`` on each video as one task (``VideoChainTask``), not one
    task per stage and video: the same outputs, one scheduling round. Per stage a
    StepSummary of its outcomes; their seconds are the fused run's wall time split by the
    stages' own task seconds."""
    start = time.perf_counter()
    tasks = []
    for v in videos:
        vdir = ds.dirs.video(v.video_id).path
        chain = tuple(StageTask(st, v, vdir, ds.upstream_fingerprints(st), force) for st in stages)
        tasks.append(VideoChainTask(chain))
    per_stage: list[list[TaskOutcome]] = [[] for _ in stages]
    bar = tqdm(total=len(tasks), desc=FUSED_STEP, unit="video", disable=not progress)
    try:
        for task, result in executor.imap_unordered(execute_video_chain, tasks, step=FUSED_STEP):
            if isinstance(result, WorkerLost):  # which stage it died in is in status/
                vid = task.video.video_id
                result = [TaskOutcome(vid, "failed", result.message) for _ in stages]
            for k, outcome in enumerate(result):
                per_stage[k].append(outcome)
            bar.update(1)
    finally:
        bar.close()
    wall = time.perf_counter() - start
    busy = [sum(o.seconds for o in outs) for outs in per_stage]
    total = sum(busy) or 1.0
    return [
        StepSummary(st.name, sorted(outs, key=lambda o: o.video_id), wall * b / total)
        for st, outs, b in zip(stages, per_stage, busy, strict=True)
    ]


def write_shards(
    ds: Dataset,
    videos: Sequence[VideoRecord],
    progress: bool = True,
    executor: Executor | None = None,
    pairs: Sequence[FramePair] = (),
) -> ShardsSummary:
    """Pack the videos' stage outputs into a new generation of shards (``shards/``), with
    the dataset's provenance (``hpt_data.provenance``) in the manifest, and its ``pairs``
    (``ScanResult.pairs``; rule pairs for a test split without them) beside the shards; one
    task per shard range on ``executor`` (``hpt_data.shard_tasks``; None: in this process)."""
    with_dirs = [(v, ds.dirs.video(v.video_id)) for v in videos]
    start = time.perf_counter()
    summary = write_dataset_shards(
        ds.config.name,
        with_dirs,
        ds.dirs.shards,
        ds.config.shards.max_mb << 20,
        progress,
        dataset_provenance(ds.config, ds.stages),
        executor,
        pairs=list(pairs),
    )
    summary.seconds = time.perf_counter() - start
    return summary


@dataclass
class BuildReport:
    steps: list[StepSummary]
    problems: list[SourceProblem]
    shards: ShardsSummary | None = None

    @property
    def failed(self) -> bool:
        return any(s.failures for s in self.steps)

    def record(self, wall_s: float) -> dict[str, Any]:
        """What ``build.json`` holds: per step its wall time and how many videos ended in
        each state, the frames written per split, and the whole build's wall time."""
        steps = {s.step: round(s.seconds, 2) for s in self.steps}
        counts = {
            s.step: {st: s.count(st) for st in ("ok", "skipped", "failed", "blocked")}
            for s in self.steps
        }
        frames: dict[str, int] = {}
        if self.shards is not None:
            steps["write-shards"] = round(self.shards.seconds, 2)
            frames = dict(self.shards.frames)
        return {
            "total_wall_s": round(wall_s, 2),
            "steps_wall_s": steps,
            "videos": counts,
            "frames": frames,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def build(
    ds: Dataset,
    executor: Executor,
    *,
    stages: Sequence[str] | None = None,
    limit: int | None = None,
    force: bool = False,
    progress: bool = True,
    fuse_stages: bool = False,
) -> BuildReport:
    """Check what the run needs (``hpt_data.preflight``), scan, materialize, run each
    stage in order over the videos that got through, and (for a full build) write the
    shards.

    A video that fails a stage is left out of the later stages. ``fuse_stages``: each
    video's stages run as one task (:func:`run_stages_fused`) instead of stage by stage.
    """
    names = list(stages) if stages is not None else list(ds.stages)
    for name in names:
        ds.stage(name)  # an unknown name stops the run before anything is written

    def check(videos: list[VideoRecord]) -> None:
        preflight(ds, names, videos, shards=stages is None, force=force)

    scan = scan_videos(ds, limit, check)
    steps = [materialize_videos(ds, scan.videos, executor, progress)]
    alive = {o.video_id for o in steps[0].outcomes if o.state in ("ok", "skipped")}
    videos = [v for v in scan.videos if v.video_id in alive]
    # person: all: the stages after remove-bg (and the shards) run on the person clips
    before = [n for n in names if not (person_all(ds) and after_split(ds, n))]
    groups = [g for g in (before, [n for n in names if n not in before]) if g]
    expanded = False
    for group in groups:
        if group is not before:
            videos, expanded = _expand(ds, videos, steps), True
        for chosen in [group] if fuse_stages else [[n] for n in group]:
            run = [ds.stage(n) for n in chosen]
            if fuse_stages:
                steps += run_stages_fused(ds, run, videos, executor, force=force, progress=progress)
            else:
                steps.append(
                    run_stage(ds, run[0], videos, executor, force=force, progress=progress)
                )
            ok = {o.video_id for o in steps[-1].outcomes if o.state in ("ok", "skipped")}
            videos = [v for v in videos if v.video_id in ok]
    shards = None
    if stages is None:
        if person_all(ds) and not expanded:
            videos = _expand(ds, videos, steps)
        shards = write_shards(ds, videos, progress, executor, scan.pairs)
    return BuildReport(steps, scan.problems, shards)


def _expand(ds: Dataset, videos: list[VideoRecord], steps: list[StepSummary]) -> list[VideoRecord]:
    """The videos with their person clips in place of each video remove-bg split
    (``hpt_data.person_clips``), the step's summary added to ``steps``."""
    start = time.perf_counter()
    clips, outcomes = expand_videos(ds, videos)
    steps.append(StepSummary(CLIPS_STEP, outcomes, time.perf_counter() - start))
    return clips
