"""Speed and accuracy of the frame stages (sample-frames, remove-bg, pose2d) on the demo clips.

Renders the ``demo`` dataset's synthetic clips (the source's default options; cached in
``--data``), then runs the three stages through the orchestrator on a local pool of
``--workers`` processes, into a fresh work folder, and times each stage over all clips:
frames per second = frames the stage processed / its wall time. Each stage runs once cold
(each worker loads its models) and ``--repeats`` more times (forced); the best of those
is the "warm" figure. Wall time suffers when other jobs share the machine, so the CPU
time per frame is also measured (one worker in this process, models loaded), and
``workers / CPU seconds per frame`` given as the rate an idle machine with that many
cores would reach. sample-frames keeps every frame (``mode: stride``) so that every
rendered frame is measured; remove-bg crops at 1024.

Accuracy against the ground truth of every frame:
- mask IoU: remove-bg's binary mask against the true mask cut by the same crop window;
- 2D error in pixels of the 1024 crop, pose2d's landmarks against the true points for the
  joints that both have (``hpt_data.keypoints.MEDIAPIPE_TO_SMPL_JOINT``: shoulders,
  elbows, wrists, knees, ankles; ``MEDIAPIPE_TO_LANDMARK``: nose, eyes, ears, heels, big
  toes). The truth puts pixel centres on integers, we at +0.5; it is shifted accordingly;
- jitter: the mean frame-to-frame acceleration of the error (second difference of
  prediction minus truth, in pixels of the 1024 crop), with and without the filter;
- detection rate: frames with a usable crop and a pose, over all frames.

Prints a table and writes ``benchmarks/results/perception.json``.

Usage: ``python benchmarks/perception.py [--workers 2] [--data data/demo] [--work DIR]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from hpt_data.config import DatasetConfig
from hpt_data.crop import CropWindow
from hpt_data.executors import LocalExecutor
from hpt_data.keypoints import MEDIAPIPE_TO_LANDMARK, MEDIAPIPE_TO_SMPL_JOINT
from hpt_data.orchestrator import Dataset, materialize_videos, run_stage, scan_videos
from hpt_data.sources.split import SplitRule
from hpt_data.sources.synthetic import SyntheticOptions
from hpt_data.stages.pose2d import Pose2D, Pose2DSettings
from hpt_data.stages.remove_bg import RemoveBackground, RemoveBgSettings
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "perception.json"
GROUPS = {
    "face": (0, 2, 5, 7, 8),
    "arms": (11, 12, 13, 14, 15, 16),
    "legs": (25, 26, 27, 28),
    "feet": (29, 30, 31, 32),
}


def open_demo(data: Path, work: Path) -> Dataset:
    settings = {
        "sample-frames": SampleFramesSettings(mode="stride"),
        "remove-bg": RemoveBgSettings(size=1024),
    }
    config = DatasetConfig(
        name="demo",
        source="synthetic",
        root=data,
        options=SyntheticOptions(),
        split=SplitRule(),
        stages=settings,
    )
    return Dataset.open(config, work, (SampleFrames, RemoveBackground, Pose2D))


def frames_done(ds: Dataset, video_id: str, stage: str) -> int:
    manifest = ds.dirs.video(video_id).manifest(stage) or {}
    metrics = manifest.get("metrics", {})
    return int(metrics.get("kept", metrics.get("frames", 0)))


def evaluate(ds: Dataset, videos) -> dict:
    """Per-frame IoU, joint errors (raw and filtered) and detections over all clips."""
    import cv2

    ious, errors, raw_errors, groups = [], [], [], {g: [] for g in GROUPS}
    jitter: dict[str, list[float]] = {"filtered": [], "unfiltered": []}
    frames = detected = 0
    flags: dict[str, int] = {}
    for video in videos:
        vdir = ds.dirs.video(video.video_id)
        with np.load(video.ground_truth) as data:
            truth = {k: data[k] for k in ("mask", "joints2d", "landmarks2d", "landmark_names")}
        names = list(truth["landmark_names"])
        rb_dir, pose_dir = vdir.output("remove-bg"), vdir.output("pose2d")
        rb = json.loads((rb_dir / "frames.json").read_text())["frames"]
        pose_index = {
            e["index"]: e for e in json.loads((pose_dir / "frames.json").read_text())["frames"]
        }
        with np.load(pose_dir / "pose2d.npz") as data:
            pose = {k: data[k] for k in data.files}
        tracks: dict[str, list[np.ndarray]] = {"filtered": [], "unfiltered": []}
        for e in rb:
            frames += 1
            pe = pose_index[e["index"]]
            for f in pe["flags"]:
                flags[f] = flags.get(f, 0) + 1
            if not e.get("crop"):
                continue
            window = CropWindow.from_json(e["crop"])
            gt_mask = (
                window.cut(truth["mask"][e["index"]].astype(np.float32), 0.0, cv2.INTER_AREA) >= 0.5
            )
            mask = cv2.imread(str(rb_dir / e["mask"]), cv2.IMREAD_GRAYSCALE) > 0
            ious.append(float((gt_mask & mask).sum() / max((gt_mask | mask).sum(), 1)))
            row = pe["row"]
            if row is None or not pose["found"][row]:
                continue
            if pe["usable"]:
                detected += 1
            gt = np.zeros((33, 2))
            has = np.zeros(33, bool)
            for mp, joint in MEDIAPIPE_TO_SMPL_JOINT.items():
                gt[mp], has[mp] = truth["joints2d"][e["index"], joint] + 0.5, True
            for mp, name in MEDIAPIPE_TO_LANDMARK.items():
                gt[mp], has[mp] = truth["landmarks2d"][e["index"], names.index(name)] + 0.5, True
            gt_crop = window.to_crop(gt)
            err = np.linalg.norm(pose["landmarks_crop"][row, :, :2] - gt_crop, axis=1)
            raw = np.linalg.norm(pose["landmarks_crop_raw"][row, :, :2] - gt_crop, axis=1)
            errors.extend(err[has].tolist())
            raw_errors.extend(raw[has].tolist())
            tracks["filtered"].append(pose["landmarks_crop"][row, has, :2] - gt_crop[has])
            tracks["unfiltered"].append(pose["landmarks_crop_raw"][row, has, :2] - gt_crop[has])
            for g, idx in GROUPS.items():
                groups[g].extend(err[list(idx)].tolist())
        for kind, track in tracks.items():  # jitter: the error's frame-to-frame acceleration
            if len(track) >= 3:
                accel = np.diff(np.asarray(track), n=2, axis=0)
                jitter[kind].extend(np.linalg.norm(accel, axis=-1).ravel().tolist())

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "median": round(float(np.median(values)), 2),
            "p90": round(float(np.percentile(values, 90)), 2),
            "mean": round(float(np.mean(values)), 2),
        }

    return {
        "frames": frames,
        "mask_iou": {**stats(ious), "min": round(min(ious), 3)},
        "joint_error_px_1024": stats(errors),
        "joint_error_px_1024_unfiltered": stats(raw_errors),
        "joint_error_by_group": {g: stats(v) for g, v in groups.items()},
        "jitter_px_1024": {k: round(float(np.mean(v)), 2) for k, v in jitter.items()},
        "joints_compared": sorted([*MEDIAPIPE_TO_SMPL_JOINT, *MEDIAPIPE_TO_LANDMARK]),
        "detection_rate": round(detected / max(frames, 1), 4),
        "flags": flags,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--work", type=Path, default=None, help="work root (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--repeats", type=int, default=2, help="warm runs; the best is kept")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        ds = open_demo(args.data.resolve(), work)
        videos = scan_videos(ds).videos
        timings = {}
        with LocalExecutor(workers=args.workers) as ex:
            render = materialize_videos(ds, videos, ex, progress=False)
            if render.failures:
                raise SystemExit(f"rendering failed: {render.failures[0].error}")
            for name in ("sample-frames", "remove-bg", "pose2d"):
                stage = ds.stage(name)
                runs = []
                for _ in range(1 + args.repeats):  # the first loads the models in each worker
                    start = time.perf_counter()
                    summary = run_stage(ds, stage, videos, ex, force=True, progress=False)
                    runs.append(time.perf_counter() - start)
                    if summary.failures:
                        raise SystemExit(f"{name} failed: {summary.failures[0].error}")
                count = sum(frames_done(ds, v.video_id, name) for v in videos)
                warm = min(runs[1:]) if args.repeats else runs[0]
                timings[name] = {
                    "frames": count,
                    "seconds_cold": round(runs[0], 2),
                    "seconds_warm": round(warm, 2),
                    "fps_cold": round(count / runs[0], 2),
                    "fps": round(count / warm, 2),
                }
        # CPU time per frame, in this process (one worker, models warm): unlike wall time,
        # it hardly changes when other jobs share the machine
        with LocalExecutor(workers=1) as ex:
            for name in ("sample-frames", "remove-bg", "pose2d"):
                stage = ds.stage(name)
                cpu = []
                for _ in range(2):
                    start = time.process_time()
                    run_stage(ds, stage, videos, ex, force=True, progress=False)
                    cpu.append(time.process_time() - start)
                per_frame = min(cpu) / timings[name]["frames"]
                timings[name]["cpu_ms_per_frame"] = round(1000 * per_frame, 1)
                timings[name]["fps_from_cpu"] = round(args.workers / per_frame, 2)
        accuracy = evaluate(ds, videos)
        # pose2d the other way (default: the kept person's landmarks from remove-bg, no
        # second Pose pass; else Pose run again on the crops): both 2D errors, same crops
        default = ds.stage("pose2d").settings.landmarks
        other = "detect" if default == "remove-bg" else "remove-bg"
        with LocalExecutor(workers=args.workers) as ex:
            again_stage = Pose2D(Pose2DSettings(landmarks=other))
            summary = run_stage(ds, again_stage, videos, ex, force=True, progress=False)
            if summary.failures:
                raise SystemExit(f"pose2d ({other}) failed: {summary.failures[0].error}")
        again = evaluate(ds, videos)
        keys = ("joint_error_px_1024", "joint_error_px_1024_unfiltered")
        accuracy["pose2d_landmarks"] = default
        accuracy["pose2d_from_remove_bg" if other == "remove-bg" else "pose2d_detect"] = {
            k: again[k] for k in keys
        }
        if other == "detect":  # the default's figures, under the name they had before
            accuracy["pose2d_from_remove_bg"] = {k: accuracy[k] for k in keys}

    result = {
        "what": "frame stages on the demo synthetic clips, crops at 1024",
        "clips": len(videos),
        "source_options": dataclasses.asdict(SyntheticOptions()),
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "speed": timings,
        "accuracy": accuracy,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    frames, cores = accuracy["frames"], os.cpu_count()
    print(f"{len(videos)} clips, {frames} frames, {args.workers} workers, {cores} cores")
    print(
        f"| stage | frames | frames/s, wall, warm | frames/s, wall, first run "
        f"| CPU ms per frame | frames/s from CPU time, {args.workers} workers |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, t in timings.items():
        print(
            f"| {name} | {t['frames']} | {t['fps']} | {t['fps_cold']} "
            f"| {t['cpu_ms_per_frame']} | {t['fps_from_cpu']} |"
        )
    print(f"load average (1, 5, 15 min) after the runs: {result['load_average_after']}")
    err, iou = accuracy["joint_error_px_1024"], accuracy["mask_iou"]
    raw = accuracy["joint_error_px_1024_unfiltered"]
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| mask IoU, median (min) | {iou['median']} ({iou['min']}) |")
    print(f"| 2D error at 1024, median / p90 (px) | {err['median']} / {err['p90']} |")
    print(f"| same before the temporal filter | {raw['median']} / {raw['p90']} |")
    det = accuracy["pose2d_from_remove_bg"]["joint_error_px_1024"]
    print(f"| same, landmarks taken from remove-bg | {det['median']} / {det['p90']} |")
    if "pose2d_detect" in accuracy:
        det = accuracy["pose2d_detect"]["joint_error_px_1024"]
        print(f"| same, Pose run again on the crops | {det['median']} / {det['p90']} |")
    for g, s in accuracy["joint_error_by_group"].items():
        print(f"| 2D error, {g}, median / p90 (px) | {s['median']} / {s['p90']} |")
    jit = accuracy["jitter_px_1024"]
    print(
        f"| jitter at 1024, filtered / unfiltered (px) | {jit['filtered']} / {jit['unfiltered']} |"
    )
    print(f"| detection rate | {accuracy['detection_rate']:.1%} |")
    print(f"| flags | {accuracy['flags'] or 'none'} |")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
