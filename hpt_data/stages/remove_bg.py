"""``remove-bg``: segment the person, crop a square around them, remove the background.

Per kept frame of ``sample-frames``:

1. MediaPipe Pose (complexity 1, segmentation on, one image at a time so that any frame can
   be redone alone) gives 33 landmarks and a soft matte of the person it found.
2. The matte is kept only on the connected parts of ``matte >= 0.5`` that touch the
   person's landmark box (stray blobs elsewhere are dropped); its bounding box is the
   person's box.
3. Flags (the frame stays in the index, marked, and is excluded from training):
   ``no_person`` (no pose, or a matte smaller than ``min_person_area`` of the frame);
   ``cut_by_edge`` (more than ``max_edge_cut`` of the person's extent, the box of the
   matte and of all 33 landmarks, which Pose places beyond the frame for body parts it
   does not see, lies outside the frame); ``several_people`` (Selfie Segmentation, which
   segments everyone in view, finds a region away from this person's matte of at least
   ``min_other_person`` of this person's area; see ``docs/perception.md`` for the limits).
4. A square window centred on the person's box, ``margin`` of its longer side added on
   each side, is resized to ``size`` (see ``hpt_data.crop`` for the transform) and the
   person is composited over ``background``.

Output folder::

    frames.json            per frame: source index and time, flags and reason, the box,
                           the crop window and its source->crop matrix, file names
    image/000012.png       the person over the background colour, size x size, BGR
    alpha/000012.png       the soft matte, uint8 (255 = person); only with ``alpha``
                           (``keep: all``): no later stage reads it
    mask/000012.png        the binary mask, uint8 0/255 (alpha >= 128)

A frame flagged ``no_person`` has no files. A video none of whose frames is usable fails
with a one-line reason. ``frames.json`` is written and read through
:class:`hpt_data.stages.outputs.Crops`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.crop import CropWindow
from hpt_data.errors import StageError
from hpt_data.stages._frames_io import PreviousOutput, write_image
from hpt_data.stages.base import Stage, StageContext, StageResult
from hpt_data.stages.outputs import Crop, Crops, Frames, SampledFrame

FLAG_TEXT = {
    "no_person": "no person found",
    "cut_by_edge": "the person is cut by the frame edge",
    "several_people": "more than one person in view",
}


@dataclass(frozen=True)
class RemoveBgSettings:
    """Keys under ``stages: remove-bg:`` in ``datasets.yaml``."""

    size: int = 1024  # side of the square crop, pixels
    margin: float = 0.1  # added on each side, as a fraction of the person box's longer side
    background: list[int] = field(default_factory=lambda: [255, 255, 255])  # RGB, 0..255
    max_edge_cut: float = 0.1  # flag when more of the person's extent lies outside the frame
    min_person_area: float = 0.002  # flag no_person below this fraction of the frame
    min_other_person: float = 0.15  # another person: a region this large relative to ours
    check_other_people: bool = True  # run Selfie Segmentation to look for other people
    min_detection_confidence: float = 0.5  # MediaPipe Pose detector threshold
    alpha: bool = False  # also keep the soft matte (alpha/); no later stage reads it

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"size must be at least 16, got {self.size}")
        if not 0 <= self.margin <= 1:
            raise ValueError(f"margin must be in [0, 1], got {self.margin}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(f"background must be 3 values in 0..255, got {self.background}")
        if not 0 <= self.max_edge_cut <= 1:
            raise ValueError(f"max_edge_cut must be in [0, 1], got {self.max_edge_cut}")
        if not 0 < self.min_detection_confidence < 1:
            raise ValueError("min_detection_confidence must be in (0, 1)")


@dataclass
class Segmentation:
    """One frame's person: ``landmarks`` (33, 5) and ``matte`` (H, W) float32 in source
    pixels, ``box`` (x0, y0, x1, y1) of ``matte >= 0.5``; empty fields when not found."""

    landmarks: np.ndarray | None
    matte: np.ndarray | None
    box: tuple[int, int, int, int] | None
    flags: list[str]
    facts: dict[str, Any]


def _landmark_box(lm: np.ndarray, min_vis: float = 0.5) -> tuple[float, float, float, float]:
    pts = lm[lm[:, 3] >= min_vis, :2]
    if len(pts) == 0:
        pts = lm[:, :2]
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    pad = 0.15 * max(x1 - x0, y1 - y0)
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad


def _keep_person_components(binary: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    """The connected parts of ``binary`` (H, W) bool that overlap ``box``."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    x0, y0, x1, y1 = box
    keep = np.zeros(n, bool)
    for k in range(1, n):
        bx, by, bw, bh = stats[k, :4]
        keep[k] = bx < x1 and bx + bw > x0 and by < y1 and by + bh > y0
    return keep[labels]


