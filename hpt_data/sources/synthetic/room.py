"""The set around the person: a textured room, some furniture, lights and a framing camera.

The person's whole trajectory is known before rendering, so the camera is placed once per
clip (static, like a phone on a tripod) such that every frame shows the whole body with a
margin. The room is laid out relative to that camera: a floor at ``y = 0``, a back wall
facing the camera behind the person, sometimes a side wall, and a few boxes standing in
for furniture away from the person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpt_data.render.camera import intrinsics, look_at, project
from hpt_data.render.scene import DirectionalLight, colored_mesh, textured_quad
from hpt_data.sources.synthetic.textures import FLOORS, WALLS


@dataclass(frozen=True)
class CameraSetup:
    """A static perspective camera.

    ``K (3, 3)`` intrinsics in pixels; ``world_to_cam (4, 4)`` extrinsics (OpenCV axes:
    x right, y down, z forward).
    """

    K: np.ndarray
    world_to_cam: np.ndarray
    width: int
    height: int
    fov_y_deg: float
    eye: np.ndarray


@dataclass
class RoomSetup:
    """Everything but the person: meshes (pyrender), lights and a record of the choices."""

    meshes: list[Any]
    lights: list[DirectionalLight]
    ambient: float
    background: tuple[float, float, float]
    record: dict[str, str] = field(default_factory=dict)


def frame_camera(
    points: np.ndarray,
    width: int,
    height: int,
    rng: np.random.Generator,
    fill: float | None = None,
) -> CameraSetup:
    """Place a camera that sees all ``points`` (the person over the whole clip).

    Parameters
    ----------
    points : (N, 3) float
        World points that must be in view (a subsample of the vertices of every frame).
    width, height : image size in pixels
    rng : draws the field of view, height, azimuth and how much of the frame the person fills
    fill : the fraction of the image's limiting side the points span (default: random)

    Returns
    -------
    CameraSetup
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"points must have shape (N, 3), N > 0, got {pts.shape}")
    fov = float(rng.uniform(38.0, 58.0))
    K = intrinsics(width, height, fov_y_deg=fov)
    fill = float(rng.uniform(0.72, 0.86)) if fill is None else fill
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2.0
    azimuth = np.radians(rng.uniform(-20.0, 20.0))
    cam_h = float(rng.uniform(0.9, 1.6))
    view = np.array([np.sin(azimuth), 0.0, np.cos(azimuth)])  # from the target to the camera
    target = centre + np.array([0.0, rng.uniform(-0.05, 0.05) * (hi[1] - lo[1]), 0.0])

    def spans(dist: float) -> tuple[float, np.ndarray]:
        """Fraction of the frame the points span from ``dist``, and the extrinsics."""
        eye = target + view * dist
        eye[1] = cam_h
        w2c = look_at(eye, target)
        try:
            uv = project(pts, K, w2c)
        except ValueError:  # some point behind the camera: far too close
            return np.inf, w2c
        return max(np.ptp(uv[:, 0]) / width, np.ptp(uv[:, 1]) / height), w2c

    # bisection on the distance: the span shrinks monotonically as the camera backs away
    near, far = 0.5, 40.0
    for _ in range(40):
        mid = 0.5 * (near + far)
        if spans(mid)[0] > fill:
            near = mid
        else:
            far = mid
    w2c = spans(far)[1]
    # re-aim so the points sit centred in the image
    uv = project(pts, K, w2c)
    du = (uv[:, 0].min() + uv[:, 0].max()) / 2 - (width - 1) / 2
    dv = (uv[:, 1].min() + uv[:, 1].max()) / 2 - (height - 1) / 2
    eye = np.linalg.inv(w2c)[:3, 3]
    cam_to_world = np.linalg.inv(w2c)[:3, :3]
    depth = float(np.median((pts - eye) @ cam_to_world[:, 2]))
    shift = cam_to_world @ np.array([du, dv, 0.0]) * depth / K[0, 0]
    w2c = look_at(eye, target + shift)
    return CameraSetup(K=K, world_to_cam=w2c, width=width, height=height, fov_y_deg=fov, eye=eye)


def _quad(centre: np.ndarray, right: np.ndarray, up: np.ndarray, w: float, h: float) -> np.ndarray:
    """Corners (4, 3) of a w x h rectangle: bottom-left, bottom-right, top-right, top-left."""
    r, u = right * w / 2, up * h / 2
    return np.stack([centre - r - u, centre + r - u, centre + r + u, centre - r + u])


