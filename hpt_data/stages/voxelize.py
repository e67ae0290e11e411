"""``voxelize``: every fitted frame's posed mesh as a solid grid of part labels (§III-B).

The grid is BodyNet's ground truth made without binvox's slow carving: a purpose-built
winding-number fill (:func:`hpt_data.voxel.voxelize`), ``labels[z, y, x]`` of shape
(64, 256, 256): x and y the 1024 crop at 1/4, projected exactly as ``render-maps``' pixels
(the fit's ``camera`` and ``camera_distance`` about the frame's pelvis), z 64 bins over the
body's depth range. Formats and frame: ``docs/maps_and_volumes.md``.

Output folder::

    frames.json             per fitted frame: frame_id, row, ok, flags, reason, file,
                            binvox (folder or null)
    voxels/<frame_id>.npz   labels (64, 256, 256) uint8; z0, dz () float64 (bin k spans
                            z0 + [k, k+1)·dz metres); camera (3,) float64;
                            camera_distance, ref_z () float64 (the perspective about the
                            pelvis at depth ref_z; 0 = weak perspective); labels are
                            stored as the body's window (labels_window: origin and full
                            shape), read back whole
    binvox/<frame_id>/      body.binvox and one <part>.binvox per part: cubic 256³ grids
                            with cubic voxels of the xy pitch (binvox has one scale); only
                            with ``binvox`` (``keep: all``): no later stage reads them
    preview/<frame_id>.png  the volume's three projections and S, D projected along z

Frames whose fit failed or with a fatal flag are recorded as skipped with their reason.
The files are read and written through :class:`hpt_data.stages.outputs.Volumes` and
:class:`~hpt_data.stages.outputs.FrameVolume`; the per-frame loop is shared with
``render-maps`` (:mod:`hpt_data.stages.posed_frames`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from hpt_data.errors import StageError
from hpt_data.render.mesh_checks import FATAL_FLAGS
from hpt_data.stages._frames_io import PreviousOutput
from hpt_data.stages.base import Stage, StageContext, StageResult
from hpt_data.stages.outputs import Fits, FrameVolume, VolumeFrame, Volumes, safe_name
from hpt_data.stages.posed_frames import body_model_for, flag_reason, plan_frames, posed_frames


@dataclass(frozen=True)
class VoxelizeSettings:
    """Keys under ``stages: voxelize:`` in ``datasets.yaml``."""

    xy_size: int = 256  # the 1024 crop at 1/4 (DESIGN.md)
    z_bins: int = 64  # §III-B: 256 × 256 × 64
    binvox: bool = False  # also write .binvox files (body and parts; keep: all turns on)
    binvox_size: int = 256  # side of the cubic .binvox grids
    previews: int = 3  # preview sheets for the first N frames

    def __post_init__(self) -> None:
        if min(self.xy_size, self.z_bins, self.binvox_size) <= 0:
            raise ValueError("xy_size, z_bins and binvox_size must be positive")
        if self.previews < 0:
            raise ValueError(f"previews must be >= 0, got {self.previews}")


class Voxelize(Stage):
    """A (64, 256, 256) part-label volume (and .binvox files) per fitted frame."""

    name = "voxelize"
    requires = ("fit-smpl",)
    Settings = VoxelizeSettings
    version = 2  # 2: columns follow fits.npz's camera_distance (perspective about the pelvis)
    # (labels stored as the body's window: the same grid once read, files of either kind
    # read alike, so outputs made before stay valid: no new version)
    extra_files = ("binvox",)

    def run(self, ctx: StageContext) -> StageResult:
        from hpt_data.render.preview_maps import maps_sheet, write_sheet
        from hpt_data.voxel import project_volume, voxelize
        from hpt_data.voxel.binvox import cubic_grid, write_part_binvox

        s: VoxelizeSettings = self.settings
        fits = Fits.read(ctx.inputs["fit-smpl"])
        model = body_model_for(fits, ctx.inputs["fit-smpl"])
        previous = PreviousOutput(ctx.previous)
        entries, todo = plan_frames(
            fits,
            previous,
            ctx.out_dir,
            lambda prev, _fid: self._reuse(prev, previous, ctx),
            VolumeFrame,
        )
        counts: Counter[str] = Counter()
        previews = 0
        for row, verts, joints in posed_frames(fits, todo):
            cam, dist = fits.camera[row], float(fits.camera_distance[row])
            ref_z = float(joints[0, 2])
            fid = fits.frame_ids[row]
            grid = voxelize(
                verts,
                model.faces,
                model.part_labels,
                cam,
                s.xy_size,
                s.z_bins,
                distance=dist,
                ref_z=ref_z,
            )
            entry = entries[row]
            flags = list(grid.flags)
            if FATAL_FLAGS.intersection(flags):
                entry.flags, entry.reason = flags, flag_reason(flags)
                counts.update(flags)
                continue
            rel = Volumes.file_for(fid)
            FrameVolume(
                grid.labels, grid.z0, grid.dz, grid.camera, grid.distance, grid.ref_z
            ).write(ctx.out_dir / rel)
            entry.ok, entry.file = True, rel
            if s.binvox:
                cubic = cubic_grid(
                    verts, model.faces, model.part_labels, cam, s.binvox_size, dist, ref_z
                )
                flags = sorted(set(flags) | set(cubic.flags))
                entry.binvox = Volumes.binvox_for(fid)
                write_part_binvox(ctx.out_dir / entry.binvox, cubic)
            entry.flags, entry.reason = flags, flag_reason(flags)
            counts.update(flags)
            if previews < s.previews:
                parsing, depth = project_volume(grid.labels, grid.z0, grid.dz)
                sheet = maps_sheet(
                    parsing, depth, None, volume=grid.labels, volume_z_scale=grid.dz / grid.pitch_xy
                )
                write_sheet(ctx.out_dir / "preview" / f"{safe_name(fid)}.png", sheet)
                previews += 1
        done = sum(e.ok for e in entries)
        if done == 0:
            raise StageError(
                f"{ctx.inputs['fit-smpl'] / Fits.ARRAYS}: no frame to voxelize "
                f"({len(entries)} frames, {int(fits.ok.sum())} fitted)"
            )
        Volumes([s.z_bins, s.xy_size, s.xy_size], entries).write(ctx.out_dir)
        metrics: dict[str, Any] = {"frames": len(entries), "voxelized": done}
        metrics["skipped"] = len(entries) - done
        metrics.update({f"flagged_{f}": k for f, k in sorted(counts.items())})
        return StageResult(metrics)

    @staticmethod
    def _reuse(prev: VolumeFrame, previous: PreviousOutput, ctx: StageContext) -> bool:
        """Reuse a frame's files from the previous output when all are intact."""
        if not prev.file:
            return False
        files = [prev.file]
        if prev.binvox:
            files += [k for k in previous.sizes if k.startswith(prev.binvox + "/")]
        if not all(previous.intact(f) for f in files):
            return False
        return all(previous.reuse(f, ctx.out_dir) for f in files)
