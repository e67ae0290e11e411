"""The views the person detector runs on (the whole frame and zoomed tiles), and the rules
that tell a tile's person from a part of someone already found or from a body the
landmark model made up beyond the frame: box geometry only."""

from __future__ import annotations

import numpy as np


def tiles(image: np.ndarray, zoom: tuple[float, ...] = ()) -> list[tuple[int, int, int]]:
    """The views the detector runs on, as (x0, y0, side): the whole frame, and for each
    zoom > 1 squares of side ``longer side / zoom`` overlapping by at least a quarter."""
    h, w = image.shape[:2]
    views = [(0, 0, max(h, w))]
    for z in zoom:
        if z <= 1.0:
            continue
        side = int(np.ceil(max(h, w) / z))

        def starts(length: int, side: int = side) -> list[int]:
            if length <= side:
                return [0]
            n = int(np.ceil((length - side) / (0.75 * side))) + 1
            return [round(i * (length - side) / (n - 1)) for i in range(n)]

        views += [(x, y, side) for y in starts(h) for x in starts(w)]
    return views


#: A person found on a tile whose landmark box lies more than this share inside someone
#: already found is a part of them (a tile that cuts a body shows its upper half as a
#: person of its own: real one-person photos gave such doubles in most zoomed passes, and
#: a one-person synthetic clip its legs, 49 % inside; someone new is looked for where no one
#: was found yet, and a person found half behind another is found at a later rescan).
TILE_MAX_COVER = 0.3


def covered(box: np.ndarray, others: list[np.ndarray]) -> bool:
    """Whether more than :data:`TILE_MAX_COVER` of the (4,) ``box`` lies inside one of
    ``others`` ((4,) boxes each)."""
    if not others:
        return False
    o = np.asarray(others, np.float64)
    ix = np.clip(np.minimum(box[2], o[:, 2]) - np.maximum(box[0], o[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], o[:, 3]) - np.maximum(box[1], o[:, 1]), 0, None)
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-12)
    return bool((ix * iy / area).max() > TILE_MAX_COVER)


#: A person found on a tile must have at least this share of their landmark box inside the
#: frame. A tile shows a patch of a body (a hand, a shadow) at a scale where the detector
#: may take it for a face, and the landmark model then draws the rest of a large body beyond
#: the frame's edge: on the demo clip p003-arm_across a zoom-2 tile found such a body (22 %
#: inside the frame, detector 0.52, presence 0.51) over the performer's hand and shadow,
#: which its track then carried onto the performer. Someone that large, and mostly out of
#: view, is the whole frame's to find; the people the tiles are for (small, far, turned
#: away) stand inside it.
TILE_MIN_IN_FRAME = 0.5


def in_frame(box: np.ndarray, width: int, height: int) -> float:
    """The share of the (4,) ``box`` (x0, y0, x1, y1 pixels) inside a ``width`` x
    ``height`` frame, in [0, 1] (0 for an empty box)."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    area = (x1 - x0) * (y1 - y0)
    if area <= 0:
        return 0.0
    ix = max(0.0, min(x1, width) - max(x0, 0.0))
    iy = max(0.0, min(y1, height) - max(y0, 0.0))
    return float(ix * iy / area)