def segment_person(image: np.ndarray, settings: RemoveBgSettings) -> Segmentation:
    """Find and segment the person in one (H, W, 3) uint8 BGR frame, and flag problems."""
    import cv2

    from hpt_data.stages.mediapipe_models import pose_model, run_pose, run_selfie

    h, w = image.shape[:2]
    found = run_pose(pose_model(True, True, settings.min_detection_confidence), image)
    if found is None or found.mask is None:
        return Segmentation(None, None, None, ["no_person"], {})
    lm = found.landmarks
    binary = _keep_person_components(found.mask >= 0.5, _landmark_box(lm))
    area = float(binary.mean())
    if area < settings.min_person_area:
        return Segmentation(lm, None, None, ["no_person"], {"mask_area": round(area, 6)})
    matte = np.where(
        cv2.dilate(binary.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0, found.mask, 0
    )
    ys, xs = np.nonzero(binary)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)

    # extent: the matte's box and every landmark, including those placed beyond the frame
    ex0 = min(box[0], lm[:, 0].min())
    ey0 = min(box[1], lm[:, 1].min())
    ex1 = max(box[2], lm[:, 0].max())
    ey1 = max(box[3], lm[:, 1].max())
    inside = max(0.0, min(ex1, w) - max(ex0, 0)) * max(0.0, min(ey1, h) - max(ey0, 0))
    edge_cut = 1.0 - inside / max((ex1 - ex0) * (ey1 - ey0), 1e-9)
    facts: dict[str, Any] = {"mask_area": round(area, 6), "edge_cut": round(edge_cut, 4)}
    flags = []
    if edge_cut > settings.max_edge_cut:
        flags.append("cut_by_edge")
    if settings.check_other_people:
        other = _other_person_area(run_selfie(image) >= 0.5, binary)
        facts["other_person"] = round(other, 4)
        if other >= settings.min_other_person:
            flags.append("several_people")
    return Segmentation(lm, matte.astype(np.float32), box, flags, facts)


