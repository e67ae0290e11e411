"""Offscreen pyrender helpers: lit colour + depth renders and crisp label renders.

One ``pyrender.OffscreenRenderer`` is kept per process and image size (creating an EGL
context costs far more than a frame). Colour renders use pyrender's default 4x MSAA, which
blends colours at silhouettes; label renders use ``RenderFlags.SEG``, which turns
multisampling off, so every pixel carries exactly one label.

Cameras are given in OpenCV's convention (``K`` and a world-to-camera transform, see
:mod:`hpt_data.render.camera`); the conversion to OpenGL's happens here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpt_data.render.camera import to_opengl_pose

if TYPE_CHECKING:
    import pyrender

_RENDERERS: dict[tuple[int, int, str], Any] = {}
_RENDERERS_PID = os.getpid()

#: Near and far clipping planes of every render, metres.
ZNEAR, ZFAR = 0.05, 100.0


def import_pyrender() -> Any:
    """Import pyrender for headless use: EGL unless ``PYOPENGL_PLATFORM`` is already set."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    import pyrender

    return pyrender


def get_renderer(width: int, height: int, slot: str = "color") -> pyrender.OffscreenRenderer:
    """The process's offscreen renderer of this size and slot, created on first use.

    Colour and label renders use separate slots (separate GL contexts): a renderer drops
    from the GPU whatever the scene it draws lacks, so alternating two scenes on one
    renderer would upload the room's textures again for every frame.
    """
    global _RENDERERS_PID
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if os.getpid() != _RENDERERS_PID:
        # a forked child inherits the parent's cache but not its GL contexts: start afresh
        _RENDERERS.clear()
        _RENDERERS_PID = os.getpid()
    key = (int(width), int(height), slot)
    if key not in _RENDERERS:
        pyrender = import_pyrender()
        _RENDERERS[key] = pyrender.OffscreenRenderer(viewport_width=key[0], viewport_height=key[1])
    return _RENDERERS[key]


def release_renderers() -> None:
    """Delete every cached renderer (frees the GL contexts)."""
    while _RENDERERS:
        _, r = _RENDERERS.popitem()
        r.delete()


_RANKED_NODE: Any = None


def add_ranked(scene: pyrender.Scene, rank: int, pose: np.ndarray | None = None, **kw: Any) -> Any:
    """Add a node (``mesh=``, ``light=`` or ``camera=``) whose hash is ``rank``.

    pyrender keeps nodes in sets and draws meshes and sums lights in set order, which for
    ordinary nodes follows memory addresses: equal-depth ties (a sole on the floor, folds
    of the body) and light sums then come out differently depending on what the process
    did before. Ranked nodes make the order, and so every pixel, a function of the scene.
    Give every node of a scene a distinct rank.
    """
    global _RANKED_NODE
    if _RANKED_NODE is None:
        pyrender = import_pyrender()

        class RankedNode(pyrender.Node):  # type: ignore[misc, name-defined]
            def __init__(self, rank: int, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.rank = rank

            def __hash__(self) -> int:
                return self.rank

        _RANKED_NODE = RankedNode
    node = _RANKED_NODE(int(rank), matrix=np.eye(4) if pose is None else pose, **kw)
    scene.add_node(node)
    return node


@dataclass(frozen=True)
class DirectionalLight:
    """A sun-like light shining along ``direction`` (world coordinates, need not be unit)."""

    direction: tuple[float, float, float]
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    intensity: float = 3.0


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals.

    Parameters
    ----------
    vertices : (V, 3) float
    faces : (F, 3) int

    Returns
    -------
    (V, 3) float32
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"expected (V, 3) vertices and (F, 3) faces, got {v.shape}, {f.shape}")
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    idx = f.reshape(-1)
    rep = np.repeat(fn, 3, axis=0)
    vn = np.stack([np.bincount(idx, rep[:, c], minlength=len(v)) for c in range(3)], axis=1)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return (vn / np.maximum(norm, 1e-12)).astype(np.float32)


