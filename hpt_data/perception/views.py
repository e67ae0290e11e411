"""The views the person detector runs on (the whole frame, zoomed tiles, and the squares
that hold no one found), the rules that keep a tile's detections (:func:`combine`), and
those that tell a tile's person from a part of someone already found or from a body the
landmark model made up beyond the frame: geometry on boxes and detections only."""

from __future__ import annotations

import numpy as np

from hpt_data.perception.anchors import Detections, box_iou, detection_rois


def share_inside(boxes: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """(N, M): the share of each of the (N, 4) ``boxes`` (x0, y0, x1, y1 pixels) that lies
    inside each of the (M, 4) ``rects``, in [0, 1] (0 for an empty box)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 1, 4)
    r = np.asarray(rects, np.float64).reshape(1, -1, 4)
    ix = np.clip(np.minimum(b[..., 2], r[..., 2]) - np.maximum(b[..., 0], r[..., 0]), 0, None)
    iy = np.clip(np.minimum(b[..., 3], r[..., 3]) - np.maximum(b[..., 1], r[..., 1]), 0, None)
    area = np.maximum((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]), 1e-12)
    return ix * iy / area


def tiles(image: np.ndarray, zoom: tuple[float, ...] = ()) -> list[tuple[int, int, int]]:
    """The views the detector runs on, as (x0, y0, side): the whole frame, and for each
    zoom > 1 squares of side ``longer side / zoom`` overlapping by at least a quarter."""
    h, w = image.shape[:2]
    views = [(0, 0, max(h, w))]
    for z in zoom:
        if z <= 1.0:
            continue
        side = int(np.ceil(max(h, w) / z))
        views += [(x, y, side) for y in _starts(h, side) for x in _starts(w, side)]
    return views


def _starts(length: int, side: int) -> list[int]:
    """Where squares of ``side`` start along ``length``, overlapping by at least a quarter."""
    if length <= side:
        return [0]
    n = int(np.ceil((length - side) / (0.75 * side))) + 1
    return [round(i * (length - side) / (n - 1)) for i in range(n)]


#: :func:`free_squares` only in frames at least this much longer than wide.
FREE_MIN_ASPECT = 1.1


def free_squares(
    width: int, height: int, boxes: list[np.ndarray], max_share: float = 0.1
) -> list[tuple[int, int, int]]:
    """The squares of the shorter side of a ``width`` x ``height`` frame (laid as
    :func:`tiles` lays its squares, (x0, y0, side)) that hold at most ``max_share`` of each
    of ``boxes`` (the people found); none in a frame less than :data:`FREE_MIN_ASPECT`
    times as long as wide. The detector's scores compete: on the cameraman photo beside
    the astronaut's (tests/real_material.py) he scores below 0.02 on the whole frame, 0.77
    on the same frame with the astronaut's half black, 0.57 on his own half."""
    side = min(width, height)
    if max(width, height) < FREE_MIN_ASPECT * side:
        return []
    # the share of each box inside the frame: a landmark box reaching past the edge would
    # otherwise hold less of itself in its own square, which could then count as free
    b = np.asarray(boxes, np.float64).reshape(-1, 4).clip(0, [width, height, width, height])
    squares = [(x0, y0, side) for y0 in _starts(height, side) for x0 in _starts(width, side)]
    if not len(b):
        return squares
    rects = [(x0, y0, x0 + side, y0 + side) for x0, y0, side in squares]
    most = share_inside(b, np.array(rects)).max(axis=0)  # (squares,): the largest share
    return [sq for sq, share in zip(squares, most, strict=True) if share <= max_share]


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
    return bool(share_inside(box, np.asarray(others)).max() > TILE_MAX_COVER)


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
    return float(share_inside(box, np.array([0.0, 0.0, width, height]))[0, 0])


_FIELDS = ("scores", "boxes", "keypoints")


#: A tile's detection counts only if the person's body circle lies within the tile, grown
#: by this share of its side, and the body is within this angle of upright: a body cut by
#: the tile's edge is seen by the whole frame or by the neighbouring tile, and cut bodies
#: gave the false alarms (partial, often upside-down regions of the same person).
TILE_MARGIN = 0.1
TILE_MAX_ROTATION = np.radians(60.0)
TILE_BIG = 0.6


def combine(
    known: Detections, found: list[Detections], views: list[tuple[int, int, int]]
) -> Detections:
    """One set of detections: ``known`` kept as it is (the whole frame's, or every
    detection combined so far), then each tile's of ``found`` (one per view of ``views``,
    each already through weighted NMS) that passes the tile rules and overlaps no
    detection kept so far (face box IoU > 0.3), best score first. Tiles are not averaged
    in: a view that cuts the body places its keypoints worse than the one that sees it
    whole."""
    keep = [known]
    boxes = known.boxes
    cands = []
    for d, (x0, y0, side) in zip(found, views, strict=True):
        if not len(d):
            continue
        roi = detection_rois(d.keypoints)
        m = TILE_MARGIN * side
        inside = (roi[:, 0] - roi[:, 4] >= x0 - m) & (roi[:, 0] + roi[:, 4] <= x0 + side + m)
        inside &= (roi[:, 1] - roi[:, 4] >= y0 - m) & (roi[:, 1] + roi[:, 4] <= y0 + side + m)
        # a body too tall for any tile (circle wider than TILE_BIG of its side) counts when
        # its face box lies inside the tile: no tile holds it whole, and the landmark model
        # looks at the whole frame's region anyway
        big = 2 * roi[:, 4] > TILE_BIG * side
        face = (d.boxes[:, :2] >= (x0 - m, y0 - m)).all(1)
        face &= (d.boxes[:, 2:] <= (x0 + side + m, y0 + side + m)).all(1)
        inside |= big & face
        inside &= np.abs(roi[:, 3]) <= TILE_MAX_ROTATION
        cands.append(d.take(np.flatnonzero(inside)))
    if cands:
        pool = Detections(*(np.concatenate([getattr(c, f) for c in cands]) for f in _FIELDS))
        for i in np.argsort(-pool.scores, kind="stable"):
            if len(boxes) and box_iou(pool.boxes[i], boxes).max() > 0.3:
                continue
            keep.append(pool.take(np.array([i])))
            boxes = np.concatenate([boxes, pool.boxes[i : i + 1]])
    return Detections(*(np.concatenate([getattr(k, f) for k in keep]) for f in _FIELDS))
