"""Render one synthetic clip: pose the person, frame and light the set, write mp4 + truth.

Everything random is drawn from generators seeded by stable hashes of the dataset seed and
the clip's (or person's) id, so a clip is reproducible on its own, in any worker, in any
order. Files are written under temporary names in the target folder and renamed into
place, ground truth first and video last, so a killed worker leaves nothing trusted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.body.motions import make_motion
from hpt_data.body.parts import JOINT_TO_PART
from hpt_data.render.camera import project
from hpt_data.sources.helpers import atomic_output
from hpt_data.sources.synthetic.crowd import move, place
from hpt_data.sources.synthetic.crowd_render import PosedBody, label_people, people_truth
from hpt_data.sources.synthetic.ground_truth import GT_FORMAT_VERSION, write_npz
from hpt_data.sources.synthetic.people import Person
from hpt_data.sources.synthetic.reproducible import rng_for, settle
from hpt_data.sources.synthetic.room import build_room, frame_camera
from hpt_data.sources.synthetic.shadows import add_shadows

logger = logging.getLogger(__name__)

#: Codec of the written videos (OpenCV's MPEG-4 part 2 encoder, in every opencv wheel).
FOURCC = "mp4v"


@dataclass(frozen=True)
class ClipSpec:
    """What to render: one person doing one action."""

    video_id: str
    person_id: str
    action: str
    num_frames: int
    fps: int
    width: int
    height: int
    seed: int
    people: int = 1  # people in the scene: the clip's own, a crosser, a bystander (crowd.py)


@dataclass(frozen=True)
class ClipFrames:
    """A rendered clip in memory.

    rgb (T, H, W, 3) uint8 in RGB order; parts (T, H, W) uint8 labels 0..6; the rest is the
    ground truth as written to the ``.npz``.
    """

    rgb: np.ndarray
    parts: np.ndarray
    truth: dict[str, np.ndarray]
    seconds: float


def pose_body(
    model: Any,
    betas: np.ndarray,
    body_pose: np.ndarray,
    global_orient: np.ndarray,
    transl: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the body model over a clip and stand the body on the floor (``y = 0``).

    Parameters
    ----------
    betas : (10,); body_pose : (T, 69); global_orient : (T, 3); transl : (T, 3)

    Returns
    -------
    vertices : (T, V, 3) float64, joints : (T, 24, 3) float64, transl : (T, 3) with the
    floor contact folded into its y
    """
    import torch

    t = len(body_pose)
    dtype = getattr(model, "dtype", torch.float64)
    with torch.no_grad():
        out = model.forward(
            betas=torch.as_tensor(np.tile(betas, (t, 1)), dtype=dtype),
            body_pose=torch.as_tensor(body_pose, dtype=dtype),
            global_orient=torch.as_tensor(global_orient, dtype=dtype),
            transl=torch.as_tensor(transl, dtype=dtype),
        )
    verts = settle(out.vertices)
    joints = settle(out.joints[:, :24])
    lift = -verts[:, :, 1].min(axis=1)  # lowest point of each frame touches the floor
    verts[:, :, 1] += lift[:, None]
    joints[:, :, 1] += lift[:, None]
    transl = np.array(transl, dtype=np.float64)
    transl[:, 1] += lift
    return verts, joints, transl


