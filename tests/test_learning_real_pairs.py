"""The learning check on pairs the data chain really made: the tiny synthetic dataset
(``conftest.tiny_dataset``: rendered people through MediaPipe, the fitter, the map
renderer and the shard writer; one person trains, the other is held out), not the blocky
learnable records of ``train_records``.

Each stage is trained in the paper's order for a few dozen steps on the training person's
pairs (``train_records.REAL_PAIRS_STEPS``). The perceptual network is ``TinyFeatures``
(VGG-19's weights cannot be had here, and with random weights it costs seconds a step and
teaches nothing), so this checks that the networks, inputs and losses learn from real maps,
not the paper's figures.

Bounds. ``benchmarks/learning_check.py`` trains this plan over 5 seeds at 1 and 2 torch
threads and writes the spread to ``benchmarks/results/learning_check.json``; every bound
below sits at least 15 % beyond the worst ratio measured there, so rounding (another CPU,
other kernels, another thread count, a detector landmark a pixel off) cannot flip the
verdict. The worst ratios are quoted beside each bound.

What one training person does not give: on the held-out person no stage beats copying the
source frame (held-out error / copy-source 1.0–1.4 for coarse and fine, 2–4 for the face
and leg layers). The held-out check is therefore that training on one person's pairs still
takes the other person's error far below the untrained network's for the coarse stage,
and that the fine stage, which starts from Eq. 6's İ_t (its offset generator starts near
the identity, ``generators.offset_init_std``), does not make it much worse. Beating
copying on a new person needs more people to train on (measured on the blocky records: 2
people give e2e 0.81-0.88x copy-source on a third, 6 people 0.60-0.78x); that check is not
in the suite yet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_records import (
    REAL_PAIRS_STEPS,
    learn_every_stage,
    real_pairs_config,
    real_pairs_settings,
)

from hpt_model.data import PairDataset

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

# stage → bound on end / copy-the-source over the training pairs (worst measured in brackets;
# re-measured after the offset generators' near-identity start: fine and e2e now end far
# below copying, as they start from İ_t instead of noise)
TRAIN_OVER_COPY = {
    "coarse": 0.75,  # [0.55]
    "face": 0.6,  # [0.37]
    "arm": 0.6,  # [0.25]
    "leg": 0.75,  # [0.50]
    "fine": 0.6,  # [0.47] (was 1.0 at [0.92] when the fine generator started as noise)
    "e2e": 0.6,  # [0.42] (was 0.95 at [0.83])
}
# stage → bound on end / start over the training pairs; a layer or the fine stage starts from
# the image it refines (the coarse crop, İ_t), so end/start is what it adds over its input
TRAIN_OVER_START = {
    "coarse": 0.1,  # [0.02]
    "face": 0.4,  # [0.25]
    "arm": 0.4,  # [0.27]
    "leg": 0.4,  # [0.34]
    "fine": 0.6,  # [0.48]
    "e2e": 1.15,  # [0.98]: fine-tuning everything together does not undo the fine stage
}
# stage → bound on end / start over the held-out person's pairs
HELD_OUT_OVER_START = {
    "coarse": 0.3,  # [0.14]
    "fine": 1.15,  # [0.99]: from İ_t, trained on one person, it leaves a new one about as it was
}


def test_every_stage_learns_on_pairs_the_data_chain_made(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    shards = tiny_dataset.parent / "work" / "tiny" / "shards"
    train, test = PairDataset(shards, "train"), PairDataset(shards, "test")
    assert 3 <= len(train) <= 8 and 3 <= len(test) <= 8, (len(train), len(test))
    assert set(train.frames.person_ids).isdisjoint(test.frames.person_ids)
    items = [train[i] for i in range(len(train))]  # read once: decoding 1024² frames dominates
    held_out = [test[i] for i in range(len(test))]
    torch.manual_seed(0)
    figures = learn_every_stage(
        items,
        real_pairs_config(),
        tmp_path,
        real_pairs_settings,
        REAL_PAIRS_STEPS,
        held_out=held_out,
    )
    for stage, fig in figures.items():
        assert fig["end"] < TRAIN_OVER_COPY[stage] * fig["copy_source"], (stage, fig)
        assert fig["end"] < TRAIN_OVER_START[stage] * fig["start"], (stage, fig)
    for stage, bound in HELD_OUT_OVER_START.items():
        fig = figures[stage]
        assert fig["held_out_end"] < bound * fig["held_out_start"], (stage, fig)
