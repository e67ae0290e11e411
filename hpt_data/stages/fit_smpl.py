"""``fit-smpl``: SMPL shape, pose and camera per frame, by optimisation.

Reads ``remove-bg`` (crops, masks, ``frames.json``) and ``pose2d`` (``pose2d.npz``
landmarks in crop pixels and MediaPipe's world landmarks, ``frames.json`` flags), fits
one shape per video (one person) and per frame a pose and camera with
``hpt_data.fitting`` (see ``docs/fit_smpl.md``).

Output folder::

    fits.npz     frame_ids (T,) str, ok (T,) bool, flag (T,) str ('' or the reason),
                 betas (nb,), global_orient (T, 3), body_pose (T, 69), camera (T, 3)
                 (s, tx, ty), camera_distance (T,) metres (0 = weak perspective; the
                 projection of ``hpt_data.body.weak_perspective.project`` about the
                 pelvis, joints3d[:, 0]), joints3d (T, 24, 3) camera frame metres,
                 joints2d (T, 24, 2) crop pixels at crop_size, reproj_px (T,), mask_iou
                 (T,) float32; body_model () str ('builtin' or the SMPL file), crop_size
                 () int, camera_distance_source () str: 'world_landmarks' (estimated
                 for the video, ``hpt_data.fitting.distance``) or 'assumed'
                 (``camera_distance``)
    fit.json     summary figures (counts, medians, p90s, seconds, losses)
    preview.png  contact sheet: the fitted mesh over a few crops

Frames flagged upstream, frames with too few landmarks and frames whose fit misses its
landmarks or mask by more than the thresholds have ``ok`` false and a one-line ``flag``;
the first two are not fitted (zeros, NaN figures) and take no part in the shared shape.
``fits.npz`` is written and read through :class:`hpt_data.stages.outputs.Fits`.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpt_data.errors import StageError
from hpt_data.fitting.config import FitConfig
from hpt_data.stages._frames_io import write_image, write_json
from hpt_data.stages.base import Stage, StageContext, StageResult
from hpt_data.stages.outputs import Crop, Crops, Fits, Pose2D, PoseFrame, frame_id


@dataclass(frozen=True)
class FitSMPLSettings(FitConfig):
    """Keys under ``stages: fit-smpl:`` in ``datasets.yaml``: the fitter's own settings
    (``FitConfig``: iterations, loss weights, switches, device) and the stage's."""

    body_model: str = ""  # a path to SMPL files (file or folder); '' = the built-in model
    min_confidence: float = 0.5  # a landmark counts as seen from this confidence
    min_landmarks: int = 8  # fewer seen targets (of 23): the frame is flagged, not fitted
    min_frames: int = 2  # fewer fittable frames: the video fails
    max_reproj_px: float = 15.0  # flag a fit whose landmark error (px at 1024) is larger
    min_mask_iou: float = 0.6  # flag a fit whose mask IoU is smaller
    preview_frames: int = 8  # fitted frames drawn in preview.png

    def __post_init__(self) -> None:
        if min(self.iters_camera, self.iters_pose, self.iters_shape) < 0:
            raise ValueError("iteration counts must be >= 0")
        if self.sigma_px <= 0 or self.sigma_px_coarse <= 0:
            raise ValueError("sigma_px and sigma_px_coarse must be positive")
        if self.min_frames < 1 or self.min_landmarks < 1:
            raise ValueError("min_frames and min_landmarks must be at least 1")
        if not 0 <= self.min_mask_iou <= 1 or not 0 <= self.min_confidence <= 1:
            raise ValueError("min_mask_iou and min_confidence must be in [0, 1]")

    def fit_config(self) -> FitConfig:
        keys = FitConfig.__dataclass_fields__
        return FitConfig(**{k: getattr(self, k) for k in keys})


def normalise_landmarks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(33, 5) MediaPipe landmarks in crop pixels (edges at 0 and ``size``) → (33, 3)
    normalised crop x, y in [-1, 1] and visibility: the fitter's input for one frame."""
    lm = np.asarray(landmarks, np.float64)
    return np.stack([lm[:, 0] / size * 2 - 1, lm[:, 1] / size * 2 - 1, lm[:, 3]], -1)


def quality_flags(
    body_pose: np.ndarray,
    camera: np.ndarray,
    reproj_px: float,
    mask_iou: float,
    settings: FitSMPLSettings,
) -> list[str]:
    """Why one fitted frame cannot be trusted (empty: it can): a diverged fit, a landmark
    error above ``max_reproj_px`` or a mask IoU below ``min_mask_iou``."""
    finite = bool(np.isfinite(body_pose).all() and np.isfinite(camera).all())
    err, iou = float(reproj_px), float(mask_iou)
    found = []
    if not finite or not np.isfinite(err):
        found.append("fit diverged")
    elif err > settings.max_reproj_px:
        found.append(f"reprojection {err:.1f} px > {settings.max_reproj_px:g}")
    if np.isfinite(iou) and iou < settings.min_mask_iou:
        found.append(f"mask IoU {iou:.2f} < {settings.min_mask_iou:g}")
    return found


