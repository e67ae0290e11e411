"""How well MediaPipe Pose sees the synthetic source's people: detection rate and 2D error.

Renders the ``demo`` clips (the synthetic source's default options) on a pool of worker
processes, runs MediaPipe Pose 0.10.21 (``model_complexity=1``, video mode, a fresh
tracker per clip) on every decoded frame, and compares its landmarks with the ground-truth
SMPL joints projected into the video:

    shoulders 11/12 <-> 16/17, elbows 13/14 <-> 18/19, wrists 15/16 <-> 20/21,
    knees 25/26 <-> 4/5, ankles 27/28 <-> 7/8

(MediaPipe's "left" is the person's left, as SMPL's). Errors are in video pixels and
scaled to a 1024-pixel person crop (the side of the square crop is the longer side of the
ground-truth mask's bounding box). Prints a table and writes
``benchmarks/results/synthetic_detection.json``.

Usage: ``python benchmarks/synthetic_detection.py [--workers 2] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hpt_data.sources.base import VideoRecord
from hpt_data.sources.synthetic import SyntheticOptions, SyntheticSource

#: The demo dataset's options (the source's defaults).
DEMO_OPTIONS = SyntheticOptions()

#: (name, MediaPipe landmark ids, SMPL joint ids), left then right.
PAIRS: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("shoulders", (11, 12), (16, 17)),
    ("elbows", (13, 14), (18, 19)),
    ("wrists", (15, 16), (20, 21)),
    ("knees", (25, 26), (4, 5)),
    ("ankles", (27, 28), (7, 8)),
)
CROP = 1024
RESULTS = Path(__file__).resolve().parent / "results" / "synthetic_detection.json"


def _render(args: tuple[str, SyntheticOptions, dict]) -> tuple[str, float, float, float]:
    """Worker: render one clip.

    Returns its id, the set-up seconds (loading the body model and Anny, drawing the
    person: once per process and person), the render seconds (wall) and the render's CPU
    seconds (all threads of the process: a figure that other load on the machine barely
    changes).
    """
    from hpt_data.sources import synthetic

    root, opts, rec = args
    video = VideoRecord.from_json(rec)
    src = SyntheticSource(Path(root), opts, dataset="demo")
    t0 = time.perf_counter()
    synthetic._dressed_person(video.person_id, opts.seed)
    t1, c1 = time.perf_counter(), time.process_time()
    src.materialize(video)
    return rec["video_id"], t1 - t0, time.perf_counter() - t1, time.process_time() - c1


def render_demo(root: Path, opts: SyntheticOptions, workers: int) -> tuple[list[VideoRecord], dict]:
    """Render every planned clip with ``workers`` processes; returns the records and timings."""
    videos = SyntheticSource(root, opts, dataset="demo").scan().videos
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    setup: dict[str, float] = {}
    per_clip: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        jobs = [(str(root), opts, v.to_json()) for v in videos]
        for vid, set_up, sec, cpu_s in tqdm(
            pool.map(_render, jobs), total=len(jobs), desc="render"
        ):
            setup[vid] = set_up
            per_clip[vid] = sec
            cpu[vid] = cpu_s
    wall = time.perf_counter() - t0
    frames = len(videos) * opts.num_frames
    return videos, {
        "wall_s": wall,
        "workers": workers,
        "setup_seconds": setup,
        "clip_seconds": per_clip,
        "frames": frames,
        "render_s_per_frame": sum(per_clip.values()) / frames,
        "render_cpu_s_per_frame": sum(cpu.values()) / frames,
        "render_fps_per_worker": frames / sum(per_clip.values()),
        "render_fps_total": frames / wall,
    }


def read_frames(path: str) -> list[np.ndarray]:
    """Decode every frame of a video as RGB (H, W, 3) uint8."""
    import cv2

    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def evaluate(videos: list[VideoRecord]) -> dict:
    """Run MediaPipe Pose on every frame; detection and per-joint-pair errors."""
    import mediapipe as mp

    from hpt_data.sources.synthetic.ground_truth import load_ground_truth

    per_action: dict[str, list[bool]] = {}
    errors = {name: [] for name, _, _ in PAIRS}
    errors_crop = {name: [] for name, _, _ in PAIRS}
    by_action: dict[str, list[float]] = {}
    detected_all: list[bool] = []
    t_det = 0.0
    for v in tqdm(videos, desc="mediapipe"):
        gt = load_ground_truth(v.ground_truth)
        frames = read_frames(v.path)
        h, w = frames[0].shape[:2]
        with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
            for i, rgb in enumerate(frames):
                t0 = time.perf_counter()
                res = pose.process(rgb)
                t_det += time.perf_counter() - t0
                ok = res.pose_landmarks is not None
                detected_all.append(ok)
                per_action.setdefault(v.action or "?", []).append(ok)
                if not ok:
                    continue
                lm = res.pose_landmarks.landmark
                pred = np.array([[p.x * w, p.y * h] for p in lm])
                ys, xs = np.nonzero(gt["mask"][i])
                side = max(np.ptp(xs), np.ptp(ys)) + 1
                for name, mp_ids, smpl_ids in PAIRS:
                    for a, b in zip(mp_ids, smpl_ids, strict=True):
                        e = float(np.linalg.norm(pred[a] - gt["joints2d"][i, b]))
                        errors[name].append(e)
                        errors_crop[name].append(e * CROP / side)
                        by_action.setdefault(v.action or "?", []).append(e * CROP / side)
    # the stricter figure: every frame on its own, no tracking from the previous frame
    static: list[bool] = []
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for v in tqdm(videos, desc="mediapipe static"):
            static.extend(
                pose.process(rgb).pose_landmarks is not None for rgb in read_frames(v.path)
            )
    out: dict = {
        "frames": len(detected_all),
        "detection_rate_static_image_mode": float(np.mean(static)),
        "detected": int(np.sum(detected_all)),
        "detection_rate": float(np.mean(detected_all)),
        "detection_rate_by_action": {k: float(np.mean(a)) for k, a in sorted(per_action.items())},
        "median_error_crop1024_by_action": {
            k: float(np.median(e)) for k, e in sorted(by_action.items())
        },
        "mediapipe_seconds_per_frame": t_det / max(len(detected_all), 1),
        "error_px": {},
    }
    every, every_crop = [], []
    for name, _, _ in PAIRS:
        e, ec = np.array(errors[name]), np.array(errors_crop[name])
        every.append(e)
        every_crop.append(ec)
        out["error_px"][name] = _stats(e, ec)
    out["error_px"]["all"] = _stats(np.concatenate(every), np.concatenate(every_crop))
    return out


def _stats(e: np.ndarray, ec: np.ndarray) -> dict:
    if len(e) == 0:
        return {"n": 0}
    return {
        "n": len(e),
        "median": float(np.median(e)),
        "p90": float(np.percentile(e, 90)),
        "median_crop1024": float(np.median(ec)),
        "p90_crop1024": float(np.percentile(ec, 90)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="render processes")
    parser.add_argument("--out", type=Path, default=None, help="keep the clips here")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON to write")
    parser.add_argument("--seconds", type=float, default=None, help="clip length (quick runs)")
    parser.add_argument("--persons", type=int, default=None, help="people (quick runs)")
    args = parser.parse_args()
    opts = DEMO_OPTIONS
    if args.seconds is not None or args.persons is not None:
        opts = replace(
            opts,
            seconds=args.seconds or opts.seconds,
            persons=args.persons or opts.persons,
        )
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        videos, timing = render_demo(root, opts, args.workers)
        metrics = evaluate(videos)
    result = {
        "benchmark": "synthetic_detection",
        "options": asdict(opts),
        "clips": len(videos),
        "render": timing,
        "mediapipe": {"version": _mp_version(), "model_complexity": 1, "static_image_mode": False},
        **metrics,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # other work on the machine slows the render figures: the 1-minute load average
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
        },
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"demo: {len(videos)} clips, {metrics['frames']} frames at {opts.width}x{opts.height}, "
        f"built in {timing['wall_s']:.1f} s on {args.workers} workers; rendering "
        f"{1000 * timing['render_s_per_frame']:.0f} ms per frame per worker "
        f"({timing['render_fps_per_worker']:.1f} fps; CPU "
        f"{1000 * timing['render_cpu_s_per_frame']:.0f} ms per frame), set-up excluded"
    )
    print(
        f"MediaPipe Pose detection rate: {100 * metrics['detection_rate']:.1f}% "
        f"(each frame alone, static_image_mode: "
        f"{100 * metrics['detection_rate_static_image_mode']:.1f}%)"
    )
    for action, rate in metrics["detection_rate_by_action"].items():
        err = metrics["median_error_crop1024_by_action"].get(action, float("nan"))
        print(f"  {action:<12} {100 * rate:5.1f}%   median error {err:5.1f} px @1024")
    head = ("joints", "n", "median px", "p90 px", "median@1024", "p90@1024")
    print(f"{head[0]:<10} {head[1]:>5} {head[2]:>10} {head[3]:>8} {head[4]:>12} {head[5]:>9}")
    for name, s in metrics["error_px"].items():
        if s.get("n"):
            print(
                f"{name:<10} {s['n']:>5} {s['median']:>10.1f} {s['p90']:>8.1f} "
                f"{s['median_crop1024']:>12.1f} {s['p90_crop1024']:>9.1f}"
            )
    print(f"wrote {args.results}")


def _mp_version() -> str:
    from importlib.metadata import version

    return version("mediapipe")


if __name__ == "__main__":
    main()
