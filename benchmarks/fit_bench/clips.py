"""The fit benchmark's clip set: fixed, versioned, seeded, split into dev and test.

Every clip is drawn from ``(CLIP_SET_VERSION, BASE_SEED, split, motion type)`` alone, so the
set is the same on every machine, and the *dev* and *test* clips of one motion type differ
in person, outfit, camera, room and motion variation (different seeds). Tune on ``dev``;
report ``test``. Bump :data:`CLIP_SET_VERSION` when anything here changes what is rendered.

Per clip (:func:`plan`):

- a person at an Anny phenotype drawn **uniformly over Anny's ranges** ([0, 1] for gender,
  muscle, weight, height and proportions; age over [0.1875, 1], i.e. 11 to 90 years in
  MakeHuman's age mapping: younger children are left out), posed by Anny's own skinning
  (:class:`hpt_data.body.anny_skinned.AnnySkinnedBody`), hair and clothes of the synthetic
  source (:mod:`hpt_data.sources.synthetic.appearance`);
- a camera 1.5-6 m from the person (nearer only where the body would not fit the frame, and
  further where it would not fit at 6 m: ``distance_m`` records it), a vertical field of
  view of 30-75 degrees, tilted by -20..20 degrees (positive: looking down), at an azimuth
  relative to the person's facing fixed by the motion type (front, side, back views). The
  fitter is never told the focal length;
- a motion of :data:`MOTION_TYPES`: everyday actions of :mod:`hpt_data.body.motions` and
  poses **past the fitter's joint limits** (sitting, kneeling on the heels, lying, a tucked
  jump: :mod:`fit_bench.motions`), crossing limbs, back views, a waving hand that leaves the
  picture (``limb_out`` framing);
- plus, per split, one multi-view clip: the same motion and person filmed by 4 cameras at
  azimuths 0, 90, 180 and 270 degrees (:data:`MULTIVIEW_AZIMUTHS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpt_data.sources.synthetic.reproducible import rng_for

CLIP_SET_VERSION = 1
BASE_SEED = 1818
SPLITS = ("dev", "test")
FRAMES = 16
FPS = 8
WIDTH, HEIGHT = 384, 512
#: Anny's age phenotype range used: 11 to 90 years (MakeHuman: 0.1875 is 11, 1.0 is 90).
AGE_RANGE = (0.1875, 1.0)
#: (Anny age phenotype, years) anchors of MakeHuman's age mapping, for the outfit's age.
_AGE_ANCHORS = ((0.0, 1.0), (0.1875, 11.0), (0.5, 25.0), (1.0, 90.0))
FOV_RANGE = (30.0, 75.0)
DISTANCE_RANGE = (1.5, 6.0)
TILT_RANGE = (-20.0, 20.0)

#: motion type -> (motion, camera azimuth from the person's facing in degrees, framing)
MOTION_TYPES: dict[str, tuple[str, float, str]] = {
    "walk_side": ("walk", 90.0, "full"),
    "turn_back": ("turn", 180.0, "full"),
    "cross_arms": ("cross_arms", 20.0, "full"),
    "cross_legs": ("cross_legs", -25.0, "full"),
    "arm_across_back": ("arm_across", 160.0, "full"),
    "wave_limb_out": ("wave", 0.0, "limb_out"),
    "sit": ("sit", 35.0, "full"),
    "kneel": ("kneel", -40.0, "full"),
    "lie": ("lie", 70.0, "full"),
    "jump": ("jump", 10.0, "full"),
}
MULTIVIEW_MOTION = "arm_across"
MULTIVIEW_AZIMUTHS = (0.0, 90.0, 180.0, 270.0)


@dataclass(frozen=True)
class ViewSpec:
    """One camera of a clip (the rest of the camera is fitted to the body at render)."""

    azimuth_deg: float  # from the person's facing, about the vertical
    fov_deg: float
    tilt_deg: float
    distance_u: float  # in [0, 1]: where in the allowed distance range
    framing: str  # "full" or "limb_out"


@dataclass(frozen=True)
class ClipPlan:
    """One clip of the set: who, doing what, seen from which cameras."""

    clip_id: str  # e.g. "test-sit" or "dev-multiview"
    split: str
    motion_type: str
    motion: str
    seed: int
    phenotype: tuple[float, ...]  # Anny's six, in its phenotype_labels order
    age_years: float
    views: tuple[ViewSpec, ...]


def age_years(age_phenotype: float) -> float:
    """MakeHuman's age mapping (piecewise linear), for the outfit's age-dependent choices."""
    xs, ys = zip(*_AGE_ANCHORS, strict=True)
    return float(np.interp(age_phenotype, xs, ys))


def _view(rng: np.random.Generator, azimuth: float, framing: str) -> ViewSpec:
    return ViewSpec(
        azimuth_deg=azimuth,
        fov_deg=float(rng.uniform(*FOV_RANGE)),
        tilt_deg=float(rng.uniform(*TILT_RANGE)),
        distance_u=float(rng.random()),
        framing=framing,
    )


def _clip(split: str, motion_type: str, motion: str, views: list[tuple[float, str]]) -> ClipPlan:
    rng = rng_for(CLIP_SET_VERSION, BASE_SEED, split, motion_type)
    pheno = rng.random(6)
    pheno[1] = AGE_RANGE[0] + pheno[1] * (AGE_RANGE[1] - AGE_RANGE[0])
    return ClipPlan(
        clip_id=f"{split}-{motion_type}",
        split=split,
        motion_type=motion_type,
        motion=motion,
        seed=int(rng.integers(2**31)),
        phenotype=tuple(round(float(x), 4) for x in pheno),
        age_years=round(age_years(float(pheno[1])), 1),
        views=tuple(_view(rng, az, fr) for az, fr in views),
    )


def plan(splits: tuple[str, ...] = SPLITS, tiny: bool = False) -> list[ClipPlan]:
    """The clip set (``tiny``: two motion types, no multi-view: a smoke test)."""
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown splits {bad}; known: {SPLITS}")
    types = list(MOTION_TYPES)[:2] if tiny else list(MOTION_TYPES)
    out = []
    for split in splits:
        for mt in types:
            motion, az, framing = MOTION_TYPES[mt]
            out.append(_clip(split, mt, motion, [(az, framing)]))
        if not tiny:
            views = [(az, "full") for az in MULTIVIEW_AZIMUTHS]
            out.append(_clip(split, "multiview", MULTIVIEW_MOTION, views))
    return out