def colored_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray,
    roughness: float = 0.85,
    smooth: bool = True,
) -> pyrender.Mesh:
    """A pyrender mesh with per-vertex colours and a matte, non-metallic material.

    Parameters
    ----------
    vertices : (V, 3) float
    faces : (F, 3) int
    colors : (V, 3) float in [0, 1] or uint8
        sRGB albedo; converted to linear here, since pyrender multiplies vertex colours into
        its linear shading and applies the display gamma at the end.
    roughness : float
        PBR roughness in [0, 1]; high is matte (cloth, skin).
    smooth : bool
        Smooth (per-vertex) normals; False for faceted shading.
    """
    pyrender = import_pyrender()
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces, dtype=np.uint32)
    c = np.asarray(colors)
    if c.shape != (v.shape[0], 3):
        raise ValueError(f"colors must have shape ({v.shape[0]}, 3), got {c.shape}")
    c = c.astype(np.float32) / 255.0 if c.dtype == np.uint8 else c.astype(np.float32)
    c = np.clip(c, 0.0, 1.0) ** 2.2
    rgba = np.concatenate([c, np.ones((len(c), 1), np.float32)], axis=1)
    material = pyrender.MetallicRoughnessMaterial(
        baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=roughness
    )
    if not smooth:
        v, rgba = v[f].reshape(-1, 3), rgba[f].reshape(-1, 4)
        f = np.arange(f.size, dtype=np.uint32).reshape(-1, 3)
    prim = pyrender.Primitive(
        positions=v,
        normals=vertex_normals(v, f),
        color_0=rgba,
        indices=f,
        material=material,
    )
    return pyrender.Mesh(primitives=[prim])


def textured_quad(
    corners: np.ndarray, texture: np.ndarray, uv_repeat: tuple[float, float] = (1.0, 1.0)
) -> pyrender.Mesh:
    """A flat quad carrying an RGB image texture (walls, floors).

    Parameters
    ----------
    corners : (4, 3) float
        Corners in order: the texture's bottom-left, bottom-right, top-right, top-left.
    texture : (H, W, 3) uint8
        The image; repeated ``uv_repeat`` times along each side.
    """
    pyrender = import_pyrender()
    p = np.asarray(corners, dtype=np.float32)
    if p.shape != (4, 3):
        raise ValueError(f"corners must have shape (4, 3), got {p.shape}")
    tex = np.asarray(texture)
    if tex.ndim != 3 or tex.shape[2] != 3 or tex.dtype != np.uint8:
        raise ValueError(f"texture must be (H, W, 3) uint8, got {tex.shape} {tex.dtype}")
    ru, rv = uv_repeat
    uv = np.array([[0, 0], [ru, 0], [ru, rv], [0, rv]], dtype=np.float32)
    n = np.cross(p[1] - p[0], p[3] - p[0])
    n = np.tile(n / np.linalg.norm(n), (4, 1)).astype(np.float32)
    sampler = pyrender.Sampler(wrapS=10497, wrapT=10497)  # GL_REPEAT
    material = pyrender.MetallicRoughnessMaterial(
        baseColorTexture=pyrender.Texture(source=tex, source_channels="RGB", sampler=sampler),
        metallicFactor=0.0,
        roughnessFactor=0.9,
    )
    prim = pyrender.Primitive(
        positions=p,
        normals=n,
        texcoord_0=uv,
        indices=np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32),
        material=material,
    )
    return pyrender.Mesh(primitives=[prim])


def _direction_pose(direction: Sequence[float]) -> np.ndarray:
    """Pose whose -z axis points along ``direction`` (pyrender lights shine along -z)."""
    d = np.asarray(direction, dtype=np.float64)
    z = -d / np.linalg.norm(d)
    helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, y, z
    return pose


