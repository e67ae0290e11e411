"""hpt_model: the three-stage hierarchical pose-transfer generator of Wu et al. (TIP 2021).

Networks live in :mod:`hpt_model.networks`, losses in :mod:`hpt_model.losses`, the VGG-19
feature extractor in :mod:`hpt_model.vgg` and the typed configuration in
:mod:`hpt_model.config`. Importing this package imports nothing heavy: import the submodule
you need. It never imports ``hpt_data`` (other than its shard schema), mediapipe or pyrender.
"""

__all__: list[str] = []
