"""Parsing and depth maps through pyrender (OpenGL): the reference the rasteriser of
:mod:`hpt_data.render.maps` is tested against.

The weak-perspective camera is an orthographic one: vertices are mapped to ``(u, v, z)``
(normalised crop coordinates and camera-frame depth) and viewed by an orthographic camera
with ``xmag = ymag = 1`` looking along ``+z``. OpenGL samples pixel ``i`` at
``u = (i + 0.5) / size · 2 - 1``, the very sample points of this project's pixel
convention. Labels come from ``RenderFlags.SEG`` (no multisampling), depth from the depth
buffer.
"""

from __future__ import annotations

import numpy as np

from hpt_data.body.weak_perspective import project
from hpt_data.render.scene import face_labels, get_renderer, import_pyrender

#: The orthographic camera sits this far in front of the body's origin (metres).
_CAMERA_DISTANCE = 10.0


def render_parsing_depth_gl(
    vertices: np.ndarray,
    faces: np.ndarray,
    part_labels: np.ndarray,
    camera: np.ndarray,
    size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """S and D of a posed mesh rendered by pyrender.

    Parameters
    ----------
    vertices : (V, 3) float
        Camera frame, metres, within 10 m of the origin in depth.
    faces : (F, 3) int
    part_labels : (V,) int, 1..6
    camera : (3,) float, ``(s, tx, ty)``
    size : int

    Returns
    -------
    parsing : (size, size) uint8
    depth : (size, size) float32, ``+inf`` on the background
    """
    pyrender = import_pyrender()
    v = np.asarray(vertices, dtype=np.float64)
    uv = project(v, np.asarray(camera, dtype=np.float64))
    pos = np.concatenate([uv, v[:, 2:3]], axis=1).astype(np.float32)
    f = np.asarray(faces, dtype=np.int64)
    flab = face_labels(f, np.asarray(part_labels))
    scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 1.0])
    seg = {}
    for value in np.unique(flab):
        prim = pyrender.Primitive(positions=pos, indices=f[flab == value].astype(np.uint32))
        seg[scene.add(pyrender.Mesh(primitives=[prim]))] = (int(value), 0, 0)
    near, far = 0.05, 2 * _CAMERA_DISTANCE
    cam = pyrender.OrthographicCamera(xmag=1.0, ymag=1.0, znear=near, zfar=far)
    # OpenCV camera at z = -d looking along +z, as an OpenGL camera-to-world pose
    pose = np.diag([1.0, -1.0, -1.0, 1.0])
    pose[2, 3] = -_CAMERA_DISTANCE
    scene.add(cam, pose=pose)
    renderer = get_renderer(size, size, "labels")
    color, depth = renderer.render(
        scene,
        flags=pyrender.RenderFlags.SEG | pyrender.RenderFlags.SKIP_CULL_FACES,
        seg_node_map=seg,
    )
    parsing = np.ascontiguousarray(color[..., 0]).astype(np.uint8)
    # pyrender linearises depth as if the camera were perspective; undo that, then apply
    # the orthographic mapping: distance = (ndc (far - near) + far + near) / 2
    fg = depth > 0
    ndc = (far + near - 2.0 * near * far / np.where(fg, depth, 1.0)) / (far - near)
    dist = 0.5 * (ndc * (far - near) + far + near)
    d = np.where(fg, dist - _CAMERA_DISTANCE, np.inf).astype(np.float32)
    return parsing, d
