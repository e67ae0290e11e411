"""The whole data chain on one clip, in one process, against the raw detector.

Renders one synthetic 1024×1024 clip (one person, ``--frames`` frames at 15 fps; cached in
``--data``), decodes it once and times raw MediaPipe Pose over the decoded frames
(tracking mode, segmentation on: the detector alone, no file I/O), before the stages and
again after them (the figure is the mean: the machine's speed drifts over minutes). Then
runs every stage in this process over the same frames, in order (sample-frames keeps every
frame, stored as its default ``image_format: auto`` chooses: no frame file, since every
frame is kept):
sample-frames, remove-bg, pose2d, fit-smpl, render-maps, voxelize, write-shards. Each stage
runs once cold (its models load) and three times warm (forced); the warm runs' median is
the figure (one run of a stage moved by ±10 % on this shared machine). With
``--profile`` a third run goes under cProfile: the top functions per stage (own time, ms
per frame) go in the results file.

Reported per stage: ms per frame (wall, warm), as a multiple of the detector's ms per
frame; bytes per frame its output folder holds on disk; the process's peak RSS after it.
The chain's total is the headline: its ms per frame over the detector's.

write-shards is also timed with ``--workers`` local processes against one, over
``--copies`` copies of the clip's outputs (videos of their own, so the shard plan has
several ranges to share out: four a copy, of a quarter of the clip's frames each, so that
every worker gets as many frames as the others and the figure is the writers' speed, not
the wait for a last odd range that a dataset's thousands of ranges do not have), in five
turns whose order rotates (medians). Where the pool loses against N times one worker is
split in two from the range tasks' spans (``RangeSpan``): the tail (from the first worker
running out of ranges to the end: ranges take unequal times, and 16 ranges leave up to one
range's wait) and the range tasks' own seconds in the pool over one worker's. The pool's
workers and the one worker each get the local executor's share of the cores' threads
(``threads_per_worker``: 1 on 2 cores, 2 workers), and a third way is one worker with
OpenCV's threads free, as ``--workers 1`` runs (OpenCV spreads a process over every core).
The output of all must be byte-identical. Beside it, this machine's own ceiling for that
many processes (``cpu_ceiling.py``: a fixed CPU-bound job alone and N at once, and a job
bound by memory bandwidth the same way), before and after the turns.

Then remove-bg at its default (``mirror_pass: true``) against ``false`` and ``alternate``
(the mirror look on every frame, on none, on every other frame), in turns, each turn
timing the raw detector first: the ratio side by side (the stage table's detector is the
mean of its runs before and after all the stages, minutes away). Last, the
frames from the source (``image_format: video``, what ``auto`` chose: no frame file; the
stages that read frames decode them from the source again) against PNG frames:
sample-frames, remove-bg and write-shards timed alternately, the files of remove-bg and the
shards compared.

    python benchmarks/chain.py [--frames 60] [--workers 2] [--quick] [--profile]

Prints a table and writes ``benchmarks/results/chain.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import math
import os
import pstats
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmarks

from cpu_ceiling import measure as measure_ceiling

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "chain.json"
FPS = 15
#: warm runs of each stage in the stage table (their median is the figure)
WARM_RUNS = 3
SIDE = 1024
STAGE_ORDER = (
    "sample-frames",
    "remove-bg",
    "pose2d",
    "fit-smpl",
    "render-maps",
    "voxelize",
)


def open_clip(
    data: Path, work: Path, frames: int, image_format: str | None = None, **remove_bg: Any
) -> Any:
    """The one-clip synthetic dataset (every frame kept, as ``image_format``; None: the
    default; ``remove_bg``: remove-bg settings other than its defaults) and its stages."""
    from hpt_data.config import DatasetConfig
    from hpt_data.orchestrator import Dataset
    from hpt_data.sources.split import SplitRule
    from hpt_data.sources.synthetic import SyntheticOptions
    from hpt_data.stages.remove_bg import RemoveBgSettings
    from hpt_data.stages.sample_frames import SampleFramesSettings

    fmt = {} if image_format is None else {"image_format": image_format}
    options = SyntheticOptions(
        persons=1, clips_per_person=1, seconds=frames / FPS, fps=FPS, width=SIDE, height=SIDE
    )
    config = DatasetConfig(
        name="chain",
        source="synthetic",
        root=data,
        options=options,
        split=SplitRule(test_fraction=0.0),
        stages={
            "sample-frames": SampleFramesSettings(mode="stride", **fmt),
            "remove-bg": RemoveBgSettings(**remove_bg),
        },
    )
    return Dataset.open(config, work)


def build_clip_stages(ds: Any) -> tuple[Any, Any]:
    """The dataset's one clip rendered and every stage before write-shards run on it once
    (outputs already up to date kept): the video and its folder (``VideoDir``). For the
    benchmarks that measure what the stages wrote (``image_io.py``, ``deflate.py``)."""
    from hpt_data.executors import LocalExecutor
    from hpt_data.orchestrator import materialize_videos, scan_videos
    from hpt_data.tasks import StageTask, execute_stage_task

    video = scan_videos(ds).videos[0]
    with LocalExecutor(workers=1) as ex:
        render = materialize_videos(ds, [video], ex, progress=False)
    if render.failures:
        raise SystemExit(f"rendering failed: {render.failures[0].error}")
    vdir = ds.dirs.video(video.video_id)
    for name in STAGE_ORDER:
        stage = ds.stage(name)
        result = execute_stage_task(
            StageTask(stage, video, vdir.path, ds.upstream_fingerprints(stage))
        )
        if result.state not in ("ok", "skipped"):
            raise SystemExit(f"{name} failed: {result.error}")
    return video, vdir


def decode(path: str) -> list[Any]:
    """Every frame of the clip, decoded once, (H, W, 3) BGR uint8."""
    from hpt_data.video import VideoReader

    return [f.image for f in VideoReader(Path(path)).frames()]


def time_detector(frames: list[Any]) -> tuple[float, float]:
    """Wall and CPU ms per frame of MediaPipe Pose alone (tracking, segmentation on),
    models loaded."""
    from hpt_data.stages.mediapipe_models import pose_model, reset_model, run_pose

    model = pose_model(static=False, segmentation=True)
    run_pose(model, frames[0])  # the graph's first call initialises it
    reset_model(model)
    start, cpu = time.perf_counter(), time.process_time()
    for image in frames:
        run_pose(model, image)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return 1000 * wall / len(frames), 1000 * cpu / len(frames)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def top_functions(profile: cProfile.Profile, frames: int, n: int = 8) -> list[list[Any]]:
    """The ``n`` functions with the most own time, as [name, ms per frame, calls]."""
    stats = pstats.Stats(profile)
    rows = []
    for (file, line, func), (_, calls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).name}:{line}({func})" if line else func
        rows.append([where, round(1000 * tottime / frames, 2), calls])
    rows.sort(key=lambda r: -r[1])
    return rows[:n]


def run_stages(
    ds: Any, video: Any, frames: int, profile: bool, warm_runs: int = WARM_RUNS
) -> dict[str, Any]:
    """Every stage cold then ``warm_runs`` times warm on the clip; per stage its figures
    (the warm runs' medians, wall and CPU apart)."""
    from hpt_data.stages.posed_frames import forget_poses
    from hpt_data.tasks import StageTask, execute_stage_task

    vdir = ds.dirs.video(video.video_id)
    out: dict[str, Any] = {}
    for name in STAGE_ORDER:
        stage = ds.stage(name)
        task = StageTask(stage, video, vdir.path, ds.upstream_fingerprints(stage), force=True)
        # render-maps poses the body, voxelize finds its poses (as in one pass over a video);
        # render-maps' warm run must not find those of its cold run
        fresh = forget_poses if name == "render-maps" else lambda: None
        fresh()
        start = time.perf_counter()
        cold = execute_stage_task(task)
        cold_s = time.perf_counter() - start
        if cold.state != "ok":
            raise SystemExit(f"{name} failed: {cold.error}")
        walls, cpus = [], []
        for _ in range(warm_runs):
            fresh()
            start, cpu = time.perf_counter(), time.process_time()
            warm = execute_stage_task(task)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
            if warm.state != "ok":
                raise SystemExit(f"{name} failed: {warm.error}")
        out[name] = {
            "ms_per_frame": round(1000 * statistics.median(walls) / frames, 1),
            "cpu_ms_per_frame": round(1000 * statistics.median(cpus) / frames, 1),
            "ms_per_frame_warm_runs": [round(1000 * w / frames, 1) for w in walls],
            "ms_per_frame_cold": round(1000 * cold_s / frames, 1),
            "bytes_per_frame": round(folder_bytes(vdir.output(name)) / frames),
            "peak_rss_mb": round(peak_rss_mb()),
        }
        if profile:  # a third run, so that the profiler's cost is not in the figure
            prof = cProfile.Profile()
            fresh()
            prof.runcall(execute_stage_task, task)
            out[name]["profile_top"] = top_functions(prof, frames)
    return out


def warm_ms(ds: Any, video: Any, name: str, frames: int) -> float:
    """One forced run of stage ``name`` on the clip (its models loaded): ms per frame."""
    from hpt_data.stages._source_frames import forget_decoders
    from hpt_data.tasks import StageTask, execute_stage_task

    stage = ds.stage(name)
    vdir = ds.dirs.video(video.video_id)
    task = StageTask(stage, video, vdir.path, ds.upstream_fingerprints(stage), force=True)
    forget_decoders()
    start = time.perf_counter()
    result = execute_stage_task(task)
    if result.state != "ok":
        raise SystemExit(f"{name} failed: {result.error}")
    return 1000 * (time.perf_counter() - start) / frames


def frames_from_source(ds: Any, video: Any, work: Path, frames: int, out: Path) -> dict:
    """The frames ``ds`` keeps no file of (sample-frames ``image_format`` auto, resolved to
    video: every frame is kept) against PNG frames of the same clip: the stages that read
    frames (sample-frames, remove-bg, write-shards) timed alternately, twice each, best of
    two; remove-bg's files and the shards compared byte for byte (the other stages'
    outputs are linked from the default run: they never read a frame)."""
    from hpt_data.orchestrator import scan_videos
    from hpt_data.stages.outputs import Frames

    sampled = Frames.read(ds.dirs.video(video.video_id).output("sample-frames"))
    if not all(f.file.startswith("video#") for f in sampled.frames):
        raise SystemExit("sample-frames' default wrote frame files for a clip kept whole")
    other = open_clip(ds.config.root, work, frames, "png")
    vid = scan_videos(other).videos[0]
    src, dst = ds.dirs.video(video.video_id), other.dirs.video(vid.video_id)
    for name in ("sample-frames", "remove-bg"):
        warm_ms(other, vid, name, frames)
    for name in ("pose2d", "fit-smpl", "render-maps", "voxelize"):
        if dst.output(name).exists():
            shutil.rmtree(dst.output(name))
        shutil.copytree(src.output(name), dst.output(name), copy_function=os.link)
    figures: dict[str, dict[str, float]] = {}
    for name in ("sample-frames", "remove-bg"):
        runs = {"png": [], "video": []}
        for _ in range(2):
            runs["png"].append(warm_ms(other, vid, name, frames))
            runs["video"].append(warm_ms(ds, video, name, frames))
        figures[name] = {k: round(min(v), 1) for k, v in runs.items()}
    shards = {"png": [], "video": []}
    sha = {}
    for _ in range(2):
        for key, (d, v) in {"png": (other, vid), "video": (ds, video)}.items():
            got = write_once(d, [v], out / f"shards-{key}", 64, None)
            shards[key].append(1000 * got["seconds"] / got["frames"])
            sha[key] = got["sha256"]
    figures["write-shards"] = {k: round(min(v), 1) for k, v in shards.items()}
    a, b = src.output("remove-bg"), dst.output("remove-bg")
    files = [p.relative_to(a) for p in a.rglob("*") if p.is_file()]
    # frames.json differs only in naming each crop's source frame (video#… / frames/….png)
    files = [f for f in files if f.name not in ("_stage.json", "frames.json")]
    same = all((b / f).is_file() and (a / f).read_bytes() == (b / f).read_bytes() for f in files)
    return {
        "default": "auto: video (every frame kept)",
        "ms_per_frame": figures,
        "saved_ms_per_frame": round(sum(f["png"] - f["video"] for f in figures.values()), 1),
        "png_sample_frames_bytes_per_frame": round(
            folder_bytes(dst.output("sample-frames")) / frames
        ),
        "shards_identical": sha["png"] == sha["video"],
        "remove_bg_identical": same,
    }


def without_mirror_pass(ds: Any, video: Any, work: Path, frames: int) -> dict:
    """remove-bg at its default (``mirror_pass: true``) against ``mirror_pass: false`` (the
    crop's landmarks from one look, not averaged with the mirror image's) and ``alternate``
    (the mirror look on every other frame; docs/perception.md), timed in three turns, each
    turn the raw detector first: ms per frame (best of the turns) and, per setting, the
    median over the turns of its ms over that turn's detector (``over_detector``: the ratio
    side by side, where the stage table's divides by the detector timed minutes apart)."""
    from hpt_data.orchestrator import scan_videos

    others = {}
    for key, value in (("mirror_pass_false", False), ("mirror_pass_alternate", "alternate")):
        other = open_clip(ds.config.root, work / key, frames, mirror_pass=value)
        vid = scan_videos(other).videos[0]
        warm_ms(other, vid, "sample-frames", frames)
        warm_ms(other, vid, "remove-bg", frames)
        others[key] = (other, vid)
    decoded = decode(video.path)
    runs: dict[str, list[float]] = {"default": [], **{k: [] for k in others}}
    ratios: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(3):
        detector = time_detector(decoded)[0]
        runs["default"].append(warm_ms(ds, video, "remove-bg", frames))
        for key, (other, vid) in others.items():
            runs[key].append(warm_ms(other, vid, "remove-bg", frames))
        for key, times in runs.items():
            ratios[key].append(times[-1] / detector)
    out: dict[str, Any] = {k: round(min(v), 1) for k, v in runs.items()}
    out["over_detector"] = {k: round(statistics.median(v), 2) for k, v in ratios.items()}
    return out


def copy_videos(ds: Any, video: Any, copies: int) -> list[Any]:
    """``copies`` videos whose folders hold the clip's outputs (hard links): the shard
    writer sees several videos, each as the one clip."""
    import dataclasses

    src = ds.dirs.video(video.video_id).path
    videos = []
    for i in range(copies):
        vid = f"{video.video_id}-copy{i}"
        dst = ds.dirs.video(vid).path
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst, copy_function=os.link)
        videos.append(dataclasses.replace(video, video_id=vid))
    return videos