def render_clip(
    spec: ClipSpec,
    person: Person,
    model: Any,
    colors: np.ndarray,
    offsets: np.ndarray | None = None,
    others: Sequence[tuple[Person, np.ndarray, np.ndarray | None]] = (),
) -> ClipFrames:
    """Render a clip into memory.

    Parameters
    ----------
    spec : what to render
    person : the person (shape and outfit)
    model : the body model
    colors : (V, 3) sRGB per-vertex colours of the dressed person
    offsets : (V,) how far clothes and hair stand off the skin (metres), or None
    others : the other people of the scene (``spec.people - 1`` of them), each as
        (person, colors, offsets); placed by :mod:`hpt_data.sources.synthetic.crowd`
    """
    from hpt_data.render.scene import (
        add_ranked,
        build_scene,
        colored_mesh,
        render_labels,
        render_rgbd,
        vertex_normals,
    )

    t0 = time.perf_counter()
    rng_motion = rng_for(spec.seed, spec.video_id, "motion")
    motion, style = make_motion(spec.action, spec.num_frames, spec.fps, rng_motion)
    verts, joints, transl = pose_body(
        model, person.betas, motion.body_pose, motion.global_orient, motion.transl
    )
    pts = verts[:, ::5].reshape(-1, 3)
    cam = frame_camera(pts, spec.width, spec.height, rng_for(spec.seed, spec.video_id, "camera"))
    crowd = _pose_others(spec, others, model, cam, pts)
    room_pts = np.concatenate([pts, *(b[0][:, ::5].reshape(-1, 3) for b in crowd)])
    room = build_room(cam, room_pts, rng_for(spec.seed, spec.video_id, "room"))
    scene = build_scene(
        room.meshes, cam.K, cam.world_to_cam, room.lights, room.ambient, room.background
    )
    faces = np.asarray(model.faces)
    labels = np.asarray(model.part_labels, dtype=np.uint8)
    rng_noise = rng_for(spec.seed, spec.video_id, "noise")
    noise_sigma = float(rng_noise.uniform(1.0, 3.0))
    t, h, w = spec.num_frames, spec.height, spec.width
    rgb = np.empty((t, h, w, 3), np.uint8)
    parts = np.empty((t, h, w), np.uint8)
    key = np.asarray(room.lights[0].direction, dtype=np.float64)
    key_opacity = float(np.clip(0.6 - room.ambient * 0.6, 0.25, 0.5))
    bodies = [(verts, colors, offsets)] + [(b[0], b[2], b[3]) for b in crowd]
    instance = np.zeros((t, h, w), np.uint8) if crowd else None
    amodal = np.zeros((len(bodies), t), np.int64)
    for i in range(t):
        meshes = []
        for body_verts, body_colors, body_offsets in bodies:
            dressed = body_verts[i]
            if body_offsets is not None:
                dressed = dressed + vertex_normals(dressed, faces) * body_offsets[:, None]
            meshes.append((dressed, body_colors))
        nodes = [
            add_ranked(scene, 5_000 + k, mesh=colored_mesh(d, faces, c, roughness=0.8))
            for k, (d, c) in enumerate(meshes)
        ]
        img, depth = render_rgbd(scene, w, h)
        for node in nodes:
            scene.remove_node(node)
        if instance is None:
            dressed = meshes[0][0]
            parts[i] = render_labels(dressed, faces, labels, cam.K, cam.world_to_cam, w, h)
            anyone = parts[i] > 0
        else:
            dressed, parts[i], instance[i], amodal[:, i] = label_people(
                [m[0] for m in meshes], faces, labels, cam
            )
            anyone = instance[i] > 0
            faces_all = np.concatenate([faces + k * len(verts[0]) for k in range(len(meshes))])
        img = add_shadows(
            img,
            depth,
            anyone,
            dressed,
            faces if instance is None else faces_all,
            key,
            key_opacity,
            cam.K,
            cam.world_to_cam,
        )
        # sensor noise drawn in float32 (a third of float64's time, the same distribution)
        noisy = rng_noise.standard_normal(img.shape, dtype=np.float32)
        noisy *= np.float32(noise_sigma)
        noisy += img
        noisy += np.float32(0.5)
        rgb[i] = np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)

    lm_names, lm_ids = _landmarks(model)
    joints2d = project(joints, cam.K, cam.world_to_cam)
    landmarks2d = project(verts[:, lm_ids], cam.K, cam.world_to_cam)
    # a joint "shows" when the pixel it projects to belongs to the joint's own body part
    ui = np.clip(np.round(joints2d[..., 0]).astype(int), 0, w - 1)
    vi = np.clip(np.round(joints2d[..., 1]).astype(int), 0, h - 1)
    own = parts[np.arange(t)[:, None], vi, ui] == np.asarray(JOINT_TO_PART, np.uint8)[None]
    inside = (joints2d[..., 0] >= 0) & (joints2d[..., 0] <= w - 1)
    inside &= (joints2d[..., 1] >= 0) & (joints2d[..., 1] <= h - 1)
    o = person.outfit
    outfit = {
        "skin_tone": f"{o.skin_tone:.3f}",
        "hair": o.hair_name,
        "hair_style": o.hair_style,
        "shirt": o.shirt_name,
        "shirt_pattern": o.shirt_pattern,
        "sleeves": o.sleeves,
        "lower": o.lower_name,
        "lower_kind": o.lower_kind,
        "shoes": o.shoes_name,
    }
    scene_rec = {k: room.record[k] for k in sorted(room.record)}
    scene_rec.update(
        fov_y_deg=f"{cam.fov_y_deg:.2f}", style_side=str(style.side), heading=f"{style.heading:.1f}"
    )
    pheno_names = sorted(person.phenotype)
    truth: dict[str, np.ndarray] = {
        "format_version": np.array(GT_FORMAT_VERSION),
        "video_id": np.array(spec.video_id),
        "person_id": np.array(spec.person_id),
        "action": np.array(spec.action),
        "fps": np.array(spec.fps),
        "seed": np.array(spec.seed),
        "image_size": np.array([w, h]),
        "body_pose": motion.body_pose.astype(np.float32),
        "global_orient": motion.global_orient.astype(np.float32),
        "transl": transl.astype(np.float32),
        "betas": person.betas.astype(np.float32),
        "K": cam.K.astype(np.float64),
        "world_to_cam": cam.world_to_cam.astype(np.float64),
        "joints3d": joints.astype(np.float32),
        "joints2d": joints2d.astype(np.float32),
        "joints_in_image": inside,
        "joints_on_own_part": own,
        "landmark_names": np.array(lm_names),
        "landmarks2d": landmarks2d.astype(np.float32),
        "mask": parts > 0,
        "parts": parts,
        "person_height_m": np.array(person.height_m, np.float32),
        "person_mass_kg": np.array(person.mass_kg, np.float32),
        "person_female": np.array(person.female, np.float32),
        "person_age_years": np.array(person.age_years, np.float32),
        "phenotype_names": np.array(pheno_names),
        "phenotype_values": np.array([person.phenotype[k] for k in pheno_names], np.float32),
        "outfit_names": np.array(list(outfit)),
        "outfit_values": np.array(list(outfit.values())),
        "scene_names": np.array(list(scene_rec)),
        "scene_values": np.array(list(scene_rec.values())),
    }
    if instance is not None:
        posed = [(verts, joints, spec.action)] + [(b[0], b[1], b[4]) for b in crowd]
        truth.update(
            people_truth(spec.video_id, spec.person_id, posed, lm_ids, instance, amodal, cam)
        )
    return ClipFrames(rgb=rgb, parts=parts, truth=truth, seconds=time.perf_counter() - t0)


