"""hpt_model: the three-stage hierarchical pose-transfer generator of Wu et al. (TIP 2021).

Networks live in :mod:`hpt_model.networks`, losses in :mod:`hpt_model.losses`, the VGG-19
feature extractor in :mod:`hpt_model.vgg` and the typed configuration in
:mod:`hpt_model.config`. The method (coarse → layers → Eq. 6 → fine) is
:mod:`hpt_model.method`, which :mod:`hpt_model.training`, :mod:`hpt_model.inference` and the
evaluation share; :mod:`hpt_model.checkpoints` turns checkpoints into ready networks; the
user-facing errors are :mod:`hpt_model.errors`. Importing this package imports nothing
heavy: import the submodule you need. It never imports ``hpt_data`` (other than its shard
schema and reader, and the error base), mediapipe or pyrender.
"""

__all__: list[str] = []
