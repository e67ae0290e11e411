"""Actions as smooth trajectories of SMPL poses, with per-person variation.

An action is written in anatomical controls (degrees: hip flexion, knee flexion, arm
elevation, elbow flexion, torso bend, ...), as keyframes or periodic cycles over the clip.
The controls are interpolated smoothly (smoothstep between keys, so velocities are zero at
the keys and continuous everywhere) and only then converted to SMPL's axis-angle pose, so
that interpolation never takes a short cut through an unnatural rotation.

Frame (the body model's): metres, y up, the person faces +z, +x is the person's left; the
zero pose is SMPL's T-pose (arms along +-x, palms down).

Body-model pose data, not part of a source: the synthetic source films these actions and
``pipelines.targets`` offers them as motion targets, both importing them from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: The actions, in the order the synthetic source's ``scan`` lists them.
ACTIONS: tuple[str, ...] = (
    "walk",
    "wave",
    "turn",
    "bend",
    "cross_arms",
    "cross_legs",
    "arm_across",
)

Controls = dict[str, np.ndarray]
"""Control name -> (T,) values in degrees (``speed`` in m/s)."""


@dataclass(frozen=True)
class Motion:
    """One clip's body motion, before the body is put on the floor.

    Attributes
    ----------
    body_pose : (T, 69) float64
        Axis-angle of SMPL joints 1..23 in their parents' frames.
    global_orient : (T, 3) float64
        Axis-angle of the pelvis in the world.
    transl : (T, 3) float64
        Horizontal root translation in metres; y is 0 here (set by the floor contact).
    """

    body_pose: np.ndarray
    global_orient: np.ndarray
    transl: np.ndarray


@dataclass(frozen=True)
class Style:
    """Per-person variation of every action: drawn once per clip from its seed."""

    amplitude: float  # scale of the action's large movements
    tempo: float  # speed of cycles and transitions
    phase: float  # start phase of periodic movements, radians
    heading: float  # facing direction about y, degrees (0 = towards the camera)
    side: int  # +1 uses the left arm/leg for one-sided actions, -1 the right
    lead_in: float  # fraction of the clip before a one-shot action starts
    posture: dict[str, float]  # small constant offsets (degrees) of the resting posture

    @staticmethod
    def sample(rng: np.random.Generator) -> Style:
        posture = {
            "spine_bend": rng.uniform(-3, 6),
            "spine_side": rng.uniform(-3, 3),
            "neck_bend": rng.uniform(-5, 8),
            "head_turn": rng.uniform(-10, 10),
            "head_tilt": rng.uniform(-5, 5),
            "l_arm_raise": rng.uniform(-88, -78),
            "r_arm_raise": rng.uniform(-88, -78),
            "l_arm_fwd": rng.uniform(-5, 10),
            "r_arm_fwd": rng.uniform(-5, 10),
            "l_arm_twist": rng.uniform(-10, 10),
            "r_arm_twist": rng.uniform(-10, 10),
            "l_elbow": rng.uniform(8, 25),
            "r_elbow": rng.uniform(8, 25),
            "l_hip_abd": rng.uniform(0, 5),
            "r_hip_abd": rng.uniform(0, 5),
            "l_hip_rot": rng.uniform(-8, 4),
            "r_hip_rot": rng.uniform(-8, 4),
            "l_knee": rng.uniform(0, 6),
            "r_knee": rng.uniform(0, 6),
        }
        return Style(
            amplitude=float(rng.uniform(0.8, 1.15)),
            tempo=float(rng.uniform(0.85, 1.15)),
            phase=float(rng.uniform(0, 2 * np.pi)),
            heading=float(rng.uniform(-35, 35)),
            side=int(rng.choice([-1, 1])),
            lead_in=float(rng.uniform(0.0, 0.15)),
            posture=posture,
        )


# --------------------------------------------------------------------------------------
# Interpolation


def smoothstep_keys(times: list[float], values: list[float], t: np.ndarray) -> np.ndarray:
    """Interpolate keyframes with smoothstep easing between consecutive keys.

    Parameters
    ----------
    times : (K,) increasing key times (same unit as ``t``)
    values : (K,) key values
    t : (T,) query times; held constant outside the keys

    Returns
    -------
    (T,) float64
    """
    kt = np.asarray(times, dtype=np.float64)
    kv = np.asarray(values, dtype=np.float64)
    if kt.shape != kv.shape or kt.ndim != 1 or len(kt) == 0:
        raise ValueError("times and values must be non-empty 1-D arrays of equal length")
    if np.any(np.diff(kt) <= 0):
        raise ValueError("key times must increase strictly")
    t = np.asarray(t, dtype=np.float64)
    i = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, max(len(kt) - 2, 0))
    if len(kt) == 1:
        return np.full_like(t, kv[0])
    t0, t1 = kt[i], kt[i + 1]
    s = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
    s = s * s * (3.0 - 2.0 * s)
    return kv[i] + (kv[i + 1] - kv[i]) * s


# --------------------------------------------------------------------------------------
# Actions: each returns controls over the clip, as absolute values of the controls it
# drives (the resting posture fills in the others). ``u`` is the normalised time in
# [0, 1], ``t`` the time in seconds.


def _blend(st: Style, key: str, target: float | np.ndarray, b: np.ndarray) -> np.ndarray:
    """Move control ``key`` from the person's resting posture to ``target`` as ``b`` goes 0->1."""
    base = st.posture.get(key, 0.0)
    return base + (np.asarray(target) - base) * b


