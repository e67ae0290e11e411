"""The fitter's settings, apart from the fitter so that the stage (and the CLI that lists
the stages) can read them without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FitConfig:
    """Iterations, loss weights and switches of the fitter (the stage's settings feed it)."""

    # the optimiser: L-BFGS, or Adam
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    # assumed distance (m) from the camera to the pelvis: the fit projects with perspective
    # (nearer limbs larger) at that depth; 0 = weak perspective. Overridden per frame by a
    # focal length given to ``Fitter.fit`` (depth = focal / s). See docs/fit_smpl.md.
    camera_distance: float = 3.0
    # estimate the distance per video from MediaPipe's world landmarks where there are any
    # (hpt_data.fitting.distance; camera_distance where not); fits.npz says which it was.
    # Off: on the benchmark's dev clips it was no nearer the truth than the assumed 3 m
    estimate_distance: bool = False
    iters_camera: int = 20  # stage 1 (L-BFGS iterations, or Adam steps x 5)
    iters_pose: int = 40  # stage 2
    iters_shape: int = 60  # stage 3
    sigma_px: float = 40.0  # Geman-McClure scale, pixels at 1024 (shape stage)
    sigma_px_coarse: float = 300.0  # the scale of the camera and pose stages (wide basin)
    w_silhouette: float = 0.3  # weight of the mask outline term
    w_limits: float = 1.0e4  # weight of the excess beyond the joint limits
    w_prior: float = 2.0  # weight of the Gaussian pose prior
    w_shape: float = 5.0  # weight of |betas|² (betas in standard deviations)
    w_temporal_pose: float = 50.0  # weight of frame-to-frame pose differences
    w_temporal_camera: float = 1.0  # weight of frame-to-frame camera differences
    w_world: float = 500.0  # weight per frame of MediaPipe's world landmarks, where pose2d
    # kept them: bone directions and the depth order of limb pairs
    # (hpt_data.fitting.world_terms); 0 = 2D only. Chosen on the benchmark's dev split
    # (fit-smpl version 5; 625 with the full-direction bone term of version 4)
    world_lateral_share: float = 0.25  # weight of a world bone's direction across the
    # image against its depth slope (1 = the whole direction, as until fit-smpl version 4):
    # the 2D landmarks place a bone across the image, the world landmarks add what they
    # cannot see (dev split: 0.84 -> 0.80 median PA ratio)
    w_world_orient: float = 1000.0  # weight of the world landmarks' torso orientation in
    # the camera stage (a starting heading it offers, and its distance to every other);
    # used where w_world > 0
    hidden_confidence: float = 0.3  # least weight of a landmark MediaPipe marks as hidden
    # (visibility is whether it is seen, not how well placed) where it lies on the person's
    # mask (hpt_data.fitting.hidden); 0 = weight by visibility alone
    silhouette: bool = True  # fit the person mask too, where remove-bg gave one
    temporal: bool = True  # smooth pose and camera across frames
    silhouette_vertices: int = 300  # surface vertices projected for the silhouette term
    silhouette_resolution: int = 128  # side of the distance maps
    outline_points: int = 64  # mask outline samples per frame
    iou_resolution: int = 256  # raster side for the fit's mask IoU
    max_gap_ms: float = 500.0  # no smoothness across a longer gap between frames
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when available
    threads: int = 1  # torch CPU threads while fitting (small ops: 1 is fastest)
