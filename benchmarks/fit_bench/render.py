"""Render the benchmark's clips with Anny's own skinning: video, mask and true joints per view.

The room, lights, shadows, outfits and sensor noise are the synthetic source's
(:mod:`hpt_data.sources.synthetic`); the body is :class:`AnnySkinnedBody` at the clip's
phenotype, and the camera follows the clip's :class:`ViewSpec` (field of view, tilt,
azimuth, distance) instead of the source's framing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fit_bench.clips import DISTANCE_RANGE, FPS, FRAMES, HEIGHT, WIDTH, ClipPlan, ViewSpec
from fit_bench.motions import make_bench_motion
from hpt_data.render.camera import intrinsics, look_at, project, transform_points
from hpt_data.sources.synthetic.reproducible import rng_for


@dataclass
class RenderedView:
    """One camera's clip on disk and its truth (camera frame: x right, y down, z forward).

    video : mp4 path; joints_cam : (T, 24, 3) m; joints_px : (T, 24, 2) pixels (centres
    at integers); mask : (T, H, W) bool; K : (3, 3); world_to_cam : (4, 4)
    """

    clip_id: str
    view: int
    video: Path
    joints_cam: np.ndarray
    joints_px: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    world_to_cam: np.ndarray
    record: dict[str, Any]


@functools.lru_cache(maxsize=1)
def _models() -> tuple[Any, dict[str, np.ndarray], Any]:
    from hpt_data.body import load_body_model
    from hpt_data.sources.synthetic.people import _anny

    anny, arrays = _anny()
    return anny, arrays, load_body_model().double()


def _span(pts: np.ndarray, K: np.ndarray, w2c: np.ndarray, w: int, h: int) -> float:
    cam = transform_points(pts, w2c)
    if (cam[:, 2] <= 0.05).any():
        return np.inf
    uv = project(pts, K, w2c)
    return max(np.ptp(uv[:, 0]) / w, np.ptp(uv[:, 1]) / h)


def place_camera(
    pts: np.ndarray, view: ViewSpec, heading_deg: float, w: int = WIDTH, h: int = HEIGHT
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """The view's camera for the body's points ``(N, 3)`` over the clip.

    Returns ``K``, ``world_to_cam``, the distance to the body's centre (m) and the eye.
    Distances run over 1.5-6 m; the near end moves out to where the body spans 90 % of the
    frame (``full``) or 100 % around a point 15 % of its height lower (``limb_out``: the
    top of the body, a raised hand, leaves the picture).
    """
    K = intrinsics(w, h, fov_y_deg=view.fov_deg)
    lo, hi = pts.min(0), pts.max(0)
    target = (lo + hi) / 2
    fill = 0.9
    if view.framing == "limb_out":
        target = target - np.array([0.0, 0.15 * (hi[1] - lo[1]), 0.0])
        fill = 1.0
    az = np.radians(heading_deg + view.azimuth_deg)
    tilt = np.radians(view.tilt_deg)
    direction = np.array([np.sin(az) * np.cos(tilt), np.sin(tilt), np.cos(az) * np.cos(tilt)])

    def w2c_at(d: float) -> np.ndarray:
        return look_at(target + d * direction, target)

    near, far = 0.3, 60.0
    for _ in range(40):
        mid = 0.5 * (near + far)
        if _span(pts, K, w2c_at(mid), w, h) > fill:
            near = mid
        else:
            far = mid
    d_lo = max(DISTANCE_RANGE[0], far)
    d_hi = max(DISTANCE_RANGE[1], d_lo)
    d = d_lo + view.distance_u * (d_hi - d_lo)
    return K, w2c_at(d), float(d), target + d * direction


def render_clip(plan: ClipPlan, out: Path) -> list[RenderedView]:
    """Render every view of one clip into ``out``; returns them with their truth."""
    from hpt_data.body.anny_skinned import AnnySkinnedBody
    from hpt_data.render.scene import (
        add_ranked,
        build_scene,
        colored_mesh,
        render_labels,
        render_rgbd,
        vertex_normals,
    )
    from hpt_data.sources.synthetic.appearance import sample_outfit, stand_off, vertex_colors
    from hpt_data.sources.synthetic.clip import write_video
    from hpt_data.sources.synthetic.room import CameraSetup, build_room
    from hpt_data.sources.synthetic.shadows import add_shadows

    anny, arrays, builtin = _models()
    body = AnnySkinnedBody(anny, arrays, np.array(plan.phenotype), builtin)
    rng = rng_for(plan.seed, "motion")
    motion, heading, lift = make_bench_motion(plan.motion, FRAMES, FPS, rng)
    posed = body.forward(
        body_pose=motion.body_pose, global_orient=motion.global_orient, transl=motion.transl
    )
    verts, joints = posed.vertices.numpy(), posed.joints.numpy()
    up = lift - verts[:, :, 1].min(1)  # stand on the floor, then the jump's flight
    verts[:, :, 1] += up[:, None]
    joints[:, :, 1] += up[:, None]
    rest = body.forward(body_pose=np.zeros((1, 69)))
    outfit = sample_outfit(rng_for(plan.seed, "outfit"), plan.age_years, plan.phenotype[0])
    colors, region = vertex_colors(
        outfit,
        rest.vertices.numpy()[0],
        rest.joints.numpy()[0],
        body.skinning_weights,
        body.landmark_vertex_ids,
        rng_for(plan.seed, "fabric"),
    )
    offsets = stand_off(outfit, region)
    faces, labels = body.faces, np.asarray(body.part_labels, np.uint8)
    pts = verts[:, ::5].reshape(-1, 3)
    views = []
    for k, view in enumerate(plan.views):
        K, w2c, dist, eye = place_camera(pts, view, heading)
        cam = CameraSetup(K, w2c, WIDTH, HEIGHT, view.fov_deg, eye)
        room = build_room(cam, pts, rng_for(plan.seed, "room", k))
        scene = build_scene(room.meshes, K, w2c, room.lights, room.ambient, room.background)
        key = np.asarray(room.lights[0].direction, np.float64)
        opacity = float(np.clip(0.6 - room.ambient * 0.6, 0.25, 0.5))
        noise_rng = rng_for(plan.seed, "noise", k)
        rgb = np.empty((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
        mask = np.empty((FRAMES, HEIGHT, WIDTH), bool)
        for i in range(FRAMES):
            dressed = verts[i] + vertex_normals(verts[i], faces) * offsets[:, None]
            node = add_ranked(scene, 5_000, mesh=colored_mesh(dressed, faces, colors, 0.8))
            img, depth = render_rgbd(scene, WIDTH, HEIGHT)
            scene.remove_node(node)
            parts = render_labels(dressed, faces, labels, K, w2c, WIDTH, HEIGHT)
            mask[i] = parts > 0
            img = add_shadows(img, depth, mask[i], dressed, faces, key, opacity, K, w2c)
            noise = noise_rng.normal(0.0, 2.0, img.shape).astype(np.float32)
            rgb[i] = np.clip(img.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
        video = out / f"{plan.clip_id}-v{k}.mp4"
        write_video(video, rgb, FPS)
        jpx = project(joints, K, w2c)
        inside = (jpx[..., 0] >= 0) & (jpx[..., 0] < WIDTH) & (jpx[..., 1] >= 0)
        inside &= jpx[..., 1] < HEIGHT
        record = {
            "fov_deg": round(view.fov_deg, 1),
            "tilt_deg": round(view.tilt_deg, 1),
            "azimuth_deg": view.azimuth_deg,
            "distance_m": round(dist, 2),
            "framing": view.framing,
            "frames_with_a_joint_outside": int((~inside).any(1).sum()),
        }
        views.append(
            RenderedView(
                plan.clip_id,
                k,
                video,
                transform_points(joints, w2c),
                jpx,
                mask,
                K,
                w2c,
                record,
            )
        )
    return views