def _walk(u: np.ndarray, t: np.ndarray, st: Style) -> Controls:
    a = st.amplitude
    phi = 2 * np.pi * 0.95 * st.tempo * t + st.phase  # one stride every ~1.05 s
    c: Controls = {}
    for side, off in (("l", 0.0), ("r", np.pi)):
        p = phi + off
        c[f"{side}_hip_flex"] = 6 + 20 * a * np.sin(p)
        c[f"{side}_knee"] = 6 + 52 * a * np.clip(np.sin(p + 1.1), 0, None) ** 1.5
        c[f"{side}_ankle"] = -6 * np.sin(p + 0.6)
        # arms swing against the same-side leg
        c[f"{side}_arm_fwd"] = st.posture[f"{side}_arm_fwd"] * 0.3 - 18 * a * np.sin(p)
        c[f"{side}_elbow"] = 18 + 14 * a * np.clip(-np.sin(p), 0, None)
    c["pelvis_yaw"] = 5 * a * np.sin(phi)
    c["spine_twist"] = -7 * a * np.sin(phi)
    c["spine_side"] = 2 * np.sin(2 * phi)
    c["spine_bend"] = np.full_like(t, 4.0)
    c["speed"] = np.full_like(t, 0.55 * st.tempo * a)
    return c


def _one_shot(u: np.ndarray, st: Style, ramp: float = 0.3) -> np.ndarray:
    """0 before the action, rising smoothly to 1 over ``ramp`` of the clip, then held."""
    start = st.lead_in
    return smoothstep_keys([start, min(start + ramp / st.tempo, 0.95)], [0.0, 1.0], u)


def _wave(u: np.ndarray, t: np.ndarray, st: Style) -> Controls:
    s = "l" if st.side > 0 else "r"
    up = _one_shot(u, st, ramp=0.25)
    swing = np.sin(2 * np.pi * 1.8 * st.tempo * t + st.phase)
    return {
        f"{s}_arm_raise": _blend(st, f"{s}_arm_raise", 30 + 10 * st.amplitude + 6 * swing, up),
        f"{s}_arm_fwd": _blend(st, f"{s}_arm_fwd", 4, up),
        f"{s}_arm_twist": _blend(st, f"{s}_arm_twist", -45, up),  # turns the forearm upright
        f"{s}_elbow": _blend(st, f"{s}_elbow", 55 + 25 * st.amplitude * swing, up),
        f"{s}_wrist_dev": up * 10 * swing,
        "head_turn": _blend(st, "head_turn", 10 * st.side, up),
        "spine_side": up * (-4 * st.side),
    }


