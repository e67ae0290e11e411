"""``render-maps``: the informative maps of every fitted frame (§III-A/B/C).

Reads ``fit-smpl/fits.npz`` (per frame: ``ok``, ``flag``, pose, camera and its
``camera_distance``, absent = 0 for the weak-perspective fits of fit-smpl version 1; the
person's ``betas``; the body model), poses the body model and renders, per frame with ``ok``
(:func:`hpt_data.render.maps.render_maps`, with the perspective about the frame's pelvis;
formats in ``docs/maps_and_volumes.md``).

Output folder::

    frames.json          per fitted frame: frame_id, row (in fits.npz), ok, flags, reason,
                         file (null when skipped); plus the sizes and σ used
    maps/<frame_id>.npz  parsing_1024, parsing_512 (N, N) uint8; depth_1024, depth_512
                         (N, N) float16, camera-frame z in metres, +inf on the background;
                         joints2d_1024, joints2d_512 (24, 2) float32 pixels; sigma_1024,
                         sigma_512 () float32 (H is rendered on the fly from these);
                         z_range (2,) float32; boxes (5, 3) int32 ``[x0, y0, size]`` at
                         1024 in the order face, left_arm, right_arm, left_leg, right_leg;
                         part_mask_<layer> (n, n) bool and part_depth_<layer> (n, n)
                         float16: the complete part maps inside the boxes
    preview/<frame_id>.png  S, D, H and the complete part masks, for the first frames

Frames whose fit failed (``ok`` false) and frames with a fatal flag (degenerate mesh, bad
camera, body outside the crop) are recorded as skipped with their reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpt_data.errors import HptError, StageError
from hpt_data.render.boxes import LAYERS
from hpt_data.render.mesh_checks import FATAL_FLAGS, FLAG_TEXT
from hpt_data.stages._frames_io import INDEX, PreviousOutput, save_npz, write_json
from hpt_data.stages.base import Stage, StageContext, StageResult

if TYPE_CHECKING:
    from hpt_data.render.maps import Maps

FITS = "fits.npz"
_FIT_KEYS = ("frame_ids", "ok", "flag", "betas", "global_orient", "body_pose", "camera")
_MODELS: dict[str, Any] = {}


@dataclass(frozen=True)
class RenderMapsSettings:
    """Keys under ``stages: render-maps:`` in ``datasets.yaml``."""

    sizes: tuple[int, ...] = (1024, 512)  # the fine and coarse resolutions; the first gets
    # the layer boxes and complete part maps
    previews: int = 3  # preview sheets for the first N rendered frames

    def __post_init__(self) -> None:
        if not self.sizes or any(int(s) <= 0 for s in self.sizes):
            raise ValueError(f"sizes must be positive, got {self.sizes}")
        if self.previews < 0:
            raise ValueError(f"previews must be >= 0, got {self.previews}")


@dataclass
class Fits:
    """The parts of ``fit-smpl/fits.npz`` that maps and volumes need."""

    frame_ids: list[str]
    ok: np.ndarray  # (T,) bool
    flag: list[str]
    betas: np.ndarray  # (NB,)
    global_orient: np.ndarray  # (T, 3)
    body_pose: np.ndarray  # (T, 69)
    camera: np.ndarray  # (T, 3)
    body_model: str
    camera_distance: np.ndarray  # (T,) metres, 0 = weak perspective (absent in old fits)


def read_fits(folder: Path) -> Fits:
    """Read ``fits.npz`` from a ``fit-smpl`` output; a one-line StageError if malformed."""
    path = folder / FITS
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _FIT_KEYS if k not in data]
            if missing:
                raise StageError(f"{path}: missing {', '.join(missing)}")
            t = int(data["ok"].shape[0])
            fits = Fits(
                frame_ids=[str(x) for x in data["frame_ids"]],
                ok=data["ok"].astype(bool),
                flag=[str(x) for x in data["flag"]],
                betas=np.asarray(data["betas"], np.float32).reshape(-1),
                global_orient=np.asarray(data["global_orient"], np.float32).reshape(t, 3),
                body_pose=np.asarray(data["body_pose"], np.float32).reshape(t, 69),
                camera=np.asarray(data["camera"], np.float64).reshape(t, 3),
                body_model=str(data["body_model"]) if "body_model" in data else "builtin",
                camera_distance=(
                    np.asarray(data["camera_distance"], np.float64).reshape(t)
                    if "camera_distance" in data
                    else np.zeros(t)
                ),
            )
    except (OSError, ValueError) as exc:
        raise StageError(f"{path}: cannot read the fits ({exc})") from None
    if len(fits.frame_ids) != t or len(fits.flag) != t:
        raise StageError(f"{path}: frame_ids, flag and ok differ in length")
    return fits


def body_model_for(fits: Fits, folder: Path | None = None) -> Any:
    """The fits' body model (cached per process): the built-in one or an SMPL file."""
    from hpt_data.body import load_body_model

    nb = max(1, int(fits.betas.size))
    key = f"{fits.body_model}:{nb}"
    if key not in _MODELS:
        path = None if fits.body_model in ("", "builtin") else fits.body_model
        try:
            _MODELS[key] = load_body_model(path, num_betas=nb)
        except (ValueError, HptError) as exc:
            where = folder / FITS if folder is not None else FITS
            raise StageError(f"{where}: cannot load its body model ({exc})") from None
    return _MODELS[key]


