"""Labels and ground truth of a clip with several people (``people_per_clip`` > 1).

One label render of every body together gives each pixel to the nearest surface, so the
per-person masks are disjoint by construction where one person hides another: a vertex
of person k carries the label ``8 k + part``, read back as instance ``k + 1`` and part.
Each body is also rendered alone to count its unhidden (amodal) pixels, so a benchmark can
tell a person mostly hidden from one in full view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hpt_data.render.camera import project
from hpt_data.sources.synthetic.crowd import ROLES, other_person_id

#: Label stride between people in the joint label render (parts are 1..6).
PERSON_STRIDE = 8

#: (vertices (T, V, 3), joints (T, 24, 3), colors (V, 3), offsets (V,) or None, action)
PosedBody = tuple[np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None", str]


def label_people(
    dressed: Sequence[np.ndarray], faces: np.ndarray, labels: np.ndarray, cam: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One frame's labels of several dressed bodies (each (V, 3), world).

    Returns
    -------
    vertices : (P V, 3) all bodies together (for the shadows)
    parts : (H, W) uint8, the performer's (person 0's) visible part labels
    instance : (H, W) uint8, 0 nobody, k + 1 where person k is the nearest surface
    amodal : (P,) int, each person's pixel count when rendered alone
    """
    from hpt_data.render.scene import render_labels

    w, h = cam.width, cam.height
    verts = np.concatenate(list(dressed))
    labs = np.concatenate([labels + PERSON_STRIDE * k for k in range(len(dressed))])
    n = len(dressed[0])
    faces_all = np.concatenate([faces + k * n for k in range(len(dressed))])
    joint = render_labels(verts, faces_all, labs, cam.K, cam.world_to_cam, w, h)
    instance = np.where(joint > 0, joint // PERSON_STRIDE + 1, 0).astype(np.uint8)
    parts = np.where(instance == 1, joint, 0).astype(np.uint8)
    amodal = np.array(
        [
            int(np.count_nonzero(render_labels(d, faces, labels, cam.K, cam.world_to_cam, w, h)))
            for d in dressed
        ]
    )
    return verts, parts, instance, amodal


def people_truth(
    video_id: str,
    person_id: str,
    bodies: Sequence[tuple[np.ndarray, np.ndarray, str]],
    landmark_ids: np.ndarray,
    instance: np.ndarray,
    amodal: np.ndarray,
    cam: Any,
) -> dict[str, np.ndarray]:
    """The ``people_*`` fields of the ground truth (``docs/synthetic.md``).

    Parameters
    ----------
    bodies : per person (performer first): vertices (T, V, 3), joints (T, 24, 3), action
    landmark_ids : (L,) vertex ids of the landmarks
    instance : (T, H, W) uint8 from :func:`label_people`; amodal : (P, T) pixel counts
    """
    p = len(bodies)
    ids = [person_id] + [other_person_id(video_id, k) for k in range(1, p)]
    joints2d = np.stack([project(b[1], cam.K, cam.world_to_cam) for b in bodies])
    k_, w2c = cam.K, cam.world_to_cam
    landmarks2d = np.stack([project(v[:, landmark_ids], k_, w2c) for v, *_ in bodies])
    boxes = []
    for verts, _, _ in bodies:
        uv = project(verts[:, ::2], cam.K, cam.world_to_cam) + 0.5  # pixel corners at 0, W
        boxes.append(np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1))
    visible = np.stack([(instance == k + 1).sum(axis=(1, 2)) for k in range(p)])
    return {
        "people_ids": np.array(ids),
        "people_roles": np.array(list(ROLES[:p])),
        "people_actions": np.array([b[2] for b in bodies]),
        "people_instance": instance,
        "people_joints2d": joints2d.astype(np.float32),
        "people_landmarks2d": landmarks2d.astype(np.float32),
        "people_boxes": np.stack(boxes).astype(np.float32),
        "people_pixels": visible.astype(np.int32),
        "people_amodal_pixels": np.asarray(amodal, np.int32),
    }
