"""Every person in a frame: recall by size, false alarms on one-person clips, and cost.

Renders synthetic clips with three people (``people_per_clip: 3``: the performer, a
crosser walking behind them, a small bystander far behind) and clips with one, runs
:func:`hpt_data.perception.people.find_people` on every decoded frame, and matches its
boxes (the box of each person's 33 landmarks) to the true ones (the box of each body's
projected vertices, clipped to the frame) at IoU >= 0.5, greedily by IoU.

- *Recall* counts the people at least half of whose body shows (visible pixels / pixels
  when rendered alone >= 0.5), by size: the true box's height over the frame's,
  large >= 0.5, medium 0.3-0.5, small < 0.3.
- *False alarms*: detections matching no true person (at IoU >= 0.3, hidden ones too);
  on one-person clips, also the frames with more than one detection (such a frame would
  be flagged).
- *Speed*: ms per frame of ``find_people`` on the one-person frames, beside the MediaPipe
  work remove-bg does per frame today (Pose with segmentation, static, and Selfie
  Segmentation), one thread, same frames, same process, taken in turns frame by frame so
  that other load on the machine weighs on both alike; the ratio is the figure to read.

Thresholds are chosen on the dev seeds; the test seeds are only reported.

Writes ``benchmarks/results/people_detection.json`` and the table in ``docs/perception.md``
("Several people"); ``--table-only`` rewrites that table from the results file.

Usage: ``python benchmarks/people_detection.py [--seconds 2] [--fps 5] [--persons 4]``
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from hpt_data.docs_gen import rewrite_between_markers
from hpt_data.perception.anchors import box_iou
from hpt_data.perception.people import PeopleOptions, find_people
from hpt_data.sources.synthetic import SyntheticOptions, SyntheticSource
from hpt_data.sources.synthetic.ground_truth import load_ground_truth

#: Speed only: the detector on the whole frame, no landmarks (what remove-bg needs to know
#: whether and where others stand, its own Pose call giving the performer's landmarks).
DETECTOR_ONLY = "detector only, full frame"
#: The issue's limit on what detection may add per frame, as a share of remove-bg's cost.
BUDGET = 0.30
RESULTS = Path(__file__).resolve().parent / "results" / "people_detection.json"
DOC = Path(__file__).resolve().parent.parent / "docs" / "perception.md"
BEGIN = "<!-- people_detection:begin (written by benchmarks/people_detection.py) -->"
END = "<!-- people_detection:end -->"
SIZES = (("large", 0.5, 9.0), ("medium", 0.3, 0.5), ("small", 0.0, 0.3))
DEV_SEEDS, TEST_SEEDS, SINGLE_SEED = (101,), (202, 203), 303
CONFIGS: dict[str, PeopleOptions | str] = {
    "full frame, score 0.5": PeopleOptions(),
    "full frame, score 0.3": PeopleOptions(min_score=0.3),
    "+ tiles zoom 1.5": PeopleOptions(zoom=(1.5,)),
    "+ tiles zoom 2": PeopleOptions(zoom=(2.0,)),
    "+ tiles zoom 1.5 and 2": PeopleOptions(zoom=(1.5, 2.0)),
    "+ tiles zoom 1.5 and 2, score 0.3": PeopleOptions(zoom=(1.5, 2.0), min_score=0.3),
    "OpenCV HOG people detector": "OpenCV HOG people detector",
}


def _frames(path: str) -> list[np.ndarray]:
    cap = cv2.VideoCapture(path)
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


def _render(root: Path, opts: SyntheticOptions) -> list[tuple[list[np.ndarray], dict]]:
    src = SyntheticSource(root, opts)
    clips = []
    for v in tqdm(src.scan().videos, desc=f"render seed {opts.seed}", leave=False):
        src.materialize(v)
        clips.append((_frames(v.path), load_ground_truth(str(v.ground_truth))))
    return clips


def _truth_boxes(gt: dict, i: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame i: clipped boxes (P, 4), visible share (P,), height share (P,)."""
    if "people_boxes" in gt:
        boxes = gt["people_boxes"][:, i].astype(np.float64)
        vis = gt["people_pixels"][:, i] / np.maximum(gt["people_amodal_pixels"][:, i], 1)
    else:
        ys, xs = np.nonzero(gt["mask"][i])
        boxes = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float64)
        vis = np.ones(1)
    clipped = np.clip(boxes, 0, [w, h, w, h])
    return clipped, vis, (boxes[:, 3] - boxes[:, 1]) / h


def _match(dets: np.ndarray, truth: np.ndarray, thr: float) -> dict[int, int]:
    """Greedy one-to-one matching by IoU >= thr: {truth index: detection index}."""
    pairs = []
    for j, t in enumerate(truth):
        if len(dets):
            for d, iou in enumerate(box_iou(t, dets)):
                if iou >= thr:
                    pairs.append((iou, j, d))
    out: dict[int, int] = {}
    used: set[int] = set()
    for _, j, d in sorted(pairs, reverse=True):
        if j not in out and d not in used:
            out[j] = d
            used.add(d)
    return out


