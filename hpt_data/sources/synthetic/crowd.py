"""Other people in a synthetic clip (``people_per_clip`` 2–3): where they stand and walk.

The clip's own person (the *performer*) is framed by the camera exactly as in a
one-person clip; the others are placed once the camera is known:

- person 1, the *crosser*: walks across the view, 0.8–1.8 m behind the performer, so the
  performer hides part of them as they pass (the path is centred on the performer);
- person 2, the *bystander*: does a standing action (wave, turn, crossed arms, arm across)
  3.5–10 m behind the performer, to one side, small in the frame.

Each has their own body and clothes (drawn from their id) and their own random stream
(``rng_for(seed, video_id, "crowd", k)``), so adding people never changes what a
one-person clip draws. Coordinates are world metres, y up, floor at y = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The role of the k-th person of a clip (0 is the performer).
ROLES = ("performer", "crosser", "bystander")
MAX_PEOPLE = len(ROLES)
STANDING_ACTIONS = ("wave", "turn", "cross_arms", "arm_across")


@dataclass(frozen=True)
class Placement:
    """Where a posed body goes: turn it by ``yaw`` (radians, about y through the origin),
    then move it by ``shift`` (3,); ``action`` is what it does."""

    action: str
    yaw: float
    shift: np.ndarray


def other_person_id(video_id: str, k: int) -> str:
    """Id of the k-th other person of a clip (k >= 1): ``<video_id>+<k>``."""
    return f"{video_id}+{k}"


def view_axes(eye: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal unit vectors: ``fwd`` from the camera towards ``centre``, ``right`` across."""
    fwd = np.asarray(centre, np.float64) - np.asarray(eye, np.float64)
    fwd[1] = 0.0
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    return fwd, right / np.linalg.norm(right)


def place(
    k: int,
    rng: np.random.Generator,
    eye: np.ndarray,
    centre: np.ndarray,
    half_width_per_metre: float,
) -> Placement:
    """Where the k-th other person goes (``ROLES[k]``), before their motion is known.

    Parameters
    ----------
    k : 1 (crosser) or 2 (bystander)
    rng : that person's own generator
    eye : (3,) camera centre; centre : (3,) the performer's centre over the clip
    half_width_per_metre : half the image width seen at 1 m depth (W / 2 / fx)
    """
    if not 1 <= k < MAX_PEOPLE:
        raise ValueError(f"other people are numbered 1..{MAX_PEOPLE - 1}, got {k}")
    fwd, right = view_axes(eye, centre)
    ground = np.array([centre[0], 0.0, centre[2]])
    if ROLES[k] == "crosser":
        side = float(rng.choice([-1.0, 1.0]))
        target = ground + fwd * rng.uniform(0.8, 1.8) + right * rng.uniform(-0.15, 0.15)
        # walk along +-right: the walk goes along (sin h, 0, cos h); turn it onto that line
        direction = side * right
        return Placement("walk", float(np.arctan2(direction[0], direction[2])), target)
    depth = float(rng.uniform(3.5, 10.0))
    dist = float((ground - eye) @ fwd) + depth
    lateral = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.6)) * half_width_per_metre * dist
    target = ground + fwd * depth + right * lateral
    action = str(rng.choice(list(STANDING_ACTIONS)))
    return Placement(action, 0.0, target)


def move(points: np.ndarray, yaw: float, shift: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Turn (..., 3) points by ``yaw`` about the vertical through ``centre`` (their own
    centre on the floor), then put that centre at ``shift``."""
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    base = np.array([centre[0], 0.0, centre[2]])
    return (np.asarray(points) - base) @ rot.T + np.asarray(shift)