def _pose_others(
    spec: ClipSpec,
    others: Sequence[tuple[Person, np.ndarray, np.ndarray | None]],
    model: Any,
    cam: Any,
    performer_points: np.ndarray,
) -> list[PosedBody]:
    """Pose and place the other people of the scene (``crowd.place``), each from their own
    random stream, once the camera is known."""
    if len(others) != spec.people - 1:
        raise ValueError(f"{spec.video_id}: {spec.people} people need {spec.people - 1} others")
    lo, hi = performer_points.min(axis=0), performer_points.max(axis=0)
    centre = (lo + hi) / 2
    half_width = spec.width / 2 / float(cam.K[0, 0])
    posed: list[PosedBody] = []
    for k, (person, colors, offsets) in enumerate(others, start=1):
        rng = rng_for(spec.seed, spec.video_id, "crowd", k)
        spot = place(k, rng, cam.eye, centre, half_width)
        motion, style = make_motion(spot.action, spec.num_frames, spec.fps, rng)
        verts, joints, _ = pose_body(
            model, person.betas, motion.body_pose, motion.global_orient, motion.transl
        )
        yaw = spot.yaw - np.radians(style.heading) if spot.action == "walk" else spot.yaw
        own = verts[:, ::5].reshape(-1, 3).mean(axis=0)
        verts = move(verts, yaw, spot.shift, own)
        joints = move(joints, yaw, spot.shift, own)
        posed.append((verts, joints, colors, offsets, spot.action))
    return posed


def _landmarks(model: Any) -> tuple[list[str], np.ndarray]:
    """Landmark names and vertex ids of the body model (dict or array forms accepted)."""
    ids = getattr(model, "landmark_vertex_ids", {})
    if isinstance(ids, dict):
        names = list(ids)
        return names, np.array([int(ids[n]) for n in names], dtype=np.int64)
    arr = np.asarray(ids, dtype=np.int64)
    return [f"landmark_{i}" for i in range(len(arr))], arr


def write_video(path: str | Path, rgb: np.ndarray, fps: int) -> None:
    """Encode ``(T, H, W, 3)`` RGB frames to an mp4 with OpenCV's 'mp4v' codec."""
    import cv2

    _, h, w, _ = rgb.shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), float(fps), (w, h))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot open a '{FOURCC}' video writer for {path}")
    try:
        for frame in rgb:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def write_clip(frames: ClipFrames, video_path: str | Path, gt_path: str | Path, fps: int) -> None:
    """Write the ground truth, then the video, each to a temporary name then renamed
    (``hpt_data.sources.atomic_output``, the writer plugins use too)."""
    with atomic_output(gt_path) as gt_tmp:
        write_npz(gt_tmp, frames.truth)
    with atomic_output(video_path) as video_tmp:
        write_video(video_tmp, frames.rgb, fps)