@contextlib.contextmanager
def opencv_threads(n: int) -> Iterator[None]:
    """OpenCV's thread pool at ``n`` threads for the block, restored after."""
    import cv2

    old = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(old)


def write_once(
    ds: Any,
    videos: list[Any],
    out: Path,
    max_mb: int,
    executor: Any,
    opencv: int | None = None,
    frames_per_range: int | None = None,
) -> dict:
    """One write-shards over ``videos`` (in this process with OpenCV held to ``opencv``
    threads where given): wall and CPU seconds (this process's), frames, every shard's
    sha256 in order, bytes per frame."""
    from hpt_data.shard_tasks import write_dataset_shards

    pairs = [(v, ds.dirs.video(v.video_id)) for v in videos]
    shutil.rmtree(out, ignore_errors=True)
    held = opencv_threads(opencv) if opencv else contextlib.nullcontext()
    with held:
        start, cpu = time.perf_counter(), time.process_time()
        summary = write_dataset_shards(
            "chain",
            pairs,
            out,
            max_mb << 20,
            progress=False,
            executor=executor,
            frames_per_range=frames_per_range,
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    manifest = json.loads((out / "manifest.json").read_text())
    frames = sum(summary.frames.values())
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "frames": frames,
        "shards": len(manifest["shards"]),
        "sha256": [s["sha256"] for s in manifest["shards"]],
        "bytes_per_frame": round(sum(s["bytes"] for s in manifest["shards"]) / max(frames, 1)),
        "spans": summary.range_spans,
    }


