"""One photo of a person → the square crop, mask, 2D landmarks and SMPL fit, in-process.

The data toolkit runs these steps per video through the orchestrator; pose transfer and
the evaluation need them for one image at a time. :func:`perceive` calls the very functions
the stages call, with the stages' settings:

1. ``remove-bg``: :func:`hpt_data.stages.remove_bg.segment_person` (every person found,
   each with the landmark model's own mask; the main one kept, or the ``person``-th from
   the left, the others' pixels excluded) and
   :func:`~hpt_data.stages.remove_bg.crop_person` (the square window around the person,
   resized to 1024, the background replaced by a plain colour);
2. ``pose2d``: MediaPipe Pose (complexity 1) on the crop, one image (static mode: there is
   no previous frame to track from, and no track to filter);
3. ``fit-smpl``: the stage's fitter (:func:`hpt_data.stages.fit_smpl.fitter_for`) on this
   one frame, landmarks and mask, and the stage's quality checks.

Problems the stages flag per frame (the person cut by the edge, another person over them,
a fit that misses its landmarks or mask), and several people found without ``person``
given, do not stop one photo: they are listed in
``Perception.flags``. What makes the photo unusable raises :class:`PerceptionError` with one
line naming the file: it cannot be read, no person is found, too few landmarks to fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpt_data.crop import CropWindow
from hpt_data.errors import HptError
from hpt_data.stages.fit_smpl import FitSMPLSettings
from hpt_data.stages.remove_bg import FLAG_TEXT, RemoveBgSettings

__all__ = ["Perception", "PerceptionError", "perceive", "read_image"]


class PerceptionError(HptError):
    """A photo that cannot be used: unreadable, no person, too little of the person seen."""


@dataclass
class Perception:
    """One photo through the per-frame work of remove-bg, pose2d and fit-smpl.

    Crop frame: ``size`` × ``size`` pixels (1024 by default), ``window`` maps source pixels
    to crop pixels (:mod:`hpt_data.crop`). Camera frame and units as in ``fit-smpl``'s
    ``fits.npz`` (``docs/fit_smpl.md``).
    """

    path: str  # the file, or "<array>"
    source_size: tuple[int, int]  # (width, height) of the photo
    window: CropWindow  # the square crop of the photo
    image: np.ndarray  # (size, size, 3) uint8 RGB: the person over ``background``
    alpha: np.ndarray  # (size, size) float32 in [0, 1]: the soft matte
    mask: np.ndarray  # (size, size) uint8 {0, 1}: alpha ≥ 0.5, as remove-bg's mask
    landmarks: np.ndarray  # (33, 5) MediaPipe: x, y crop pixels (corner convention), z, vis, pres
    betas: np.ndarray  # (nb,) float32 SMPL shape
    global_orient: np.ndarray  # (3,) float32 axis-angle, camera frame
    body_pose: np.ndarray  # (69,) float32 axis-angle of joints 1..23
    camera: np.ndarray  # (3,) float32 (s, tx, ty) at the pelvis's depth
    camera_distance: float  # metres, camera to pelvis (0 = weak perspective): with
    # ``camera`` the projection of hpt_data.body.weak_perspective.project, as fit-smpl's
    joints2d: np.ndarray  # (24, 2) float32 fitted SMPL joints, crop pixels (centres at integers)
    reproj_px: float  # landmark error of the fit, pixels at 1024
    mask_iou: float  # IoU of the fitted mesh and the mask
    background: tuple[int, int, int]  # RGB of the crop's background
    body_model: str  # "" (built-in) or the SMPL file the fit used
    flags: list[str] = field(default_factory=list)  # problems found, each one line

    @property
    def size(self) -> int:
        return int(self.image.shape[0])


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 BGR; PerceptionError naming the file when it is not a readable image."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise PerceptionError(f"{path}: no such image file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise PerceptionError(f"{path}: cannot read it as an image (not an image file?)")
    return image


def perceive(
    image: str | Path | np.ndarray,
    *,
    crop: bool = True,
    remove_bg: RemoveBgSettings | None = None,
    fit: FitSMPLSettings | None = None,
    person: int | None = None,
) -> Perception:
    """Crop, mask, landmarks and SMPL fit of the one person in ``image``.

    Parameters
    ----------
    image : a path, or an (H, W, 3) uint8 array in OpenCV's BGR order.
    crop : True: the square window around the person, as ``remove-bg`` crops. False: the
        image itself is the crop (it must be square), e.g. an image the generator made, so
        that the fit is in that image's own frame.
    remove_bg, fit : the stages' settings (their defaults when None); ``remove_bg.size``
        is the crop side.
    person : which person of a photo with several, counted from the left (1 = leftmost);
        None: the main one (size × centrality), with a note in ``flags`` when there are
        several.

    Raises
    ------
    PerceptionError
        One line naming the image: unreadable, no person found, too few landmarks.
    """
    from hpt_data.stages.mediapipe_models import pose_model, run_pose
    from hpt_data.stages.remove_bg import crop_person, segment_person

    rb = remove_bg or RemoveBgSettings()
    fs = fit or FitSMPLSettings()
    if isinstance(image, np.ndarray):
        where, frame = "<array>", _check_array(image)
    else:
        where, frame = str(image), read_image(image)
    h, w = frame.shape[:2]
    window = None
    if not crop:
        if h != w:
            raise PerceptionError(f"{where}: crop=False needs a square image, got {w}x{h}")
        window = CropWindow(0, 0, w, rb.size)
    try:
        seg = segment_person(frame, rb, person)
    except ValueError as exc:  # a --person beyond the people found
        raise PerceptionError(f"{where}: {exc}") from None
    if seg.matte is None or seg.box is None:
        raise PerceptionError(f"{where}: no person found")
    flags = [FLAG_TEXT[f] for f in seg.flags]
    found_n = int(seg.facts.get("people", 1))
    if person is None and found_n > 1:
        flags.append(
            f"{found_n} people found; kept person {seg.facts['person']} from the left "
            "(the main one); choose another with --person N"
        )
    composite, alpha, window = crop_person(frame, seg, rb, window)
    mask = (np.rint(alpha * 255) >= 128).astype(np.uint8)

    found = run_pose(pose_model(True, False, rb.min_detection_confidence), composite)
    if found is None:
        raise PerceptionError(f"{where}: no person found in the crop (pose2d)")
    landmarks = found.landmarks
    betas, orient, pose, camera, distance, joints2d, err, iou = _fit(
        where, landmarks, mask, rb.size, fs, found.world
    )
    flags += _fit_flags(where, pose, camera, err, iou, fs)
    return Perception(
        path=where,
        source_size=(w, h),
        window=window,
        image=np.ascontiguousarray(composite[:, :, ::-1]),
        alpha=alpha.astype(np.float32),
        mask=mask,
        landmarks=landmarks.astype(np.float32),
        betas=betas,
        global_orient=orient,
        body_pose=pose,
        camera=camera,
        camera_distance=distance,
        joints2d=joints2d,
        reproj_px=err,
        mask_iou=iou,
        background=(int(rb.background[0]), int(rb.background[1]), int(rb.background[2])),
        body_model=fs.body_model,
        flags=flags,
    )


def _check_array(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise PerceptionError(
            f"<array>: expected an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}"
        )
    return image


def _fit(
    where: str,
    landmarks: np.ndarray,
    mask: np.ndarray,
    size: int,
    settings: FitSMPLSettings,
    world: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, float, float]:
    """fit-smpl's per-frame work on one frame (with Pose's world landmarks ``(33, 4)`` where
    there are any, as the stage): betas, orient, pose, camera, camera distance, joints2d,
    the landmark error and mask IoU."""
    from hpt_data.body.weak_perspective import to_pixels
    from hpt_data.fitting.landmarks import targets_from_mediapipe
    from hpt_data.stages.fit_smpl import fitter_for, normalise_landmarks

    norm = normalise_landmarks(landmarks, size)
    _, conf = targets_from_mediapipe(norm[None])
    seen = int((conf[0] >= settings.min_confidence).sum())
    if seen < settings.min_landmarks:
        raise PerceptionError(
            f"{where}: too few landmarks to fit the body ({seen} < {settings.min_landmarks} "
            "seen); show more of the person"
        )
    fitter = fitter_for(settings.body_model, settings)
    res = fitter.fit(
        norm[None], [mask.astype(bool)], None, world=world if world is None else world[None]
    )
    return (
        res.betas.astype(np.float32),
        res.global_orient[0].astype(np.float32),
        res.body_pose[0].astype(np.float32),
        res.camera[0].astype(np.float32),
        float(res.camera_distance[0]),
        to_pixels(res.joints_uv[0], size).astype(np.float32),
        float(res.reproj_px[0]),
        float(res.mask_iou[0]),
    )


def _fit_flags(
    where: str,
    pose: np.ndarray,
    camera: np.ndarray,
    err: float,
    iou: float,
    settings: FitSMPLSettings,
) -> list[str]:
    from hpt_data.stages.fit_smpl import quality_flags

    found = quality_flags(pose, camera, err, iou, settings)
    if "fit diverged" in found:
        raise PerceptionError(f"{where}: the SMPL fit diverged (non-finite result)")
    return found