def build_room(
    camera: CameraSetup, person_points: np.ndarray, rng: np.random.Generator
) -> RoomSetup:
    """Lay out floor, walls, furniture and lights around the person, seen from ``camera``.

    Parameters
    ----------
    camera : the clip's camera
    person_points : (N, 3) float, the person's points over the clip (furniture avoids them)
    rng : draws materials, distances and light
    """
    pts = np.asarray(person_points, dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    eye = camera.eye
    fwd = centre - eye
    fwd[1] = 0.0
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.array([0.0, 1.0, 0.0])
    # the person's extent along the viewing direction, and how far the wall stands behind
    depth_far = float(np.max((pts - eye) @ fwd))
    wall_dist = depth_far + float(rng.uniform(0.8, 3.0))
    wall_h = float(rng.uniform(2.6, 3.2))

    floor_name = str(rng.choice(list(FLOORS)))
    wall_name = str(rng.choice(list(WALLS), p=[0.55, 0.15, 0.15, 0.15]))
    floor_tex = FLOORS[floor_name](rng, 512)
    wall_tex = WALLS[wall_name](rng, 512)
    floor_tile = float(rng.uniform(1.2, 2.5))  # metres per texture repeat
    size = 40.0
    floor_c = eye + fwd * (size / 2 - 2.0)
    floor_c[1] = 0.0
    # floor corners: bottom-left, bottom-right, top-right, top-left seen from above
    floor = _quad(floor_c, right, fwd, size, size)
    floor[:, 1] = 0.0
    meshes: list[Any] = [textured_quad(floor, floor_tex, (size / floor_tile,) * 2)]
    wall_c = eye + fwd * wall_dist
    wall_c[1] = wall_h / 2
    wall_tile = 1.5 if wall_name in ("brick", "wallpaper") else 3.0
    meshes.append(
        textured_quad(
            _quad(wall_c, right, up, size, wall_h), wall_tex, (size / wall_tile, wall_h / wall_tile)
        )
    )
    # a ceiling strip keeps the top of tall frames from showing the void
    ceil = _quad(wall_c - fwd * size / 2 + up * wall_h / 2, right, -fwd, size, size)
    meshes.append(
        colored_mesh(ceil, np.array([[0, 1, 2], [0, 2, 3]]), np.full((4, 3), 0.93), smooth=False)
    )
    record = {"floor": floor_name, "wall": wall_name}
    if rng.random() < 0.5:
        side = float(rng.choice([-1.0, 1.0]))
        lateral = float(np.max(np.abs((pts - centre) @ right))) + float(rng.uniform(1.0, 2.5))
        side_tex = WALLS[wall_name](rng, 512) if rng.random() < 0.7 else WALLS["paint"](rng, 512)
        # runs from behind the camera to the back wall; its textured face looks at the person
        span = wall_dist + 2.0
        mid = eye + right * (float((centre - eye) @ right) + side * lateral)
        mid = mid + fwd * (wall_dist - span / 2)
        mid[1] = wall_h / 2
        corners = _quad(mid, fwd * side, up, span, wall_h)
        meshes.append(textured_quad(corners, side_tex, (span / wall_tile, wall_h / wall_tile)))
        record["side_wall"] = "left" if side < 0 else "right"
    gap = wall_dist - float((centre - eye) @ fwd)
    meshes.extend(_furniture(rng, centre, fwd, right, gap, lo, hi))

    # lights: a key light from the camera's side and above, a weaker fill, ambient
    warm = rng.uniform(-1, 1)
    tint = np.array([1.0 + 0.06 * warm, 1.0, 1.0 - 0.08 * warm])
    key_az = np.radians(rng.uniform(-70, 70))
    key_el = np.radians(rng.uniform(30, 65))
    to_light = (
        -fwd * np.cos(key_az) * np.cos(key_el)
        + right * np.sin(key_az) * np.cos(key_el)
        + up * np.sin(key_el)
    )
    key = DirectionalLight(tuple(-to_light), tuple(tint), float(rng.uniform(2.5, 4.0)))
    fill_dir = -fwd * 0.6 - right * np.sign(np.sin(key_az) + 1e-9) * 0.8 + up * 0.4
    fill = DirectionalLight(tuple(-fill_dir), tuple(tint), float(rng.uniform(0.6, 1.5)))
    back = DirectionalLight(
        tuple(fwd * 0.8 - up * 0.5), (1.0, 1.0, 1.0), float(rng.uniform(0.3, 1.0))
    )
    ambient = float(rng.uniform(0.25, 0.45))
    record["light"] = f"key az {np.degrees(key_az):.0f} el {np.degrees(key_el):.0f}"
    bg = tuple(float(c) for c in wall_tex.reshape(-1, 3).mean(axis=0) / 255.0)
    return RoomSetup(meshes, [key, fill, back], ambient, bg, record)  # type: ignore[arg-type]


def _furniture(
    rng: np.random.Generator,
    centre: np.ndarray,
    fwd: np.ndarray,
    right: np.ndarray,
    wall_gap: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> list[Any]:
    """0-3 boxes (cabinets, a sofa, a plant pot) against the back wall, clear of the person."""
    import trimesh

    out: list[Any] = []
    half_w = float(np.max(np.abs(np.stack([lo - centre, hi - centre]) @ right))) + 0.4
    for _ in range(int(rng.integers(0, 4))):
        w, h, d = rng.uniform(0.4, 1.6), rng.uniform(0.4, 1.9), rng.uniform(0.3, 0.8)
        side = rng.choice([-1.0, 1.0])
        offset = side * (half_w + w / 2 + rng.uniform(0.0, 1.5))
        pos = centre + right * offset + fwd * (wall_gap - d / 2 - 0.02)
        box = trimesh.creation.box(extents=[w, h, d])
        rot = np.eye(4)
        rot[:3, 0], rot[:3, 1], rot[:3, 2] = right, [0.0, 1.0, 0.0], fwd
        rot[:3, 3] = [pos[0], h / 2, pos[2]]
        box.apply_transform(rot)
        colour = rng.uniform(0.15, 0.85, 3)
        colour = colour * 0.6 + colour.mean() * 0.4
        cols = np.tile(colour, (len(box.vertices), 1))
        out.append(colored_mesh(box.vertices, box.faces, cols, roughness=0.7, smooth=False))
    return out
