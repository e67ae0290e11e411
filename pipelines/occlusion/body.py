"""The posed body OSA compares: :class:`BodyParams` (body-model parameters and the camera
of one crop), posing it through a body model, and its mirror image (the body seen in the
left↔right flipped crop), with which the tests check that the metric can fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hpt_data.body.joints import SMPL_JOINT_NAMES


@dataclass(frozen=True)
class BodyParams:
    """One posed body in a crop: model parameters and the camera.

    Attributes
    ----------
    global_orient : (3,) axis-angle of the root in the camera frame (x right, y down)
    body_pose : (69,) axis-angle of joints 1..23
    camera : (3,) ``(s, tx, ty)``
    betas : (nb,) shape, or None for the mean shape
    camera_distance : metres from the camera to the pelvis (0 = weak perspective), as
        ``fit-smpl`` fitted it (``hpt_data.body.weak_perspective.project``)
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    camera: np.ndarray
    betas: np.ndarray | None = None
    camera_distance: float = 0.0

    @classmethod
    def from_fit(cls, fit: Any) -> BodyParams:
        """From anything with ``global_orient``, ``body_pose``, ``camera`` and ``betas``
        attributes, and ``camera_distance`` where it has one (``pipelines.perceive.
        Perception``, a fits record)."""
        return cls(
            global_orient=np.asarray(fit.global_orient, np.float64),
            body_pose=np.asarray(fit.body_pose, np.float64),
            camera=np.asarray(fit.camera, np.float64),
            betas=None if fit.betas is None else np.asarray(fit.betas, np.float64),
            camera_distance=float(getattr(fit, "camera_distance", 0.0)),
        )


def pose_body(body_model: Any, params: BodyParams) -> np.ndarray:
    """Posed vertices (V, 3) float64 in the camera frame for ``params``."""
    return posed_body(body_model, params)[0]


def posed_body(body_model: Any, params: BodyParams) -> tuple[np.ndarray, np.ndarray]:
    """Posed vertices (V, 3) and joints (24, 3), float64, camera frame (the pelvis, joint
    0, sets the depth about which a perspective camera draws)."""
    import torch

    go = np.asarray(params.global_orient, np.float32).reshape(1, -1)
    bp = np.asarray(params.body_pose, np.float32).reshape(1, -1)
    if go.shape != (1, 3) or bp.shape != (1, 69):
        raise ValueError(
            f"global_orient must be (3,) and body_pose (69,), got {go.shape[1:]}, {bp.shape[1:]}"
        )
    betas = None
    if params.betas is not None:
        betas = torch.as_tensor(np.asarray(params.betas, np.float32).reshape(1, -1))
    with torch.no_grad():
        out = body_model(
            betas=betas, body_pose=torch.as_tensor(bp), global_orient=torch.as_tensor(go)
        )
    return out.vertices[0].double().numpy(), out.joints[0].double().numpy()


#: SMPL joint index of each joint's mirror image (left ↔ right).
MIRROR_JOINT: tuple[int, ...] = tuple(
    SMPL_JOINT_NAMES.index(
        n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
    )
    for n in SMPL_JOINT_NAMES
)


def mirror_axis_angle(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) of ``M R M`` for the reflection ``M = diag(-1, 1, 1)``.

    A reflection maps a rotation by θ about ``a`` to a rotation by -θ about ``M a``, i.e. by
    θ about ``-M a = (a_x, -a_y, -a_z)``: the y and z components change sign.
    """
    r = np.array(rotvec, dtype=np.float64, copy=True)
    r[..., 1:] *= -1
    return r


def mirror_smpl(params: BodyParams) -> BodyParams:
    """The body seen in the left↔right flipped crop (image column ``c`` → ``size - 1 - c``).

    The flip is ``x → -x`` in the camera frame and ``u → -u`` in the image, so: every joint's
    rotation becomes its mirror's (left and right joints swap places), each rotation is
    reflected (:func:`mirror_axis_angle`, which also holds for ``global_orient`` since the
    mirror plane is x = 0 in the camera frame as well as the body's sagittal plane), and
    ``tx`` changes sign. Exact for a left-right symmetric template; betas are kept.
    """
    pose = np.asarray(params.body_pose, np.float64).reshape(23, 3)
    full = np.concatenate([np.asarray(params.global_orient, np.float64).reshape(1, 3), pose])
    mirrored = mirror_axis_angle(full[list(MIRROR_JOINT)])
    cam = np.asarray(params.camera, np.float64).copy()
    cam[1] = -cam[1]
    return BodyParams(
        global_orient=mirrored[0],
        body_pose=mirrored[1:].reshape(69),
        camera=cam,
        betas=None if params.betas is None else np.asarray(params.betas).copy(),
        camera_distance=params.camera_distance,
    )
