"""Contact sheets of a video's frame-stage outputs: what ``hpt-data preview`` writes.

Drawing is :mod:`hpt_data.drawing`'s (plain numpy/OpenCV). A sheet is a grid of tiles,
one per kept frame: ``sample-frames`` shows the frames; ``remove-bg`` the person over the
background with the mask outline; ``pose2d`` adds the skeleton. A flagged frame gets a red
frame and its reason; a frame with no crop shows its source frame, dimmed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.drawing import caption, contact_sheet, draw_mask_outline, draw_skeleton
from hpt_data.errors import HptError
from hpt_data.stages.outputs import Crops, Frames, Pose2D, PoseFrame

PREVIEW_STAGES = ("sample-frames", "remove-bg", "pose2d")


def _fit(image: np.ndarray, tile: int) -> np.ndarray:
    """``image`` scaled to fit a (tile, tile) square, centred on dark grey."""
    import cv2

    h, w = image.shape[:2]
    s = tile / max(h, w)
    small = cv2.resize(
        image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
    )
    out = np.full((tile, tile, 3), 48, np.uint8)
    y, x = (tile - small.shape[0]) // 2, (tile - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def _spread(items: list[Any], count: int) -> list[Any]:
    if len(items) <= count:
        return items
    picks = np.round(np.linspace(0, len(items) - 1, count)).astype(int)
    return [items[i] for i in picks]


def stage_tiles(
    video_dir: Path, stage: str, max_frames: int = 24, tile: int = 256
) -> list[np.ndarray]:
    """One captioned tile per frame (at most ``max_frames``, evenly spread) of ``stage``'s
    output in a video's work folder."""
    if stage not in PREVIEW_STAGES:
        raise HptError(f"no preview for stage '{stage}' (previews: {', '.join(PREVIEW_STAGES)})")
    frames = Frames.read(video_dir / "sample-frames")
    if stage == "sample-frames":
        return [
            caption(_fit(frames.image(e.file), tile), f"#{e.index} {e.time_ms / 1000:.2f}s")
            for e in _spread(frames.frames, max_frames)
        ]
    crops = Crops.read(video_dir / "remove-bg")
    pose: dict[int, tuple[PoseFrame, np.ndarray | None]] = {}
    if stage == "pose2d":
        found = Pose2D.read(video_dir / "pose2d")
        pose = {e.index: (e, found.landmarks(e)) for e in found.frames}
    tiles = []
    for e in _spread(crops.frames, max_frames):
        flags, reason = e.flags, e.reason
        skeleton = None
        if stage == "pose2d" and e.index in pose:
            pe, skeleton = pose[e.index]
            flags, reason = pe.flags, pe.reason
        text = f"#{e.index} {reason}" if flags else f"#{e.index} {e.time_ms / 1000:.2f}s"
        if e.has_crop:
            mask = crops.mask(e)
            if mask is None:
                raise HptError(f"{crops.folder}/{e.mask}: cannot read the mask")
            image = draw_mask_outline(crops.image(e), mask)
            if skeleton is not None:
                image = draw_skeleton(image, skeleton, scale=image.shape[0] / 512)
        else:
            image = (frames.image(e.source_file) * 0.5).astype(np.uint8)
        tiles.append(caption(_fit(image, tile), text, flagged=bool(flags)))
    return tiles


def write_preview(
    video_dir: Path, stage: str, out: Path, max_frames: int = 24, columns: int = 6, tile: int = 256
) -> Path:
    """Write the contact sheet PNG of ``stage`` for one video's work folder to ``out``."""
    import cv2

    out.parent.mkdir(parents=True, exist_ok=True)
    sheet = contact_sheet(stage_tiles(video_dir, stage, max_frames, tile), columns)
    if not cv2.imwrite(str(out), sheet):
        raise HptError(f"{out}: cannot write the PNG")
    return out
