"""remove-bg keeping one person among several: the performer kept, id switches, mask and
2D accuracy, flags on one-person clips, and the cost per frame against the MediaPipe calls
remove-bg made before (issue 17's figures).

Renders synthetic clips with three people (``people_per_clip: 3``: performer, crosser,
small bystander) and clips with one, runs sample-frames (every frame), remove-bg
(``person: main``) and pose2d (Pose run again on the crops, and its default: the landmarks
taken from remove-bg) on each clip in this process, and compares with the per-person ground truth:

- *performer kept*: frames whose kept person's box (remove-bg's ``people.npz``) matches
  the performer's true box at IoU >= 0.5, over all frames;
- *id switches*: changes of the kept person's track id from one frame to the next where
  one is kept (0 when one track is the performer throughout);
- *mask IoU*: remove-bg's mask against the performer's true mask cut by the same window;
- *2D error*: pose2d's landmarks against the performer's true points, pixels of the 1024
  crop (the joints of ``benchmarks/perception.py``);
- *flags*: ``several_people`` on the one-person clips (must be none), and on the clips of
  three (another person over the performer);
- *person: all* (on the clips of three): remove-bg again with ``person: all`` (its
  default ``min_track_frames``); a person counts as *visible for 1 s* when, in at least
  ``fps`` frames, their visible pixels (``people_pixels``) cover at least remove-bg's
  ``min_person_area`` of the frame *and* are at least half of the pixels they would show
  with no one in front (``people_amodal_pixels``: the body rendered alone), and as *a
  clip* when one clip's track box matches theirs at IoU >= 0.5 in most of the track's
  frames; clips matching no person who shows any part of themselves (the pixel floor
  alone) in ``fps`` frames are *extra*; for those missed, the longest track that matched
  them, in frames. Why half: the pixel floor alone (0.2 % of the frame, ~600 px at
  480x640) is reached by a crosser walking right behind the performer with a strip of
  shoulder and hair (test seed 203: 7-21 % of the body in view in 12 of 16 frames, at
  least half in 2); no detector finds a person from that, and issue 17's "visible" means
  a person one could point at. A person half hidden is still counted (seed 202's
  bystander shows 61-66 % beside the performer throughout). Both counts are reported:
  ``expected``/``found`` (half in view) and ``expected_any_part``/``found_any_part``
  (the pixel floor alone, this benchmark's definition before);
- *cost*: ms per frame, one thread, on the one-person frames, taken in turns frame by frame:
  the MediaPipe calls of remove-bg before this work (Pose, static, segmentation on, plus
  Selfie Segmentation) against what remove-bg runs now per frame to find people (the
  person detector every ``detect_every`` frames and on zoomed tiles every ``rescan_every``,
  the landmark model with masks on each
  person, the kept person's matte; not the landmark pass on the crop, which replaces
  pose2d's Pose pass).

Writes ``benchmarks/results/people_tracking.json`` and its table in ``docs/perception.md``
(``--table-only`` rewrites the table from the results file).

Usage: ``python benchmarks/people_tracking.py [--persons 2] [--seconds 2] [--fps 8]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from hpt_data.errors import StageError
from hpt_data.keypoints import MEDIAPIPE_TO_LANDMARK, MEDIAPIPE_TO_SMPL_JOINT
from hpt_data.perception.anchors import box_iou
from hpt_data.sources.base import VideoRecord
from hpt_data.sources.synthetic import SyntheticOptions, SyntheticSource
from hpt_data.sources.synthetic.ground_truth import load_ground_truth
from hpt_data.stages.base import StageContext
from hpt_data.stages.outputs import Crops, Frames
from hpt_data.stages.outputs.people import People
from hpt_data.stages.outputs.person_clips import PersonClips
from hpt_data.stages.pose2d import Pose2D, Pose2DSettings
from hpt_data.stages.remove_bg import RemoveBackground, RemoveBgSettings
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings
from hpt_data.video import VideoReader

RESULTS = Path(__file__).resolve().parent / "results" / "people_tracking.json"
DOC = Path(__file__).resolve().parent.parent / "docs" / "perception.md"
BEGIN = "<!-- people_tracking:begin (written by benchmarks/people_tracking.py) -->"
END = "<!-- people_tracking:end -->"
CROWD_SEEDS, SINGLE_SEED = (202, 203), 303
#: A person is visible in a frame where at least this share of their body shows (module doc).
MIN_SHOWN = 0.5
TARGETS = {"kept": 0.98, "switches": 1, "mask_iou": 0.90, "error_px": 12.0, "cost": 0.30}


def _render(root: Path, seed: int, people: int, args: argparse.Namespace) -> list[VideoRecord]:
    opts = SyntheticOptions(
        persons=args.persons,
        clips_per_person=1,
        seconds=args.seconds,
        fps=args.fps,
        seed=seed,
        people_per_clip=people,
    )
    src = SyntheticSource(root / f"s{seed}-{people}", opts)
    videos = src.scan().videos
    for v in tqdm(videos, desc=f"render seed {seed}", leave=False):
        if not src.is_materialized(v):
            src.materialize(v)
    return videos


def _stages(video: VideoRecord, work: Path, all_mode: bool) -> tuple[Path, dict[str, Path]]:
    """sample-frames, remove-bg, pose2d (detect) and pose2d (from remove-bg) on one clip;
    with ``all_mode`` also remove-bg with ``person: all`` (``rb_all``)."""
    rec = VideoRecord(video.video_id, video.person_id, "test", video.path)
    keys = ("f", "rb", "pose", "pose_reuse") + (("rb_all",) if all_mode else ())
    # the frames where a crop set (crop_file: matte) looks for them: sample-frames beside it
    dirs = {k: work / video.video_id / (Frames.STAGE if k == "f" else k) for k in keys}
    for d in dirs.values():
        d.mkdir(parents=True)
    SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(rec, {}, dirs["f"]))
    RemoveBackground(RemoveBgSettings()).run(
        StageContext(rec, {"sample-frames": dirs["f"]}, dirs["rb"])
    )
    if all_mode:
        with contextlib.suppress(StageError):  # no clip at all: everyone visible is missed
            RemoveBackground(RemoveBgSettings(person="all")).run(
                StageContext(rec, {"sample-frames": dirs["f"]}, dirs["rb_all"])
            )
    for key, how in (("pose", "detect"), ("pose_reuse", "remove-bg")):
        Pose2D(Pose2DSettings(landmarks=how)).run(
            StageContext(rec, {"remove-bg": dirs["rb"]}, dirs[key])
        )
    return Path(str(video.ground_truth)), dirs


def _truth_points(gt: dict, index: int) -> tuple[np.ndarray, np.ndarray]:
    names = list(gt["landmark_names"])
    pts, has = np.zeros((33, 2)), np.zeros(33, bool)
    for mp, joint in MEDIAPIPE_TO_SMPL_JOINT.items():
        pts[mp], has[mp] = gt["joints2d"][index, joint] + 0.5, True
    for mp, name in MEDIAPIPE_TO_LANDMARK.items():
        pts[mp], has[mp] = gt["landmarks2d"][index, names.index(name)] + 0.5, True
    return pts, has


def evaluate(gt_path: Path, dirs: dict[str, Path]) -> dict:
    """One clip's figures (see the module doc)."""
    gt = load_ground_truth(str(gt_path))
    crops, people = Crops.read(dirs["rb"]), People.read(dirs["rb"])
    poses = {}
    for key in ("pose", "pose_reuse"):
        with np.load(dirs[key] / "pose2d.npz") as data:
            poses[key] = {k: data[k] for k in ("landmarks_crop", "found")}
    rows = {
        int(e["index"]): e["row"]
        for e in json.loads((dirs["pose"] / "frames.json").read_text())["frames"]
    }
    kept = switches = 0
    last: int | None = None
    ious: list[float] = []
    errors: dict[str, list[float]] = {"pose": [], "pose_reuse": []}
    flags = 0
    for pos, entry in enumerate(crops.frames):
        flags += "several_people" in entry.flags
        row = int(people.kept[pos])
        if row < 0:
            continue
        track = int(people.track[row])
        switches += last is not None and track != last
        last = track
        if "people_boxes" in gt:
            truth = gt["people_boxes"][0, entry.index].astype(np.float64)
        else:
            ys, xs = np.nonzero(gt["mask"][entry.index])
            truth = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        kept += box_iou(people.boxes[row].astype(np.float64), truth[None])[0] >= 0.5
        if not entry.mask:
            continue
        w = entry.window
        tm = w.cut(gt["mask"][entry.index].astype(np.float32), 0.0, cv2.INTER_AREA) >= 0.5
        mask = crops.mask(entry)
        ious.append(float((tm & mask).sum() / max((tm | mask).sum(), 1)))
        r = rows.get(entry.index)
        pts, has = _truth_points(gt, entry.index)
        for key, pose in poses.items():
            if r is not None and pose["found"][r]:
                err = np.linalg.norm(pose["landmarks_crop"][r, :, :2] - w.to_crop(pts), axis=1)
                errors[key].extend(err[has].tolist())
    return {
        "frames": len(crops.frames),
        "kept": int(kept),
        "switches": int(switches),
        "ious": ious,
        "errors": errors,
        "several_people": flags,
    }


