"""Contact sheets of a video's frame-stage outputs: what ``hpt-data preview`` writes.

Drawing is plain numpy/OpenCV on (H, W, 3) uint8 BGR images. A sheet is a grid of tiles,
one per kept frame: ``sample-frames`` shows the frames; ``remove-bg`` the person over the
background with the mask outline; ``pose2d`` adds the skeleton. A flagged frame gets a red
frame and its reason; a frame with no crop shows its source frame, dimmed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.errors import HptError
from hpt_data.keypoints import MEDIAPIPE_BONES
from hpt_data.stages.outputs import Crops, Frames, Pose2D, PoseFrame

PREVIEW_STAGES = ("sample-frames", "remove-bg", "pose2d")
RED = (40, 40, 230)
OUTLINE = (255, 160, 0)
LEFT, RIGHT, CENTRE = (60, 180, 255), (255, 120, 60), (80, 220, 80)


def draw_mask_outline(
    image: np.ndarray, mask: np.ndarray, color=OUTLINE, thickness: int = 2
) -> np.ndarray:
    """``image`` with the outline of ``mask`` ((H, W), nonzero = inside) drawn on a copy."""
    import cv2

    out = image.copy()
    contours, _ = cv2.findContours(
        (mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    cv2.drawContours(out, contours, -1, color, thickness, cv2.LINE_AA)
    return out


def draw_skeleton(
    image: np.ndarray, landmarks: np.ndarray, min_visibility: float = 0.5, scale: float = 1.0
) -> np.ndarray:
    """``image`` with MediaPipe's skeleton drawn on a copy.

    ``landmarks`` is (33, >=4): x, y in the image's pixels, z, visibility. Bones and points
    below ``min_visibility`` are left out; the person's left side is orange, right blue.
    """
    import cv2

    out = image.copy()
    pts = np.asarray(landmarks, dtype=np.float64)
    visible = pts[:, 3] >= min_visibility
    width = max(1, round(2 * scale))

    def colour(i: int) -> tuple[int, int, int]:
        if i in (0, 9, 10):
            return CENTRE
        return LEFT if i in (1, 2, 3, 7, *range(11, 33, 2)) else RIGHT

    # pixel-corner coordinates -> the integer pixel positions OpenCV draws at
    at = [(int(x), int(y)) for x, y in np.rint(pts[:, :2] - 0.5)]
    for a, b in MEDIAPIPE_BONES:
        if visible[a] and visible[b]:
            cv2.line(out, at[a], at[b], colour(b), width, cv2.LINE_AA)
    for i in np.nonzero(visible)[0]:
        cv2.circle(out, at[i], width + 1, colour(int(i)), -1, cv2.LINE_AA)
    return out


def caption(image: np.ndarray, text: str, flagged: bool = False) -> np.ndarray:
    """A copy with ``text`` in a band along the top; flagged: red band and red border."""
    import cv2

    out = image.copy()
    h, w = out.shape[:2]
    band = max(14, h // 14)
    tint = np.array(RED if flagged else (0, 0, 0), np.float32)
    out[:band] = (out[:band] * 0.3 + tint * 0.7).astype(np.uint8)
    font_scale = band / 30
    cv2.putText(
        out,
        text,
        (3, band - 4),
        cv2.FONT_HERSHEY_SIMPLEX,
        font_scale,
        (255, 255, 255),
        1,
        cv2.LINE_AA,
    )
    if flagged:
        cv2.rectangle(out, (0, 0), (w - 1, h - 1), RED, max(2, h // 64))
    return out


def contact_sheet(tiles: list[np.ndarray], columns: int = 6, gap: int = 4) -> np.ndarray:
    """Square (T, T, 3) tiles in rows of ``columns``, on a dark background."""
    if not tiles:
        raise ValueError("no tiles to lay out")
    t = tiles[0].shape[0]
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (t + gap) + gap, columns * (t + gap) + gap, 3), 32, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        y, x = gap + r * (t + gap), gap + c * (t + gap)
        sheet[y : y + t, x : x + t] = tile
    return sheet


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
        if e.image:
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
