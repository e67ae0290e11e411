"""``render-maps``: the informative maps of every fitted frame (§III-A/B/C).

Reads ``fit-smpl/fits.npz`` (per frame: ``ok``, ``flag``, pose, camera and its
``camera_distance``, absent = 0 for the weak-perspective fits of fit-smpl version 1; the
person's ``betas``; the body model), poses the body model and renders, per frame with ``ok``
(:func:`hpt_data.render.maps.render_maps`, with the perspective about the frame's pelvis;
formats in ``docs/maps_and_volumes.md``).

Output folder::

    frames.json          per fitted frame: frame_id, row (in fits.npz), ok, flags, reason,
                         file (null when skipped); plus the sizes and the layers
    maps/<frame_id>.npz  parsing_1024, parsing_512 (N, N) uint8; depth_1024, depth_512
                         (N, N) float16, camera-frame z in metres, +inf on the background;
                         joints2d_1024, joints2d_512 (24, 2) float32 pixels; sigma_1024,
                         sigma_512 () float32 (H is rendered on the fly from these);
                         z_range (2,) float32; boxes (5, 3) int32 ``[x0, y0, size]`` at
                         1024 in the order face, left_arm, right_arm, left_leg, right_leg;
                         part_mask_<layer> (n, n) bool and part_depth_<layer> (n, n)
                         float16: the complete part maps inside the boxes. parsing_N and
                         depth_N are stored as the body's window (window_N: origin and
                         full shape; deflating a quarter of the frame), the part maps as
                         their part's (part_window_<layer>); read back whole
    preview/<frame_id>.png  S, D, H and the complete part masks, for the first frames

Frames whose fit failed (``ok`` false) and frames with a fatal flag (degenerate mesh, bad
camera, body outside the crop) are recorded as skipped with their reason. The files are
read and written through :class:`hpt_data.stages.outputs.Maps` and
:class:`~hpt_data.stages.outputs.FrameMaps`; the per-frame loop is shared with ``voxelize``
(:mod:`hpt_data.stages.posed_frames`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from hpt_data.errors import StageError
from hpt_data.render.boxes import LAYERS
from hpt_data.render.mesh_checks import FATAL_FLAGS
from hpt_data.stages._frames_io import PreviousOutput
from hpt_data.stages.base import Stage, StageContext, StageResult
from hpt_data.stages.outputs import Fits, FittedFrame, FrameMaps, Maps, safe_name
from hpt_data.stages.posed_frames import body_model_for, flag_reason, plan_frames, posed_frames


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


class RenderMaps(Stage):
    """Parsing S, depth D, joints for H, complete part maps and boxes per fitted frame."""

    name = "render-maps"
    requires = ("fit-smpl",)
    Settings = RenderMapsSettings
    version = 3  # 2: fits.npz's camera_distance (perspective about the pelvis); 3: keypoints
    # (S and D stored as the body's window: the same arrays once read, files of either kind
    # read alike, so outputs made before stay valid: no new version)

    def run(self, ctx: StageContext) -> StageResult:
        import numpy as np

        from hpt_data.render.maps import face_points, render_maps
        from hpt_data.render.preview_maps import TILE, maps_sheet, write_sheet

        s: RenderMapsSettings = self.settings
        fits = Fits.read(ctx.inputs["fit-smpl"])
        model = body_model_for(fits, ctx.inputs["fit-smpl"])
        previous = PreviousOutput(ctx.previous)

        def reuse(prev: FittedFrame, fid: str) -> bool:
            rel = Maps.file_for(fid)
            return prev.file == rel and previous.reuse(rel, ctx.out_dir)

        entries, todo = plan_frames(fits, previous, ctx.out_dir, reuse, FittedFrame)
        counts: Counter[str] = Counter()
        previews = 0
        for row, verts, joints in posed_frames(fits, todo):
            cam, dist = fits.camera[row], float(fits.camera_distance[row])
            points = np.concatenate([joints, face_points(model, verts)])
            rendered = [
                render_maps(verts, model.faces, model.part_labels, points, cam, size, k == 0, dist)
                for k, size in enumerate(s.sizes)
            ]
            flags = sorted({f for m in rendered for f in m.flags})
            entry = entries[row]
            entry.flags = flags
            counts.update(flags)
            if FATAL_FLAGS.intersection(flags):
                entry.reason = flag_reason(flags)
                continue
            fine = rendered[0]
            rel = Maps.file_for(fits.frame_ids[row])
            FrameMaps.from_rendered(rendered).write(ctx.out_dir / rel)
            entry.ok, entry.file, entry.reason = True, rel, flag_reason(flags)
            if previews < s.previews:
                heat = fine.heatmaps(TILE if fine.size % TILE == 0 else None)
                sheet = maps_sheet(
                    fine.parsing, fine.depth, heat, fine.part_masks, boxes=fine.boxes
                )
                name = safe_name(fits.frame_ids[row])
                write_sheet(ctx.out_dir / "preview" / f"{name}.png", sheet)
                previews += 1
        rendered = sum(e.ok for e in entries)
        if rendered == 0:
            raise StageError(
                f"{ctx.inputs['fit-smpl'] / Fits.ARRAYS}: no frame to render "
                f"({len(entries)} frames, {int(fits.ok.sum())} fitted)"
            )
        Maps(list(s.sizes), list(LAYERS), entries).write(ctx.out_dir)
        metrics: dict[str, Any] = {
            "frames": len(entries),
            "rendered": rendered,
            "skipped": len(entries) - rendered,
        }
        metrics.update({f"flagged_{f}": k for f, k in sorted(counts.items())})
        return StageResult(metrics)
