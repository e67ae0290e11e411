"""Image-quality metrics of the evaluation (§IV-C, Tab. II-IV): SSIM and LPIPS.

- :func:`hpt_model.metrics.ssim.ssim`: per-image SSIM through torchmetrics;
- :func:`hpt_model.metrics.lpips.load_lpips`: LPIPS v0.1 (AlexNet or VGG-16) written without
  torchvision, official backbone weights from a path or torch hub's cache.

Occlusion State Accuracy needs the body model and the renderer, so it lives in
``pipelines/occlusion/``. Importing this package imports neither torchmetrics nor
torchvision: import the submodule you need. See ``docs/evaluation.md``.
"""

from hpt_model.errors import MissingWeightsError, WeightsFileError

__all__ = ["MissingWeightsError", "WeightsFileError"]