@functools.lru_cache(maxsize=2)
def fitter_for(body_model: str, settings: FitSMPLSettings) -> Any:
    """The body model and fitter, built once per process and settings."""
    from hpt_data.body import load_body_model
    from hpt_data.fitting.fitter import Fitter

    body = load_body_model(body_model or None)
    return Fitter(body, settings.fit_config())


class FitSMPL(Stage):
    """SMPLify-style fit of shape (one per video), pose and camera per frame."""

    name = "fit-smpl"
    requires = ("remove-bg", "pose2d")
    Settings = FitSMPLSettings
    # 2: camera is the fit's own (s, t) with camera_distance (perspective about the pelvis),
    # no longer a weak-perspective approximant; 3: MediaPipe's world landmarks as a term
    # (w_world) and the distance estimated per video (estimate_distance); 4: hidden landmarks
    # on the mask keep a weight (hidden_confidence), the world term summed over frames;
    # 5: a world bone's direction across the image weighs a quarter of its depth slope
    # (world_lateral_share), w_world 500
    version = 5

    def dependencies(self) -> dict[str, str]:
        """The built-in body model's derivation (a new one, e.g. with pose correctives, redoes
        the fits and so the maps and volumes drawn from them); a user's SMPL file is named
        by its path in the settings."""
        if self.settings.body_model:
            return {}
        from hpt_data.body.builtin_cache import builtin_model_id

        return {"builtin_body_model": builtin_model_id()}

    def run(self, ctx: StageContext) -> StageResult:
        from hpt_data.body.weak_perspective import to_pixels
        from hpt_data.fitting.landmarks import targets_from_mediapipe

        s: FitSMPLSettings = self.settings
        crops = Crops.read(ctx.inputs["remove-bg"])
        size = int(crops.size)
        rb_frames = crops.by_index()
        pose = Pose2D.read(ctx.inputs["pose2d"])
        frames = pose.frames
        crop_lm = pose.landmarks_crop.astype(np.float64)

        t = len(frames)
        flags = [""] * t
        fit_rows: list[int] = []
        landmarks, masks, times, world = [], [], [], []
        for i, e in enumerate(frames):
            if not e.usable or e.row is None:
                flags[i] = f"upstream: {e.reason or 'not usable'}"
                continue
            norm = normalise_landmarks(crop_lm[int(e.row)], size)
            _, conf = targets_from_mediapipe(norm[None])
            seen = int((conf[0] >= s.min_confidence).sum())
            if seen < s.min_landmarks:
                flags[i] = f"too few landmarks ({seen} < {s.min_landmarks})"
                continue
            crop = rb_frames.get(e.index)
            mask = None if crop is None else crops.mask(crop)
            if mask is None:
                flags[i] = "mask missing"
            fit_rows.append(i)
            landmarks.append(norm)
            w = pose.world(e)
            world.append(np.full((33, 4), np.nan) if w is None else w.astype(np.float64))
            masks.append(mask)
            times.append(float(e.time_ms))
        if len(fit_rows) < s.min_frames:
            reasons = Counter(f.split(" (")[0] for f in flags if f)
            detail = ", ".join(f"{k}: {n}" for k, n in sorted(reasons.items()))
            raise StageError(
                f"{ctx.video.path}: too few frames to fit ({len(fit_rows)} < {s.min_frames}; "
                f"{detail or 'no frames'})"
            )

        fitter = fitter_for(s.body_model, s)
        res = fitter.fit(np.stack(landmarks), masks, np.array(times), world=np.stack(world))
        nb = len(res.betas)
        out: dict[str, np.ndarray] = {
            "global_orient": np.zeros((t, 3), np.float32),
            "body_pose": np.zeros((t, 69), np.float32),
            "camera": np.zeros((t, 3), np.float32),
            "camera_distance": np.zeros(t, np.float32),
            "joints3d": np.zeros((t, 24, 3), np.float32),
            "joints2d": np.zeros((t, 24, 2), np.float32),
            "reproj_px": np.full(t, np.nan, np.float32),
            "mask_iou": np.full(t, np.nan, np.float32),
        }
        rows = np.array(fit_rows)
        out["global_orient"][rows] = res.global_orient
        out["body_pose"][rows] = res.body_pose
        out["camera"][rows] = res.camera
        out["camera_distance"][rows] = res.camera_distance
        out["joints3d"][rows] = res.joints3d
        out["joints2d"][rows] = to_pixels(res.joints_uv, size)
        out["reproj_px"][rows] = res.reproj_px
        out["mask_iou"][rows] = res.mask_iou
        for k, i in enumerate(fit_rows):
            found = [flags[i]] if flags[i] else []
            found += quality_flags(
                out["body_pose"][i], out["camera"][i], res.reproj_px[k], res.mask_iou[k], s
            )
            flags[i] = "; ".join(found)
        ok = np.array([not f for f in flags])
        body_model = s.body_model if s.body_model else "builtin"
        Fits(
            frame_ids=[frame_id(e.index) for e in frames],
            ok=ok,
            flag=flags,
            betas=res.betas.astype(np.float32).reshape(nb),
            body_model=body_model,
            crop_size=size,
            camera_distance_source=res.distance_source,
            **out,
        ).write(ctx.out_dir)
        summary = self._summary(res, flags, ok, fit_rows, body_model, fitter)
        write_json(ctx.out_dir / "fit.json", summary)
        self._preview(ctx, crops, rb_frames, frames, fit_rows, res, flags, fitter)
        metrics = {
            k: summary[k]
            for k in ("frames", "fitted", "ok", "reproj_px_median", "mask_iou_median", "seconds")
        }
        metrics.update({f"flagged_{k}": n for k, n in summary["flag_counts"].items()})
        return StageResult(metrics)

    @staticmethod
    def _summary(
        res: Any,
        flags: list[str],
        ok: np.ndarray,
        fit_rows: list[int],
        body_model: str,
        fitter: Any,
    ) -> dict[str, Any]:
        def stat(x: np.ndarray, q: float) -> float | None:
            x = x[np.isfinite(x)]
            return round(float(np.percentile(x, q)), 4) if len(x) else None

        kinds = Counter(
            part.split(" ")[0].rstrip(":") for f in flags if f for part in f.split("; ")
        )
        return {
            "frames": len(flags),
            "fitted": len(fit_rows),
            "ok": int(ok.sum()),
            "flag_counts": dict(sorted(kinds.items())),
            "reproj_px_median": stat(res.reproj_px, 50),
            "reproj_px_p90": stat(res.reproj_px, 90),
            "mask_iou_median": stat(res.mask_iou, 50),
            "mask_iou_p10": stat(res.mask_iou, 10),
            "seconds": round(res.seconds, 3),
            "camera_distance_m": round(float(np.median(res.camera_distance)), 3),
            "camera_distance_source": res.distance_source,
            "frames_per_second": round(len(fit_rows) / max(res.seconds, 1e-9), 3),
            "device": str(fitter.device),
            "body_model": body_model,
            "betas": [round(float(b), 5) for b in res.betas],
            "losses": {k: round(v, 4) for k, v in res.losses.items()},
            "units": "reproj_px: pixels at a 1024-pixel crop; mask_iou at 256x256",
        }

    def _preview(
        self,
        ctx: StageContext,
        crops: Crops,
        rb_frames: dict[int, Crop],
        frames: list[PoseFrame],
        fit_rows: list[int],
        res: Any,
        flags: list[str],
        fitter: Any,
    ) -> None:

        from hpt_data.drawing import caption, contact_sheet
        from hpt_data.fitting.overlay import draw_mesh

        n = min(self.settings.preview_frames, len(fit_rows))
        if n <= 0:
            return
        picks = np.unique(np.linspace(0, len(fit_rows) - 1, n).round().astype(int))
        verts, joints = fitter.meshes(res.betas, res.global_orient[picks], res.body_pose[picks])
        tiles = []
        tile = 256
        for v, jts, k in zip(verts, joints, picks, strict=True):
            i = fit_rows[k]
            entry = rb_frames.get(frames[i].index)
            try:  # the crop (a file, or rebuilt from the frame with crop_file: matte)
                has = entry is not None and entry.has_crop
                image = crops.image(entry, side=tile) if has else None
            except StageError:
                image = None
            if image is None:
                image = np.full((tile, tile, 3), 255, np.uint8)
            drawn = draw_mesh(
                image,
                v,
                res.camera[k],
                fitter.faces,
                fitter.body.part_labels,
                distance=float(res.camera_distance[k]),
                ref_z=float(jts[0, 2]),
            )
            text = f"{frame_id(frames[i].index)} {res.reproj_px[k]:.1f}px IoU {res.mask_iou[k]:.2f}"
            tiles.append(caption(drawn, text, flagged=bool(flags[i])))
        write_image(ctx.out_dir / "preview.png", contact_sheet(tiles, columns=4))


__all__ = [
    "FitSMPL",
    "FitSMPLSettings",
    "fitter_for",
    "normalise_landmarks",
    "quality_flags",
]
