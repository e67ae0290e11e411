"""DESIGN.md's import rules: hpt_model imports nothing of hpt_data but the shard package
(and the error base), and never the data-only dependencies, so a GPU training node needs
none of them; the method and inference import no training code."""

from __future__ import annotations

import json
import subprocess
import sys


def test_hpt_model_loads_only_the_shard_package_of_hpt_data() -> None:
    code = (
        "import sys, json, hpt_model.data, hpt_model.training, hpt_model.cli, "
        "hpt_model.networks, hpt_model.losses, hpt_model.vgg, hpt_model.inference, "
        "hpt_model.metrics, hpt_model.metrics.lpips, hpt_model.metrics.ssim\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    ours = {m for m in loaded if m.startswith("hpt_data")}
    assert ours <= {
        "hpt_data",
        "hpt_data.errors",  # HptError, the project's one user-facing error base
        "hpt_data.shards",
        "hpt_data.shards.pairs",  # the stored pair lists (PairDataset's pairs="stored")
        "hpt_data.shards.reading",
        "hpt_data.shards.schema",
    }, ours
    for heavy in ("mediapipe", "pyrender", "anny", "smplx", "trimesh", "OpenGL", "torchvision"):
        assert heavy not in loaded, heavy


def test_the_method_and_inference_load_no_training_code() -> None:
    """Running a trained model needs the method, the checkpoints and inference only."""
    code = (
        "import sys, json, hpt_model.inference, hpt_model.method, hpt_model.checkpoints, "
        "hpt_model.config\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {"hpt_model.inference", "hpt_model.method", "hpt_model.checkpoints"} <= loaded
    assert not sorted(m for m in loaded if m.startswith("hpt_model.training")), loaded