def posed_frames(fits: Fits, rows: list[int]) -> Any:
    """Yield ``(row, vertices (V, 3) float64, joints (24, 3) float64)`` for ``rows``.

    One body-model call per frame, not per batch: batched matrix products round differently
    with the batch's size on some CPUs, and a frame redone alone (``ctx.previous`` lost its
    file) must come out bit-identical to the first run. Posing is ~10 ms a frame, small
    beside rendering."""
    import torch

    model = body_model_for(fits)
    betas = torch.as_tensor(fits.betas[None]) if fits.betas.size else None
    for row in rows:
        with torch.no_grad():
            out = model(
                betas=betas,
                body_pose=torch.as_tensor(fits.body_pose[row : row + 1]),
                global_orient=torch.as_tensor(fits.global_orient[row : row + 1]),
            )
        yield row, out.vertices[0].double().numpy(), out.joints[0].double().numpy()


def flag_reason(flags: list[str]) -> str | None:
    return "; ".join(FLAG_TEXT.get(f, f) for f in flags) or None


def plan_frames(
    fits: Fits,
    previous: PreviousOutput,
    out_dir: Path,
    reuse: Callable[[dict[str, Any], str], bool],
    extra: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[int]]:
    """The index entry of every fitted frame, and the rows still to compute.

    A frame whose fit failed is recorded with the fit's reason; one whose files ``reuse``
    (the stage's own rule, given the previous entry and the frame id) took from the
    previous output keeps its old entry and preview; the others are to compute.
    ``extra`` adds stage-specific keys to the fresh entries.
    """
    old = {e["frame_id"]: e for e in (previous.index or {}).get("frames", [])}
    entries: list[dict[str, Any]] = []
    todo: list[int] = []
    for row, fid in enumerate(fits.frame_ids):
        entry = {"frame_id": fid, "row": row, "ok": False, "flags": [], "file": None}
        entry.update(extra or {})
        prev = old.get(fid)
        if not fits.ok[row]:
            entry["reason"] = f"fit-smpl: {fits.flag[row] or 'not ok'}"
        elif prev is not None and reuse(prev, fid):
            entry = dict(prev)
            previous.reuse(f"preview/{safe_name(fid)}.png", out_dir)
        else:
            todo.append(row)
        entries.append(entry)
    return entries, todo


