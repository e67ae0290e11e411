"""The method of the paper as one importable unit: a shard batch → the stage inputs
(:mod:`~hpt_model.method.inputs`), then coarse → part layers → Eq. 6 → fine
(:mod:`~hpt_model.method.forward`).

Training, inference and evaluation all import it; it imports nothing of
:mod:`hpt_model.training`, so running a trained model needs no training code.
"""

from hpt_model.method.forward import (
    MethodOutput,
    eval_mode,
    final_image,
    forward_stage,
    fuse_layers,
    run_coarse,
    run_fine,
    run_layers,
    upsample,
)
from hpt_model.method.inputs import (
    LAYER_STAGES,
    STAGES,
    MapSet,
    PartInputs,
    StageInputs,
    build_stage_inputs,
    pose_3d,
    render_heatmaps,
    resize,
    stage_parts,
    target_keypoints,
    to_device,
)

__all__ = [
    "LAYER_STAGES",
    "STAGES",
    "MapSet",
    "MethodOutput",
    "PartInputs",
    "StageInputs",
    "build_stage_inputs",
    "eval_mode",
    "final_image",
    "forward_stage",
    "fuse_layers",
    "pose_3d",
    "render_heatmaps",
    "resize",
    "run_coarse",
    "run_fine",
    "run_layers",
    "stage_parts",
    "target_keypoints",
    "to_device",
    "upsample",
]
