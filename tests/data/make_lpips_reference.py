"""Reference LPIPS distances from the official ``lpips`` package, for tests/test_metrics.py.

Run in a throwaway venv OUTSIDE the project's (the official package needs torchvision,
which does not import beside the project's CPU torch)::

    python3.11 -m venv /tmp/lpips-ref
    /tmp/lpips-ref/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy==1.26.4 \
        lpips==0.1.4 torchmetrics==1.9.0
    /tmp/lpips-ref/bin/python tests/data/make_lpips_reference.py   # from the repo root

It builds the official ``lpips.LPIPS(net=...)`` for ``alex`` and ``vgg`` with its own v0.1
linear heads and, in place of the ImageNet backbone (not downloadable here), the
deterministic weights of ``tests/lpips_reference.make_backbone_state`` loaded through
torchvision's own ``alexnet()`` / ``vgg16()`` (so the key layout is torchvision's). It
checks that the package's heads equal torchmetrics' copies (which the project loads), then
writes the distances on ``make_image_pairs()`` (float64 and float32) to
``tests/data/lpips_reference.json`` with the versions used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import importlib.util
import json
import platform
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from lpips_reference import (  # noqa: E402
    BACKBONE_SEEDS,
    IMAGE_SEED,
    make_backbone_state,
    make_image_pairs,
)

OUT = HERE / "lpips_reference.json"
PACKAGES = ("torch", "torchvision", "lpips", "torchmetrics", "numpy")
COMMAND = "/tmp/lpips-ref/bin/python tests/data/make_lpips_reference.py"


def heads_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the five heads' float32 bytes, lin0..lin4."""
    h = hashlib.sha256()
    for k in range(5):
        h.update(state[f"lin{k}.model.1.weight"].float().contiguous().numpy().tobytes())
    return h.hexdigest()


def torchmetrics_heads(net: str) -> dict[str, torch.Tensor]:
    spec = importlib.util.find_spec("torchmetrics")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "functional" / "image" / "lpips_models" / f"{net}.pth"
    return torch.load(path, map_location="cpu", weights_only=True)


def official_model(net: str):
    """The official LPIPS with the generated backbone; returns (model, heads digest)."""
    import lpips
    import torchvision

    model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    tv = torchvision.models.alexnet() if net == "alex" else torchvision.models.vgg16()
    state = {
        k: torch.from_numpy(v) for k, v in make_backbone_state(net, BACKBONE_SEEDS[net]).items()
    }
    expected = {k for k in tv.state_dict() if k.startswith("features.")}
    if set(state) != expected:
        raise SystemExit(f"generated keys differ from torchvision's: {set(state) ^ expected}")
    tv.features.load_state_dict({k[len("features.") :]: v for k, v in state.items()}, strict=True)
    # the package's slices hold torchvision's feature modules under their own indices
    for slice_name in [n for n in dict(model.net.named_children()) if n.startswith("slice")]:
        for idx, module in getattr(model.net, slice_name).named_children():
            module.load_state_dict(tv.features[int(idx)].state_dict())
    ours = torchmetrics_heads(net)
    theirs = {k: v for k, v in model.state_dict().items() if k.startswith("lin")}
    for k in range(5):
        key = f"lin{k}.model.1.weight"
        if not torch.equal(ours[key], theirs[key]):
            raise SystemExit(f"{net}: {key} differs between lpips and torchmetrics")
    return model.eval(), heads_digest(ours)


def main() -> None:
    torch.set_num_threads(1)
    pairs = make_image_pairs(IMAGE_SEED)
    result: dict = {
        "command": COMMAND,
        "versions": {
            "python": platform.python_version(),
            **{
                p: md.version(p) for p in ("torch", "torchvision", "lpips", "torchmetrics", "numpy")
            },
        },
        "image_seed": IMAGE_SEED,
        "backbone_seeds": BACKBONE_SEEDS,
        "heads_equal_torchmetrics": True,
        "heads_sha256": {},
        "distances_float64": {},
        "distances_float32": {},
    }
    for net in ("alex", "vgg"):
        model, digest = official_model(net)
        result["heads_sha256"][net] = digest
        for key, dtype in (
            ("distances_float64", torch.float64),
            ("distances_float32", torch.float32),
        ):
            m = model.to(dtype)
            with torch.no_grad():
                d = [
                    m(torch.from_numpy(x).to(dtype), torch.from_numpy(y).to(dtype))
                    .flatten()
                    .tolist()
                    for x, y in pairs
                ]
            result[key][net] = d
        print(net, result["distances_float64"][net])
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
