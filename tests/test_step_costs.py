"""What makes a CPU training step cheaper without changing the method (issue 22): the
parsing one-hot counted per block, the frozen VGG-19 in bf16 on a CPU that does bf16
natively, and the per-stage step-cost benchmark kept from rotting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from train_records import TinyFeatures

from hpt_model.config import HPTConfig
from hpt_model.errors import TrainingError
from hpt_model.losses import VGGPerceptualLoss
from hpt_model.method.inputs import one_hot_parsing
from hpt_model.training.settings import TrainSettings
from hpt_model.training.trainer import StageTrainer, cpu_has_native_bf16
from hpt_model.vgg import VGG19Features

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("side", "size"), [(1024, 256), (512, 128), (256, 256), (64, 128)])
def test_parsing_one_hot_is_the_area_average_of_the_label_map(side: int, size: int) -> None:
    labels = torch.randint(0, 7, (2, side, side), dtype=torch.uint8)
    labels[:, : side // 2, : side // 3] = 3  # a block of one part: fractions of exactly 1
    onehot = F.one_hot(labels.long(), 7).permute(0, 3, 1, 2).float()
    mode = "area" if side >= size else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    expected = F.interpolate(onehot, size=(size, size), mode=mode, **kwargs)
    out = one_hot_parsing(labels, size)
    assert out.shape == (2, 7, size, size)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(out.sum(1), torch.ones(2, size, size), atol=1e-5)


def test_the_bf16_perceptual_loss_is_the_fp32_one_to_a_percent() -> None:
    torch.manual_seed(0)
    vgg = VGG19Features()
    pred = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = (torch.rand(2, 1, 32, 32) > 0.3).float()
    grads, values = [], []
    for bf16 in (False, True):
        loss = VGGPerceptualLoss(vgg, cpu_bf16=bf16)(pred, target, mask)
        (grad,) = torch.autograd.grad(loss, pred)
        assert loss.dtype == torch.float32
        values.append(float(loss.detach()))
        grads.append(grad.flatten())
    assert abs(values[1] - values[0]) <= 0.02 * abs(values[0])
    assert F.cosine_similarity(grads[0], grads[1], dim=0) > 0.95


def test_vgg_precision_is_checked_and_auto_takes_bf16_only_for_the_vgg(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="vgg_precision"):
        TrainSettings(stage="coarse", vgg_precision="fp16")
    config = HPTConfig.tiny()

    def trainer(precision: str, features) -> StageTrainer:
        settings = TrainSettings(stage="coarse", out=tmp_path, vgg_precision=precision)
        return StageTrainer(settings, config, features=features)

    assert trainer("auto", VGG19Features()).ctx.vgg_loss.cpu_bf16 == cpu_has_native_bf16()
    assert not trainer("auto", TinyFeatures()).ctx.vgg_loss.cpu_bf16
    assert not trainer("fp32", VGG19Features()).ctx.vgg_loss.cpu_bf16
    assert trainer("bf16", TinyFeatures()).ctx.vgg_loss.cpu_bf16


def test_the_step_cost_benchmark_measures_before_and_after(tmp_path: Path) -> None:
    """A seconds-long run of benchmarks/train_step_costs.py at the tiny preset (two child
    processes, ~15 s): the breakdown adds up to the step, before and after are both
    measured (the baseline is this tree's HEAD: no older history needed)."""
    out = tmp_path / "costs.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "train_step_costs.py")]
    command += ["--config", "tiny", "--threads", "1", "--steps", "1", "--stages", "arm"]
    command += ["--rounds", "1", "--baseline", "HEAD", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    versions = {x["version"]: x for x in r["rows"]}
    assert set(versions) <= {"before", "after"} and "after" in versions
    for row in versions.values():
        parts = row["parts_ms"]
        assert parts["fwd vgg"] > 0 and parts["fwd layer arm"] > 0
        assert parts["bwd vgg"] > 0 and parts["bwd rest"] >= 0
        assert sum(parts.values()) == pytest.approx(row["step_ms"], rel=1e-6)
        assert row["total_ms"] >= row["step_ms"] > 0
    if "before" in versions:  # git at hand
        assert r["summary"]["1"]["arm"]["speedup"] > 0
