"""Inputs for the pose-transfer tests: a hand-made perceived source (no detector needed),
tiny random generators, and a synthetic frame for the end-to-end runs.

An importable module (not a test file), like ``frames_for_tests.py``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hpt_data.body.named_poses import named_pose
from hpt_data.crop import CropWindow
from pipelines.perceive import Perception

UPRIGHT = np.array([np.pi, 0.0, 0.0], np.float32)  # upright, facing the camera
CAMERA = np.array([0.95, 0.0, -0.02], np.float32)  # the whole body inside the 1024 crop


def hand_made_source(
    betas: np.ndarray | None = None,
    pose: str = "arms_down",
    source_size: tuple[int, int] = (600, 800),
) -> Perception:
    """A Perception as :func:`pipelines.perceive.perceive` would return it, made by hand:
    the built-in body with ``betas`` in a named pose, a grey person-shaped image, and the
    crop window of a ``source_size`` photo (the person centred, 700 px tall)."""
    from hpt_data.render.maps import render_target_maps
    from pipelines.pairs import body_model

    betas = np.zeros(10, np.float32) if betas is None else np.asarray(betas, np.float32)
    body_pose = named_pose(pose).astype(np.float32)
    maps = render_target_maps(body_model(""), betas, UPRIGHT, body_pose, CAMERA, 1024)
    person = maps.parsing > 0
    image = np.full((1024, 1024, 3), 255, np.uint8)
    image[person] = (40 * maps.parsing[person, None]).astype(np.uint8)
    w, h = source_size
    side = 740
    window = CropWindow((w - side) // 2, (h - side) // 2, side, 1024)
    return Perception(
        path="<hand-made>",
        source_size=(w, h),
        window=window,
        image=image,
        alpha=person.astype(np.float32),
        mask=person.astype(np.uint8),
        landmarks=np.zeros((33, 5), np.float32),
        betas=betas,
        global_orient=UPRIGHT.copy(),
        body_pose=body_pose,
        camera=CAMERA.copy(),
        camera_distance=0.0,
        joints2d=maps.joints2d.astype(np.float32),
        reproj_px=0.0,
        mask_iou=1.0,
        background=(255, 255, 255),
        body_model="",
    )


def tiny_generators(volume: bool = False, seed: int = 0):
    """The tiny config's generators (and volume network) with random weights, quietly."""
    from hpt_model.checkpoints import load_generators
    from hpt_model.config import HPTConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_generators(None, HPTConfig.tiny(), volume=volume, allow_random=True, seed=seed)


def synthetic_frame(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Frame 0 of the synthetic test clip (a person walking, 480x640) as a PNG, and the
    clip's ground truth."""
    import cv2
    from frames_for_tests import render_synthetic_clip

    video, truth = render_synthetic_clip(folder / "clip")
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise RuntimeError(f"{video}: cannot read its first frame")
    path = folder / "frame0.png"
    cv2.imwrite(str(path), frame)
    return path, truth
