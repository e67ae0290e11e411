"""DESIGN.md's import rule: hpt_model imports nothing of hpt_data but the shard package,
and never the data-only dependencies, so a GPU training node needs none of them."""

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
        "hpt_data.errors",
        "hpt_data.shards",
        "hpt_data.shards.reading",
        "hpt_data.shards.schema",
    }, ours
    for heavy in ("mediapipe", "pyrender", "anny", "smplx", "trimesh", "OpenGL", "torchvision"):
        assert heavy not in loaded, heavy
