"""Stages that later issues build. They are registered so that the CLI, the config and
``build`` know the whole pipeline, and they refuse to run: nothing pretends to work."""

from __future__ import annotations

from hpt_data.errors import NotImplementedYet
from hpt_data.stages.base import Stage, StageContext, StageResult


class PlannedStage(Stage):
    def run(self, ctx: StageContext) -> StageResult:
        raise NotImplementedYet(f"stage '{self.name}' is not implemented yet ({self.planned_in})")
