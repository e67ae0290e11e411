"""Drawing on (H, W, 3) uint8 BGR images with plain numpy/OpenCV: mask outlines, MediaPipe
skeletons, captions and contact sheets. Shared by ``hpt-data preview``, fit-smpl's preview
sheet and the pose-transfer pipelines; it imports no stage.
"""

from __future__ import annotations

import numpy as np

from hpt_data.keypoints import MEDIAPIPE_BONES

__all__ = ["caption", "contact_sheet", "draw_mask_outline", "draw_skeleton"]

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
