"""The learning check of issue 9 on pairs the data chain really made: the tiny synthetic
dataset (``conftest.tiny_dataset``: rendered people through MediaPipe, the fitter, the map
renderer and the shard writer), not the blocky learnable records of ``train_records``.

Each stage, trained in the paper's order for a few dozen steps on the handful of training
pairs, must end well below its starting reconstruction error and below copying the source
frame. The perceptual network is ``TinyFeatures`` (VGG-19's weights cannot be had here, and
with random weights it costs seconds a step and teaches nothing), so this checks that the
networks, inputs and losses learn from real maps, not the paper's figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_records import learn_every_stage, small_config

from hpt_model.config import HPTConfig
from hpt_model.data import PairDataset
from hpt_model.training import TrainSettings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

# stage → (steps, required end/start ratio). Consecutive frames of one clip are close, so
# copying the source is a strong baseline (L1 ≈ 0.04 at the coarse and fine sizes): the
# coarse and fine stages get more steps than on the blocky records, and the rate is 1e-3
# (the paper's 2e-4 gets there too, in more steps than a CPU test affords).
PLAN: dict[str, tuple[int, float]] = {
    "coarse": (300, 0.6),
    "face": (80, 0.6),
    "arm": (80, 0.6),
    "leg": (80, 0.6),
    "fine": (300, 0.6),
    "e2e": (50, 0.9),
}


def _settings(stage: str, out: Path) -> TrainSettings:
    return TrainSettings(
        stage=stage,
        out=out,
        tensorboard=False,
        progress=False,
        num_workers=0,
        device="cpu",
        batch_size=2,
    )


def test_every_stage_learns_on_pairs_the_data_chain_made(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    shards = tiny_dataset.parent / "work" / "tiny" / "shards"
    pairs = PairDataset(shards, "train")
    assert 3 <= len(pairs) <= 8, len(pairs)  # a handful of real pairs of one person
    items = [pairs[i] for i in range(len(pairs))]  # read once: decoding 1024² frames dominates
    data = small_config().to_dict()
    data["optim"]["lr"] = 1e-3
    torch.manual_seed(0)
    figures = learn_every_stage(items, HPTConfig.from_dict(data), tmp_path, _settings, PLAN)
    for stage, fig in figures.items():
        ratio = PLAN[stage][1]
        assert fig["end"] < ratio * fig["start"], (stage, fig)
        assert fig["end"] < 0.9 * fig["copy_source"], (stage, fig)