def maps_arrays(maps: Sequence[Maps]) -> dict[str, np.ndarray]:
    """One frame's ``maps/<frame_id>.npz`` arrays (module docstring) from its maps at each
    size, the first with the layers; the maps must have no fatal flag. Shared by the stage
    and the pose-transfer pipelines, so both hand the model the same fields."""
    arrays: dict[str, np.ndarray] = {}
    for m in maps:
        arrays[f"parsing_{m.size}"] = m.parsing
        arrays[f"depth_{m.size}"] = m.depth.astype(np.float16)
        arrays[f"joints2d_{m.size}"] = m.joints2d.astype(np.float32)
        arrays[f"sigma_{m.size}"] = np.float32(m.sigma)
    fine = maps[0]
    if not fine.boxes:
        raise ValueError("the first maps must hold the layer boxes and complete part maps")
    arrays["z_range"] = np.asarray(fine.z_range, np.float32)
    arrays["boxes"] = np.stack([fine.boxes[n] for n in LAYERS]).astype(np.int32)
    for name in LAYERS:
        arrays[f"part_mask_{name}"] = fine.part_masks[name]
        arrays[f"part_depth_{name}"] = fine.part_depths[name].astype(np.float16)
    return arrays


def safe_name(frame_id: str) -> str:
    """A file name for a frame id (ids are the fitter's; keep them readable)."""
    bad = set('/\\:*?"<>| ')
    return "".join("_" if c in bad else c for c in frame_id) or "frame"


class RenderMaps(Stage):
    """Parsing S, depth D, joints for H, complete part maps and boxes per fitted frame."""

    name = "render-maps"
    requires = ("fit-smpl",)
    Settings = RenderMapsSettings
    version = 2  # 2: drawn with fits.npz's camera_distance (perspective about the pelvis)

    def run(self, ctx: StageContext) -> StageResult:
        from hpt_data.render.maps import render_maps
        from hpt_data.render.preview_maps import maps_sheet, write_sheet

        s: RenderMapsSettings = self.settings
        fits = read_fits(ctx.inputs["fit-smpl"])
        model = body_model_for(fits, ctx.inputs["fit-smpl"])
        previous = PreviousOutput(ctx.previous)

        def reuse(prev: dict[str, Any], fid: str) -> bool:
            rel = f"maps/{safe_name(fid)}.npz"
            return prev.get("file") == rel and previous.reuse(rel, ctx.out_dir)

        entries, todo = plan_frames(fits, previous, ctx.out_dir, reuse)
        counts: Counter[str] = Counter()
        previews = 0
        for row, verts, joints in posed_frames(fits, todo):
            cam, dist = fits.camera[row], float(fits.camera_distance[row])
            rendered = [
                render_maps(verts, model.faces, model.part_labels, joints, cam, size, k == 0, dist)
                for k, size in enumerate(s.sizes)
            ]
            flags = sorted({f for m in rendered for f in m.flags})
            entry = entries[row]
            entry["flags"] = flags
            counts.update(flags)
            if FATAL_FLAGS.intersection(flags):
                entry["reason"] = flag_reason(flags)
                continue
            fine = rendered[0]
            arrays = maps_arrays(rendered)
            rel = f"maps/{safe_name(fits.frame_ids[row])}.npz"
            save_npz(ctx.out_dir / rel, arrays)
            entry.update(ok=True, file=rel, reason=flag_reason(flags))
            if previews < s.previews:
                sheet = maps_sheet(
                    fine.parsing, fine.depth, fine.heatmaps(), fine.part_masks, boxes=fine.boxes
                )
                write_sheet(
                    ctx.out_dir / "preview" / f"{safe_name(fits.frame_ids[row])}.png", sheet
                )
                previews += 1
        rendered = sum(e["ok"] for e in entries)
        if rendered == 0:
            raise StageError(
                f"{ctx.inputs['fit-smpl'] / FITS}: no frame to render "
                f"({len(entries)} frames, {int(fits.ok.sum())} fitted)"
            )
        write_json(
            ctx.out_dir / INDEX,
            {"sizes": list(s.sizes), "layers": list(LAYERS), "frames": entries},
        )
        metrics: dict[str, Any] = {
            "frames": len(entries),
            "rendered": rendered,
            "skipped": len(entries) - rendered,
        }
        metrics.update({f"flagged_{f}": k for f, k in sorted(counts.items())})
        return StageResult(metrics)
