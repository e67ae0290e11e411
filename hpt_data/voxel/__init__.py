"""Solid voxel grids of posed bodies: voxelization, projection to maps, ``.binvox`` files.

See ``docs/maps_and_volumes.md`` for the grid's frame.
"""

from __future__ import annotations

from hpt_data.voxel.project import project_volume
from hpt_data.voxel.voxelize import VoxelGrid, depth_range, voxelize

__all__ = ["VoxelGrid", "depth_range", "project_volume", "voxelize"]
