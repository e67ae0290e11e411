"""MediaPipe models, loaded once per process and shared by the frame stages and by the
single-image perception of ``pipelines.perceive`` (so the module is public).

Only what ships in the ``mediapipe==0.10.21`` wheel is used (Pose ``model_complexity=1``,
its segmentation head, and Selfie Segmentation), so everything runs offline. Stages are
pickled to spawned workers, so the models live here, in a module-level cache keyed by
their settings, never on the stage object.

Landmarks come back as a (33, 5) float array per image: x, y in pixels of the image
given (pixel-corner convention: the image spans [0, W] x [0, H]), z (MediaPipe's
relative depth, in the scale of x), visibility and presence in [0, 1]. Points may lie
outside the image: Pose predicts body parts beyond the frame edge.

MediaPipe's calculators log to fd 2: as they open, on MediaPipe's own threads, after the
graph starts (at construction and at every ``reset()``), and some once per process at
whichever ``process()`` first takes a path (``landmark_projection_calculator``'s warning,
at the first person found). So construction, reset and ``process`` all run here, inside
:func:`hpt_data.native_logs.quiet_native_logs`, and the first two wait for the graph to be
idle before the window closes (``process`` does); reset with :func:`reset_model`, not
``model.reset()``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpt_data.native_logs import quiet_native_logs


@dataclass
class PoseOutput:
    """One image through MediaPipe Pose: ``landmarks`` (33, 5) as in the module doc,
    ``mask`` (H, W) float32 in [0, 1], the tracked person's soft segmentation (or None), and
    ``world`` (33, 4): Pose's world landmarks (x, y, z metres about the hips' centre, axes
    as the image's: x right, y down, z away) and each landmark's visibility."""

    landmarks: np.ndarray
    mask: np.ndarray | None
    world: np.ndarray | None = None


@functools.cache
def pose_model(static: bool, segmentation: bool, min_detection: float = 0.5) -> Any:
    """A MediaPipe Pose graph (complexity 1, the model the wheel ships).

    ``static=False`` tracks the person from one frame to the next (the detector runs only
    when tracking is lost); call :func:`reset_model` before each new video. MediaPipe's own
    landmark smoothing is off: it assumes 30 fps time stamps, and our frames are sampled
    at their own times; the stages filter with the real time stamps instead.
    """
    import mediapipe as mp

    with quiet_native_logs():
        return _opened(
            mp.solutions.pose.Pose(
                static_image_mode=static,
                model_complexity=1,
                smooth_landmarks=False,
                enable_segmentation=segmentation,
                smooth_segmentation=False,
                min_detection_confidence=min_detection,
                min_tracking_confidence=0.5,
            )
        )


@functools.cache
def selfie_model() -> Any:
    """MediaPipe Selfie Segmentation (the general 256x256 model): every person in view."""
    import mediapipe as mp

    with quiet_native_logs():
        return _opened(mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0))


def reset_model(model: Any) -> None:
    """``model.reset()`` (no tracking state from another video), quietly: the reset
    restarts the graph, and its calculators log again as they reopen."""
    with quiet_native_logs():
        model.reset()
        _opened(model)


def _opened(solution: Any) -> Any:
    """``solution`` once its graph is idle: its calculators open (and log) on MediaPipe's
    threads after the start, so without the wait their lines would come after the quiet
    window, in the middle of whatever runs next."""
    graph = getattr(solution, "_graph", None)  # SolutionBase's; no public way to wait
    if graph is not None:
        graph.wait_until_idle()
    return solution


def run_pose(model: Any, image_bgr: np.ndarray) -> PoseOutput | None:
    """Pose on one (H, W, 3) uint8 BGR image; None when no person is found."""
    import cv2

    h, w = image_bgr.shape[:2]
    rgb = np.ascontiguousarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    with quiet_native_logs():
        result = model.process(rgb)
    if result.pose_landmarks is None:
        return None
    lms = np.array(
        [
            (p.x * w, p.y * h, p.z * w, p.visibility, p.presence)
            for p in result.pose_landmarks.landmark
        ],
        dtype=np.float64,
    )
    mask = getattr(result, "segmentation_mask", None)
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float32)
    world = None
    if getattr(result, "pose_world_landmarks", None) is not None:
        pairs = zip(result.pose_world_landmarks.landmark, lms[:, 3], strict=True)
        world = np.array([(p.x, p.y, p.z, v) for p, v in pairs], dtype=np.float64)
    return PoseOutput(lms, mask, world)


def run_selfie(image_bgr: np.ndarray) -> np.ndarray:
    """Selfie Segmentation on one (H, W, 3) uint8 BGR image: (H, W) float32 in [0, 1]."""
    import cv2

    rgb = np.ascontiguousarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    model = selfie_model()
    with quiet_native_logs():
        mask = model.process(rgb).segmentation_mask
    return np.asarray(mask, dtype=np.float32)