def pool_tail(spans: list[Any]) -> dict:
    """How the ranges filled the pool, from the range tasks' spans
    (``hpt_data.shard_tasks.RangeSpan``): the seconds from the first worker running out of
    ranges to the last range's end (the other workers idle), and the workers' busy share
    of the pool's wall (first start to last end)."""
    by_worker: dict[str, list[Any]] = {}
    for span in spans:
        by_worker.setdefault(span.worker, []).append(span)
    first = min(s.start for s in spans)
    last = max(s.end for s in spans)
    busy = sum(s.end - s.start for s in spans)
    return {
        "workers_seen": len(by_worker),
        "tail_seconds": last - min(max(s.end for s in v) for v in by_worker.values()),
        "busy_share": busy / (len(by_worker) * (last - first)),
    }


def compare_shards(
    ds: Any,
    videos: list[Any],
    workers: int,
    tmp: Path,
    max_mb: int,
    frames_per_range: int,
    turns: int = 5,
) -> dict:
    """write-shards with one worker against ``workers``, in turns whose order rotates
    (medians over the turns).

    Three ways each turn: ``workers`` processes of a warm pool, each with the local
    executor's share of the cores' threads (``threads_per_worker``); one worker (this
    process) with OpenCV held to that same share; and one worker with OpenCV's threads
    free, as ``--workers 1`` runs. The pool's first write (its start: spawned workers
    import h5py and ``hpt_data``; it also warms the page cache) is reported beside them."""
    from hpt_data.executors import LocalExecutor
    from hpt_data.executors.local import threads_per_worker

    share = threads_per_worker(workers)
    runs: dict[str, list[dict]] = {"one": [], "many": [], "free": []}
    with LocalExecutor(workers=workers) as ex:

        def write(out: str, executor: Any, opencv: int | None = None) -> dict:
            return write_once(ds, videos, tmp / out, max_mb, executor, opencv, frames_per_range)

        cold = write("shards-n", ex)
        ways = {
            "one": lambda: write("shards-1", None, share),
            "many": lambda: write("shards-n", ex),
            "free": lambda: write("shards-free", None),
        }
        order = list(ways)
        for turn in range(turns):
            k = turn % len(order)  # each turn starts one way later
            for way in order[k:] + order[:k]:
                runs[way].append(ways[way]())
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    free_cpu = statistics.median(r["cpu_seconds"] for r in runs["free"])
    tails = [pool_tail(r["spans"]) for r in runs["many"]]
    task_seconds = {  # the range tasks' own seconds, summed: the pool's against one worker's
        way: statistics.median(sum(s.end - s.start for s in r["spans"]) for r in runs[way])
        for way in ("one", "many")
    }
    first = runs["free"][0]
    same = all(r["sha256"] == first["sha256"] for v in runs.values() for r in v)
    frames = first["frames"]
    return {
        "turns": turns,
        "workers": workers,
        "threads_per_worker": share,
        "seconds_1_worker": round(med["one"], 2),
        "seconds_n_workers": round(med["many"], 2),
        "speedup": round(med["one"] / med["many"], 2),
        "seconds_each_turn": {k: [round(r["seconds"], 2) for r in v] for k, v in runs.items()},
        # the wait for the last range (the other workers idle), and the workers' busy share
        "tail_seconds_each_turn": [round(t["tail_seconds"], 2) for t in tails],
        "tail_seconds": round(statistics.median(t["tail_seconds"] for t in tails), 2),
        "busy_share": round(statistics.median(t["busy_share"] for t in tails), 3),
        "workers_seen": min(t["workers_seen"] for t in tails),
        # > 1: each range took longer beside the others (caches, memory, the machine)
        "task_seconds_pool_over_one": round(task_seconds["many"] / task_seconds["one"], 3),
        "seconds_n_workers_with_pool_start": round(cold["seconds"], 2),
        "speedup_with_pool_start": round(med["one"] / cold["seconds"], 2),
        "seconds_1_worker_opencv_threads_free": round(med["free"], 2),
        "speedup_over_opencv_threads_free": round(med["free"] / med["many"], 2),
        "ms_per_frame": round(1000 * med["free"] / frames, 1),
        "cpu_ms_per_frame": round(1000 * free_cpu / frames, 1),
        "frames": frames,
        "shards": first["shards"],
        "bytes_per_frame": first["bytes_per_frame"],
        "identical": same and cold["sha256"] == first["sha256"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames of the clip")
    parser.add_argument("--workers", type=int, default=2, help="write-shards processes")
    parser.add_argument("--copies", type=int, default=4, help="clip copies for write-shards")
    parser.add_argument("--quick", action="store_true", help="8 frames, 2 copies")
    parser.add_argument("--profile", action="store_true", help="cProfile each warm stage")
    parser.add_argument("--data", type=Path, default=None, help="clip cache (default: temp)")
    parser.add_argument("--work", type=Path, default=None, help="keep the outputs here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.frames, args.copies = 8, 2
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # per-frame figures of one core

    from hpt_data.executors import LocalExecutor
    from hpt_data.orchestrator import materialize_videos, scan_videos

    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="hpt-chain-") as tmp:
        data = (args.data or Path(tmp) / "clips").resolve()
        ds = open_clip(data, (args.work or Path(tmp)) / "work", args.frames)
        video = scan_videos(ds).videos[0]
        start = time.perf_counter()
        with LocalExecutor(workers=1) as ex:
            render = materialize_videos(ds, [video], ex, progress=False)
        render_s = time.perf_counter() - start
        if render.failures:
            raise SystemExit(f"rendering failed: {render.failures[0].error}")
        frames = decode(video.path)
        n = len(frames)
        before = time_detector(frames)
        del frames
        stages = run_stages(ds, video, n, args.profile, 1 if args.quick else WARM_RUNS)
        # the detector again after the stages: the machine's speed drifts over minutes (runs
        # of the same code timed it at 24-39 ms a frame), and the ratio is the headline
        after = time_detector(decode(video.path))
        detector_ms, detector_cpu_ms = ((b + a) / 2 for b, a in zip(before, after, strict=True))
        copies = copy_videos(ds, video, args.copies)
        # four ranges a copy of the clip (16 with 4 copies: as many frames for each of 2
        # or 4 workers), each range one shard (a frame is ~0.51 MB in a shard)
        per_range = max(1, n // 4)
        max_mb = max(1, math.ceil(per_range * 0.6))
        ceiling_before = measure_ceiling(processes=args.workers)
        memory_before = measure_ceiling(processes=args.workers, job="memory")
        shards = compare_shards(ds, copies, args.workers, Path(tmp), max_mb, per_range)
        ceiling_after = measure_ceiling(processes=args.workers)
        memory_after = measure_ceiling(processes=args.workers, job="memory")
        from_video = frames_from_source(
            ds, video, (args.work or Path(tmp)) / "work-png-frames", n, Path(tmp)
        )
        no_mirror = without_mirror_pass(ds, video, (args.work or Path(tmp)) / "work-no-mirror", n)
        stages["write-shards"] = {  # this process, OpenCV's threads free, as the stages ran
            "ms_per_frame": shards["ms_per_frame"],
            "cpu_ms_per_frame": shards["cpu_ms_per_frame"],
            "bytes_per_frame": shards["bytes_per_frame"],
            "peak_rss_mb": round(peak_rss_mb()),
        }
    chain_ms = sum(s["ms_per_frame"] for s in stages.values())
    chain_cpu = sum(s["cpu_ms_per_frame"] for s in stages.values())
    perception_cpu = stages["remove-bg"]["cpu_ms_per_frame"] + stages["pose2d"]["cpu_ms_per_frame"]
    scratch = sum(stages[s]["bytes_per_frame"] for s in STAGE_ORDER)
    result = {
        "benchmark": "chain",
        "what": f"one synthetic {SIDE}x{SIDE} clip, every frame kept, stages in one process",
        "frames": n,
        "render_ms_per_frame": round(1000 * render_s / n, 1),
        "detector_ms_per_frame": round(detector_ms, 1),
        "detector_cpu_ms_per_frame": round(detector_cpu_ms, 1),
        "detector_ms_per_frame_before_after": [round(before[0], 1), round(after[0], 1)],
        "stages": stages,
        "chain_ms_per_frame": round(chain_ms, 1),
        "chain_over_detector": round(chain_ms / detector_ms, 2),
        "chain_cpu_ms_per_frame": round(chain_cpu, 1),
        "chain_over_detector_cpu": round(chain_cpu / detector_cpu_ms, 2),
        "perception_over_detector_cpu": round(perception_cpu / detector_cpu_ms, 2),
        "perception_over_detector": round(
            (stages["remove-bg"]["ms_per_frame"] + stages["pose2d"]["ms_per_frame"]) / detector_ms,
            2,
        ),
        "remove_bg_without_mirror_pass": {
            "ms_per_frame": {k: v for k, v in no_mirror.items() if k != "over_detector"},
            # each turn's remove-bg over that turn's detector (median), + pose2d's share
            "perception_side_by_side": {
                k: round(v + stages["pose2d"]["ms_per_frame"] / detector_ms, 2)
                for k, v in no_mirror["over_detector"].items()
            },
            "perception_over_detector": round(
                (no_mirror["mirror_pass_false"] + stages["pose2d"]["ms_per_frame"]) / detector_ms,
                2,
            ),
            "perception_over_detector_default": round(
                (no_mirror["default"] + stages["pose2d"]["ms_per_frame"]) / detector_ms, 2
            ),
            "perception_over_detector_alternate": round(
                (no_mirror["mirror_pass_alternate"] + stages["pose2d"]["ms_per_frame"])
                / detector_ms,
                2,
            ),
        },
        "scratch_bytes_per_frame": scratch,
        "shards": {
            "copies": args.copies,
            "frames_per_copy": shards["frames"] // args.copies,
            "max_mb": max_mb,
            "frames_per_range": per_range,
            **{k: v for k, v in shards.items() if k not in ("ms_per_frame", "cpu_ms_per_frame")},
            # the machine's ceiling for --workers processes, before and after the turns
            "machine_ceiling": {
                "before": ceiling_before,
                "after": ceiling_after,
                "ceiling": round((ceiling_before["ceiling"] + ceiling_after["ceiling"]) / 2, 2),
                # the same for a job bound by memory bandwidth (cpu_ceiling.py --job memory)
                "memory": {
                    "before": memory_before,
                    "after": memory_after,
                    "ceiling": round((memory_before["ceiling"] + memory_after["ceiling"]) / 2, 2),
                },
            },
        },
        "frames_from_video": from_video,
        "peak_rss_mb": round(peak_rss_mb()),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")

    print(
        f"{n} frames {SIDE}x{SIDE}; raw MediaPipe Pose {detector_ms:.1f} ms/frame wall, "
        f"{detector_cpu_ms:.1f} CPU"
    )
    print(
        "| stage | ms/frame wall | × detector | CPU ms/frame | × detector (CPU) "
        "| bytes/frame on disk | peak RSS MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, s in stages.items():
        ratio, cpu_ratio = s["ms_per_frame"] / detector_ms, s["cpu_ms_per_frame"] / detector_cpu_ms
        print(
            f"| {name} | {s['ms_per_frame']} | {ratio:.2f} | {s['cpu_ms_per_frame']} "
            f"| {cpu_ratio:.2f} | {s['bytes_per_frame']} | {s['peak_rss_mb']} |"
        )
    print(
        f"| **chain** | {chain_ms:.1f} | **{chain_ms / detector_ms:.2f}** | {chain_cpu:.1f} "
        f"| **{chain_cpu / detector_cpu_ms:.2f}** | {scratch} (scratch) | |"
    )
    sh = result["shards"]
    print(
        f"write-shards {sh['workers']} workers vs 1 ({sh['threads_per_worker']} thread(s) "
        f"each, median of {sh['turns']} turns): {sh['speedup']}x warm pool, "
        f"{sh['speedup_with_pool_start']}x with the pool's start, "
        f"{sh['speedup_over_opencv_threads_free']}x over one worker with OpenCV's threads "
        f"free; this machine's ceiling for {sh['workers']} processes "
        f"{sh['machine_ceiling']['ceiling']}x ({sh['machine_ceiling']['memory']['ceiling']}x "
        f"memory-bound); over {sh['copies']} copies "
        f"({sh['shards']} shards), byte-identical: {sh['identical']}; lost to the tail "
        f"{sh['tail_seconds']} s (workers busy {sh['busy_share']:.1%} of the wall), range "
        f"tasks {sh['task_seconds_pool_over_one']}x as long in the pool as alone"
    )
    fv = from_video["ms_per_frame"]
    print(
        "frames from the source (auto: video) against png (ms/frame): "
        + ", ".join(f"{k} {v['png']} -> {v['video']}" for k, v in fv.items())
        + f"; saved {from_video['saved_ms_per_frame']} ms/frame and "
        f"{from_video['png_sample_frames_bytes_per_frame']} bytes/frame of scratch; remove-bg "
        f"files identical: {from_video['remove_bg_identical']}, shards: "
        f"{from_video['shards_identical']}"
    )
    nm = result["remove_bg_without_mirror_pass"]
    print(
        f"remove-bg default / mirror_pass false / alternate (in turns): {no_mirror['default']} / "
        f"{no_mirror['mirror_pass_false']} / {no_mirror['mirror_pass_alternate']} ms/frame; "
        f"side by side with the detector in each turn "
        f"{' / '.join(f'{v}x' for v in nm['perception_side_by_side'].values())}; "
        f"perception {nm['perception_over_detector_default']}x / "
        f"{nm['perception_over_detector']}x / {nm['perception_over_detector_alternate']}x"
    )
    print(f"load average before / after: {load_before} / {result['load_average_after']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