def build_scene(
    meshes: Sequence[pyrender.Mesh],
    K: np.ndarray,
    world_to_cam: np.ndarray,
    lights: Sequence[DirectionalLight] = (),
    ambient: float = 0.3,
    bg_color: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> pyrender.Scene:
    """A pyrender scene of static meshes (world coordinates), lights and one camera.

    Parameters
    ----------
    K : (3, 3) float
        Intrinsics in pixels (OpenCV convention).
    world_to_cam : (4, 4) float
        Extrinsics (OpenCV axes).
    ambient : float
        Ambient light level in [0, 1], the same in all channels.
    """
    pyrender = import_pyrender()
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must have shape (3, 3), got {K.shape}")
    scene = pyrender.Scene(bg_color=[*bg_color, 1.0], ambient_light=[ambient] * 3)
    for rank, m in enumerate(meshes):
        add_ranked(scene, rank, mesh=m)
    for rank, light in enumerate(lights):
        add_ranked(
            scene,
            10_000 + rank,
            light=pyrender.DirectionalLight(
                color=np.asarray(light.color), intensity=light.intensity
            ),
            pose=_direction_pose(light.direction),
        )
    # pyrender's pixel centres sit at half-integers, OpenCV's at integers: shift by half.
    cam = pyrender.IntrinsicsCamera(
        fx=K[0, 0], fy=K[1, 1], cx=K[0, 2] + 0.5, cy=K[1, 2] + 0.5, znear=ZNEAR, zfar=ZFAR
    )
    add_ranked(scene, 20_000, camera=cam, pose=to_opengl_pose(world_to_cam))
    return scene


def render_rgbd(scene: pyrender.Scene, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Render a scene's colour and linear depth.

    Returns
    -------
    rgb : (H, W, 3) uint8
    depth : (H, W) float32
        Camera-space z in metres, 0 where nothing was drawn.
    """
    rgb, depth = get_renderer(width, height).render(scene)
    return np.ascontiguousarray(rgb[..., :3]), depth.astype(np.float32)


def face_labels(faces: np.ndarray, vertex_labels: np.ndarray) -> np.ndarray:
    """One label per face from per-vertex labels: the majority, else the first vertex's.

    Parameters
    ----------
    faces : (F, 3) int
    vertex_labels : (V,) int

    Returns
    -------
    (F,) same dtype as ``vertex_labels``
    """
    lab = np.asarray(vertex_labels)[np.asarray(faces)]
    return np.where(lab[:, 1] == lab[:, 2], lab[:, 1], lab[:, 0])


def render_labels(
    vertices: np.ndarray,
    faces: np.ndarray,
    vertex_labels: np.ndarray,
    K: np.ndarray,
    world_to_cam: np.ndarray,
    width: int,
    height: int,
) -> np.ndarray:
    """Render a label map of one mesh: no antialiasing, nearest surface wins.

    Parameters
    ----------
    vertices : (V, 3) float
        World coordinates.
    faces : (F, 3) int
    vertex_labels : (V,) int in [1, 255]
        Label of each vertex; faces take the majority label.
    K : (3, 3) float
    world_to_cam : (4, 4) float

    Returns
    -------
    (H, W) uint8
        0 where the mesh is absent, else the label of the visible face.
    """
    pyrender = import_pyrender()
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces)
    lab = np.asarray(vertex_labels)
    if lab.shape != (v.shape[0],):
        raise ValueError(f"vertex_labels must have shape ({v.shape[0]},), got {lab.shape}")
    if lab.size and (lab.min() < 1 or lab.max() > 255):
        raise ValueError("vertex labels must lie in [1, 255]")
    flab = face_labels(f, lab)
    scene = build_scene([], K, world_to_cam)
    seg_map = {}
    for value in np.unique(flab):
        sub = f[flab == value]
        prim = pyrender.Primitive(positions=v, indices=sub.astype(np.uint32))
        node = add_ranked(scene, int(value), mesh=pyrender.Mesh(primitives=[prim]))
        seg_map[node] = (int(value), 0, 0)
    color, _ = get_renderer(width, height, "labels").render(
        scene, flags=pyrender.RenderFlags.SEG, seg_node_map=seg_map
    )
    return np.ascontiguousarray(color[..., 0]).astype(np.uint8)
