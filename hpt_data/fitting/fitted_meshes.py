"""A fit seen through the body model's own forward pass: its full meshes and joints, and
how well each frame's projected mesh covers the person's mask.

The fitter optimises a vertex subset with its own kinematics; these pose the whole mesh
with ``BodyModel.forward``, as the later stages do, so the figures measure what they draw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hpt_data.body.weak_perspective import project, to_pixels
from hpt_data.fitting.metrics import mask_iou, rasterize


class FittedMeshes:
    """Meshes and mask IoUs of fitted parameters for one body model.

    Parameters
    ----------
    body : hpt_data.body.BodyModel
    """

    def __init__(self, body: Any) -> None:
        self.body = body
        self.faces = np.asarray(body.faces)
        self.closed = is_closed(self.faces)

    def meshes(
        self, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Full meshes (T, V, 3) and joints (T, 24, 3) through ``BodyModel.forward`` (the
        joints give each frame's pelvis depth, the perspective's ``ref_z``)."""
        body = self.body
        dtype = body.dtype
        t = len(body_pose)
        verts, joints = [], []
        with torch.no_grad():
            for i in range(0, t, 32):
                j = min(t, i + 32)
                res = body(
                    betas=torch.as_tensor(np.tile(betas, (j - i, 1)), dtype=dtype),
                    body_pose=torch.as_tensor(body_pose[i:j], dtype=dtype),
                    global_orient=torch.as_tensor(global_orient[i:j], dtype=dtype),
                )
                verts.append(res.vertices.cpu().numpy())
                joints.append(res.joints[:, :24].cpu().numpy())
        if not verts:
            return np.zeros((0, body.num_vertices, 3)), np.zeros((0, 24, 3))
        return np.concatenate(verts), np.concatenate(joints)

    def mask_ious(
        self,
        size: int,
        betas: np.ndarray,
        global_orient: np.ndarray,
        body_pose: np.ndarray,
        camera: np.ndarray,
        masks: list[np.ndarray | None],
        camera_distance: np.ndarray | None = None,
    ) -> np.ndarray:
        """(T,) IoU of each frame's projected mesh with its mask at ``size`` pixels;
        ``camera`` (T, 3) and ``camera_distance`` (T,) (None: weak perspective) as in
        ``weak_perspective.project``, about each frame's pelvis."""
        import cv2

        ious = np.full(len(masks), np.nan)
        todo = [i for i, m in enumerate(masks) if m is not None]
        if not todo:
            return ious
        dist = np.zeros(len(masks)) if camera_distance is None else camera_distance
        verts, joints = self.meshes(betas, global_orient[todo], body_pose[todo])
        for k, i in enumerate(todo):
            px = to_pixels(project(verts[k], camera[i], dist[i], joints[k, 0, 2]), size)
            fit = rasterize(px, self.faces, size, one_side=self.closed)
            m = np.asarray(masks[i]).astype(np.uint8) * 255
            small = cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA) >= 128
            ious[i] = mask_iou(fit, small)
        return ious


def is_closed(faces: np.ndarray) -> bool:
    """Whether every edge of the (F, 3) triangle mesh is shared by exactly two faces."""
    f = np.asarray(faces, dtype=np.int64)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool((counts == 2).all())