def _other_person_area(everyone: np.ndarray, person: np.ndarray) -> float:
    """The largest region of ``everyone`` (H, W) bool away from ``person`` (H, W) bool,
    relative to the person's area. "Away": outside the person's mask grown by a tenth of
    its height, so that the two segmenters' disagreement along the outline is ignored."""
    import cv2

    ys = np.nonzero(person.any(axis=1))[0]
    grow = max(3, int(0.1 * (ys.max() - ys.min() + 1)))
    distance = cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    rest = (everyone & (distance > grow)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
    if n <= 1:
        return 0.0
    return float(stats[1:, cv2.CC_STAT_AREA].max() / max(person.sum(), 1))


def crop_person(
    image: np.ndarray,
    seg: Segmentation,
    settings: RemoveBgSettings,
    window: CropWindow | None = None,
) -> tuple[np.ndarray, np.ndarray, CropWindow]:
    """The square crop of one segmented frame: the person over ``settings.background``
    ((size, size, 3) uint8 BGR), the soft matte in the crop ((size, size) float32 in
    [0, 1]) and the crop window (by default the one around the person, as the stage
    crops). Shared by the stage and the one-image pipelines."""
    import cv2

    if seg.matte is None or seg.box is None:
        raise ValueError("crop_person needs a segmentation that found a person")
    if window is None:
        window = CropWindow.around(seg.box, settings.margin, settings.size)
    # area and linear resampling are convex: the matte stays in [0, 1]
    alpha = window.cut(
        seg.matte, 0.0, cv2.INTER_AREA if window.side > window.size else cv2.INTER_LINEAR
    )
    crop = window.cut(image, 0)
    bg = np.empty_like(crop)
    bg[...] = settings.background[::-1]  # RGB -> BGR
    composite = cv2.blendLinear(crop, bg, alpha, 1.0 - alpha)
    return composite, alpha, window


class RemoveBackground(Stage):
    """Segment the person, crop a square around them, remove the background; flag frames
    with no person, a person cut by the frame edge, or several people."""

    name = "remove-bg"
    requires = ("sample-frames",)
    Settings = RemoveBgSettings
    version = 1
    extra_files = ("alpha",)

    def run(self, ctx: StageContext) -> StageResult:
        s: RemoveBgSettings = self.settings
        upstream = Frames.read(ctx.inputs["sample-frames"])
        previous = PreviousOutput(ctx.previous)
        before = previous.parsed(Crops.from_json)
        old = before.by_index() if before is not None else {}
        entries: list[Crop] = []
        reused = 0
        for frame in upstream.frames:
            prev = old.get(frame.index)
            if prev is not None and prev.source_file == frame.file:
                files = [f for f in (prev.image, prev.alpha, prev.mask) if f]
                if all(previous.intact(f) for f in files):
                    for f in files:
                        previous.reuse(f, ctx.out_dir)
                    entries.append(prev)
                    reused += 1
                    continue
            entries.append(self._frame(upstream, frame, ctx.out_dir))
        counts = Counter(f for e in entries for f in e.flags)
        usable = sum(e.usable for e in entries)
        if usable == 0:
            detail = ", ".join(f"{FLAG_TEXT[f]}: {n}" for f, n in sorted(counts.items()))
            raise StageError(
                f"{ctx.video.path}: no usable frame; all {len(entries)} flagged ({detail})"
            )
        Crops(entries, s.size, list(s.background)).write(ctx.out_dir)
        metrics: dict[str, Any] = {"frames": len(entries), "usable": usable, "reused": reused}
        metrics.update({f"flagged_{f}": n for f, n in sorted(counts.items())})
        return StageResult(metrics)

    def _frame(self, upstream: Frames, frame: SampledFrame, out_dir: Path) -> Crop:
        s: RemoveBgSettings = self.settings
        image = upstream.image(frame.file)
        seg = segment_person(image, s)
        entry = Crop(
            index=frame.index,
            time_ms=frame.time_ms,
            source_file=frame.file,
            source_size=[image.shape[1], image.shape[0]],
            flags=seg.flags,
            reason="; ".join(FLAG_TEXT[f] for f in seg.flags) or None,
            usable=not seg.flags,
            facts=dict(seg.facts),
        )
        if seg.matte is None or seg.box is None:
            return entry
        composite, alpha, window = crop_person(image, seg, s)
        name = f"{frame.index:06d}.png"
        entry.image, entry.mask = f"image/{name}", f"mask/{name}"
        write_image(out_dir / entry.image, composite)
        alpha8 = np.rint(alpha * 255).astype(np.uint8)
        if s.alpha:
            entry.alpha = f"alpha/{name}"
            write_image(out_dir / entry.alpha, alpha8)
        write_image(out_dir / entry.mask, np.where(alpha8 >= 128, 255, 0).astype(np.uint8))
        entry.box, entry.crop = list(seg.box), window.to_json()
        return entry
