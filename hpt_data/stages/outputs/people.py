"""``remove-bg``'s ``people.npz``: every person found in every frame, their track, and
which one the stage kept. See :mod:`hpt_data.stages.outputs`.

Rows are the people of all frames one after the other (M rows); ``count`` says how many
belong to each frame of ``frame_index`` (N frames, in ``frames.json``'s order). ``pose2d``
reads the kept person's landmarks from here instead of running Pose again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import save_npz
from hpt_data.stages.outputs._common import load_arrays, need_arrays


@dataclass
class People:
    """Every person of a video's frames (see the module doc).

    Attributes
    ----------
    frame_index : (N,) int64, the frames' source indices
    count : (N,) int64, people per frame
    kept : (N,) int64, the row (into the M rows) of the person kept in each frame, -1 none
    boxes : (M, 4) float64, x0, y0, x1, y1 source pixels (the landmarks' box; full precision:
        the tracker follows their centres)
    scores : (M, 2) float32, detector score and pose presence
    landmarks : (M, 33, 5) float32, x, y, z source pixels, visibility, presence
    rois : (M, 5) float64, the landmark region (``hpt_data.perception.people``) the
        landmarks came from (full precision: a frame redone runs the model on it again)
    track : (M,) int64, the person's track id in the video (1, 2, ...)
    crop_landmarks : (N, 33, 5) float32, the kept person's landmarks found again on their
        crop (source pixels, as ``landmarks``; more accurate than their row's), zeros in
        frames without a crop (and in outputs from before remove-bg version 3)
    next_rois : (M, 5) float64, the region each person's landmarks give for the next frame
        (``PersonDetection.next_roi``; NaN where none): a frame redone alone is followed
        from exactly where the first run followed it
    crop_world : (N, 33, 4) float32, with them the landmark model's world landmarks (x, y,
        z metres about the hips' centre in the image's axes, visibility: fit-smpl's 3D
        terms), NaN where there are none
    """

    ARRAYS: ClassVar[str] = "people.npz"
    STAGE: ClassVar[str] = "remove-bg"

    frame_index: np.ndarray
    count: np.ndarray
    kept: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    rois: np.ndarray
    track: np.ndarray
    crop_landmarks: np.ndarray | None = None
    crop_world: np.ndarray | None = None
    next_rois: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, m = len(self.frame_index), len(self.boxes)
        if len(self.count) != n or len(self.kept) != n or int(np.sum(self.count)) != m:
            raise ValueError("people: count and kept need one entry per frame, summing to rows")
        if any(len(a) != m for a in (self.scores, self.landmarks, self.rois, self.track)):
            raise ValueError("people: every per-person array needs one row per person")
        if self.crop_landmarks is None:
            self.crop_landmarks = np.zeros((n, 33, 5), np.float32)
        if self.next_rois is None:
            self.next_rois = np.full((m, 5), np.nan)
        if len(self.next_rois) != m:
            raise ValueError("people: next_rois needs one row per person")
        if self.crop_world is None:
            self.crop_world = np.full((n, 33, 4), np.nan, np.float32)
        if len(self.crop_landmarks) != n or len(self.crop_world) != n:
            raise ValueError("people: crop_landmarks and crop_world need one entry per frame")

    @property
    def starts(self) -> np.ndarray:
        """(N,) the first row of each frame."""
        return np.concatenate([[0], np.cumsum(self.count)[:-1]]).astype(np.int64)

    def rows(self, frame: int) -> range:
        """The rows of the ``frame``-th frame (position in ``frame_index``)."""
        s = int(self.starts[frame])
        return range(s, s + int(self.count[frame]))

    def kept_landmarks(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, 33, 5) the kept person's landmarks per frame (zeros where none), those
        found on the crop where there are any, and (N,) bool, whether one was kept."""
        found = self.kept >= 0
        out = np.zeros((len(self.kept), 33, 5), np.float64)
        out[found] = self.landmarks[self.kept[found]]
        on_crop = np.asarray(self.crop_landmarks)
        again = found & on_crop.reshape(len(on_crop), -1).any(axis=1)
        out[again] = on_crop[again]
        return out, found

    def kept_world(self) -> np.ndarray:
        """(N, 33, 4) the kept person's world landmarks found on the crop, NaN where none."""
        out = np.asarray(self.crop_world, np.float64).copy()
        out[self.kept < 0] = np.nan
        return out

    def write(self, folder: Path) -> None:
        save_npz(
            Path(folder) / self.ARRAYS,
            {
                "frame_index": self.frame_index.astype(np.int64),
                "count": self.count.astype(np.int64),
                "kept": self.kept.astype(np.int64),
                "boxes": self.boxes.astype(np.float64).reshape(-1, 4),
                "scores": self.scores.astype(np.float32).reshape(-1, 2),
                "landmarks": self.landmarks.astype(np.float32).reshape(-1, 33, 5),
                "rois": self.rois.astype(np.float64).reshape(-1, 5),
                "track": self.track.astype(np.int64),
                "crop_landmarks": np.asarray(self.crop_landmarks, np.float32).reshape(-1, 33, 5),
                "crop_world": np.asarray(self.crop_world, np.float32).reshape(-1, 33, 4),
                "next_rois": np.asarray(self.next_rois, np.float64).reshape(-1, 5),
            },
        )

    @classmethod
    def read(cls, folder: Path) -> People:
        path = Path(folder) / cls.ARRAYS
        if not path.is_file():
            raise StageError(f"{path}: missing (remove-bg from before people were tracked)")
        arrays = load_arrays(path, cls.STAGE)
        keys = ("frame_index", "count", "kept", "boxes", "scores", "landmarks", "rois", "track")
        need_arrays(arrays, keys, path)
        try:
            extra = ("crop_landmarks", "crop_world", "next_rois")
            return cls(*(arrays[k] for k in keys), *(arrays.get(k) for k in extra))
        except ValueError as exc:
            raise StageError(f"{path}: malformed remove-bg output ({exc})") from None
