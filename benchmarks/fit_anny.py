"""``fit-smpl`` on clips it cannot flatter: Anny's own skinning, unknown cameras, hard motions.

The clip set is :mod:`fit_bench.clips` (versioned, seeded, split into *dev* and *test*:
tune on dev, report test): people at Anny phenotypes over its ranges posed by Anny's own rig
and skinning (not the fitter's body model), hair and clothes, cameras 1.5-6 m away with a
30-75 degree vertical field of view tilted by up to 20 degrees (the fitter is not told the
focal length), motions past the fitter's joint limits (sit, kneel, lie, jump), crossing
limbs, back views, a hand leaving the picture, and one 4-camera clip per split.

Each view runs the real ``sample-frames`` (every frame), ``remove-bg`` and ``pose2d``
stages and the fitter as the ``fit-smpl`` stage calls it (pose2d's landmarks and world
landmarks, remove-bg's masks, the default ``FitConfig``; ``--variants`` adds fits with
other settings, e.g. ``w_world=0`` for the 2D-only fit); raw MediaPipe Pose (complexity 1,
video mode) runs on the full frames for its image landmarks and its **world landmarks**
(metric 3D about the hips): the reference the fit must beat.

Per motion type, on the frames where both the fit and MediaPipe's world landmarks exist:

- ``fit`` / ``mediapipe``: ``pa_mm`` (Procrustes-aligned) and ``centroid_mm``
  (translation-aligned, camera frame) on the 10 joints both have (shoulders, elbows,
  wrists, knees, ankles), median and p90; ``ratio``: fit over MediaPipe (the headline:
  below 1 the fit earns its place); ``fit_pa24_mm``: the fit's 24 joints;
- ``order``: the share of limb-segment pairs (upper arms, forearms, hands, thighs, shins)
  overlapping in the true image (nearer than a limb's width) whose front/back order is
  right (fit, and MediaPipe's world z);
- ``mask_iou``: the fit's projected mesh against the true mask (p10 as the bad tail);
- ``joints2d_px``: per joint group, pose2d's and raw MediaPipe's landmarks against the true
  joints in the source frame (hips: the model's hip joints, which MediaPipe's hips are not:
  both carry that offset);
- ``multiview``: pairwise PA-MPJPE (24 joints) between the 4 views' fits of the same
  instant (and MediaPipe's world landmarks, 10 joints);
- ``distance``: the fits' camera distance against the true pelvis depth, and where it came
  from (assumed, or estimated per video);
- ``speed``: fitted frames per second of the fitter (one torch thread), by the wall clock
  and per second of the process's CPU time (the speed on an idle core: the machine is
  shared).

Writes ``benchmarks/results/fit_anny.json``. Usage:
``python benchmarks/fit_anny.py [--split test|dev|both] [--tiny] [--out DIR] [--variants ..]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_bench.clips import CLIP_SET_VERSION, FRAMES, HEIGHT, WIDTH, plan
from fit_bench.evaluate import (
    GROUPS,
    SEGMENTS,
    SEGMENTS_MP,
    SHARED_MP,
    SHARED_SMPL,
    depth_order,
    errors_3d,
    multiview_pa,
    summary,
)

RESULTS = Path(__file__).resolve().parent / "results" / "fit_anny.json"
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
DOC = Path(__file__).resolve().parent.parent / "docs" / "fit_smpl.md"
BEGIN = "<!-- fit_anny:begin (written by benchmarks/fit_anny.py) -->"
END = "<!-- fit_anny:end -->"


def mp(x: dict[str, Any]) -> str:
    """``median / p90`` of a summary, one decimal."""
    return f"{x['median']:.1f} / {x['p90']:.1f}"


def doc_table(r: dict[str, Any]) -> str:
    """The docs' table of the report's test split (or its only split), per motion type."""
    split = "test" if "test" in r["splits"] else next(iter(r["splits"]))
    s = r["splits"][split]
    head = (
        f"{split} split, clip set v{r['clip_set_version']}, {r['frames_per_view']} frames per "
        f"view at {r['resolution'][0]}x{r['resolution'][1]}; mm median / p90\n\n"
        "| motion | frames | fit PA | MediaPipe PA | ratio | fit centroid | MediaPipe "
        "centroid | fit scaled | MediaPipe scaled | fit PA 24 joints | order fit / MP | "
        "mask IoU | 2D px pose2d / raw (worst group) |\n|" + " --- |" * 13
    )
    rows = []
    for name, a in [*s["motion_types"].items(), ("all", s["all"])]:
        if not a.get("frames"):
            rows.append(f"| {name} | 0 |" + " – |" * 11)
            continue

        g = max(
            a["joints2d_px"],
            key=lambda k: a["joints2d_px"][k]["pose2d"] - a["joints2d_px"][k]["raw"],
        )
        j = a["joints2d_px"][g]
        o = a["order"]
        order = f"{o['fit']['accuracy']} / {o['mediapipe']['accuracy']} (n {o['fit']['n']})"
        rows.append(
            f"| {name} | {a['frames']} | {mp(a['fit']['pa_mm'])} | "
            f"{mp(a['mediapipe']['pa_mm'])} | {a['ratio']['pa_mm']['median']:.2f} / "
            f"{a['ratio']['pa_mm']['p90']:.2f} | {mp(a['fit']['centroid_mm'])} | "
            f"{mp(a['mediapipe']['centroid_mm'])} | {mp(a['fit']['scaled_mm'])} | "
            f"{mp(a['mediapipe']['scaled_mm'])} | {mp(a['fit_pa24_mm'])} | {order} | "
            f"{a['mask_iou']['median']:.2f} | {g} {j['pose2d']:.1f} / {j['raw']:.1f} |"
        )
    mv, sp = s["multiview"], s["speed"]
    tail = ""
    for wt, fw in s["all"].get("variants", {}).items():
        per = ", ".join(
            f"{k} {v['variants'][wt]['ratio_pa']['median']:.2f}"
            for k, v in s["motion_types"].items()
            if v.get("frames")
        )
        tail += (
            f"\n\nVariant ``{wt}``: all motions PA {mp(fw['pa_mm'])} mm, ratio "
            f"{fw['ratio_pa']['median']:.2f} / {fw['ratio_pa']['p90']:.2f}, order "
            f"{fw['order']['accuracy']} (n {fw['order']['n']}); median ratio per motion: {per}."
        )
    dist = s.get("distance", {})
    if dist.get("views"):
        srcs = ", ".join(f"{k} {n}" for k, n in dist["sources"].items())
        tail += (
            f"\n\nCamera distance per view ({srcs}): off the true pelvis depth by "
            f"{100 * dist['relative_error']['median']:.0f} % median, "
            f"{100 * dist['relative_error']['p90']:.0f} % p90."
        )
    if mv:
        tail += (
            f"\n\nMulti-view ({mv['instants']} instants, 4 views, pairwise): fit PA-MPJPE "
            f"{mp(mv['fit_pa24_mm'])} mm (24 joints); MediaPipe's world landmarks "
            f"{mp(mv['mediapipe_pa10_mm'])} (10 joints)."
        )
    tail += (
        f" Fitter speed: {sp['frames_per_second']:.1f} frames/s over {sp['fitted_frames']} "
        f"frames, {sp['torch_threads']} torch thread"
        + (
            f" ({sp['cpu_frames_per_second']:.1f} per second of its CPU time; load "
            f"{r['load_average'][0]:.1f} on {r['cpus']} cores)."
            if "cpu_frames_per_second" in sp
            else "."
        )
    )
    return head + "\n" + "\n".join(rows) + tail


def raw_mediapipe(video: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw MediaPipe Pose on every frame: image landmarks (T, 33, 2) in pixels (centres at
    integers) and world landmarks (T, 33, 4): metres and the image landmark's visibility;
    NaN where no person was found."""
    import cv2
    import mediapipe as mp

    cap = cv2.VideoCapture(str(video))
    img, world = [], []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            res = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if res.pose_landmarks is None or res.pose_world_landmarks is None:
                img.append(np.full((33, 2), np.nan))
                world.append(np.full((33, 4), np.nan))
                continue
            lm = res.pose_landmarks.landmark
            img.append(np.array([[p.x * w - 0.5, p.y * h - 0.5] for p in lm]))
            pairs = zip(res.pose_world_landmarks.landmark, lm, strict=True)
            world.append(np.array([[p.x, p.y, p.z, q.visibility] for p, q in pairs]))
    cap.release()
    return np.array(img), np.array(world)