def _turn(u: np.ndarray, t: np.ndarray, st: Style) -> Controls:
    start = st.lead_in
    end = min(start + 0.8 / st.tempo, 1.0)
    turn = smoothstep_keys([start, end], [0.0, 180.0 * st.side], u)
    stepping = np.sin(np.clip((u - start) / (end - start), 0, 1) * np.pi)
    phi = 2 * np.pi * 1.6 * st.tempo * t
    c: Controls = {"pelvis_yaw": turn}
    for side, off in (("l", 0.0), ("r", np.pi)):
        c[f"{side}_hip_flex"] = 14 * stepping * np.clip(np.sin(phi + off), 0, None)
        c[f"{side}_knee"] = 28 * stepping * np.clip(np.sin(phi + off), 0, None)
        c[f"{side}_arm_fwd"] = st.posture[f"{side}_arm_fwd"] + 10 * stepping * np.sin(
            phi + off + np.pi
        )
    return c


def _bend(u: np.ndarray, t: np.ndarray, st: Style) -> Controls:
    start = st.lead_in
    mid = min(start + 0.4 / st.tempo, 0.7)
    keys = [start, mid, min(mid + 0.1, 0.85), 1.0]
    b = smoothstep_keys(keys, [0.0, 1.0, 1.0, 0.35], u)
    hinge = (30 + 20 * st.amplitude) * b  # pelvis pitch forward
    spine = (10 + 8 * st.amplitude) * b  # bend over the three spine joints
    c: Controls = {
        "pelvis_pitch": hinge,
        "l_hip_flex": hinge,  # keeps the legs upright under the tilted pelvis
        "r_hip_flex": hinge,
        "l_knee": 15 * b,
        "r_knee": 15 * b,
        "l_ankle": -8 * b,
        "r_ankle": -8 * b,
        "spine_bend": spine,
        "neck_bend": -12 * b,  # keep looking ahead a little
    }
    for s in "lr":
        # arms hang under gravity: forwards relative to the bent torso
        c[f"{s}_arm_fwd"] = _blend(st, f"{s}_arm_fwd", (hinge + spine) * 0.9, b)
        c[f"{s}_elbow"] = _blend(st, f"{s}_elbow", 12, b)
    return c


def _cross_arms(u: np.ndarray, t: np.ndarray, st: Style) -> Controls:
    b = _one_shot(u, st, ramp=0.35)
    c: Controls = {"spine_bend": b * -3}
    # the upper arm hangs forwards, twisted in, the forearm folds across the chest
    for s, lift in (("l", st.side), ("r", -st.side)):
        c[f"{s}_arm_twist"] = _blend(st, f"{s}_arm_twist", 44, b)
        c[f"{s}_arm_fwd"] = _blend(st, f"{s}_arm_fwd", 29 + 3 * lift, b)
        c[f"{s}_arm_raise"] = _blend(st, f"{s}_arm_raise", -65 + 3 * lift, b)
        c[f"{s}_elbow"] = _blend(st, f"{s}_elbow", 108 + 4 * lift, b)
    return c


def _cross_legs(u: np.ndarray, t: np.ndarray, st: Style) -> Controls:
    s, o = ("l", "r") if st.side > 0 else ("r", "l")
    b = _one_shot(u, st, ramp=0.35)
    lift = np.sin(np.clip((u - st.lead_in) / (0.35 / st.tempo), 0, 1) * np.pi)
    return {
        f"{s}_hip_flex": b * 14 + lift * 15,
        f"{s}_hip_abd": _blend(st, f"{s}_hip_abd", -17, b),  # adduct across the standing leg
        f"{s}_hip_rot": _blend(st, f"{s}_hip_rot", 8, b),
        f"{s}_knee": b * 16 + lift * 25,
        f"{s}_ankle": b * 14,
        f"{o}_hip_abd": _blend(st, f"{o}_hip_abd", -5, b),  # the standing leg leans in too
        f"{o}_hip_flex": b * -4,
        "pelvis_roll": b * 3 * st.side,
        "spine_side": b * -4 * st.side,
    }