Detector = PeopleOptions | str


def boxes_of(rgb: np.ndarray, detector: Detector) -> np.ndarray:
    """(N, 4) person boxes: ``find_people`` with the options, or the named other detector."""
    if isinstance(detector, str):
        return OTHERS[detector](rgb)
    return np.array([p.box for p in find_people(rgb, detector)]).reshape(-1, 4)


def hog_people(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's HOG + linear SVM pedestrian detector (Dalal & Triggs; its weights ship in
    the OpenCV wheel): multi-scale, SVM margin > 0.5, greedy NMS at IoU 0.45, boxes shrunk
    to the person inside the 64x128 window (it holds a 96-px person: 1/8 margins)."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    rects, weights = hog.detectMultiScale(rgb, winStride=(8, 8), padding=(8, 8), scale=1.05)
    if len(rects) == 0:
        return np.zeros((0, 4))
    r = np.asarray(rects, np.float64)
    w = np.asarray(weights, np.float64).reshape(-1)
    boxes = np.stack(
        [r[:, 0] + r[:, 2] / 8, r[:, 1] + r[:, 3] / 16, r[:, 0] + r[:, 2] * 7 / 8,
         r[:, 1] + r[:, 3] * 15 / 16], axis=1,
    )  # fmt: skip
    keep: list[int] = []
    for i in np.argsort(-w):
        if w[i] > 0.5 and (not keep or box_iou(boxes[i], boxes[keep]).max() <= 0.45):
            keep.append(int(i))
    return boxes[keep]


OTHERS = {"OpenCV HOG people detector": hog_people}


def evaluate(clips: list, detector: Detector) -> dict:
    """Recall by size and false alarms over ``clips``."""
    found = {name: 0 for name, *_ in SIZES}
    total = {name: 0 for name, *_ in SIZES}
    false_alarms = frames = flagged = 0
    for rgbs, gt in clips:
        for i, rgb in enumerate(rgbs):
            h, w = rgb.shape[:2]
            dets = boxes_of(rgb, detector)
            truth, vis, height = _truth_boxes(gt, i, w, h)
            hits = _match(dets, truth, 0.5)
            for j in range(len(truth)):
                if vis[j] < 0.5:
                    continue
                size = next(n for n, lo, hi in SIZES if lo <= height[j] < hi)
                total[size] += 1
                found[size] += j in hits
            loose = _match(dets, truth, 0.3)
            false_alarms += len(dets) - len(set(loose.values()) | set(hits.values()))
            flagged += len(dets) > 1
            frames += 1
    recall = {k: (found[k] / total[k] if total[k] else None) for k in found}
    return {
        "recall": recall,
        "people": total,
        "found": found,
        "false_alarms_per_frame": false_alarms / max(frames, 1),
        "frames_with_several": flagged,
        "frames": frames,
    }