def parse_variant(text: str) -> dict[str, Any]:
    """``"w_world=0,estimate_distance=0"`` -> FitConfig overrides (numbers, 0/1 switches)."""
    from hpt_data.fitting.config import FitConfig

    out: dict[str, Any] = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        default = FitConfig.__dataclass_fields__[key].default
        out[key] = bool(float(value)) if isinstance(default, bool) else type(default)(value)
    return out


def run_view(view: Any, work: Path, fitter: Any, world_fitters: dict[str, Any]) -> dict[str, Any]:
    """Perception, raw MediaPipe and the fit of one rendered view; per-frame figures."""
    from fit_smpl import mediapipe_inputs, perceive

    from hpt_data.crop import CropWindow
    from hpt_data.sources.base import VideoRecord

    vid = f"{view.clip_id}-v{view.view}"
    rec = VideoRecord(vid, view.clip_id, "fit_anny", str(view.video))
    rb, p2 = perceive(rec, work / vid)
    mp_in = mediapipe_inputs(rb, p2)
    index = {e["index"]: e for e in json.loads((rb / "frames.json").read_text())["frames"]}
    frames = sorted(mp_in)
    raw_px, raw_world4 = raw_mediapipe(view.video)
    raw_world = raw_world4[..., :3]
    with np.load(p2 / "pose2d.npz") as z:
        p2_src = z["landmarks_source"][..., :2].astype(np.float64) - 0.5
        p2_world = z["world_landmarks"].astype(np.float64)
    p2_rows = {e["index"]: e["row"] for e in json.loads((p2 / "frames.json").read_text())["frames"]}
    out: dict[str, Any] = {"frames": frames, "seconds": 0.0, "cpu_seconds": 0.0}
    if len(frames) < 2:
        return out
    lm = np.stack([mp_in[i]["landmarks"] for i in frames])
    masks = [mp_in[i]["mask"] for i in frames]
    times = np.array([index[i]["time_ms"] for i in frames], np.float64)
    world = p2_world[[p2_rows[i] for i in frames]]  # as the fit-smpl stage reads them
    res = fitter.fit(lm, masks, times, world=world)
    out["seconds"], out["cpu_seconds"] = res.seconds, res.cpu_seconds
    truth = view.joints_cam[frames]
    out["distance"] = {
        "fit_m": round(float(np.median(res.camera_distance)), 2),
        "source": res.distance_source,
        "true_m": round(float(np.median(truth[:, 0, 2])), 2),
    }
    fit10 = res.joints3d[:, list(SHARED_SMPL)].astype(np.float64)
    mpw = raw_world[frames][:, list(SHARED_MP)]
    both = np.isfinite(mpw).all((1, 2))
    t10 = truth[:, list(SHARED_SMPL)]
    out["both"] = both
    out["fit"] = errors_3d(fit10, t10)
    out["fit_pa24_mm"] = errors_3d(res.joints3d.astype(np.float64), truth)["pa_mm"]
    out["mediapipe"] = {
        k: np.full(len(frames), np.nan) for k in ("pa_mm", "centroid_mm", "scaled_mm")
    }
    if both.any():
        for k, v in errors_3d(mpw[both], t10[both]).items():
            out["mediapipe"][k][both] = v
    out["variants"] = {}
    for wt, wf in world_fitters.items():
        rw = wf.fit(lm, masks, times, world=world)
        j = rw.joints3d.astype(np.float64)
        fig = errors_3d(j[:, list(SHARED_SMPL)], t10)
        fig["order"] = depth_order(
            view.joints_px[frames], truth, {"fit": (j, SEGMENTS)}, float(view.K[1, 1])
        )["fit"]
        out["variants"][wt] = fig
    out["order"] = depth_order(
        view.joints_px[frames],
        truth,
        {
            "fit": (res.joints3d.astype(np.float64), SEGMENTS),
            "mediapipe": (raw_world[frames], SEGMENTS_MP),
        },
        float(view.K[1, 1]),
    )
    gt_masks = []
    for i in frames:
        win = CropWindow.from_json(index[i]["crop"])
        gt_masks.append(win.cut(view.mask[i].astype(np.uint8) * 255, 0) >= 128)
    out["mask_iou"] = fitter.mask_ious(
        res.betas, res.global_orient, res.body_pose, res.camera, gt_masks, res.camera_distance
    )
    out["joints2d"] = {}
    for g, (sj, mj) in GROUPS.items():
        t2 = view.joints_px[frames][:, list(sj)]
        p = p2_src[[p2_rows[i] for i in frames]][:, list(mj)]
        r = raw_px[frames][:, list(mj)]
        out["joints2d"][g] = {
            "pose2d": np.linalg.norm(p - t2, axis=-1).ravel(),
            "raw": np.linalg.norm(r - t2, axis=-1).ravel(),
        }
    out["joints3d"] = res.joints3d.astype(np.float64)
    out["mp_world10"] = mpw
    return out


