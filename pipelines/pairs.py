"""A (source photo, target pose) pair as one :class:`~hpt_model.data.PairDataset` item.

The model reads pairs in one format only (``hpt_model/data/pairs.py``): ``source_<field>``
and ``target_<field>`` compact tensors of the shard schema's fields. Here the fields are
made the way the data toolkit makes them for shards, by the same functions:

- the maps: :func:`hpt_data.render.maps.render_target_maps` at 1024 (with the layer boxes
  and complete part maps) and 512, turned into ``render-maps``' per-frame output by
  :meth:`hpt_data.stages.outputs.FrameMaps.from_rendered` and into shard fields by
  :meth:`~hpt_data.stages.outputs.FrameMaps.shard_fields` (parsing, depth, their 512
  versions, joints2d, part_boxes, layer masks), as ``write-shards`` does;
- the tensors: the PairDataset's own field conversion.

§III-B: the target maps show the *source's* shape (betas) in the *target* pose, under the
*source's* camera (scale, centre and the fit's ``camera_distance``: the perspective
about the pelvis, :mod:`hpt_data.body.weak_perspective`), so the target person stands
where the source stands, at the source's size, foreshortened as the source's camera would
show them. ``target_image`` is black: there is no ground
truth at inference. ``target_voxel_z`` is the depth frame of the target body (the 64-bin
grid of ``voxelize``), used by Ours-V to put the volume's depth in metres.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpt_data.errors import HptError
from hpt_data.shards.schema import COARSE, CROP, VOXELS
from pipelines.perceive import Perception


@functools.cache
def body_model(path: str = "") -> Any:
    """The body model of a fit (``""``: the built-in one), loaded once per process."""
    from hpt_data.body import load_body_model

    return load_body_model(path or None)


@dataclass
class RenderedPose:
    """The shard fields of one posed body and its 1024 maps (for previews and tests)."""

    fields: dict[str, np.ndarray]
    maps: Any  # hpt_data.render.maps.Maps at 1024


def render_pose(
    body: Any,
    betas: np.ndarray,
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    camera: np.ndarray,
    distance: float = 0.0,
) -> RenderedPose:
    """The shard's map fields (and ``voxel_z``) of ``body`` with this shape and pose under
    ``camera`` and ``distance`` (metres to the pelvis; 0 = weak perspective). HptError when
    the pose cannot be rendered (the body leaves the crop, ...)."""
    from hpt_data.render.maps import render_target_maps
    from hpt_data.render.mesh_checks import FLAG_TEXT
    from hpt_data.stages.outputs import FrameMaps

    fine = render_target_maps(
        body, betas, global_orient, body_pose, camera, CROP, layers=True, distance=distance
    )
    if not fine.usable:
        reasons = "; ".join(FLAG_TEXT.get(f, f) for f in fine.flags)
        raise HptError(f"the pose cannot be rendered in the source's frame: {reasons}")
    coarse = render_target_maps(
        body, betas, global_orient, body_pose, camera, COARSE, layers=False, distance=distance
    )
    fields = FrameMaps.from_rendered([fine, coarse]).shard_fields()
    z_lo, z_hi = fine.z_range  # the posed body's depth range: voxelize's default z frame
    fields["voxel_z"] = np.array([z_lo, (z_hi - z_lo) / VOXELS[0]], np.float32)
    return RenderedPose(fields, fine)


def source_fields(source: Perception, body: Any) -> tuple[dict[str, Any], RenderedPose]:
    """The PairDataset's source fields of a perceived photo, and its own rendered maps
    (whose part boxes give the source's part crops, as the shards' do)."""
    rendered = render_pose(
        body,
        source.betas,
        source.global_orient,
        source.body_pose,
        source.camera,
        source.camera_distance,
    )
    fields = {
        "image": source.image,
        "mask": source.mask,
        "part_boxes": rendered.fields["part_boxes"],
        "person_id": "source",
        "frame_id": "source",
    }
    return fields, rendered


def target_fields(
    source: Perception,
    body: Any,
    body_pose: np.ndarray,
    global_orient: np.ndarray,
    label: str,
) -> tuple[dict[str, Any], RenderedPose]:
    """The PairDataset's target fields: the source's shape in the target pose under the
    source's camera and camera distance (§III-B)."""
    rendered = render_pose(
        body, source.betas, global_orient, body_pose, source.camera, source.camera_distance
    )
    fields = dict(rendered.fields)
    fields.update(
        image=np.zeros((CROP, CROP, 3), np.uint8),
        body_pose=np.asarray(body_pose, np.float32).reshape(69),
        global_orient=np.asarray(global_orient, np.float32).reshape(3),
        betas=np.asarray(source.betas, np.float32),
        camera=np.asarray(source.camera, np.float32),
        camera_distance=np.float32(source.camera_distance),
        frame_id=label,
    )
    return fields, rendered


def make_item(source: dict[str, Any], target: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """One PairDataset item from source and target fields (the dataset's own conversion)."""
    from hpt_model.data import field_to_tensor

    item = {f"target_{k}": field_to_tensor(k, v) for k, v in target.items()}
    item.update({f"source_{k}": field_to_tensor(k, v) for k, v in source.items()})
    item["index"] = index
    return item