def speed(clips: list) -> dict[str, float]:
    """ms per frame of the MediaPipe calls remove-bg makes per frame today
    (``"remove-bg"``) and of each config, taken in turns on every frame."""
    from hpt_data.stages.mediapipe_models import pose_model, run_pose, run_selfie

    model = pose_model(True, True)
    seconds = dict.fromkeys(["remove-bg", DETECTOR_ONLY, *CONFIGS], 0.0)
    frames = [rgb for rgbs, _ in clips for rgb in rgbs]
    find_people(frames[0])  # load the models before timing
    for rgb in tqdm(frames, desc="speed", leave=False):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        t0 = time.perf_counter()
        run_pose(model, bgr)
        run_selfie(bgr)
        seconds["remove-bg"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        find_people(rgb, landmarks=False)
        seconds[DETECTOR_ONLY] += time.perf_counter() - t0
        for name, opts in CONFIGS.items():
            t0 = time.perf_counter()
            boxes_of(rgb, opts)
            seconds[name] += time.perf_counter() - t0
    return {k: 1000 * v / len(frames) for k, v in seconds.items()}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def doc_table(r: dict) -> str:
    """The docs' table of the results: one row per detector set-up."""
    t0 = next(iter(r["configs"].values()))["test"]
    counts = ", ".join(f"{k} {v}" for k, v in t0["people"].items())
    rows = [
        "| set-up | recall large / medium / small (test) | false alarms per frame (3 people) "
        "| one-person frames with several found | ms per frame | cost vs remove-bg |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in r["configs"].items():
        rec = " / ".join(_pct(v) for v in c["test"]["recall"].values())
        s = c["single"]
        rows.append(
            f"| {name} | {rec} | {c['test']['false_alarms_per_frame']:.2f} | "
            f"{s['frames_with_several']} of {s['frames']} | {c['ms_per_frame']:.0f} | "
            f"+{c['cost_over_remove_bg']:.0%} |"
        )
    rb, det = r["remove_bg_ms_per_frame"], r["detector_only_ms_per_frame"]
    rows += [
        "",
        f"Test seeds {', '.join(map(str, r['seeds']['test']))} ({counts} people counted); "
        f"dev seeds {', '.join(map(str, r['seeds']['dev']))}; one-person seed "
        f"{r['seeds']['single']}. remove-bg's MediaPipe calls: {rb:.0f} ms per frame; the "
        f"detector alone on the whole frame: {det:.0f} ms (+{det / rb:.0%}). Chosen on the dev "
        f"seeds: {r['chosen']}; within +{r['budget']:.0%}: {r['chosen_within_budget'] or 'none'}.",
    ]
    return "\n".join(rows)


def write_doc(r: dict, doc: Path = DOC) -> None:
    rewrite_between_markers(doc, BEGIN, END, doc_table(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="clip length")
    ap.add_argument("--fps", type=int, default=5, help="frames per second of the clips")
    ap.add_argument("--persons", type=int, default=4, help="clips per seed (one per performer)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results file")
    ap.add_argument("--table-only", action="store_true", help="rewrite the docs table only")
    args = ap.parse_args()
    if args.table_only:
        write_doc(json.loads(args.out.read_text()))
        return
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:

        def clips(seed: int, people: int) -> list:
            opts = SyntheticOptions(
                persons=args.persons,
                clips_per_person=1,
                seconds=args.seconds,
                fps=args.fps,
                seed=seed,
                people_per_clip=people,
            )
            return _render(Path(tmp) / f"s{seed}-{people}", opts)

        dev = [c for s in DEV_SEEDS for c in clips(s, 3)]
        test = [c for s in TEST_SEEDS for c in clips(s, 3)]
        single = clips(SINGLE_SEED, 1)
        results: dict = {
            "configs": {},
            "seeds": {"dev": DEV_SEEDS, "test": TEST_SEEDS, "single": SINGLE_SEED},
        }
        for name, opts in tqdm(CONFIGS.items(), desc="configs"):
            results["configs"][name] = {
                "options": asdict(opts) if isinstance(opts, PeopleOptions) else opts,
                "dev": evaluate(dev, opts),
                "single": evaluate(single, opts),
            }
        ms = speed(single)
        results["remove_bg_ms_per_frame"] = ms["remove-bg"]
        results["detector_only_ms_per_frame"] = ms[DETECTOR_ONLY]
        for name in CONFIGS:
            results["configs"][name]["ms_per_frame"] = ms[name]
            results["configs"][name]["cost_over_remove_bg"] = ms[name] / ms["remove-bg"]
        # the choice, on dev only: most people found with no one-person frame flagged, and
        # the same among the configs within the issue's budget (+30 % over remove-bg)
        cfg = results["configs"]
        clean = [n for n in CONFIGS if cfg[n]["single"]["frames_with_several"] == 0]
        cheap = [n for n in clean if cfg[n]["cost_over_remove_bg"] <= BUDGET]

        def found(n: str) -> int:
            return sum(cfg[n]["dev"]["found"].values())

        results["chosen"] = max(clean or list(CONFIGS), key=found)
        results["chosen_within_budget"] = max(cheap, key=found) if cheap else None
        results["budget"] = BUDGET
        for name, opts in CONFIGS.items():
            cfg[name]["test"] = evaluate(test, opts)
    results["setup"] = {
        "seconds": args.seconds,
        "fps": args.fps,
        "clips_per_seed": args.persons,
        "size": "480x640",
        "machine": platform.processor() or platform.machine(),
        "threads": 1,
    }
    rb = results["remove_bg_ms_per_frame"]
    print(f"{'config':32} {'large':>7} {'medium':>7} {'small':>7} {'FA/fr':>6} {'1p flag':>7} ms")
    for name, r in results["configs"].items():
        t = r["test"]["recall"]
        cells = " ".join(f"{t[k]:7.2f}" if t[k] is not None else "      -" for k in t)
        s = r["single"]
        print(
            f"{name:32} {cells} {r['test']['false_alarms_per_frame']:6.2f} "
            f"{s['frames_with_several']:3d}/{s['frames']:<3d} {r['ms_per_frame']:.0f}"
        )
    print(
        f"remove-bg MediaPipe calls today: {rb:.0f} ms/frame; {DETECTOR_ONLY}: "
        f"{results['detector_only_ms_per_frame']:.0f} ms/frame; chosen on dev: "
        f"{results['chosen']}; within +{BUDGET:.0%}: {results['chosen_within_budget']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.out == RESULTS:
        write_doc(results)


if __name__ == "__main__":
    main()