def distance_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """How far the fits' camera distance is from the true pelvis depth, per view."""
    d = [r["distance"] for r in runs if "distance" in r]
    if not d:
        return {"views": 0}
    rel = np.array([abs(x["fit_m"] / x["true_m"] - 1) for x in d])
    return {
        "views": len(d),
        "sources": {s: sum(x["source"] == s for x in d) for s in sorted({x["source"] for x in d})},
        "relative_error": summary(rel),
        "per_view": d,
    }


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures of one motion type from its views' runs (frames where both exist)."""
    runs = [r for r in runs if "fit" in r]
    if not runs:
        return {"frames": 0}

    def cat(get: Any) -> np.ndarray:
        return np.concatenate([get(r) for r in runs])

    out: dict[str, Any] = {"frames": int(sum(r["both"].sum() for r in runs))}
    for who in ("fit", "mediapipe"):
        out[who] = {
            k: summary(cat(lambda r, w=who, k=k: r[w][k][r["both"]]))
            for k in ("pa_mm", "centroid_mm", "scaled_mm")
        }
    out["ratio"] = {
        k: {
            q: round(out["fit"][k][q] / out["mediapipe"][k][q], 3)
            if out["mediapipe"][k]["n"]
            else None
            for q in ("median", "p90")
        }
        for k in ("pa_mm", "centroid_mm", "scaled_mm")
    }
    out["fit_pa24_mm"] = summary(cat(lambda r: r["fit_pa24_mm"]))
    order = {w: [x for r in runs for x in r["order"][w]] for w in ("fit", "mediapipe")}
    out["order"] = {
        w: {"accuracy": round(float(np.mean(v)), 3) if v else None, "n": len(v)}
        for w, v in order.items()
    }
    out["variants"] = {}
    for wt in runs[0]["variants"]:
        fw: dict[str, Any] = {
            k: summary(cat(lambda r, w=wt, k=k: r["variants"][w][k][r["both"]]))
            for k in ("pa_mm", "scaled_mm")
        }
        fw["ratio_pa"] = {
            q: round(fw["pa_mm"][q] / out["mediapipe"]["pa_mm"][q], 3)
            if out["mediapipe"]["pa_mm"]["n"]
            else None
            for q in ("median", "p90")
        }
        o = [x for r in runs for x in r["variants"][wt]["order"]]
        fw["order"] = {"accuracy": round(float(np.mean(o)), 3) if o else None, "n": len(o)}
        out["variants"][str(wt)] = fw
    out["mask_iou"] = summary(cat(lambda r: r["mask_iou"]), low_is_bad=True)
    out["joints2d_px"] = {
        g: {
            s: summary(cat(lambda r, g=g, s=s: r["joints2d"][g][s]))["median"]
            for s in ("pose2d", "raw")
        }
        for g in GROUPS
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=["test", "dev", "both"], default="test")
    ap.add_argument("--tiny", action="store_true", help="two motion types, no multi-view")
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: temporary)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--table-only", action="store_true", help="rewrite the docs table only")
    ap.add_argument(
        "--variants",
        nargs="*",
        default=[],
        help="also fit with these FitConfig overrides, e.g. 'w_world=0,estimate_distance=0'",
    )
    args = ap.parse_args()
    from hpt_data.docs_gen import rewrite_between_markers

    if args.table_only:
        rewrite_between_markers(DOC, BEGIN, END, doc_table(json.loads(RESULTS.read_text())))
        return
    from fit_bench.render import render_clip
    from tqdm import tqdm

    from hpt_data.body import load_body_model
    from hpt_data.fitting.fitter import FitConfig, Fitter

    splits = ("dev", "test") if args.split == "both" else (args.split,)
    root = args.out or Path(tempfile.mkdtemp(prefix="fit_anny_"))
    (root / "clips").mkdir(parents=True, exist_ok=True)
    body = load_body_model()
    fitter = Fitter(body, FitConfig(device="cpu"))
    world_fitters = {
        v: Fitter(body, FitConfig(device="cpu", **parse_variant(v))) for v in args.variants
    }
    report: dict[str, Any] = {
        "benchmark": "fit_anny",
        "clip_set_version": CLIP_SET_VERSION,
        "frames_per_view": FRAMES,
        "resolution": [WIDTH, HEIGHT],
        "tiny": args.tiny,
        "variants": args.variants,
        "splits": {},
    }
    t_render = t_perceive = 0.0
    for split in splits:
        plans = plan((split,), tiny=args.tiny)
        per_type: dict[str, list[dict[str, Any]]] = {}
        clips: dict[str, Any] = {}
        fit_s, fit_cpu, fit_frames = 0.0, 0.0, 0
        multiview: dict[str, Any] = {}
        for p in tqdm(plans, desc=f"{split} clips"):
            t0 = time.perf_counter()
            views = render_clip(p, root / "clips")
            t_render += time.perf_counter() - t0
            t0 = time.perf_counter()
            runs = [run_view(v, root / "work", fitter, world_fitters) for v in views]
            t_perceive += time.perf_counter() - t0 - sum(r["seconds"] for r in runs)
            fit_s += sum(r["seconds"] for r in runs)  # the plain fits only
            fit_cpu += sum(r["cpu_seconds"] for r in runs)
            fit_frames += sum(len(r["frames"]) for r in runs if "fit" in r)
            per_type.setdefault(p.motion_type, []).extend(runs)
            clips[p.clip_id] = {
                "motion": p.motion,
                "phenotype": dict(zip(PHENOTYPES, p.phenotype, strict=True)),
                "age_years": p.age_years,
                "views": [v.record for v in views],
                "fitted_frames": [len(r["frames"]) for r in runs],
            }
            if len(views) > 1 and all("fit" in r for r in runs):
                common = sorted(set.intersection(*(set(r["frames"]) for r in runs)))
                fits = [r["joints3d"][[r["frames"].index(i) for i in common]] for r in runs]
                mpw = [r["mp_world10"][[r["frames"].index(i) for i in common]] for r in runs]
                ok = np.all([np.isfinite(m).all((1, 2)) for m in mpw], axis=0)
                multiview = {
                    "instants": len(common),
                    "fit_pa24_mm": summary(multiview_pa(fits)),
                    "mediapipe_pa10_mm": summary(multiview_pa([m[ok] for m in mpw])),
                }
        report["splits"][split] = {
            "motion_types": {k: aggregate(v) for k, v in per_type.items()},
            "all": aggregate([r for v in per_type.values() for r in v]),
            "multiview": multiview,
            "distance": distance_figures([r for v in per_type.values() for r in v]),
            "clips": clips,
            "speed": {
                "fitted_frames": fit_frames,
                "fit_seconds": round(fit_s, 2),
                "frames_per_second": round(fit_frames / max(fit_s, 1e-9), 2),
                # per second of the fitting process's CPU time: the speed on an idle core
                "cpu_frames_per_second": round(fit_frames / max(fit_cpu, 1e-9), 2),
                "torch_threads": fitter.config.threads,
            },
        }
        for mt, a in report["splits"][split]["motion_types"].items():
            if a.get("frames"):
                f, m, o = a["fit"]["pa_mm"], a["mediapipe"]["pa_mm"], a["order"]
                print(
                    f"{split} {mt:16s} fit PA {f['median']:6.1f}/{f['p90']:6.1f}  MP PA "
                    f"{m['median']:6.1f}/{m['p90']:6.1f}  ratio {a['ratio']['pa_mm']['median']}  "
                    f"order fit {o['fit']['accuracy']} mp {o['mediapipe']['accuracy']}",
                    flush=True,
                )
    report["render_s"] = round(t_render, 1)
    report["perception_s"] = round(t_perceive, 1)
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["cpus"] = os.cpu_count()
    report["notes"] = (
        "median/p90 over frames where both the fit and MediaPipe's world landmarks exist; "
        "mask_iou 'p90' is its 10th percentile; tune on dev, report test"
    )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1, allow_nan=False, default=float) + "\n")
    print(f"wrote {args.results}")
    if args.results == RESULTS and not args.tiny:
        rewrite_between_markers(DOC, BEGIN, END, doc_table(report))


if __name__ == "__main__":
    main()