def evaluate_all(gt_path: Path, folder: Path, fps: int) -> dict:
    """``person: all`` on one clip: the people visible for 1 s, which of them are clips,
    and the clips that are no such person (see the module doc)."""
    gt = load_ground_truth(str(gt_path))
    frame_area = gt["people_instance"].shape[1] * gt["people_instance"].shape[2]
    floor = RemoveBgSettings().min_person_area * frame_area
    roles = [str(r) for r in gt["people_roles"]]
    pixels = gt["people_pixels"].astype(np.float64)
    seen = pixels >= floor
    shown = pixels >= MIN_SHOWN * gt["people_amodal_pixels"]
    any_part = [k for k in range(len(roles)) if seen[k].sum() >= fps]
    visible = [k for k in any_part if (seen[k] & shown[k]).sum() >= fps]
    matched: list[int | None] = []  # per clip: the true person it is
    longest = [0] * len(roles)  # per true person: frames of their longest track
    if PersonClips.present(folder):
        people = People.read(folder)
        clips = {c.track for c in PersonClips.read(folder).clips}
        pos = np.searchsorted(np.cumsum(people.count), np.arange(len(people.track)), "right")
        for track in sorted(set(people.track.tolist())):
            rows = np.nonzero(people.track == track)[0]
            votes = []
            for row in rows:
                truth = gt["people_boxes"][:, int(people.frame_index[pos[row]])]
                iou = box_iou(people.boxes[row].astype(np.float64), truth.astype(np.float64))
                votes.append(int(np.argmax(iou)) if iou.max() >= 0.5 else -1)
            best = max(set(votes), key=votes.count)
            person = best if best >= 0 and votes.count(best) * 2 > len(votes) else None
            if person is not None:
                longest[person] = max(longest[person], len(rows))
            if track in clips:
                matched.append(person)
    boxes = gt["people_boxes"].astype(np.float64)
    heights = np.median(boxes[:, :, 3] - boxes[:, :, 1], axis=1)
    return {
        "visible": [roles[k] for k in visible],
        "visible_any_part": [roles[k] for k in any_part],
        "clips": [roles[k] if k is not None else None for k in matched],
        "found": [roles[k] for k in visible if k in matched],
        "found_any_part": [roles[k] for k in any_part if k in matched],
        "extra": sum(k is None or k not in any_part for k in matched),
        "longest_track": {roles[k]: longest[k] for k in any_part},
        # frames where at least half of them is in view (no one in front of that half)
        "half_visible_frames": {roles[k]: int((seen[k] & shown[k]).sum()) for k in any_part},
        "height_px": {roles[k]: float(heights[k]) for k in any_part},
    }


