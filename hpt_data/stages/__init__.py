"""The per-video stages, in pipeline order.

``STAGES`` is the one list the CLI, the config loader and ``build`` read.
"""

from __future__ import annotations

from hpt_data.errors import HptError
from hpt_data.stages.base import NoSettings, Stage, StageContext, StageResult
from hpt_data.stages.fit_smpl import FitSMPL
from hpt_data.stages.pose2d import Pose2D
from hpt_data.stages.remove_bg import RemoveBackground
from hpt_data.stages.render_maps import RenderMaps
from hpt_data.stages.sample_frames import SampleFrames
from hpt_data.stages.voxelize import Voxelize

STAGES: tuple[type[Stage], ...] = (
    SampleFrames,
    RemoveBackground,
    Pose2D,
    FitSMPL,
    RenderMaps,
    Voxelize,
)

STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)


def stage_class(name: str) -> type[Stage]:
    for cls in STAGES:
        if cls.name == name:
            return cls
    raise HptError(f"unknown stage '{name}' (stages: {', '.join(STAGE_NAMES)})")


__all__ = [
    "STAGES",
    "STAGE_NAMES",
    "NoSettings",
    "Stage",
    "StageContext",
    "StageResult",
    "stage_class",
]
