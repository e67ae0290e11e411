"""SMPLify-style fitting of an SMPL-layout body to 2D landmarks and a silhouette.

A library (no stage, source or CLI imports): ``losses`` (pure torch terms), ``landmarks``
(MediaPipe-33 -> model points), ``kinematics`` (a lean forward pass), ``silhouette``
(distance-transform term), ``fitter`` (the staged optimiser), ``metrics`` (MPJPE,
PA-MPJPE, reprojection, IoU, hinge angles), ``overlay`` (preview drawing). See
``docs/fit_smpl.md``.
"""