def speed(frames: list[np.ndarray]) -> dict[str, float]:
    """ms per frame: remove-bg's MediaPipe calls before, and its people work now."""
    from hpt_data.perception.follow import follow_frame
    from hpt_data.perception.masks import kept_matte
    from hpt_data.perception.people import PeopleOptions
    from hpt_data.perception.tracking import Tracker, frame_prominence
    from hpt_data.stages._remove_bg_parts import rescans
    from hpt_data.stages.mediapipe_models import pose_model, run_pose, run_selfie
    from hpt_data.stages.remove_bg import find_frame_people

    settings = RemoveBgSettings()
    options = PeopleOptions(min_score=settings.min_detection_confidence)
    every = rescans(settings.rescan_every, settings.person)  # the stage's own rule
    model = pose_model(True, True)
    run_pose(model, frames[0])
    find_frame_people(frames[0], settings)
    seconds = {"before": 0.0, "now": 0.0}
    tracker = Tracker()  # the clips one after the other: a new clip is a person lost
    for pos, bgr in enumerate(tqdm(frames, desc="speed", leave=False)):
        t0 = time.perf_counter()
        run_pose(model, bgr)
        run_selfie(bgr)
        seconds["before"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        h, w = bgr.shape[:2]
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        people = follow_frame(rgb, tracker, pos, settings.detect_every, options, every)
        if people:
            keep = max(range(len(people)), key=lambda i: frame_prominence(people[i].box, w, h))
            kept_matte(people, keep, w, h)
        seconds["now"] += time.perf_counter() - t0
    return {k: 1000 * v / len(frames) for k, v in seconds.items()}


def _frames(path: str) -> list[np.ndarray]:
    """Every decoded frame of the video at ``path``: (H, W, 3) uint8 BGR each."""
    return [f.image for f in VideoReader(path).frames()]


def _all_summary(clips: list[dict]) -> dict:
    """Over the clips of three: people visible for 1 s, those that are clips, by role."""
    roles = sorted({r for c in clips for r in c["visible"]})
    out: dict = {
        "expected": sum(len(c["visible"]) for c in clips),
        "found": sum(len(c["found"]) for c in clips),
        "expected_any_part": sum(len(c["visible_any_part"]) for c in clips),
        "found_any_part": sum(len(c["found_any_part"]) for c in clips),
        "extra_clips": sum(c["extra"] for c in clips),
        "min_track_frames": RemoveBgSettings().min_track_frames,
    }
    out["by_role"] = {
        r: [sum(c["found"].count(r) for c in clips), sum(c["visible"].count(r) for c in clips)]
        for r in roles
    }
    # each person showing a part of themselves for 1 s but no clip: role, whether visible
    # for 1 s (half in view), longest track, frames half in view, median height (pixels)
    out["missed"] = [
        {
            "role": r,
            "visible": r in c["visible"],
            "longest_track": c["longest_track"][r],
            "half_visible_frames": c.get("half_visible_frames", {}).get(r),
            "height_px": c.get("height_px", {}).get(r),
        }
        for c in clips
        for r in c["visible_any_part"]
        if r not in c["found_any_part"]
    ]
    # of the people visible for 1 s but no clip: their longest track, in frames
    out["missed_longest_track"] = {
        r: max(
            (c["longest_track"][r] for c in clips if r in c["visible"] and r not in c["found"]),
            default=None,
        )
        for r in roles
    }
    return out


def _summary(clips: list[dict]) -> dict:
    ious = [x for c in clips for x in c["ious"]]
    frames = sum(c["frames"] for c in clips)
    out = {
        "clips": len(clips),
        "frames": frames,
        "performer_kept": sum(c["kept"] for c in clips) / max(frames, 1),
        "switches_per_clip_max": max(c["switches"] for c in clips),
        "switches_total": sum(c["switches"] for c in clips),
        "mask_iou_median": float(np.median(ious)) if ious else None,
        "mask_iou_min": float(np.min(ious)) if ious else None,
        "several_people_frames": sum(c["several_people"] for c in clips),
    }
    for key, name in (
        ("pose", "error_px_median"),
        ("pose_reuse", "error_px_median_from_remove_bg"),
    ):
        errs = [x for c in clips for x in c["errors"][key]]
        out[name] = float(np.median(errs)) if errs else None
    return out


def doc_table(r: dict) -> str:
    """The docs' table of the results, each figure beside issue 17's target."""
    t = r["targets"]
    rows = [
        "| clips | performer kept | id switches per clip (max) | mask IoU median (min) "
        "| 2D median at 1024, Pose again on the crop / from remove-bg (default) "
        "| frames flagged `several_people` |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, label in (("crowd", "3 people"), ("single", "1 person")):
        c = r[name]
        rows.append(
            f"| {label}: {c['clips']} clips, {c['frames']} frames | {c['performer_kept']:.1%} "
            f"| {c['switches_per_clip_max']} | {c['mask_iou_median']:.3f} "
            f"({c['mask_iou_min']:.3f}) | {c['error_px_median']:.1f} / "
            f"{c['error_px_median_from_remove_bg']:.1f} px | {c['several_people_frames']} |"
        )
    a = r.get("all_mode")
    if a is not None:
        by_role = ", ".join(f"{k} {f}/{n}" for k, (f, n) in sorted(a["by_role"].items()))
        rows += [
            "",
            f"`person: all` on the clips of three (`min_track_frames: {a['min_track_frames']}`):"
            f" every person visible for ≥ 1 s (at least half of them in view) is a clip for "
            f"{a['found']} of {a['expected']} ({by_role}); counting everyone who shows any part "
            f"of themselves (0.2 % of the frame) for 1 s, {a['found_any_part']} of "
            f"{a['expected_any_part']}; {a['extra_clips']} clips of no such person."
            + _missed(a, r["setup"]["fps"]),
        ]
    rows += [
        "",
        f"Targets (issue 17): kept ≥ {t['kept']:.0%}, ≤ {t['switches']} switch per clip, mask "
        f"IoU ≥ {t['mask_iou']:.2f}, 2D median ≤ {t['error_px']:.0f} px, no flag on one-person "
        f"clips, cost ≤ +{t['cost']:.0%}. Cost per frame: {r['ms_per_frame_now']:.0f} ms now "
        f"against {r['ms_per_frame_before']:.0f} ms before ({r['cost_over_before']:+.0%}).",
    ]
    return "\n".join(rows)


def _missed(a: dict, fps: int) -> str:
    """Each person showing a part of themselves for 1 s that made no clip: their longest
    track and the frames in which at least half of them was in view."""
    each = [m for m in a.get("missed", []) if m.get("half_visible_frames") is not None]
    if not each:
        return ""
    text = ", ".join(
        f"{m['role']} tracked {m['longest_track']}, half in view in {m['half_visible_frames']}"
        f" ({m['height_px']:.0f} px tall{'' if m.get('visible', True) else ', not counted'})"
        for m in each
    )
    return f" Those missed (frames of {fps} per second): {text}."


def write_doc(r: dict, doc: Path = DOC) -> None:
    from hpt_data.docs_gen import rewrite_between_markers

    rewrite_between_markers(doc, BEGIN, END, doc_table(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=2, help="clips per seed")
    ap.add_argument("--seconds", type=float, default=2.0, help="clip length")
    ap.add_argument("--fps", type=int, default=8, help="frames per second of the clips")
    ap.add_argument("--data", type=Path, default=None, help="clip cache (default: temp)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--table-only", action="store_true", help="rewrite the docs table only")
    args = ap.parse_args()
    if args.table_only:
        write_doc(json.loads(args.out.read_text()))
        return
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="hpt-tracking-") as tmp:
        data = args.data or Path(tmp) / "clips"
        work = Path(tmp) / "work"
        groups: dict[str, list[dict]] = {"crowd": [], "single": []}
        all_mode: list[dict] = []
        single_frames: list[np.ndarray] = []
        for name, seeds, people in (("crowd", CROWD_SEEDS, 3), ("single", (SINGLE_SEED,), 1)):
            for seed in seeds:
                for video in _render(data, seed, people, args):
                    gt_path, dirs = _stages(video, work / name / str(seed), name == "crowd")
                    groups[name].append(evaluate(gt_path, dirs))
                    if name == "crowd":
                        all_mode.append(evaluate_all(gt_path, dirs["rb_all"], args.fps))
                    if name == "single":
                        single_frames += _frames(video.path)
        ms = speed(single_frames)
    result = {name: _summary(clips) for name, clips in groups.items()}
    result["per_clip"] = {
        name: [{k: v for k, v in c.items() if k not in ("ious", "errors")} for c in clips]
        for name, clips in groups.items()
    }
    result["all_mode"] = _all_summary(all_mode)
    result["per_clip"]["all_mode"] = all_mode
    result["ms_per_frame_before"] = ms["before"]
    result["ms_per_frame_now"] = ms["now"]
    result["cost_over_before"] = ms["now"] / ms["before"] - 1.0
    result["targets"] = TARGETS
    result["setup"] = {
        "seconds": args.seconds,
        "fps": args.fps,
        "clips_per_seed": args.persons,
        "crowd_seeds": CROWD_SEEDS,
        "single_seed": SINGLE_SEED,
        "size": "480x640",
        "threads": 1,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    if args.out == RESULTS:
        write_doc(result)
    for name in ("crowd", "single"):
        r = result[name]
        print(
            f"{name}: {r['clips']} clips, {r['frames']} frames; performer kept "
            f"{r['performer_kept']:.1%}; id switches max {r['switches_per_clip_max']} per clip; "
            f"mask IoU median {r['mask_iou_median']:.3f} (min {r['mask_iou_min']:.3f}); 2D median "
            f"{r['error_px_median']:.1f} px "
            f"(from remove-bg {r['error_px_median_from_remove_bg']:.1f}); "
            f"several_people frames {r['several_people_frames']}"
        )
    a = result["all_mode"]
    print(
        f"person: all: {a['found']} of {a['expected']} people visible for 1 s are clips "
        f"({a['by_role']}); {a['extra_clips']} extra clips"
    )
    print(
        f"cost per frame: before {ms['before']:.1f} ms, now {ms['now']:.1f} ms "
        f"({result['cost_over_before']:+.0%}); wrote {args.out}"
    )


if __name__ == "__main__":
    main()
