"""``fit-smpl`` on rendered synthetic clips: accuracy from ground-truth and MediaPipe 2D, and speed.

Renders synthetic clips of 100 frames (the synthetic source; one person and action each),
runs the real ``sample-frames`` (every frame), ``remove-bg`` and ``pose2d`` stages on them,
then fits each clip twice:

- **GT-2D**: the ground-truth model points of ``hpt_data.fitting.landmarks``' table
  (joints, landmark vertices, offset hips) projected by the clip's perspective camera into
  remove-bg's crop, and the ground-truth mask cut the same way;
- **MediaPipe**: ``pose2d``'s landmarks and ``remove-bg``'s mask, as the stage does.

Each with the full fitter, without the silhouette term, without the temporal term, and
with weak perspective (``camera_distance = 0``, the fitter before perspective). Figures per
frame, median and 90th percentile over the fitted frames (``accuracy``; per clip in
``accuracy_per_clip``, with the norm of the fitted betas minus the true ones):

- ``reproj_px``: the fit's own landmark error against its input, pixels at 1024, through
  the output camera ``(s, tx, ty)`` and ``camera_distance`` (the perspective about the
  pelvis, ``hpt_data.body.weak_perspective``: what render-maps and voxelize draw);
- ``joints2d_px``: the fitted 24 joints through the output camera against the true ones
  projected into the crop (1024);
- ``mpjpe_mm`` (pelvis-aligned) and ``pa_mpjpe_mm`` (Procrustes-aligned), 24 joints, against
  the true joints in the camera frame;
- ``mask_iou``: the fit projected by the output camera against the true mask (256x256).

Also: the full fitter's Procrustes-aligned error per joint (median over frames,
``pa_joint_error_mm_median``) and each clip's true camera-to-pelvis distance.

Speed: the full fitter on the first clip's 100 frames (GT-2D), torch on 1 thread, in a
process pinned to 2 cores where possible; the load average is recorded beside it (the
machine is shared). Writes ``benchmarks/results/fit_smpl.json``.

Usage: ``python benchmarks/fit_smpl.py [--frames 100] [--actions walk cross_arms]
[--device cpu|cuda] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "fit_smpl.json"
GPU_COMMAND = "python benchmarks/fit_smpl.py --device cuda --out /tmp/fit_smpl_gpu"
CONFIGS = {
    "full": {},
    "no_silhouette": {"silhouette": False},
    "no_temporal": {"temporal": False},
    "weak_perspective": {"camera_distance": 0.0},  # the fitter before perspective
}


def render(root: Path, frames: int, actions: list[str]) -> list[Any]:
    """Render one clip per action (persons p000, p001, ...); returns the video records."""
    from hpt_data.sources.synthetic import SyntheticOptions, SyntheticSource

    opts = SyntheticOptions(
        persons=len(actions), clips_per_person=1, seconds=frames / 15.0, fps=15, actions=actions
    )
    src = SyntheticSource(root / "videos", opts, dataset="bench")
    videos = src.scan().videos
    for v in videos:
        if not src.is_materialized(v):
            src.materialize(v)
    return videos


def perceive(video: Any, work: Path) -> tuple[Path, Path]:
    """sample-frames (every frame), remove-bg and pose2d into ``work``."""
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.pose2d import Pose2D
    from hpt_data.stages.remove_bg import RemoveBackground
    from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings

    out = {}
    stages = [
        (SampleFrames(SampleFramesSettings(mode="stride", stride=1)), {}),
        (RemoveBackground(), {"sample-frames"}),
        (Pose2D(), {"remove-bg"}),
    ]
    for stage, needs in stages:
        folder = work / stage.name
        if not (folder / "frames.json").exists():
            tmp = work / f".{stage.name}.tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            stage.run(StageContext(video, {n: out[n] for n in needs}, tmp))
            tmp.rename(folder)
        out[stage.name] = folder
    return out["remove-bg"], out["pose2d"]


def ground_truth_inputs(video: Any, rb: Path, body: Any) -> dict[str, Any]:
    """Per kept frame: GT landmarks (33, 3) normalised, GT mask, GT joints (camera frame and
    crop), plus the pose2d-equivalent bookkeeping."""
    import torch
    from scipy.spatial.transform import Rotation

    from hpt_data.body.joints import JOINT_INDEX
    from hpt_data.crop import CropWindow
    from hpt_data.fitting.landmarks import TARGETS, hip_offset_for
    from hpt_data.render.camera import project, transform_points
    from hpt_data.sources.synthetic.ground_truth import load_ground_truth

    gt = load_ground_truth(video.ground_truth)
    hip_off = hip_offset_for(body)
    with torch.no_grad():
        o = body(
            betas=torch.as_tensor(np.tile(gt["betas"], (len(gt["body_pose"]), 1))),
            body_pose=torch.as_tensor(gt["body_pose"]),
            global_orient=torch.as_tensor(gt["global_orient"]),
            transl=torch.as_tensor(gt["transl"]),
        )
    verts, joints = o.vertices.double().numpy(), o.joints.double().numpy()
    root = Rotation.from_rotvec(gt["global_orient"].astype(np.float64)).as_matrix()
    k_mat, w2c = gt["K"], gt["world_to_cam"]
    index = json.loads((rb / "frames.json").read_text())
    rows = []
    for e in index["frames"]:
        if not e.get("crop"):
            continue
        i, win = e["index"], CropWindow.from_json(e["crop"])

        def to_norm(px: np.ndarray, win: CropWindow = win) -> np.ndarray:
            # render pixels (centres at integers) -> crop.py's continuous -> normalised
            return win.to_crop(px + 0.5) / win.size * 2 - 1

        lm = np.full((33, 3), np.nan)
        for tg in TARGETS:
            if tg.kind == "joint":
                p = joints[i, JOINT_INDEX[tg.ref]]
            elif tg.kind == "vertex":
                p = verts[i, body.landmark_vertex_ids[tg.ref]]
            else:
                off = np.array(hip_off) * ([1, 1, 1] if tg.ref == "left" else [-1, 1, 1])
                p = joints[i, JOINT_INDEX[f"{tg.ref}_hip"]] + root[i] @ off
            uv = to_norm(project(p[None], k_mat, w2c))[0]
            for m in tg.mediapipe:
                lm[m] = [uv[0], uv[1], 1.0]
        mask = win.cut(gt["mask"][i].astype(np.uint8) * 255, 0) >= 128
        rows.append(
            {
                "betas": gt["betas"],
                "index": i,
                "time_ms": e["time_ms"],
                "landmarks": lm,
                "mask": mask,
                "joints_cam": transform_points(joints[i], w2c),
                "joints_uv": to_norm(project(joints[i], k_mat, w2c)),
            }
        )
    return {"rows": rows}


def mediapipe_inputs(rb: Path, p2: Path) -> dict[int, dict[str, Any]]:
    """Per frame index: pose2d's landmarks (normalised, visibility) and remove-bg's mask."""
    import cv2

    rb_index = json.loads((rb / "frames.json").read_text())
    size = rb_index["size"]
    rb_frames = {e["index"]: e for e in rb_index["frames"]}
    frames = json.loads((p2 / "frames.json").read_text())["frames"]
    with np.load(p2 / "pose2d.npz") as z:
        crop = z["landmarks_crop"].astype(np.float64)
    out = {}
    for e in frames:
        if not e["usable"]:
            continue
        lm = crop[e["row"]]
        norm = np.stack([lm[:, 0] / size * 2 - 1, lm[:, 1] / size * 2 - 1, lm[:, 3]], -1)
        mask = cv2.imread(str(rb / rb_frames[e["index"]]["mask"]), cv2.IMREAD_GRAYSCALE) >= 128
        out[e["index"]] = {"landmarks": norm, "mask": mask}
    return out


def figures(res: Any, rows: list[dict[str, Any]], fitter: Any) -> dict[str, list[float]]:
    """Per-frame figures of a fit against the truth."""
    from hpt_data.fitting.metrics import mpjpe, pa_mpjpe

    truth = np.stack([r["joints_cam"] for r in rows])
    j2d = np.linalg.norm(res.joints_uv - np.stack([r["joints_uv"] for r in rows]), axis=-1)
    gt_masks = [r["mask"] for r in rows]
    iou_truth = fitter.mask_ious(
        res.betas, res.global_orient, res.body_pose, res.camera, gt_masks, res.camera_distance
    )
    return {
        "reproj_px": res.reproj_px.tolist(),
        "joints2d_px": (j2d.mean(-1) * 512).tolist(),
        "mpjpe_mm": (mpjpe(res.joints3d, truth) * 1000).tolist(),
        "pa_mpjpe_mm": (pa_mpjpe(res.joints3d, truth) * 1000).tolist(),
        "mask_iou": iou_truth.tolist(),
    }


def summarise(per_frame: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    out = {}
    for k, v in per_frame.items():
        x = np.asarray(v, np.float64)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            continue
        # for IoU the low tail is the bad one: report its 10th percentile as "p90"
        worst = np.percentile(x, 10 if k == "mask_iou" else 90)
        out[k] = {"median": round(float(np.median(x)), 3), "p90": round(float(worst), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--actions", nargs="+", default=["walk", "cross_arms"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temp dir)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()

    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:2]
        os.sched_setaffinity(0, cpus)
    from hpt_data.body import SMPL_JOINT_NAMES, load_body_model
    from hpt_data.fitting.fitter import FitConfig, Fitter
    from hpt_data.fitting.metrics import procrustes_align

    root = args.out or Path(tempfile.mkdtemp(prefix="fit_smpl_bench_"))
    t0 = time.perf_counter()
    videos = render(root, args.frames, args.actions)
    render_s = time.perf_counter() - t0
    body = load_body_model()
    body_d = load_body_model().double()
    inputs = {}
    t0 = time.perf_counter()
    for v in videos:
        rb, p2 = perceive(v, root / "work" / v.video_id)
        gt = ground_truth_inputs(v, rb, body_d)["rows"]
        mp = mediapipe_inputs(rb, p2)
        inputs[v.video_id] = (gt, mp)
    perceive_s = time.perf_counter() - t0

    results: dict[str, Any] = {}
    per_clip: dict[str, Any] = {}
    per_joint: dict[str, list[np.ndarray]] = {}
    speed: dict[str, Any] = {}
    for name, over in CONFIGS.items():
        fitter = Fitter(body, FitConfig(device=args.device, **over))
        for source in ("gt2d", "mediapipe"):
            per: dict[str, list[float]] = {}
            for vid, (gt, mp) in inputs.items():
                rows = gt if source == "gt2d" else [r for r in gt if r["index"] in mp]
                if source == "gt2d":
                    lm = np.stack([r["landmarks"] for r in rows])
                    masks = [r["mask"] for r in rows]
                else:
                    lm = np.stack([mp[r["index"]]["landmarks"] for r in rows])
                    masks = [mp[r["index"]]["mask"] for r in rows]
                times = np.array([r["time_ms"] for r in rows])
                load0 = os.getloadavg()
                res = fitter.fit(lm, masks, times)
                if name == "full" and source == "gt2d" and not speed:
                    speed = {
                        "clip": vid,
                        "frames": len(rows),
                        "seconds": round(res.seconds, 3),
                        "frames_per_second": round(len(rows) / res.seconds, 2),
                        "load_average_before": [round(x, 2) for x in load0],
                        "load_average_after": [round(x, 2) for x in os.getloadavg()],
                        "torch_threads": fitter.config.threads,
                        "cpus": len(os.sched_getaffinity(0))
                        if hasattr(os, "sched_getaffinity")
                        else os.cpu_count(),
                        "device": str(fitter.device),
                    }
                fig = figures(res, rows, fitter)
                for k, v in fig.items():
                    per.setdefault(k, []).extend(v)
                clip = per_clip.setdefault(source, {}).setdefault(name, {})
                clip[vid] = summarise(fig)
                clip[vid]["betas_error_norm"] = round(
                    float(np.linalg.norm(res.betas - rows[0]["betas"][: len(res.betas)])), 2
                )
                if name == "full":  # PA error per joint, after each frame's alignment
                    truth = np.stack([r["joints_cam"] for r in rows])
                    err = np.linalg.norm(procrustes_align(res.joints3d, truth) - truth, axis=-1)
                    per_joint.setdefault(source, []).append(err)
            results.setdefault(source, {})[name] = summarise(per)
            print(f"{source:9s} {name:14s} " + "  ".join(
                f"{k} {v['median']:.2f}/{v['p90']:.2f}" for k, v in results[source][name].items()
            ), flush=True)  # fmt: skip

    joint_medians = {  # full fitter, median over frames of each joint's error
        source: {
            joint: round(1000 * float(e), 1)
            for joint, e in zip(SMPL_JOINT_NAMES, np.median(np.concatenate(errs), 0), strict=True)
        }
        for source, errs in per_joint.items()
    }
    report = {
        "benchmark": "fit_smpl",
        "clips": [v.video_id for v in videos],
        "frames_per_clip": args.frames,
        "configs": CONFIGS,
        "fit_config": {k: getattr(FitConfig(), k) for k in FitConfig.__dataclass_fields__},
        "accuracy": results,
        "accuracy_per_clip": per_clip,
        "pa_joint_error_mm_median": joint_medians,
        "clip_pelvis_depth_m_median": {
            vid: round(float(np.median([r["joints_cam"][0, 2] for r in gt])), 2)
            for vid, (gt, _) in inputs.items()
        },
        "speed": speed,
        "render_s": round(render_s, 1),
        "perception_s": round(perceive_s, 1),
        "python": platform.python_version(),
        "notes": "median/p90 over frames; mask_iou 'p90' is its 10th percentile (the bad tail)",
        "gpu_command": GPU_COMMAND,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(speed))
    print(f"GPU: on a machine with CUDA run `{GPU_COMMAND}`")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
