"""MediaPipe Pose's 33 landmarks -> points of an SMPL-layout body (the fitter's 2D targets).

| target | MediaPipe | model point | weight |
| --- | --- | --- | --- |
| nose | 0 | vertex ``nose`` | 1 |
| left / right eye | 2 / 5 | vertex ``left_eye`` / ``right_eye`` | 1 |
| left / right ear | 7 / 8 | vertex ``left_ear`` / ``right_ear`` | 1 |
| left / right shoulder | 11 / 12 | joint 16 / 17 | 1 |
| left / right elbow | 13 / 14 | joint 18 / 19 | 1 |
| left / right wrist | 15 / 16 | joint 20 / 21 | 1 |
| left / right hand | mean(17, 19) / mean(18, 20) | joint 22 / 23 (middle knuckle) | 0.5 |
| left / right hip | 23 / 24 | joint 1 / 2 + offset in the pelvis frame | 0.5 |
| left / right knee | 25 / 26 | joint 4 / 5 | 1 |
| left / right ankle | 27 / 28 | joint 7 / 8 | 1 |
| left / right heel | 29 / 30 | vertex ``left_heel`` / ``right_heel`` | 1 |
| left / right foot index | 31 / 32 | vertex ``left_big_toe`` / ``right_big_toe`` | 1 |

Unused: the inner and outer eye corners (1, 3, 4, 6: they add nothing to the eye centres),
the mouth corners (9, 10) and the thumbs (21, 22). "Left" is the person's left in both.

Hips: MediaPipe's hip landmarks are not SMPL's hip joints (the femoral heads): detectors
are trained on annotations of the hip's outside, which sit lower and wider than SMPL's
joints. We **correct the offset**: the target is the model's hip joint moved by an offset
expressed in the pelvis's frame (metres, SMPL's rest axes: +x the person's left, +y up), so
it turns with the body, and the hips count half as much as other joints. The offset is
**per body model, from its own geometry** (:func:`hip_offset_for`): the landmark lies level
with the hip joints, :data:`HIP_WIDTH_FRACTION` of the way from the pelvis's midline to the
body's surface at that height (rest pose). So the built-in model and a user's SMPL file
take the same path: the built-in model's hip joints are wide (11 cm off the midline, the
surface 18 cm), and its landmark comes 1 cm inside them; real SMPL's joints are 4-5 cm
narrower and its landmark comes outside them. The one number, the fraction, was measured
once (MediaPipe's hips on 200 rendered frames of the built-in body sat 0.2-2.8 cm inside its
hip joints, level with them: ``docs/fit_smpl.md``); regressing the points from mesh
vertices would need annotated data of that detector on each mesh, which we do not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hpt_data.body.joints import JOINT_INDEX

#: Where MediaPipe's hip landmark lies from the pelvis's midline towards the body's surface
#: at the hip joints' height, as a fraction of that half-width (rest pose). 0.555 puts it 1
#: cm inside the built-in model's hip joints (11.2 cm off the midline, the surface 18.4 cm),
#: where MediaPipe's hips were measured (module docstring).
HIP_WIDTH_FRACTION = 0.555
#: Vertices within this height (m) of the hip joints measure the body's half-width there.
_HIP_SLAB_M = 0.02


def hip_offset_for(body: Any) -> tuple[float, float, float]:
    """Offset (m, pelvis frame) of MediaPipe's left hip from a body model's left hip joint.

    From the model's own rest geometry (``smpl.v_template``, ``smpl.J_regressor``): the
    landmark is level with the hip joints at :data:`HIP_WIDTH_FRACTION` of the surface's
    half-width there; the right hip mirrors it. The same path for every SMPL-layout model.
    """
    v = body.smpl.v_template.detach().cpu().double().numpy()
    reg = body.smpl.J_regressor
    reg = reg.to_dense() if getattr(reg, "is_sparse", False) else reg
    joints = reg.detach().cpu().double().numpy() @ v
    left, right = JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]
    mid_x = 0.5 * (joints[left, 0] + joints[right, 0])
    hip_y = 0.5 * (joints[left, 1] + joints[right, 1])
    slab = np.abs(v[:, 1] - hip_y) < _HIP_SLAB_M
    if slab.sum() < 3:
        raise ValueError("the body model has no surface at its hip joints' height")
    half = float(np.abs(v[slab, 0] - mid_x).max())
    joint_x = float(joints[left, 0] - mid_x)
    return (HIP_WIDTH_FRACTION * half - joint_x, 0.0, 0.0)


@dataclass(frozen=True)
class Target:
    """One fitted point: the MediaPipe landmarks averaged for it and its model point."""

    name: str
    mediapipe: tuple[int, ...]
    kind: str  # "joint", "vertex" or "hip"
    ref: str  # joint name, landmark vertex name, or "left"/"right" for hips
    weight: float = 1.0


def _pair(name: str, mp: tuple[tuple[int, ...], tuple[int, ...]], kind: str, ref: str,
          weight: float = 1.0) -> list[Target]:  # fmt: skip
    return [
        Target(f"{side}_{name}", ids, kind, ref.format(side=side), weight)
        for side, ids in zip(("left", "right"), mp, strict=True)
    ]


TARGETS: tuple[Target, ...] = (
    Target("nose", (0,), "vertex", "nose"),
    *_pair("eye", ((2,), (5,)), "vertex", "{side}_eye"),
    *_pair("ear", ((7,), (8,)), "vertex", "{side}_ear"),
    *_pair("shoulder", ((11,), (12,)), "joint", "{side}_shoulder"),
    *_pair("elbow", ((13,), (14,)), "joint", "{side}_elbow"),
    *_pair("wrist", ((15,), (16,)), "joint", "{side}_wrist"),
    *_pair("hand", ((17, 19), (18, 20)), "joint", "{side}_hand", 0.5),
    *_pair("hip", ((23,), (24,)), "hip", "{side}", 0.5),
    *_pair("knee", ((25,), (26,)), "joint", "{side}_knee"),
    *_pair("ankle", ((27,), (28,)), "joint", "{side}_ankle"),
    *_pair("heel", ((29,), (30,)), "vertex", "{side}_heel"),
    *_pair("foot_index", ((31,), (32,)), "vertex", "{side}_big_toe"),
)

TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)
NUM_TARGETS = len(TARGETS)

#: Targets that place the torso and the limbs' roots: the camera and orientation stage
#: fits these first.
TORSO_TARGETS: tuple[str, ...] = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def target_weights() -> np.ndarray:
    """(K,) float32 per-target weights of the table."""
    return np.array([t.weight for t in TARGETS], np.float32)


def targets_from_mediapipe(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fitter targets from MediaPipe landmarks.

    Parameters
    ----------
    landmarks : (T, 33, 3) float: x, y in normalised crop coordinates ([-1, 1] over the
        crop) and a confidence in [0, 1]; NaN anywhere marks a landmark as missing.

    Returns
    -------
    points : (T, K, 2) float32 (0 where missing); confidence : (T, K) float32, the smallest
        confidence of the averaged landmarks, 0 where any is missing.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (33, 3):
        raise ValueError(f"landmarks must have shape (T, 33, 3), got {lm.shape}")
    t = lm.shape[0]
    points = np.zeros((t, NUM_TARGETS, 2))
    conf = np.zeros((t, NUM_TARGETS))
    for k, tg in enumerate(TARGETS):
        sel = lm[:, list(tg.mediapipe)]
        bad = ~np.isfinite(sel).all(axis=(1, 2))
        with np.errstate(invalid="ignore"):
            points[:, k] = np.where(bad[:, None], 0.0, np.nan_to_num(sel[..., :2]).mean(1))
            c = np.clip(np.nan_to_num(sel[..., 2]).min(1), 0.0, 1.0)
        conf[:, k] = np.where(bad, 0.0, c)
    return points.astype(np.float32), conf.astype(np.float32)


class ModelPoints:
    """Gathers the targets' model points from posed joints and landmark vertices.

    Parameters
    ----------
    landmark_vertex_ids : the body model's ``landmark_vertex_ids``
    hip_offset : MediaPipe's left hip relative to the left hip joint (pelvis frame, m):
        :func:`hip_offset_for` of the body model
    """

    def __init__(
        self,
        landmark_vertex_ids: dict[str, int],
        hip_offset: tuple[float, float, float],
    ) -> None:
        names = sorted({t.ref for t in TARGETS if t.kind == "vertex"})
        missing = [n for n in names if n not in landmark_vertex_ids]
        if missing:
            raise ValueError(f"the body model has no landmark vertices {missing}")
        #: vertex ids the kinematics must skin, in this order
        self.vertex_ids = np.array([landmark_vertex_ids[n] for n in names], np.int64)
        slot = {n: i for i, n in enumerate(names)}
        self._joint_k = [k for k, t in enumerate(TARGETS) if t.kind == "joint"]
        self._joint_j = [JOINT_INDEX[TARGETS[k].ref] for k in self._joint_k]
        self._vert_k = [k for k, t in enumerate(TARGETS) if t.kind == "vertex"]
        self._vert_s = [slot[TARGETS[k].ref] for k in self._vert_k]
        self._hip_k = [k for k, t in enumerate(TARGETS) if t.kind == "hip"]
        self._hip_j = [JOINT_INDEX[f"{TARGETS[k].ref}_hip"] for k in self._hip_k]
        off = np.array([hip_offset, hip_offset], np.float64)
        off[1, 0] *= -1.0  # the right hip mirrors the left
        self._hip_off = torch.as_tensor(off)
        self._perm = torch.as_tensor(np.argsort(self._joint_k + self._vert_k + self._hip_k))

    def __call__(
        self, joints: torch.Tensor, vertices: torch.Tensor, root_rot: torch.Tensor
    ) -> torch.Tensor:
        """Model points of the targets.

        Parameters
        ----------
        joints : (T, 24, 3) posed joints
        vertices : (T, S, 3) posed vertices whose first columns are ``self.vertex_ids``
        root_rot : (T, 3, 3) the pelvis's world rotation (the global orientation)

        Returns
        -------
        (T, K, 3) in the order of :data:`TARGETS`
        """
        hip_off = (root_rot[:, None] @ self._hip_off.to(joints)[None, :, :, None])[..., 0]
        parts = [
            joints[:, self._joint_j],
            vertices[:, self._vert_s],
            joints[:, self._hip_j] + hip_off,
        ]
        return torch.cat(parts, 1)[:, self._perm]
