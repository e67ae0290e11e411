"""A lean forward pass of an SMPL-layout body for fitting: joints and a few vertices only.

``smplx``'s forward skins every vertex (13,348 for the built-in model) and multiplies the
207 pose-corrective directions into all of them, for every frame and every iteration; the
fitter needs the 24 joints, a dozen landmark vertices and a few hundred silhouette vertices.
:class:`BodyKinematics` reads the very buffers of a loaded :class:`~hpt_data.body.BodyModel`
(``v_template``, ``shapedirs``, ``posedirs``, ``J_regressor``, ``lbs_weights``, parents) and
runs the same linear blend skinning on a vertex subset, so it works unchanged with the
built-in model and real SMPL files and matches ``BodyModel.forward`` on the chosen vertices
(checked in ``tests/test_fitting.py``).

Rotations of joints 1..23 are given as extrinsic x-y-z Euler angles, the convention of
``hpt_data.body.joint_limits`` (``R = Rz(c) Ry(b) Rx(a)``), so joint limits and the pose
prior act on the parameters themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hpt_data.body.joints import NUM_JOINTS, SMPL_PARENTS


def euler_to_matrix(euler: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` extrinsic x-y-z Euler angles ``(a, b, c)`` -> ``(..., 3, 3)``
    ``Rz(c) @ Ry(b) @ Rx(a)`` (scipy's ``from_euler("xyz")``)."""
    a, b, c = euler.unbind(-1)
    ca, sa, cb, sb, cc, sc = a.cos(), a.sin(), b.cos(), b.sin(), c.cos(), c.sin()
    rows = [
        cc * cb,
        cc * sb * sa - sc * ca,
        cc * sb * ca + sc * sa,
        sc * cb,
        sc * sb * sa + cc * ca,
        sc * sb * ca - cc * sa,
        -sb,
        cb * sa,
        cb * ca,
    ]
    return torch.stack(rows, dim=-1).reshape(*euler.shape[:-1], 3, 3)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues: ``(..., 3)`` axis-angle -> ``(..., 3, 3)``; smooth at zero."""
    theta2 = (aa * aa).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    # sin(t)/t and (1-cos t)/t^2 with their Taylor series near 0
    k1 = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    k2 = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta2 + 1e-12))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(skew)
    return eye + k1[..., None] * skew + k2[..., None] * (skew @ skew)


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotation matrices -> ``(..., 3)`` axis-angle (numpy, via scipy)."""
    from scipy.spatial.transform import Rotation

    flat = np.asarray(rot, dtype=np.float64).reshape(-1, 3, 3)
    return Rotation.from_matrix(flat).as_rotvec().reshape(*rot.shape[:-2], 3)


def _levels(parents: tuple[int, ...]) -> list[list[int]]:
    """Joints grouped by depth in the tree (root first), to run the chain level by level."""
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


@dataclass
class Posed:
    """Output of :meth:`BodyKinematics.forward` (camera frame, metres, transl = 0).

    joints : (T, 24, 3); vertices : (T, S, 3) the chosen vertex subset, in its order
    """

    joints: torch.Tensor
    vertices: torch.Tensor