def _arm_across(u: np.ndarray, t: np.ndarray, st: Style) -> Controls:
    s = "l" if st.side > 0 else "r"
    b = _one_shot(u, st, ramp=0.3)
    sway = np.sin(2 * np.pi * 0.7 * st.tempo * t + st.phase)
    return {
        f"{s}_arm_twist": _blend(st, f"{s}_arm_twist", 44, b),
        f"{s}_arm_fwd": _blend(st, f"{s}_arm_fwd", 50 + 8 * st.amplitude + 5 * sway, b),
        f"{s}_arm_raise": _blend(st, f"{s}_arm_raise", -66, b),
        f"{s}_elbow": _blend(st, f"{s}_elbow", 100 + 8 * sway, b),
        "spine_twist": b * 8 * st.side,
        "head_turn": _blend(st, "head_turn", -8 * st.side, b),
    }


_ACTION_FNS: dict[str, Callable[[np.ndarray, np.ndarray, Style], Controls]] = {
    "walk": _walk,
    "wave": _wave,
    "turn": _turn,
    "bend": _bend,
    "cross_arms": _cross_arms,
    "cross_legs": _cross_legs,
    "arm_across": _arm_across,
}


# --------------------------------------------------------------------------------------
# Controls -> SMPL axis-angle
#
# Every joint's rotation is built as extrinsic x-y-z Euler angles in the body model's
# joint-limit convention (``hpt_data.body.joint_limits``), clipped to the limits there, and
# only then turned into axis-angle: so every pose lies within the limits by construction.
# Angles are written for the left side; the right side mirrors them (y and z negated).


def _joint_euler(c: Controls, n: int) -> np.ndarray:
    """Euler angles (degrees) of all 24 joints from the controls. -> (n, 24, 3)"""
    z = np.zeros(n)

    def g(name: str) -> np.ndarray:
        return np.asarray(c.get(name, z), dtype=np.float64)

    e = np.zeros((n, 24, 3))
    for j, w in ((3, 0.4), (6, 0.3), (9, 0.3)):
        e[:, j] = np.stack([w * g("spine_bend"), w * g("spine_twist"), -w * g("spine_side")], 1)
    e[:, 12] = np.stack([0.5 * g("neck_bend"), 0.4 * g("head_turn"), 0.4 * g("head_tilt")], 1)
    e[:, 15] = np.stack([0.5 * g("neck_bend"), 0.6 * g("head_turn"), 0.6 * g("head_tilt")], 1)
    for side, m, hip, knee, ankle, collar, shoulder, elbow, wrist in (
        ("l", 1.0, 1, 4, 7, 13, 16, 18, 20),
        ("r", -1.0, 2, 5, 8, 14, 17, 19, 21),
    ):
        # hip: x < 0 flexes, y < 0 rotates the left thigh inwards, z > 0 abducts
        e[:, hip] = np.stack(
            [-g(f"{side}_hip_flex"), m * -g(f"{side}_hip_rot"), m * g(f"{side}_hip_abd")], 1
        )
        e[:, knee, 0] = g(f"{side}_knee")
        e[:, ankle, 0] = g(f"{side}_ankle")
        # the collar lifts the shoulder when the arm goes above the horizontal and drops it
        # when the arm hangs low, so the shoulder joint itself stays within its range
        raise_ = g(f"{side}_arm_raise")
        collar_z = np.clip(raise_, 0.0, None) * 0.3 + np.clip((raise_ + 66.0) * 0.6, -11.0, 0.0)
        e[:, collar, 2] = m * collar_z
        raise_ = raise_ - collar_z
        # shoulder: x twists the arm, y < 0 swings it forward, z raises (0 = T-pose, -80 down)
        e[:, shoulder] = np.stack(
            [g(f"{side}_arm_twist"), m * -g(f"{side}_arm_fwd"), m * raise_], 1
        )
        e[:, elbow, 1] = m * -g(f"{side}_elbow")
        e[:, wrist] = np.stack([z, m * g(f"{side}_wrist_dev"), m * -g(f"{side}_wrist_flex")], 1)
    return e


