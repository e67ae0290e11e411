"""What each stage leaves in a video's work folder, as typed objects: one reader and one
writer per stage output, shared by the stage that writes it and by everything that reads
it (the later stages, ``hpt_data.gather``, ``hpt_data.preview``, ``pipelines``), so that a
file's layout is written down, and parsed, in one place.

| stage | object | files (relative to ``<video>/<stage>/``) |
| --- | --- | --- |
| ``sample-frames`` | :class:`Frames` | ``frames.json``, ``frames/<index>.png`` (or ``.jpg``) |
| ``remove-bg`` | :class:`Crops` | ``frames.json``, ``image/``, ``alpha/``, ``mask/<index>.png`` |
| ``pose2d`` | :class:`Pose2D` | ``frames.json``, ``pose2d.npz`` |
| ``fit-smpl`` | :class:`Fits` | ``fits.npz`` (``fit.json``, ``preview.png``: for people) |
| ``render-maps`` | :class:`Maps`, :class:`FrameMaps` | ``frames.json``, ``maps/<frame_id>.npz`` |
| ``voxelize`` | :class:`Volumes`, :class:`FrameVolume` | ``frames.json``, ``voxels/``, binvox |

``X.read(folder)`` raises :class:`~hpt_data.errors.StageError` with a one-line reason when
a file is missing or malformed, and remembers ``folder`` so that the per-frame files can
be read through it (``crops.image(crop)``). ``x.write(folder)`` is byte-for-byte
deterministic (sorted JSON keys, ``.npz`` without time stamps): an output that is redone
equals the one it replaces, so the later stages stay up to date. Reading and writing an
output gives back the same bytes: nothing is dropped, cast or rounded on the way.

Frame ids: ``sample-frames``, ``remove-bg`` and ``pose2d`` name a frame by its ``index``
in the source; ``fit-smpl`` and later by ``frame_id``, the index as six digits
(:func:`frame_id`).
"""

from __future__ import annotations

from hpt_data.stages._frames_io import INDEX
from hpt_data.stages.outputs._common import frame_id, safe_name
from hpt_data.stages.outputs.drawn import (
    FittedFrame,
    FrameMaps,
    FrameVolume,
    Maps,
    VolumeFrame,
    Volumes,
)
from hpt_data.stages.outputs.frames import Crop, Crops, Frames, SampledFrame, SourceFacts
from hpt_data.stages.outputs.pose import Fits, Pose2D, PoseFrame

__all__ = [
    "INDEX",
    "Crop",
    "Crops",
    "Fits",
    "FittedFrame",
    "FrameMaps",
    "FrameVolume",
    "Frames",
    "Maps",
    "Pose2D",
    "PoseFrame",
    "SampledFrame",
    "SourceFacts",
    "VolumeFrame",
    "Volumes",
    "frame_id",
    "safe_name",
]
