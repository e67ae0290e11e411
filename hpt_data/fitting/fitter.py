"""SMPLify-style fitting of one person's video: staged, batched over frames, device-aware.

Unknowns: one shape ``betas (nb,)`` for the person; per frame a camera ``(s, tx, ty)``, a
global orientation (a rotation ``R0_t`` chosen among four headings, times a free
axis-angle correction) and the 23 joint rotations as extrinsic x-y-z Euler angles
(``hpt_data.body.joint_limits``' convention). The body is posed in the camera frame (x
right, y down, z away), ``transl = 0``.

Camera model: video is filmed in perspective, and a weak-perspective fit of it must bend
the body to explain the foreshortening (44 mm PA-MPJPE from exact 2D of clips filmed 2.9-3.4
m away, 19 mm when the same 2D is made weak-perspective). The fit projects with
perspective about the pelvis, ``(s·xy + t) / (1 + (z - z_pelvis) / Z)``, the pelvis at an
assumed distance ``Z = camera_distance`` (or ``focal / s`` for a given focal length): the
pelvis's depth plane maps exactly as the weak-perspective ``(s, t)``. This is the
project's camera convention (:mod:`hpt_data.body.weak_perspective`, whose
``perspective_divide`` both use): the outputs are the fit's own ``camera`` ``(s, tx, ty)``
and its ``camera_distance`` ``Z`` (0 for weak perspective), and ``render-maps``,
``voxelize`` and the pipelines draw with both, so the maps sit where the fit does.

Schedule (each stage runs its optimiser over all frames at once):

1. **camera and orientation** from the torso and face landmarks, the pose held at the
   prior's mean, for four headings per frame (0, 90, 180, 270 degrees about the body's
   vertical axis) and the world landmarks' torso orientation (which also scores the
   others: ``world_terms.orientation_targets``); each frame keeps its best; perspective;
2. **pose** (with camera and orientation): every term but shape; weak perspective (with
   perspective here the benchmark's PA-MPJPE was 24 / 70 mm median / p90, without 21 / 52:
   some limbs settled on the wrong side in depth);
3. **shape** (with everything): betas join, the pose prior relaxed; perspective.

Terms: robust reprojection (``losses.reprojection_loss``; hidden landmarks on the mask keep
``hidden_confidence``: ``hidden``), silhouette, MediaPipe's world landmarks (``world_terms``),
joint limits, pose prior, shape L2, temporal smoothness of angles, orientation and camera.
Last, knee and elbow angles are clamped into their limits (by the limit penalty's small
leftover), so no fitted frame hyper-extends.

Starting points: :mod:`~hpt_data.fitting.initial`; camera: :mod:`~hpt_data.fitting.fit_camera`;
meshes and mask IoU: :mod:`~hpt_data.fitting.fitted_meshes`; here: the optimisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hpt_data.body.joint_limits import limits_array
from hpt_data.body.joints import JOINT_INDEX
from hpt_data.fitting import losses
from hpt_data.fitting.config import FitConfig
from hpt_data.fitting.distance import estimate_distance
from hpt_data.fitting.fit_camera import pelvis_distance, project_points
from hpt_data.fitting.fitted_meshes import FittedMeshes
from hpt_data.fitting.hidden import hidden_floor
from hpt_data.fitting.initial import HEADINGS, HINGE_INIT, bend_2d, heading_rotations, init_camera
from hpt_data.fitting.kinematics import (
    BodyKinematics,
    axis_angle_to_matrix,
    euler_to_matrix,
    matrix_to_axis_angle,
)
from hpt_data.fitting.landmarks import (
    TARGET_NAMES,
    TORSO_TARGETS,
    ModelPoints,
    hip_offset_for,
    target_weights,
    targets_from_mediapipe,
)
from hpt_data.fitting.losses import PX_PER_UNIT
from hpt_data.fitting.runtime import pick_device, reprojection_px, torch_threads
from hpt_data.fitting.silhouette import build_targets, farthest_point_sample, silhouette_loss
from hpt_data.fitting.world_terms import orientation_targets, world_loss, world_targets

HINGES: tuple[str, ...] = ("left_knee", "right_knee", "left_elbow", "right_elbow")
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


@dataclass
class FitResult:
    """A fitted sequence (T frames). Camera frame, metres; ``uv`` normalised crop units.

    betas : (nb,); global_orient : (T, 3); body_pose : (T, 69); camera : (T, 3)
    camera_distance : (T,) the camera-to-pelvis distance of the fit (m; 0: weak
        perspective): with ``camera`` the projection of ``weak_perspective.project``,
        ``ref_z`` the pelvis's (joint 0's) depth
    joints3d : (T, 24, 3); joints_uv : (T, 24, 2) projected by that camera
    targets_uv : (T, K, 2) the fitted targets' model points, projected
    reproj_px : (T,) confidence-weighted mean landmark error through that camera (the
        fit's own model), pixels at 1024
    mask_iou : (T,) IoU of the mesh so projected and the mask (NaN without one)
    euler : (T, 23, 3) joint angles; losses : per-stage final loss values
    """

    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    camera: np.ndarray
    joints3d: np.ndarray
    joints_uv: np.ndarray
    targets_uv: np.ndarray
    reproj_px: np.ndarray
    mask_iou: np.ndarray
    euler: np.ndarray
    camera_distance: np.ndarray
    losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # the process's CPU time: the work, whatever else runs
    # camera_distance from: 'assumed' (FitConfig.camera_distance), 'focal' (given) or
    # 'world_landmarks' (estimated per video, hpt_data.fitting.distance)
    distance_source: str = "assumed"


class Fitter:
    """Fits sequences of one body model (built once: kinematics, prior, vertex subsets).

    Parameters
    ----------
    body : hpt_data.body.BodyModel (built-in or real SMPL)
    config : FitConfig
    """

    def __init__(self, body: Any, config: FitConfig | None = None) -> None:
        self.body = body
        self.config = config or FitConfig()
        # the pelvis's distance of the fit in progress: camera_distance, or estimated
        self._distance_m = self.config.camera_distance
        self.device = pick_device(self.config.device)
        self.dtype = torch.float32
        self.hip_offset = hip_offset_for(body)
        self.points = ModelPoints(body.landmark_vertex_ids, self.hip_offset)
        rest = body.smpl.v_template.detach().cpu().numpy()
        sil = farthest_point_sample(rest, self.config.silhouette_vertices)
        self.n_landmark_vertices = len(self.points.vertex_ids)
        ids = np.concatenate([self.points.vertex_ids, sil])
        self.kin = BodyKinematics(body, ids, self.dtype).to(self.device)
        mean, std = losses.prior_from_limits()
        self.prior_mean = torch.as_tensor(mean, dtype=self.dtype, device=self.device)
        self.prior_std = torch.as_tensor(std, dtype=self.dtype, device=self.device)
        self.target_w = torch.as_tensor(target_weights(), device=self.device)
        self.fitted = FittedMeshes(body)
        self.faces = self.fitted.faces
        lim = limits_array()[1:]
        self.hinge_idx = [JOINT_INDEX[n] - 1 for n in HINGES]
        self.hinge_lo = torch.as_tensor(lim[self.hinge_idx, :, 0], dtype=self.dtype)
        self.hinge_hi = torch.as_tensor(lim[self.hinge_idx, :, 1], dtype=self.dtype)

    # ------------------------------------------------------------------ helpers

    def _pose(self, betas: torch.Tensor, root: torch.Tensor, euler: torch.Tensor) -> Any:
        rots = torch.cat([root[:, None], euler_to_matrix(euler)], 1)
        return self.kin(betas, rots)

    def _project(
        self,
        pts: torch.Tensor,
        cam: torch.Tensor,
        root_z: torch.Tensor | None = None,
        focal: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """:func:`fit_camera.project_points` with this fit's distance."""
        return project_points(pts, cam, root_z, focal, self._distance_m)

    def _distance(self, cam: torch.Tensor, focal: torch.Tensor | None) -> torch.Tensor:
        """:func:`fit_camera.pelvis_distance` with this fit's distance."""
        return pelvis_distance(cam, focal, self._distance_m)

    def _run(self, params: list[torch.Tensor], closure_loss: Any, iters: int) -> float:
        cfg = self.config
        if iters <= 0:
            return float(closure_loss().detach())
        if cfg.optimizer == "lbfgs":
            opt = torch.optim.LBFGS(
                params, lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe"
            )

            def closure() -> torch.Tensor:
                opt.zero_grad()
                loss = closure_loss()
                loss.backward()
                return loss

            opt.step(closure)
        else:
            opt = torch.optim.Adam(params, lr=0.02)
            for _ in range(iters * 5):
                opt.zero_grad()
                loss = closure_loss()
                loss.backward()
                opt.step()
        with torch.no_grad():
            return float(closure_loss())

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        landmarks: np.ndarray,
        masks: list[np.ndarray | None] | None = None,
        times_ms: np.ndarray | None = None,
        focal: np.ndarray | float | None = None,
        world: np.ndarray | None = None,
    ) -> FitResult:
        """Fit one person's frames.

        Parameters
        ----------
        landmarks : (T, 33, 3) MediaPipe layout, normalised crop coordinates and a
            confidence (``hpt_data.fitting.landmarks.targets_from_mediapipe``); NaN = missing
        masks : T entries, (H, W) bool masks of the square crop or None where missing
        times_ms : (T,) frame times; consecutive frames further apart than
            ``max_gap_ms`` are not smoothed together (default: all consecutive)
        focal : (T,) or scalar focal length in normalised crop units (``2 f / side``: the
            camera's focal length over the crop's side, both in source pixels), when the
            caller knows or assumes the camera (``focal_from_fov``); default: the pelvis
            at ``camera_distance`` metres, or at the distance the world landmarks give
            (``estimate_distance``: :func:`hpt_data.fitting.distance.estimate_distance`)
        world : (T, 33, 4) MediaPipe's world landmarks and visibility (NaN = missing): bone
            directions and limb depth order at ``w_world``
            (:func:`hpt_data.fitting.world_terms.world_loss`)

        Returns
        -------
        FitResult
        """
        import time

        t_start, c_start = time.perf_counter(), time.process_time()
        with torch_threads(self.config.threads):
            result = self._fit(landmarks, masks, times_ms, focal, world)
        result.seconds = time.perf_counter() - t_start
        result.cpu_seconds = time.process_time() - c_start
        return result

    def _fit(
        self,
        landmarks: np.ndarray,
        masks: list[np.ndarray | None] | None,
        times_ms: np.ndarray | None,
        focal_np: np.ndarray | float | None,
        world_np: np.ndarray | None = None,
    ) -> FitResult:
        cfg, dev, dt = self.config, self.device, self.dtype
        use_world = world_np is not None and cfg.w_world > 0
        world = world_targets(world_np if use_world else None, dev, dt, landmarks)
        self._distance_m, source = cfg.camera_distance, "assumed"
        if focal_np is not None:
            source = "focal"
        elif cfg.estimate_distance and cfg.camera_distance > 0:
            z = estimate_distance(landmarks, world_np)
            if z is not None:
                self._distance_m, source = z, "world_landmarks"
        lm_np = hidden_floor(landmarks, masks, cfg.hidden_confidence)  # hidden.py
        pts_np, conf_np = targets_from_mediapipe(lm_np)
        t = len(pts_np)
        if t == 0:
            raise ValueError("no frames to fit")
        focal = None
        if focal_np is not None:
            f = np.broadcast_to(np.asarray(focal_np, np.float64), (t,))
            if not (np.isfinite(f) & (f > 0)).all():
                raise ValueError("focal lengths must be finite and positive")
            focal = torch.as_tensor(f.copy(), device=dev, dtype=dt)
        masks = list(masks) if masks is not None else [None] * t
        if len(masks) != t:
            raise ValueError(f"{len(masks)} masks for {t} frames")
        target = torch.as_tensor(pts_np, device=dev, dtype=dt)
        weight = torch.as_tensor(conf_np, device=dev, dtype=dt) * self.target_w
        if times_ms is None:
            pair = np.ones(max(t - 1, 0))
        else:
            pair = (np.diff(np.asarray(times_ms, np.float64)) <= cfg.max_gap_ms).astype(float)
        pair_w = torch.as_tensor(pair, device=dev, dtype=dt)
        use_sil = cfg.silhouette and any(m is not None for m in masks)
        sil = (
            build_targets(masks, cfg.silhouette_resolution, cfg.outline_points, dev, dt)
            if use_sil
            else None
        )
        nb = self.kin.num_betas
        betas = torch.zeros(nb, device=dev, dtype=dt)
        euler0 = self.prior_mean.expand(t, 23, 3).clone()
        stage_losses: dict[str, float] = {}

        # ---- stage 1: camera and orientation, four headings per frame
        orient = orientation_targets(world_np, dev, dt) if use_world else None
        r0, cam, delta, loss1 = self._camera_stage(betas, euler0, target, weight, focal, orient)
        stage_losses["camera"] = loss1
        euler = euler0.clone()
        for name, (index, axis, sign) in HINGE_INIT.items():
            bend = torch.as_tensor(bend_2d(pts_np, conf_np, name), device=dev, dtype=dt)
            euler[:, index, axis] = torch.where(
                torch.isfinite(bend), sign * bend.clamp(0.1, 2.0), euler[:, index, axis]
            )
        frames = torch.arange(t, device=dev)
        nl = self.n_landmark_vertices

        def objective(with_shape: bool) -> torch.Tensor:
            sigma = cfg.sigma_px if with_shape else cfg.sigma_px_coarse
            root = r0 @ axis_angle_to_matrix(delta)
            posed = self._pose(betas, root, euler)
            pts = self.points(posed.joints, posed.vertices[:, :nl], root)
            # weak perspective in the pose stage, perspective once shape joins (see the
            # module docstring: the pose stage's wide basin is found better without it)
            root_z = posed.joints[:, 0, 2] if with_shape else None
            uv = self._project(pts, cam, root_z, focal)
            loss = losses.reprojection_loss(uv, target, weight, sigma)
            loss = loss + cfg.w_limits * losses.joint_limit_penalty(euler)
            loss = loss + cfg.w_prior * (0.5 if with_shape else 1.0) * losses.pose_prior(
                euler, self.prior_mean, self.prior_std
            )
            loss = loss + cfg.w_shape * losses.shape_l2(betas)
            if world is not None:
                loss = loss + cfg.w_world * world_loss(posed.joints, world, cfg.world_lateral_share)
            if sil is not None:
                uv = self._project(posed.vertices[:, nl:], cam, root_z, focal)
                loss = loss + cfg.w_silhouette * silhouette_loss(uv, sil, frames, sigma)
            if cfg.temporal and t > 1:
                loss = loss + cfg.w_temporal_pose * (
                    losses.temporal_smoothness(euler, pair_w)
                    + losses.temporal_smoothness(root, pair_w)
                )
                cam_px = torch.cat([cam[:, :1], cam[:, 1:] * PX_PER_UNIT / 100.0], 1)
                loss = loss + cfg.w_temporal_camera * 100.0 * losses.temporal_smoothness(
                    cam_px, pair_w
                )
            return loss

        # ---- stage 2: pose (with camera and orientation)
        euler.requires_grad_(True)
        cam.requires_grad_(True)
        delta.requires_grad_(True)
        stage_losses["pose"] = self._run(
            [euler, cam, delta], lambda: objective(False), cfg.iters_pose
        )
        # ---- stage 3: shape joins
        betas.requires_grad_(True)
        stage_losses["shape"] = self._run(
            [euler, cam, delta, betas], lambda: objective(True), cfg.iters_shape
        )
        result = self._finish(
            betas, r0, delta, euler, cam, target, weight, masks, stage_losses, focal
        )
        result.distance_source = source
        return result

    def _camera_stage(
        self,
        betas: torch.Tensor,
        euler0: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor,
        focal: torch.Tensor | None,
        orient: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Stage 1 over ``len(HEADINGS) * T`` hypotheses (one more per frame with
        ``orient``: the world landmarks' torso rotation ``(T, 3, 3)`` and weight ``(T,)``,
        which also scores every hypothesis by its distance to it); returns each frame's
        best ``r0 (T, 3, 3)``, camera ``(T, 3)`` (log s, tx, ty), correction ``(T, 3)``."""
        cfg, dev, dt = self.config, self.device, self.dtype
        t, h = target.shape[0], len(HEADINGS)
        keep = [TARGET_NAMES.index(n) for n in TORSO_TARGETS + _FACE]
        sel_w = torch.zeros_like(weight)
        sel_w[:, keep] = weight[:, keep]
        sel_w[:, [TARGET_NAMES.index(n) for n in _FACE]] *= 0.3
        r0 = heading_rotations()  # (H, 3, 3)
        r0 = torch.as_tensor(r0, device=dev, dtype=dt).repeat_interleave(t, 0)  # (H*T, 3, 3)
        rot_w, w_rot = torch.eye(3, device=dev, dtype=dt).expand(t, 3, 3), target.new_zeros(t)
        if orient is not None:
            rot_w, w_rot = orient
            r0, h = torch.cat([r0, rot_w]), h + 1
        rot_w, w_rot = rot_w.repeat(h, 1, 1), w_rot.repeat(h)
        tgt = target.repeat(h, 1, 1)
        w_all = weight.repeat(h, 1)
        w_sel = sel_w.repeat(h, 1)
        euler = euler0.repeat(h, 1, 1)
        focal_h = focal.repeat(h) if focal is not None else None
        nl = self.n_landmark_vertices
        with torch.no_grad():
            posed = self._pose(betas, r0, euler)
            pts = self.points(posed.joints, posed.vertices[:, :nl], r0)
            cam = init_camera(pts[..., :2], tgt, w_all)
        delta = torch.zeros(h * t, 3, device=dev, dtype=dt, requires_grad=True)
        cam.requires_grad_(True)

        def per_frame() -> torch.Tensor:
            root = r0 @ axis_angle_to_matrix(delta)
            posed = self._pose(betas, root, euler)
            pts = self.points(posed.joints, posed.vertices[:, :nl], root)
            uv = self._project(pts, cam, posed.joints[:, 0, 2], focal_h)
            sq = ((uv - tgt) * PX_PER_UNIT).pow(2).sum(-1)
            rho = losses.geman_mcclure(sq, cfg.sigma_px_coarse)
            off = (root - rot_w).pow(2).sum((1, 2))  # 0 to 8: the world torso's say
            return (w_sel * rho).sum(-1) / w_sel.sum(-1).clamp_min(1e-6) + (
                cfg.w_world_orient * w_rot * off
            )

        def objective() -> torch.Tensor:
            return per_frame().sum() + 10.0 * delta.pow(2).sum()

        # a few iterations for every heading, then only each frame's best goes on
        first = max(1, cfg.iters_camera // 4)
        self._run([cam, delta], objective, first)
        with torch.no_grad():
            best = per_frame().reshape(h, t).argmin(0)  # (T,)
            rows = best * t + torch.arange(t, device=dev)
        r0, tgt, w_sel, euler = r0[rows], tgt[rows], w_sel[rows], euler[rows]
        rot_w, w_rot = rot_w[rows], w_rot[rows]
        focal_h = focal  # per_frame reads it: from here on one row per frame
        cam = cam[rows].detach().clone().requires_grad_(True)
        delta = delta[rows].detach().clone().requires_grad_(True)
        final = self._run([cam, delta], objective, cfg.iters_camera - first)
        return r0.clone(), cam.detach().clone(), delta.detach().clone(), final

    def _finish(
        self,
        betas: torch.Tensor,
        r0: torch.Tensor,
        delta: torch.Tensor,
        euler: torch.Tensor,
        cam: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor,
        masks: list[np.ndarray | None],
        stage_losses: dict[str, float],
        focal: torch.Tensor | None = None,
    ) -> FitResult:
        with torch.no_grad():
            euler = euler.detach().clone()
            lo, hi = self.hinge_lo.to(euler), self.hinge_hi.to(euler)
            euler[:, self.hinge_idx] = torch.maximum(
                torch.minimum(euler[:, self.hinge_idx], hi), lo
            )
            root = r0 @ axis_angle_to_matrix(delta)
            posed = self._pose(betas, root, euler)
            nl = self.n_landmark_vertices
            pts = self.points(posed.joints, posed.vertices[:, :nl], root)
            root_z = posed.joints[:, 0, 2]
            w = (weight > 0).to(weight) * weight
            # the outputs are the fit's own camera model: (s, t) at the pelvis's plane and
            # the distance (0: weak perspective), drawn by weak_perspective.project
            uv = self._project(pts, cam, root_z, focal)
            reproj = reprojection_px(uv, target, w)
            distance = self._distance(cam, focal)
            joints_uv = self._project(posed.joints, cam, root_z, focal)
            s = cam[:, :1].exp()
            camera = torch.cat([s, cam[:, 1:]], 1)
        euler_np = euler.cpu().double().numpy()
        from scipy.spatial.transform import Rotation

        body_pose = Rotation.from_euler("xyz", euler_np.reshape(-1, 3)).as_rotvec()
        body_pose = body_pose.reshape(-1, 69)
        global_orient = matrix_to_axis_angle(root.cpu().double().numpy())
        betas_np = betas.detach().cpu().numpy()
        camera_np = camera.cpu().numpy().astype(np.float32)
        distance_np = distance.cpu().numpy().astype(np.float32)
        ious = self.mask_ious(betas_np, global_orient, body_pose, camera_np, masks, distance_np)
        return FitResult(
            betas=betas_np.astype(np.float32),
            global_orient=global_orient.astype(np.float32),
            body_pose=body_pose.astype(np.float32),
            camera=camera_np,
            camera_distance=distance_np,
            joints3d=posed.joints.cpu().numpy().astype(np.float32),
            joints_uv=joints_uv.cpu().numpy().astype(np.float32),
            targets_uv=uv.cpu().numpy().astype(np.float32),
            reproj_px=reproj.cpu().numpy().astype(np.float32),
            mask_iou=ious.astype(np.float32),
            euler=euler_np.astype(np.float32),
            losses=stage_losses,
        )

    def meshes(
        self, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Full meshes (T, V, 3) and joints (T, 24, 3): :meth:`FittedMeshes.meshes`."""
        return self.fitted.meshes(betas, global_orient, body_pose)

    def mask_ious(
        self,
        betas: np.ndarray,
        global_orient: np.ndarray,
        body_pose: np.ndarray,
        camera: np.ndarray,
        masks: list[np.ndarray | None],
        camera_distance: np.ndarray | None = None,
    ) -> np.ndarray:
        """(T,) IoU of each frame's projected mesh with its mask at ``iou_resolution``:
        :meth:`FittedMeshes.mask_ious`."""
        return self.fitted.mask_ious(
            self.config.iou_resolution,
            betas,
            global_orient,
            body_pose,
            camera,
            masks,
            camera_distance,
        )