class BodyKinematics(torch.nn.Module):
    """Joints and a vertex subset of an SMPL-layout model, differentiable and batched.

    Parameters
    ----------
    body : hpt_data.body.BodyModel
        A loaded model (built-in or real SMPL); its buffers are copied as float32/64.
    vertex_ids : (S,) int
        Vertices to skin (landmarks, silhouette samples).
    dtype : torch dtype of the computation.
    """

    def __init__(self, body: Any, vertex_ids: np.ndarray, dtype: torch.dtype = torch.float32):
        super().__init__()
        smpl = body.smpl
        ids = torch.as_tensor(np.asarray(vertex_ids, dtype=np.int64))
        v_template = smpl.v_template.detach().to(torch.float64)
        shapedirs = smpl.shapedirs.detach().to(torch.float64)  # (V, 3, nb)
        jreg = smpl.J_regressor.detach().to(torch.float64)  # (24, V)
        posedirs = smpl.posedirs.detach().to(torch.float64)  # (207, V*3)
        self.num_betas = int(shapedirs.shape[-1])
        self.register_buffer("j_template", (jreg @ v_template).to(dtype))  # (24, 3)
        self.register_buffer(
            "j_shapedirs", torch.einsum("jv,vcb->jcb", jreg, shapedirs).to(dtype)
        )  # (24, 3, nb)
        self.register_buffer("v_template", v_template[ids].to(dtype))  # (S, 3)
        self.register_buffer("v_shapedirs", shapedirs[ids].to(dtype))  # (S, 3, nb)
        pd = posedirs.reshape(posedirs.shape[0], -1, 3)[:, ids]  # (207, S, 3)
        self.has_posedirs = bool(pd.abs().max() > 0)
        self.register_buffer("v_posedirs", pd.reshape(pd.shape[0], -1).to(dtype))
        self.register_buffer("weights", smpl.lbs_weights.detach()[ids].to(dtype))  # (S, 24)
        self.parents = tuple(int(p) for p in SMPL_PARENTS)
        levels = _levels(self.parents)
        flat = [j for lev in levels for j in lev]
        self._order = torch.as_tensor(np.argsort(flat))  # level-major -> joint order
        self._parent_idx = torch.as_tensor(self.parents[1:])
        self._level_idx: list[tuple[torch.Tensor, torch.Tensor]] = []
        for d, lev in enumerate(levels):
            prev = levels[d - 1] if d else []
            pos = [prev.index(self.parents[j]) for j in lev] if d else []
            self._level_idx.append((torch.as_tensor(lev), torch.as_tensor(pos, dtype=torch.long)))
        self.vertex_ids = ids.numpy()

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """``(nb,)`` or ``(B, nb)`` betas -> ``(..., 24, 3)`` joints of the shaped T-pose."""
        return self.j_template + torch.einsum("jcb,...b->...jc", self.j_shapedirs, betas)

    def forward(self, betas: torch.Tensor, rotations: torch.Tensor) -> Posed:
        """Pose the body.

        Parameters
        ----------
        betas : (nb,) shared by all frames, or (T, nb)
        rotations : (T, 24, 3, 3) local rotation matrices, joint 0 the global orientation

        Returns
        -------
        Posed: joints (T, 24, 3), vertices (T, S, 3)
        """
        t = rotations.shape[0]
        rest = self.rest_joints(betas)
        if rest.ndim == 2:
            rest = rest.expand(t, NUM_JOINTS, 3)
        rel = rest - torch.cat([torch.zeros_like(rest[:, :1]), rest[:, self._parent_idx]], 1)
        rs: list[torch.Tensor] = []
        ts: list[torch.Tensor] = []
        for level, (idx, pos) in enumerate(self._level_idx):
            loc_r = rotations[:, idx]
            if level == 0:
                rs.append(loc_r)
                ts.append(rel[:, idx])
                continue
            pr, pt = rs[-1][:, pos], ts[-1][:, pos]
            rs.append(pr @ loc_r)
            ts.append(pt + (pr @ rel[:, idx, :, None])[..., 0])
        gr = torch.cat(rs, 1)[:, self._order]  # (T, 24, 3, 3)
        joints = torch.cat(ts, 1)[:, self._order]  # (T, 24, 3)
        # skinning transforms: x -> R_w x + (J_posed - R_w J_rest)
        shift = joints - (gr @ rest[..., None])[..., 0]
        v = self.v_template + torch.einsum("scb,...b->...sc", self.v_shapedirs, betas)
        v = v.expand(t, *self.v_template.shape)
        if self.has_posedirs:
            eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
            feat = (rotations[:, 1:] - eye).reshape(t, -1)
            v = v + (feat @ self.v_posedirs).reshape(t, -1, 3)
        rot_v = torch.einsum("sj,tjab->tsab", self.weights, gr)
        shift_v = torch.einsum("sj,tja->tsa", self.weights, shift)
        verts = (rot_v @ v[..., None])[..., 0] + shift_v
        return Posed(joints=joints, vertices=verts)
