"""Preview sheets of the maps and volumes: S, D, H, the complete part maps, and three
orthogonal projections of the voxel grid (front along z, side along x, top along y).

Plain numpy plus OpenCV for text and encoding; images are BGR uint8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpt_data.render.boxes import LAYERS
from hpt_data.render.volume_views import first_hit

#: Side of a sheet's tiles, pixels.
TILE = 256

#: BGR colour per part label: background, head, torso, left arm, right arm, left leg, right leg.
PALETTE = np.array(
    [
        [0, 0, 0],
        [80, 200, 250],
        [90, 160, 60],
        [220, 120, 40],
        [60, 60, 220],
        [200, 80, 200],
        [40, 200, 200],
    ],
    dtype=np.uint8,
)


def colour_labels(labels: np.ndarray) -> np.ndarray:
    """(H, W) labels 0..6 → (H, W, 3) BGR."""
    lab = np.asarray(labels)
    if lab.size and lab.max() >= len(PALETTE):
        raise ValueError(f"labels must lie in 0..{len(PALETTE) - 1}")
    return PALETTE[lab]


def colour_depth(depth: np.ndarray) -> np.ndarray:
    """(H, W) depth, ``+inf`` background → (H, W, 3) gray: near is bright, background black."""
    d = np.asarray(depth, dtype=np.float64)
    fg = np.isfinite(d)
    out = np.zeros(d.shape, np.uint8)
    if fg.any():
        lo, hi = d[fg].min(), d[fg].max()
        out[fg] = (255 - 200 * (d[fg] - lo) / max(hi - lo, 1e-9)).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)


def colour_heatmaps(heatmaps: np.ndarray, parsing: np.ndarray | None = None) -> np.ndarray:
    """(J, H, W) heatmaps → (H, W, 3): their maximum in red over a dim silhouette."""
    h = np.asarray(heatmaps).max(axis=0)
    base = np.zeros((*h.shape, 3), np.float32)
    if parsing is not None:
        base[np.asarray(parsing) > 0] = 50
    base[..., 2] = np.maximum(base[..., 2], 255 * h)
    base[..., 1] = base[..., 1] * (1 - h)
    base[..., 0] = base[..., 0] * (1 - h)
    return base.astype(np.uint8)


def volume_projections(labels: np.ndarray, z_scale: float = 1.0) -> list[np.ndarray]:
    """Front (along z), side (along x, from the image's left) and top (along y) views of
    a ``[z, y, x]`` label grid, coloured by part.

    ``z_scale`` is a z bin's depth over a voxel's side in x/y (``dz / pitch_xy``): the side
    and top views are stretched along z by it, so that they show true proportions.
    """
    import cv2

    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"labels must be (Z, Y, X), got {lab.shape}")
    if not np.isfinite(z_scale) or z_scale <= 0:
        z_scale = 1.0
    zpix = max(1, round(lab.shape[0] * z_scale))
    front, _ = first_hit(lab, 0)  # (Y, X)
    side, _ = first_hit(lab, 2)  # (Z, Y), shown as (Y, Z): the camera on the left
    top, _ = first_hit(lab, 1)  # (Z, X): the camera at the top
    side_img = cv2.resize(side.T, (zpix, side.shape[1]), interpolation=cv2.INTER_NEAREST)
    top_img = cv2.resize(top, (top.shape[1], zpix), interpolation=cv2.INTER_NEAREST)
    return [colour_labels(front), colour_labels(side_img), colour_labels(top_img)]


def _tile(image: np.ndarray, side: int, title: str) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    scale = side / max(h, w)
    img = cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_NEAREST
    )
    tile = np.full((side + 22, side, 3), 255, np.uint8)
    tile[22 + (side - img.shape[0]) // 2 :][: img.shape[0], (side - img.shape[1]) // 2 :][
        :, : img.shape[1]
    ] = img
    cv2.putText(tile, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def maps_sheet(
    parsing: np.ndarray,
    depth: np.ndarray,
    heatmaps: np.ndarray | None,
    part_masks: dict[str, np.ndarray] | None = None,
    volume: np.ndarray | None = None,
    volume_z_scale: float = 1.0,
    boxes: dict[str, np.ndarray] | None = None,
    tile: int = TILE,
) -> np.ndarray:
    """A contact sheet: S, D, H; the complete part masks (each part alone, in its box); the
    volume's three projections.

    Parameters
    ----------
    parsing : (N, N) uint8
    depth : (N, N) float, ``+inf`` background
    heatmaps : (J, N, N) or (J, n, n) float, optional
        None leaves the H tile out; at the maps' size or already at the tile's (what
        :meth:`hpt_data.render.maps.Maps.heatmaps` gives for ``tile``).
    part_masks : dict, optional
        Layer → (n, n) bool complete part mask.
    volume : (Z, X, X) uint8, optional
        Voxel labels ``[z, y, x]``.
    volume_z_scale : float
        ``dz / pitch_xy`` of the volume (see :func:`volume_projections`).
    boxes : dict, optional
        Layer → ``[x0, y0, size]`` in S's pixels, outlined on S.
    tile : int
        Side of each tile in pixels.

    Returns
    -------
    (H, W, 3) uint8 BGR

    Maps ``k`` times the tile's side are coloured at every k-th pixel: what the tile's
    nearest-neighbour shrink keeps, at a k²-th of the cost.
    """
    n = parsing.shape[0]
    step = n // tile if n > tile and n % tile == 0 else 1
    parsing, depth = parsing[::step, ::step], depth[::step, ::step]
    if heatmaps is not None and heatmaps.shape[-1] == n:
        heatmaps = heatmaps[:, ::step, ::step]
    s_img = colour_labels(parsing)
    if boxes:
        import cv2

        s_img = s_img.copy()
        width = max(1, parsing.shape[0] // tile) + 1
        for b in boxes.values():
            x0, y0, side = (np.asarray(b, dtype=float) / step).round().astype(int)
            cv2.rectangle(s_img, (x0, y0), (x0 + side - 1, y0 + side - 1), (255, 255, 255), width)
    first = [
        _tile(s_img, tile, "S parsing" + (" + layer boxes" if boxes else "")),
        _tile(colour_depth(depth), tile, "D depth"),
    ]
    if heatmaps is not None:
        first.append(_tile(colour_heatmaps(heatmaps, parsing), tile, "H heatmaps (max)"))
    rows = [first]
    if part_masks:
        tiles = []
        for name in LAYERS:
            if name in part_masks:
                m = np.asarray(part_masks[name], dtype=np.uint8) * 255
                tiles.append(_tile(np.repeat(m[..., None], 3, 2), tile // 2, name))
        rows.append(tiles)
    if volume is not None:
        views = volume_projections(volume, volume_z_scale)
        names = ["volume: front (z)", "volume: side (x)", "volume: top (y)"]
        rows.append([_tile(v, tile, n) for v, n in zip(views, names, strict=True)])
    width = max(sum(t.shape[1] for t in r) for r in rows)
    out = []
    for r in rows:
        line = np.concatenate(r, axis=1)
        pad = np.full((line.shape[0], width - line.shape[1], 3), 255, np.uint8)
        out.append(np.concatenate([line, pad], axis=1))
    return np.concatenate(out, axis=0)


def write_sheet(path: str | Path, sheet: np.ndarray) -> Path:
    """Encode a sheet as PNG."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", sheet)
    if not ok:
        raise ValueError(f"{path}: could not encode the sheet")
    path.write_bytes(buf.tobytes())
    return path
