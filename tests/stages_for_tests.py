"""Throwaway stages and a list source for the orchestrator and executor tests, and the
helpers those tests share.

They live in an importable module (not in a test file) because the local executor starts
workers with ``spawn``: a worker imports the stage's module by name.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hpt_data.config import DatasetConfig
from hpt_data.errors import StageError
from hpt_data.executors import LocalExecutor
from hpt_data.orchestrator import Dataset, build
from hpt_data.sources.base import SourceScan, VideoRecord, VideoSource
from hpt_data.sources.split import SplitRule
from hpt_data.stages.base import Stage, StageContext, StageResult
from hpt_data.workdir import DatasetDir


@dataclass(frozen=True)
class ListOptions:
    count: int = 4
    bad: tuple[int, ...] = ()  # these videos get a "-bad" id, which FramesStage fails on


class ListSource(VideoSource):
    """``count`` videos, ``v0``..``vN`` (``vK-bad`` for K in ``bad``), each a small text
    file made on ``materialize``."""

    name = "list"
    Options = ListOptions
    root_must_exist = False

    def scan(self) -> SourceScan:
        ids = [f"v{i}-bad" if i in self.options.bad else f"v{i}" for i in range(self.options.count)]
        return SourceScan(
            videos=[
                VideoRecord(vid, f"p{i % 2}", self.name, str(self.root / f"{vid}.txt"))
                for i, vid in enumerate(ids)
            ]
        )

    def materialize(self, video: VideoRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        Path(video.path).write_text(f"content of {video.video_id}\n")


@dataclass(frozen=True)
class FrameSettings:
    frames: int = 3
    salt: str = ""


def frame_bytes(video_id: str, index: int, salt: str) -> bytes:
    return hashlib.sha256(f"{video_id}:{index}:{salt}".encode()).digest() * 64


class FramesStage(Stage):
    """Writes ``frames`` files per video; reuses the ones still in ``previous``. Each call
    appends one line to ``<video>/calls.log`` (and each freshly made frame to
    ``made.log``), so tests can count what was redone. A video id containing ``bad``
    fails with a StageError."""

    name = "frames"
    Settings = FrameSettings

    def run(self, ctx: StageContext) -> StageResult:
        with open(Path(ctx.video.path).with_suffix(".calls.log"), "a") as fh:
            fh.write(f"{os.getpid()}\n")
        if "bad" in ctx.video.video_id:
            raise StageError(f"{ctx.video.path}: no person in any frame")
        made = 0
        for i in range(self.settings.frames):
            name = f"frame_{i:03d}.bin"
            if ctx.previous is not None and (ctx.previous / name).exists():
                os.link(ctx.previous / name, ctx.out_dir / name)
                continue
            (ctx.out_dir / name).write_bytes(frame_bytes(ctx.video.video_id, i, self.settings.salt))
            made += 1
            with open(Path(ctx.video.path).with_suffix(".made.log"), "a") as fh:
                fh.write(f"{name}\n")
        return StageResult({"frames": self.settings.frames, "made": made})


class SummaryStage(Stage):
    """Depends on ``frames``: writes the size of what it read."""

    name = "summary"
    requires = ("frames",)

    def run(self, ctx: StageContext) -> StageResult:
        total = sum(p.stat().st_size for p in ctx.inputs["frames"].glob("frame_*.bin"))
        (ctx.out_dir / "summary.txt").write_text(f"{total}\n")
        return StageResult({"bytes": total})


@dataclass(frozen=True)
class SlowSettings:
    pause_file: str = ""  # while this file exists, the stage sleeps after its first frame


class SlowStage(Stage):
    """Writes a first file, records its pid, then sleeps while ``pause_file`` exists: the
    test kills the process at that moment."""

    name = "slow"
    Settings = SlowSettings

    def run(self, ctx: StageContext) -> StageResult:
        (ctx.out_dir / "part1.bin").write_bytes(frame_bytes(ctx.video.video_id, 1, ""))
        pause = Path(self.settings.pause_file) if self.settings.pause_file else None
        if pause is not None and ctx.video.video_id == "v1":
            (pause.parent / f"pid-{ctx.video.video_id}").write_text(str(os.getpid()))
            while pause.exists():
                time.sleep(0.05)
        (ctx.out_dir / "part2.bin").write_bytes(frame_bytes(ctx.video.video_id, 2, ""))
        return StageResult({})


def make_dataset(
    tmp: Path,
    count: int = 4,
    stage_classes: tuple[type[Stage], ...] = (FramesStage, SummaryStage),
    settings: dict | None = None,
    bad: tuple[int, ...] = (),
) -> Dataset:
    config = DatasetConfig(
        name="toy",
        source="list",
        root=tmp / "src",
        options=ListOptions(count, bad),
        split=SplitRule(),
        stages=settings or {},
    )
    stages = {c.name: c((settings or {}).get(c.name)) for c in stage_classes}
    source = ListSource(config.root, config.options, dataset="toy")
    return Dataset(config, DatasetDir(tmp / "work" / "toy"), source, stages)


def run_slow_build(tmp: str, pause_file: str, workers: str, retries: str) -> None:
    """Entry point of the SIGKILL test's child process."""
    ds = make_dataset(Path(tmp), 4, (SlowStage,), {"slow": SlowSettings(pause_file=pause_file)})
    with LocalExecutor(workers=int(workers), retries=int(retries)) as ex:
        report = build(ds, ex, progress=False)
    for step in report.steps:
        for o in step.outcomes:
            print(f"{step.step} {o.video_id} {o.state} {o.error}")
    sys.stdout.flush()


def wait_for_file(path: Path, timeout: float) -> None:
    """Block until a task under test has written ``path`` (its pid, or a sign that it
    reached a point), or fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


# datasets.yaml of the tiny synthetic dataset (two people, four frames each) that the
# end-to-end, learning and Ray tests build (``conftest.tiny_dataset`` builds it once)
TINY_DATASET = """\
version: 1
work_root: work
datasets:
  tiny:
    source: synthetic
    root: clips
    options: {persons: 2, clips_per_person: 1, seconds: 0.8, fps: 5, width: 240,
              height: 320, actions: [walk, wave]}
    split: {by: person, test_fraction: 0.5, seed: 0}
    shards: {max_mb: 64}
"""
