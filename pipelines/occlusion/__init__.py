"""Occlusion State Accuracy (OSA, §IV-C): does a generated person show the same body part in
front wherever two parts overlap in the image?

The paper fits a body model to the generated image and compares "the occlusion states for
different body components" with the ground truth, without a precise rule. This module is
that rule (written out in ``docs/evaluation.md``):

1. **Part layers.** Each of the 6 parts (1 head, 2 torso, 3/4 left/right arm, 5/6 left/right
   leg; per-vertex labels of :mod:`hpt_data.body.parts`) is rendered *alone* with its depth,
   in the crop's frame through the camera of :mod:`hpt_data.body.weak_perspective`
   (``(s, tx, ty)`` and the fit's ``camera_distance`` about the pelvis, 0 = weak
   perspective: each body drawn the way it was fitted), at ``size`` × ``size`` pixels
   (default 256), by the
   project's exact rasteriser and z-buffer (:mod:`hpt_data.render.raster`,
   :func:`hpt_data.render.maps.zbuffer`). A face takes its vertices' majority label.
2. **Overlap.** Parts ``i < j`` overlap at a pixel centre that both silhouettes cover,
   except where the parts merely meet: for parts joined on the mesh (head–torso and
   torso–each limb), a pixel whose nearer surface point lies within ``junction_radius``
   (default 10 cm) of the seam between the two parts does not count. Every part joined to
   the torso overlaps it around the joint whatever the pose (the limb's root hides some of
   the torso behind it); without this rule that constant overlap would decide the state of
   an arm lying across the chest and of an arm hanging at the side alike. The pair
   *overlaps* when at least ``min_overlap`` pixels count (default ``MIN_OVERLAP_FRACTION``
   of the image: 8 pixels at 256).
3. **State.** An overlapping pair's state is ``+1`` when part ``i`` is nearer the camera on
   more counted pixels than ``j`` (``-1`` the other way round); an exact tie goes to the
   part with the smaller mean depth over them, then to ``i``. A pair that does not overlap
   is ``0`` ("apart").
4. **Accuracy.** OSA of a prediction against the ground truth is the fraction of the pairs
   that overlap in *either* body whose states are equal (a pair that overlaps in one body
   only counts, and disagrees). With no such pair the image has no occlusion to judge: its
   OSA is NaN and a test-set mean (:func:`summarize_osa`) leaves it out, counting it.

The modules, one step each:

- :mod:`~pipelines.occlusion.body`: :class:`~pipelines.occlusion.body.BodyParams` (a posed
  body and its camera), posing it through a body model, and
  :func:`~pipelines.occlusion.body.mirror_smpl`, the body seen in the left↔right flipped
  image (the test that the metric can fail);
- :mod:`~pipelines.occlusion.part_layers`: step 1, each part rendered alone;
- :mod:`~pipelines.occlusion.states`: steps 2 and 3, ``occlusion_states`` (posed vertices
  + camera) and ``occlusion_states_smpl`` (body-model parameters + camera) →
  ``OcclusionStates``;
- :mod:`~pipelines.occlusion.accuracy`: step 4, ``occlusion_state_accuracy`` (prediction,
  ground truth) → float, ``summarize_osa`` and ``osa_over_set`` over many pairs.

The image-level metric is :func:`pipelines.evaluate.image_osa`: it fits the generated image
in its own frame with the single-image perception and fit of ``pipelines/perceive.py`` and
compares with the target frame's ground-truth fit; the generated image is the target crop,
so both cameras live in the same normalised frame.

A generated image in which no person is found (``PerceptionError``) should score 0, not be
skipped, so that a generator cannot gain by producing unrecognisable people.
"""
