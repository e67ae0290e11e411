"""Posing Anny like the built-in model: SMPL poses and shapes mapped back onto Anny.

What checks the built-in model against Anny itself (tests, ``benchmarks/body_model_figures``)
and turns an Anny phenotype into the model's betas (the synthetic source's persons).

Mapping SMPL poses onto Anny
----------------------------
SMPL's pose is a world-aligned local rotation ``R_j`` per joint (axes of the zero pose).
Write ``A_c`` for bone ``c``'s T-pose correction as a world-aligned local rotation of
Anny's rest frame (``G_c = G_p A_c``, ``G`` the accumulated correction) and
``R_j^a = C^T R_j C`` for SMPL's rotation in Anny's axes (``C = ANNY_TO_SMPL``). Posing
the derived model with ``R`` equals posing Anny with, for bone ``c`` of joint ``j`` whose
parent bone ``p``:

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

from typing import Any

import numpy as np

from hpt_data.body.anny_rig import (
    ANNY_TO_SMPL,
    AnnyRig,
    blend_coefficients,
    pose_anny,
    rest_bone_heads,
    to_smpl_frame,
    tpose_corrections,
)
from hpt_data.body.kinematics import accumulate, smpl_global_rotations


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
    deltas = tpose_corrections(rig, rest_bone_heads(model, phenotypes))
    vertices, heads = pose_anny(model, phenotypes, deltas)
    return to_smpl_frame(vertices), to_smpl_frame(heads)


def phenotypes_to_betas(
    model: Any, arrays: dict[str, np.ndarray], phenotypes: np.ndarray
) -> np.ndarray:
    """Betas of the built-in model closest (least squares) to Anny at given phenotypes.

    Parameters
    ----------
    model : anny.Anny
    arrays : the built-in model's arrays (:func:`hpt_data.body.builtin_cache.load_or_derive`)
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
        rest = model.get_rest_model(blend_coefficients(model, pheno))
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
