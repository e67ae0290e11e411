"""``pose2d``: MediaPipe Pose's 33 landmarks per crop, in crop and source pixels, with COCO-17
and BODY_25 conversions, tracked from frame to frame and filtered for jitter.

Per video, in time order, on the person-over-background crops of ``remove-bg``:

1. The landmarks: with ``landmarks: remove-bg`` (the default) those remove-bg found for
   the person it kept, on their crop (its ``people.npz``: no second pass; as close to the
   truth on the synthetic clips as Pose run again, ``docs/perception.md``). With
   ``landmarks: detect`` (or a remove-bg output without ``people.npz``) MediaPipe Pose
   (complexity 1) runs again on the crops, in tracking mode: each frame starts from the
   region of the previous frame's landmarks, and the detector runs only when tracking is
   lost; a gap between kept frames longer than ``max_track_gap_ms``, or a frame without a
   crop, restarts tracking.
   Where the video's record carries a dataset's own keypoints (DeepFashion's annotation,
   ``meta["openpose18"]``) and ``keypoint_prior`` is on, they check those landmarks: they
   stand in where Pose finds nobody or someone else, and fill the points it misses
   (``hpt_data.stages.pose_prior``; ``landmarks_crop_raw`` holds the result).
2. The landmarks are mapped to source pixels (``hpt_data.crop``) and filtered there with a
   One Euro filter (``hpt_data.smoothing``) on the true time stamps, in units of the
   video's median crop side: a still joint is smoothed, a fast one followed. It runs
   forwards and backwards over the video and the two are averaged, so a moving joint is
   not trailed. The filtered points are mapped back into each crop.

Output folder::

    frames.json     per frame of remove-bg: index, time, flags (remove-bg's, plus
                    ``no_pose`` where Pose found nobody in the crop), reason, usable, and
                    ``row``: its row in the arrays (null for frames without a crop)
    pose2d.npz      the arrays, one row per frame with a crop (N rows):
                    frame_index (N,) int, time_ms (N,), found (N,) bool,
                    landmarks_crop, landmarks_source (N, 33, 5): x, y, z, visibility,
                    presence (filtered; x, y, z in that frame's pixels),
                    landmarks_crop_raw (N, 33, 5) before filtering,
                    coco17_crop, coco17_source (N, 17, 3) and body25_crop,
                    body25_source (N, 25, 3): x, y, confidence
                    (see ``hpt_data.keypoints`` for the tables),
                    world_landmarks (N, 33, 4): Pose's world landmarks, x, y, z metres
                    about the hips' centre in the image's axes, and visibility (with
                    ``landmarks: remove-bg``, those its landmark model gave on the crop);
                    NaN where there are none (a keypoint prior's points, an older remove-bg);
                    not filtered (``fit-smpl`` reads their bone directions)

Rows where ``found`` is false are zeros. Tracking and the filter run over the whole video,
so a lost output file means the video is redone (it takes a second or two). Both files
are written and read through :class:`hpt_data.stages.outputs.Pose2D`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hpt_data.crop import CropWindow
from hpt_data.errors import StageError
from hpt_data.keypoints import mediapipe_to_body25, mediapipe_to_coco17
from hpt_data.smoothing import OneEuroFilter
from hpt_data.stages import outputs
from hpt_data.stages.base import Stage, StageContext, StageResult
from hpt_data.stages.outputs import Crop, PoseFrame
from hpt_data.stages.outputs.people import People
from hpt_data.stages.remove_bg import FLAG_TEXT

FLAGS = {**FLAG_TEXT, "no_pose": "no pose found in the crop"}


@dataclass(frozen=True)
class Pose2DSettings:
    """Keys under ``stages: pose2d:`` in ``datasets.yaml``."""

    landmarks: Literal["detect", "remove-bg"] = "remove-bg"  # reuse remove-bg's, or run Pose
    tracking: bool = True  # detect: track from frame to frame (False: detect in every frame)
    max_track_gap_ms: float = 500.0  # a longer gap between kept frames restarts tracking
    smoothing: bool = True  # One Euro filter on the landmark tracks
    min_cutoff: float = 1.0  # Hz: smoothing of a still joint (lower: smoother)
    beta: float = 64.0  # cutoff rise per (crop side per second) of speed (higher: less lag)
    d_cutoff: float = 1.0  # Hz: smoothing of the speed estimate
    min_detection_confidence: float = 0.5  # MediaPipe Pose detector threshold
    keypoint_prior: bool = True  # a dataset's own keypoints (DeepFashion's annotation) as a
    # prior: they stand in where Pose finds nobody or someone else, and fill points it misses
    prior_max_error: float = 0.1  # Pose's median distance to the prior over this fraction of
    # the crop side: the detection is someone else (or a wrong pose) and the prior replaces it
    prior_min_points: int = 6  # a prior with fewer points present is ignored

    def __post_init__(self) -> None:
        if self.max_track_gap_ms <= 0 or self.min_cutoff <= 0 or self.d_cutoff <= 0:
            raise ValueError("max_track_gap_ms, min_cutoff and d_cutoff must be positive")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if not 0 < self.min_detection_confidence < 1:
            raise ValueError("min_detection_confidence must be in (0, 1)")
        if self.prior_max_error <= 0 or not 1 <= self.prior_min_points <= 18:
            raise ValueError("prior_max_error must be positive, prior_min_points in [1, 18]")


class Pose2D(Stage):
    """2D landmarks (MediaPipe Pose, 33 points, plus COCO-17 and BODY_25) per crop."""

    name = "pose2d"
    requires = ("remove-bg",)
    Settings = Pose2DSettings
    # 3: world_landmarks (fit-smpl's 3D term) kept beside the image landmarks, and
    # ``landmarks: remove-bg`` (no second Pose pass) the default; 4: the filter runs both
    # ways in time (no lag)
    version = 4
    # the prior changes only records that carry one (a DeepFashion photo), none built before
    late_settings = ("keypoint_prior", "prior_max_error", "prior_min_points")

    def run(self, ctx: StageContext) -> StageResult:
        s: Pose2DSettings = self.settings
        folder = ctx.inputs["remove-bg"]
        crops = outputs.Crops.read(folder)
        frames = crops.frames
        with_crop = [e for e in frames if e.has_crop]
        windows = [e.window for e in with_crop]
        rows = {entry.index: row for row, entry in enumerate(with_crop)}
        reuse = s.landmarks == "remove-bg" and (folder / People.ARRAYS).is_file()
        world = np.full((len(with_crop), 33, 4), np.nan)
        if reuse:
            source_raw, found = self._from_remove_bg(People.read(folder), with_crop, world)
            raw = self._to_crop(source_raw, windows)
        else:
            raw, found = self._detect(crops, with_crop, world)
        prior_counts: Counter[str] = Counter()
        if s.keypoint_prior:
            for row, entry in enumerate(with_crop):
                action = self._prior(ctx, entry, raw, found, row)
                if action is not None:
                    prior_counts[action] += 1
                if action in ("from_prior", "replaced"):
                    world[row] = np.nan  # the points are the prior's, not Pose's

        source = self._to_source(raw, windows)
        if s.smoothing:
            times = [e.time_ms for e in with_crop]
            source[..., :2] = self._smooth(source[..., :2], found, times, windows)
        crop = self._to_crop(source, windows)
        crop[~found] = 0.0
        source[~found] = 0.0

        entries: list[PoseFrame] = []
        counts: Counter[str] = Counter()
        for entry in frames:
            flags = list(entry.flags)
            row = rows.get(entry.index)
            if row is not None and not found[row]:
                flags.append("no_pose")
            counts.update(flags)
            reason = "; ".join(FLAGS[f] for f in flags) or None
            entries.append(PoseFrame(entry.index, entry.time_ms, row, flags, reason, not flags))
        usable = sum(e.usable for e in entries)
        if usable == 0:
            detail = ", ".join(f"{FLAGS[f]}: {k}" for f, k in sorted(counts.items()))
            raise StageError(
                f"{ctx.video.path}: no usable frame; all {len(entries)} flagged ({detail})"
            )
        world[~found] = np.nan
        out = self._output(entries, with_crop, found, raw, crop, source)
        out.world_landmarks = world.astype(np.float32)
        out.write(ctx.out_dir)
        metrics: dict[str, Any] = {
            "frames": len(entries),
            "usable": usable,
            "posed": int(found.sum()),
            "landmarks": "remove-bg" if reuse else "detect",
        }
        metrics.update({f"flagged_{f}": k for f, k in sorted(counts.items())})
        metrics.update({f"prior_{a}": k for a, k in sorted(prior_counts.items())})
        return StageResult(metrics)

    def _prior(
        self, ctx: StageContext, entry: Crop, raw: np.ndarray, found: np.ndarray, row: int
    ) -> str | None:
        """Apply the record's keypoint prior to row ``row`` (``hpt_data.stages.pose_prior``);
        what was done, or None where the frame has no prior."""
        from hpt_data.stages.pose_prior import apply_prior, prior_points

        s: Pose2DSettings = self.settings
        size = entry.source_size or [0, 0]
        prior = prior_points(ctx.video.meta, entry.index, size) if all(size) else None
        if prior is None:
            return None
        w = entry.window
        prior[:, :2] = np.where(prior[:, 2:] > 0, w.to_crop(prior[:, :2]), 0.0)
        landmarks = raw[row] if found[row] else None
        landmarks, action = apply_prior(
            landmarks, prior, w.size, s.prior_max_error, s.prior_min_points
        )
        if landmarks is not None:
            raw[row], found[row] = landmarks, True
        return action

    @staticmethod
    def _from_remove_bg(
        people: People, with_crop: list[Crop], world: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N, 33, 5) the kept person's landmarks in source pixels per frame with a crop,
        and (N,) whether there were any, from remove-bg's ``people.npz``; their world
        landmarks found on the crop go into ``world`` (N, 33, 4; NaN stays where none)."""
        kept, has = people.kept_landmarks()
        kept_world = people.kept_world()
        pos = {int(i): k for k, i in enumerate(people.frame_index)}
        raw = np.zeros((len(with_crop), 33, 5))
        found = np.zeros(len(with_crop), bool)
        for row, entry in enumerate(with_crop):
            k = pos.get(entry.index)
            if k is not None and has[k]:
                raw[row], found[row] = kept[k], True
                world[row] = kept_world[k]
        return raw, found

    def _detect(
        self, crops: outputs.Crops, with_crop: list[Crop], world: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """MediaPipe Pose on the crops (tracking unless ``tracking: false``): (N, 33, 5)
        crop landmarks and (N,) found; the world landmarks go into ``world`` (N, 33, 4)."""
        from hpt_data.stages.mediapipe_models import pose_model, reset_model, run_pose

        s: Pose2DSettings = self.settings
        model = pose_model(not s.tracking, False, s.min_detection_confidence)
        reset_model(model)  # no tracking state from another video
        n = len(with_crop)
        raw = np.zeros((n, 33, 5))
        found = np.zeros(n, bool)
        last_ms: float | None = None
        for row, entry in enumerate(with_crop):
            gap = None if last_ms is None else entry.time_ms - last_ms
            if s.tracking and (gap is None or gap > s.max_track_gap_ms):
                reset_model(model)
            last_ms = entry.time_ms
            result = run_pose(model, crops.image(entry))
            if result is not None:
                raw[row], found[row] = result.landmarks, True
                if result.world is not None:
                    world[row] = result.world
            elif s.tracking:
                reset_model(model)
                last_ms = None
        return raw, found

    @staticmethod
    def _to_source(crop: np.ndarray, windows: list[CropWindow]) -> np.ndarray:
        """(N, 33, 5) crop landmarks -> source pixels (x, y, and z in x's scale)."""
        out = crop.copy()
        for i, w in enumerate(windows):
            out[i, :, :2] = w.to_source(crop[i, :, :2])
            out[i, :, 2] = crop[i, :, 2] / w.scale
        return out

    @staticmethod
    def _to_crop(source: np.ndarray, windows: list[CropWindow]) -> np.ndarray:
        out = source.copy()
        for i, w in enumerate(windows):
            out[i, :, :2] = w.to_crop(source[i, :, :2])
            out[i, :, 2] = source[i, :, 2] * w.scale
        return out

    def _smooth(
        self, xy: np.ndarray, found: np.ndarray, times_ms: list[float], windows: list[CropWindow]
    ) -> np.ndarray:
        """One Euro filter over the (N, 33, 2) source tracks, in median-crop-side units, run
        forwards and backwards in time and the two averaged: the video is filtered whole,
        so no point need lag behind its joint (a filter run one way only trails a moving
        joint by about its speed over the cutoff: at 8 frames/s more than the jitter it
        removes)."""
        s: Pose2DSettings = self.settings
        unit = float(np.median([w.side for w in windows])) if windows else 1.0
        filt = OneEuroFilter(s.min_cutoff, s.beta, s.d_cutoff, s.max_track_gap_ms / 1000.0)
        seconds = np.asarray(times_ms, np.float64) / 1000.0
        out = xy.copy()
        both = np.zeros_like(xy)
        for order, sign in ((range(len(xy)), 1.0), (range(len(xy) - 1, -1, -1), -1.0)):
            filt.reset()
            for i in order:
                if not found[i]:
                    filt.reset()
                    continue
                both[i] += filt(xy[i] / unit, sign * seconds[i]) * unit
        out[found] = both[found] / 2
        return out

    @staticmethod
    def _output(
        entries: list[PoseFrame],
        frames: list[Crop],
        found: np.ndarray,
        raw: np.ndarray,
        crop: np.ndarray,
        source: np.ndarray,
    ) -> outputs.Pose2D:
        raw = np.where(found[:, None, None], raw, 0.0)
        return outputs.Pose2D(
            frames=entries,
            frame_index=np.array([e.index for e in frames], np.int64),
            time_ms=np.array([e.time_ms for e in frames], np.float64),
            found=found,
            landmarks_crop=crop.astype(np.float32),
            landmarks_source=source.astype(np.float32),
            landmarks_crop_raw=raw.astype(np.float32),
            coco17_crop=mediapipe_to_coco17(crop[..., :2], crop[..., 3]).astype(np.float32),
            coco17_source=mediapipe_to_coco17(source[..., :2], source[..., 3]).astype(np.float32),
            body25_crop=mediapipe_to_body25(crop[..., :2], crop[..., 3]).astype(np.float32),
            body25_source=mediapipe_to_body25(source[..., :2], source[..., 3]).astype(np.float32),
        )
