"""Anny itself, posed by SMPL-layout poses: a body that is *not* the fitter's model.

The built-in body model is derived from Anny (:mod:`hpt_data.body.anny_derivation`): 24
joints, Anny's 104-bone weights summed into them, a 20-direction shape PCA and linear pose
correctives. A fit measured on clips of that very model flatters the fitter (its own shape
space, its own skinning). :class:`AnnySkinnedBody` poses **Anny with its own rig and
skinning** at any phenotype in Anny's full ranges instead, and exposes what the synthetic
renderer reads of a body model (``forward``, ``faces``, ``part_labels``,
``landmark_vertex_ids``, ``skinning_weights``), so the same clips can be filmed with a body
the fitter cannot represent exactly.

- Vertices: Anny's body surface, the built-in model's vertex subset and order
  (``anny_vertex_ids``), so faces, part labels, landmarks and outfits carry over.
- Pose: SMPL's world rotation of each joint drives every Anny bone of that joint, on top of
  the T-pose correction computed **for this phenotype** (:func:`anny_rig.tpose_corrections`
  at its own rest bone heads), so the zero pose is this person's own T-pose.
- Joints: the true joints are Anny's posed bone heads of :data:`anny_rig.JOINT_BONES` (the
  built-in model's joints are regressed to the same bone heads at rest), SMPL's frame.
- Placement: the root bone's head sits at the built-in template's pelvis plus ``transl``.

``forward``'s ``betas`` are ignored (the phenotype is the shape); the argument is kept so
the renderer calls both bodies alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hpt_data.body.anny_rig import (
    ANNY_TO_SMPL,
    AnnyRig,
    pose_anny,
    rest_bone_heads,
    to_smpl_frame,
    tpose_corrections,
)
from hpt_data.body.kinematics import accumulate, smpl_global_rotations


@dataclass
class PosedOutput:
    """``vertices (T, V, 3)`` and ``joints (T, 24, 3)``, float64 torch tensors."""

    vertices: Any
    joints: Any


class AnnySkinnedBody:
    """Anny at one phenotype, posed like SMPL.

    Parameters
    ----------
    anny_model : anny.Anny
    arrays : the built-in model's arrays (:func:`hpt_data.body.builtin_cache.load_or_derive`)
    phenotype : (6,) in ``arrays["phenotype_labels"]`` order, each in [0, 1]
    builtin : the built-in :class:`hpt_data.body.BodyModel` (faces, parts, landmarks)
    """

    def __init__(
        self, anny_model: Any, arrays: dict[str, np.ndarray], phenotype: np.ndarray, builtin: Any
    ) -> None:
        pheno = np.asarray(phenotype, np.float64).reshape(-1)
        if pheno.shape != (len(arrays["phenotype_labels"]),):
            raise ValueError(f"phenotype must have {len(arrays['phenotype_labels'])} values")
        if not ((pheno >= 0) & (pheno <= 1)).all():
            raise ValueError(f"phenotype values must lie in [0, 1], got {pheno}")
        self.anny = anny_model
        self.phenotype = pheno
        self.rig = AnnyRig(anny_model)
        heads = rest_bone_heads(anny_model, pheno[None])
        self._tpose = accumulate(self.rig.parents, tpose_corrections(self.rig, heads))
        self._root_head = to_smpl_frame(heads[0, 0])
        self._pelvis = np.asarray(arrays["joint_bone_heads"][0], np.float64)
        self._ids = np.asarray(arrays["anny_vertex_ids"], np.int64)
        self.faces = np.asarray(builtin.faces)
        self.part_labels = np.asarray(builtin.part_labels)
        self.skinning_weights = np.asarray(builtin.skinning_weights)
        self.landmark_vertex_ids = dict(builtin.landmark_vertex_ids)
        self.num_betas = int(builtin.num_betas)

    @property
    def dtype(self) -> Any:
        import torch

        return torch.float64

    def deltas(self, body_pose: np.ndarray, global_orient: np.ndarray) -> np.ndarray:
        """Anny's world-aligned local rotations ``(T, K, 3, 3)`` for SMPL poses ``(T, 69)``:
        each bone takes its joint's world rotation times its own accumulated T-pose
        correction (as :func:`anny_posing.smpl_pose_to_anny_deltas`, per phenotype)."""
        g_smpl = smpl_global_rotations(np.asarray(body_pose), np.asarray(global_orient))
        g_anny = ANNY_TO_SMPL.T @ g_smpl @ ANNY_TO_SMPL
        world = g_anny[:, self.rig.bone_joint] @ self._tpose
        out = np.empty_like(world)
        for c, p in enumerate(self.rig.parents):
            out[:, c] = world[:, c] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, c]
        return out

    def forward(
        self,
        betas: Any = None,
        body_pose: Any = None,
        global_orient: Any = None,
        transl: Any = None,
        chunk: int = 16,
    ) -> PosedOutput:
        """Posed Anny: ``vertices (T, V, 3)`` (the built-in subset) and ``joints (T, 24, 3)``.

        ``body_pose (T, 69)``, ``global_orient (T, 3)``, ``transl (T, 3)`` as the built-in
        model takes them (tensors or arrays; default zeros); ``betas`` is ignored.
        """
        import torch

        def arr(x: Any, width: int, n: int) -> np.ndarray:
            if x is None:
                return np.zeros((n, width))
            x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
            return np.asarray(x, np.float64).reshape(-1, width)

        n = 1
        for x in (body_pose, global_orient, transl):
            if x is not None:
                n = max(n, int(np.asarray(x.shape if hasattr(x, "shape") else [1])[0]))
        pose, orient, shift = arr(body_pose, 69, n), arr(global_orient, 3, n), arr(transl, 3, n)
        verts, joints = [], []
        for a in range(0, n, chunk):
            d = self.deltas(pose[a : a + chunk], orient[a : a + chunk])
            v, heads = pose_anny(self.anny, np.repeat(self.phenotype[None], len(d), 0), d)
            verts.append(to_smpl_frame(v[:, self._ids]))
            joints.append(to_smpl_frame(heads[:, self.rig.joint_bone]))
        offset = self._pelvis - self._root_head
        place = shift[:, None] + offset
        return PosedOutput(
            vertices=torch.as_tensor(np.concatenate(verts) + place),
            joints=torch.as_tensor(np.concatenate(joints) + place),
        )

    __call__ = forward