def clamp_euler(euler_deg: np.ndarray) -> np.ndarray:
    """Clip (n, 24, 3) Euler angles in degrees to the body model's joint limits."""
    from hpt_data.body.joint_limits import limits_array

    lim = np.degrees(limits_array())  # (24, 3, 2)
    out = np.clip(euler_deg, lim[None, :, :, 0], lim[None, :, :, 1])
    out[:, 0] = euler_deg[:, 0]  # the global orientation has no limits
    return out


def controls_to_pose(c: Controls, n: int, clamp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Convert anatomical controls to SMPL axis-angle, within the joint limits.

    Parameters
    ----------
    c : dict of (n,) arrays in degrees; missing controls are 0
    n : number of frames
    clamp : clip to the joint limits (False: poses past them, e.g. the fit benchmark's
        sitting, kneeling and jumping, which the fitter's limits must not be assumed to hold)

    Returns
    -------
    body_pose : (n, 69) float64
    global_orient : (n, 3) float64
    """
    from scipy.spatial.transform import Rotation

    euler = _joint_euler(c, n)
    euler = clamp_euler(euler) if clamp else euler
    aa = Rotation.from_euler("xyz", np.radians(euler.reshape(-1, 3))).as_rotvec()
    aa = aa.reshape(n, 24, 3)
    z = np.zeros(n)

    def about(axis: int, name: str) -> Rotation:
        vec = np.zeros((n, 3))
        vec[:, axis] = np.radians(np.asarray(c.get(name, z), dtype=np.float64))
        return Rotation.from_rotvec(vec)

    root = about(1, "pelvis_yaw") * about(0, "pelvis_pitch") * about(2, "pelvis_roll")
    return aa[:, 1:].reshape(n, 69), root.as_rotvec()


def make_motion(
    action: str,
    num_frames: int,
    fps: float,
    rng: np.random.Generator,
) -> tuple[Motion, Style]:
    """Build one clip's motion.

    Parameters
    ----------
    action : one of :data:`ACTIONS`
    num_frames : T >= 1
    fps : frames per second (> 0)
    rng : the clip's random generator (its variation is drawn from it)

    Returns
    -------
    (Motion, Style)
    """
    if action not in _ACTION_FNS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    if num_frames < 1 or fps <= 0:
        raise ValueError(f"need num_frames >= 1 and fps > 0, got {num_frames}, {fps}")
    st = Style.sample(rng)
    t = np.arange(num_frames) / float(fps)
    u = t / max(t[-1], 1e-9) if num_frames > 1 else np.zeros(1)
    c = _ACTION_FNS[action](u, t, st)
    # the resting posture fills the controls the action leaves free; sway and heading on top
    for k, v in st.posture.items():
        c.setdefault(k, np.full(num_frames, v))
    sway = np.sin(2 * np.pi * 0.3 * t + st.phase)
    c["spine_side"] = c.get("spine_side", 0.0) + 1.5 * sway
    c["neck_bend"] = c.get("neck_bend", 0.0) + 2.0 * np.cos(2 * np.pi * 0.4 * t)
    c["pelvis_yaw"] = c.get("pelvis_yaw", 0.0) + st.heading
    c = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (num_frames,)) for k, v in c.items()}
    body_pose, global_orient = controls_to_pose(c, num_frames)
    transl = np.zeros((num_frames, 3))
    if "speed" in c:
        # walk along the facing direction at the heading
        dist = np.concatenate([[0.0], np.cumsum(c["speed"][1:]) / fps])
        h = np.radians(st.heading)
        transl[:, 0] = np.sin(h) * dist
        transl[:, 2] = np.cos(h) * dist
        transl -= transl.mean(axis=0, keepdims=True)
    return Motion(body_pose=body_pose, global_orient=global_orient, transl=transl), st
