"""The benchmark's motions: the synthetic source's actions plus poses past the fitter's limits.

``sit`` (hip flexion 110 degrees: the limits stop at 92), ``kneel`` (sitting on the heels:
knees 155, limits 126; ankles pointed past theirs), ``lie`` (on the back, legs cycling: the
fitter's four starting headings are all upright) and ``jump`` (a crouch, a tucked jump
0.45 m up: hips 115, knees 135). They are written in the anatomical controls of
:mod:`hpt_data.body.motions` and converted **without** clipping to the joint limits.
"""

from __future__ import annotations

import numpy as np

from hpt_data.body.motions import (
    ACTIONS,
    Motion,
    controls_to_pose,
    make_motion,
    smoothstep_keys,
)

BEYOND_LIMITS = ("sit", "kneel", "lie", "jump")


def _keys(u: np.ndarray, times: list[float], values: list[float]) -> np.ndarray:
    return smoothstep_keys(times, values, u)


def _both(c: dict[str, np.ndarray], name: str, v: np.ndarray) -> None:
    c[f"l_{name}"] = v
    c[f"r_{name}"] = v


def _sit(u: np.ndarray) -> dict[str, np.ndarray]:
    c: dict[str, np.ndarray] = {}
    t = [0.0, 0.2, 0.65, 1.0]
    _both(c, "hip_flex", _keys(u, t, [0, 0, 110, 110]))
    _both(c, "knee", _keys(u, t, [3, 3, 105, 100]))
    _both(c, "arm_raise", _keys(u, t, [-82, -82, -70, -72]))
    _both(c, "arm_fwd", _keys(u, t, [5, 5, 40, 45]))
    _both(c, "elbow", _keys(u, t, [12, 12, 50, 60]))
    c["spine_bend"] = _keys(u, t, [2, 2, 15, 10])
    return c


def _kneel(u: np.ndarray) -> dict[str, np.ndarray]:
    c: dict[str, np.ndarray] = {}
    t = [0.0, 0.15, 0.7, 1.0]
    _both(c, "hip_flex", _keys(u, t, [0, 0, 80, 75]))
    _both(c, "knee", _keys(u, t, [3, 3, 155, 155]))
    _both(c, "ankle", _keys(u, t, [0, 0, -45, -45]))
    _both(c, "arm_raise", _keys(u, t, [-82, -82, -72, -60]))
    _both(c, "arm_fwd", _keys(u, t, [5, 5, 35, 60]))
    _both(c, "elbow", _keys(u, t, [12, 12, 45, 30]))
    c["spine_bend"] = _keys(u, t, [2, 2, 12, 5])
    return c


def _lie(u: np.ndarray) -> dict[str, np.ndarray]:
    w = 2 * np.pi * 1.5 * u
    c: dict[str, np.ndarray] = {
        "pelvis_pitch": np.full_like(u, -90.0),
        "l_hip_flex": 60 + 40 * np.sin(w),
        "r_hip_flex": 60 - 40 * np.sin(w),
        "l_knee": 75 + 45 * np.cos(w),
        "r_knee": 75 - 45 * np.cos(w),
        "l_arm_raise": -40 + 60 * np.sin(w / 1.5),
        "r_arm_raise": -60 + 30 * np.cos(w / 1.5),
        "l_elbow": 30 + 20 * np.cos(w),
        "r_elbow": np.full_like(u, 20.0),
        "neck_bend": np.full_like(u, 25.0),
    }
    return c


def _jump(u: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    c: dict[str, np.ndarray] = {}
    t = [0.0, 0.3, 0.42, 0.62, 0.82, 1.0]
    _both(c, "hip_flex", _keys(u, t, [0, 70, 5, 115, 40, 50]))
    _both(c, "knee", _keys(u, t, [3, 85, 5, 135, 50, 60]))
    _both(c, "ankle", _keys(u, t, [0, 25, -30, -20, 15, 20]))
    _both(c, "arm_raise", _keys(u, t, [-80, -75, 60, -20, -60, -70]))
    _both(c, "arm_fwd", _keys(u, t, [5, -40, 20, 60, 30, 30]))
    _both(c, "elbow", _keys(u, t, [12, 20, 10, 80, 30, 25]))
    c["spine_bend"] = _keys(u, t, [2, 25, 0, 20, 15, 12])
    air = np.clip((u - 0.42) / 0.4, 0.0, 1.0)
    height = 0.45 * 4 * air * (1 - air)
    return c, height


def make_bench_motion(
    motion: str, frames: int, fps: float, rng: np.random.Generator
) -> tuple[Motion, float, np.ndarray]:
    """One clip's motion.

    Returns
    -------
    motion : the poses (:class:`hpt_data.body.motions.Motion`)
    heading_deg : the direction the person faces about the vertical (0 = +z)
    lift : (T,) metres the body is raised above the floor contact (a jump's flight)
    """
    if motion in ACTIONS:
        m, style = make_motion(motion, frames, fps, rng)
        return m, style.heading, np.zeros(frames)
    if motion not in BEYOND_LIMITS:
        raise ValueError(f"unknown motion {motion!r}")
    u = np.linspace(0.0, 1.0, frames)
    lift = np.zeros(frames)
    if motion == "jump":
        c, lift = _jump(u)
    else:
        c = {"sit": _sit, "kneel": _kneel, "lie": _lie}[motion](u)
    heading = float(rng.uniform(-30.0, 30.0))
    c["pelvis_yaw"] = c.get("pelvis_yaw", np.zeros(frames)) + heading
    c["head_turn"] = np.full(frames, float(rng.uniform(-15, 15)))
    c = {k: np.broadcast_to(np.asarray(v, np.float64), (frames,)) for k, v in c.items()}
    body_pose, global_orient = controls_to_pose(c, frames, clamp=False)
    return Motion(body_pose, global_orient, np.zeros((frames, 3))), heading, lift
