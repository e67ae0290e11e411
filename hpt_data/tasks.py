"""What a worker runs: one stage on one video (:func:`execute_stage_task`), or the source's
step that makes one video's files exist (:func:`execute_materialize_task`), each shipped to
an executor as a picklable task.

A task commits its output atomically (a temporary folder renamed into place, the old output
moved aside first) and writes the video's status record whatever happens; it never raises
for a problem with the video: the :class:`TaskOutcome` carries it. Apart from the
orchestrator, which decides what to run and in which order, because this is what runs in
another process, with no view of the other videos.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hpt_data.errors import HptError
from hpt_data.output_state import assess_output
from hpt_data.sources.base import VideoRecord, VideoSource
from hpt_data.stages import Stage, StageContext
from hpt_data.workdir import VideoDir, content_digest, files_intact, list_files, write_json_atomic

State = Literal["ok", "skipped", "failed", "blocked"]
#: The step name of the source's materialize step in status records and summaries.
SOURCE_STEP = "source"


def utc_now() -> str:
    """The time stamp of status records and manifests (UTC, to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StageTask:
    """One stage on one video; picklable, so any executor can ship it to a worker."""

    stage: Stage
    video: VideoRecord
    video_dir: Path
    upstream_fingerprints: dict[str, str]
    force: bool = False


@dataclass(frozen=True)
class MaterializeTask:
    source: VideoSource
    video: VideoRecord
    video_dir: Path


@dataclass(frozen=True)
class VideoChainTask:
    """Several stages on one video, in order, in one worker (``build --fuse-stages``): one
    task per video instead of one per stage and video; the stages' files stay on the
    worker's disk cache between them and its models stay loaded."""

    tasks: tuple[StageTask, ...]

    @property
    def video(self) -> VideoRecord:
        return self.tasks[0].video

    @property
    def video_dir(self) -> Path:
        return self.tasks[0].video_dir


def execute_video_chain(task: VideoChainTask) -> list[TaskOutcome]:
    """Each stage of ``task`` through :func:`execute_stage_task` (which skips one that is
    up to date), stopping at the first that neither ran nor was skipped; the stages after
    it are reported ``blocked`` without running. One outcome per stage, in order."""
    outcomes: list[TaskOutcome] = []
    for k, stage_task in enumerate(task.tasks):
        outcome = execute_stage_task(stage_task)
        outcomes.append(outcome)
        if outcome.state not in ("ok", "skipped"):
            why = f"{stage_task.stage.name} {outcome.state} on this video"
            vid = stage_task.video.video_id
            outcomes += [TaskOutcome(vid, "blocked", why) for _ in task.tasks[k + 1 :]]
            break
    return outcomes


@dataclass
class TaskOutcome:
    video_id: str
    state: State
    error: str | None = None
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)


def _check_inputs(task: StageTask, vdir: VideoDir) -> tuple[dict[str, Path], dict[str, str]]:
    """The required upstream outputs, each verified; raises HptError if one is unusable."""
    inputs, digests = {}, {}
    for req in task.stage.requires:
        manifest = vdir.manifest(req)
        folder = vdir.output(req)
        if manifest is None:
            raise HptError(f"needs the output of '{req}', which is missing: run {req} first")
        if manifest.get("fingerprint") != task.upstream_fingerprints.get(req):
            raise HptError(f"the output of '{req}' is stale: run {req} again first")
        if not files_intact(folder, manifest.get("files", {})):
            raise HptError(f"the output of '{req}' has missing files: run {req} again first")
        inputs[req] = folder
        digests[req] = manifest["digest"]
    return inputs, digests


def execute_stage_task(task: StageTask) -> TaskOutcome:
    """Run one stage on one video in the current process, committing atomically.

    Never raises for a problem with the video: the outcome carries it, and the video's
    status record is written either way.
    """
    stage, video = task.stage, task.video
    vdir = VideoDir(task.video_dir)
    start = time.perf_counter()
    vdir.clear_temp_outputs(stage.name)
    state, _ = assess_output(vdir, stage, task.upstream_fingerprints)
    if state == "done" and not task.force:
        return TaskOutcome(video.video_id, "skipped")
    try:
        inputs, input_digests = _check_inputs(task, vdir)
    except HptError as exc:
        outcome = TaskOutcome(video.video_id, "blocked", str(exc))
        _record(vdir, stage, outcome)
        return outcome

    output = vdir.output(stage.name)
    previous: Path | None = None
    if state == "incomplete" and not task.force:
        previous = vdir.path / f".{stage.name}.prev-{uuid.uuid4().hex[:12]}"
        os.rename(output, previous)
    tmp = vdir.new_temp_output(stage.name)
    ctx = StageContext(video=video, inputs=inputs, out_dir=tmp, previous=previous)
    trace = None
    try:
        result = stage.run(ctx)
    except HptError as exc:
        error: str | None = str(exc)
    except Exception as exc:  # a bug in a stage must not stop the other videos
        error = f"{type(exc).__name__}: {exc}"
        trace = traceback.format_exc()
    else:
        error = None
    seconds = time.perf_counter() - start
    if error is not None:
        shutil.rmtree(tmp, ignore_errors=True)
        if previous is not None and not output.exists():
            os.rename(previous, output)
        outcome = TaskOutcome(video.video_id, "failed", error, seconds)
        _record(vdir, stage, outcome, trace)
        return outcome

    files = list_files(tmp)
    manifest = {
        "stage": stage.name,
        **stage.provenance(),  # fingerprint, version, settings (the trust rule reads the first)
        "inputs": input_digests,
        "files": files,
        "digest": content_digest(tmp, files),
        "created_at": utc_now(),
        "seconds": round(seconds, 3),
        "metrics": result.metrics,
    }
    write_json_atomic(tmp / "_stage.json", manifest)
    commit_output(tmp, output)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
    outcome = TaskOutcome(video.video_id, "ok", None, seconds, dict(result.metrics))
    _record(vdir, stage, outcome)
    return outcome


def commit_output(tmp: Path, output: Path) -> None:
    """Put the finished folder in place: the old output (if any) moves aside first, so at
    no moment does ``output`` hold a mix of old and new files."""
    if output.exists():
        old = output.parent / f".{output.name}.prev-{uuid.uuid4().hex[:12]}"
        os.rename(output, old)
        os.rename(tmp, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, output)


def _record(vdir: VideoDir, stage: Stage, outcome: TaskOutcome, trace: str | None = None) -> None:
    status = {
        "stage": stage.name,
        "state": outcome.state,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 3),
        "metrics": outcome.metrics,
        "finished_at": utc_now(),
        "pid": os.getpid(),
    }
    if trace:
        status["traceback"] = trace
    vdir.write_status(stage.name, status)


def execute_materialize_task(task: MaterializeTask) -> TaskOutcome:
    """Make one video's files exist (the synthetic source renders them)."""
    vdir = VideoDir(task.video_dir)
    if task.source.is_materialized(task.video):
        return TaskOutcome(task.video.video_id, "skipped")
    start = time.perf_counter()
    try:
        task.source.materialize(task.video)
        error = None
    except HptError as exc:
        error = str(exc)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    outcome = TaskOutcome(
        task.video.video_id, "failed" if error else "ok", error, time.perf_counter() - start
    )
    vdir.write_status(
        SOURCE_STEP,
        {
            "stage": SOURCE_STEP,
            "state": outcome.state,
            "error": error,
            "seconds": round(outcome.seconds, 3),
            "finished_at": utc_now(),
        },
    )
    return outcome
