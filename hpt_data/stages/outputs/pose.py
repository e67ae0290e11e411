"""The outputs of the pose stages: ``pose2d`` (:class:`Pose2D`) and ``fit-smpl``
(:class:`Fits`). See :mod:`hpt_data.stages.outputs`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import INDEX, save_npz, write_json
from hpt_data.stages.outputs._common import (
    MALFORMED,
    load_arrays,
    malformed,
    need_arrays,
    read_index_json,
)

# --------------------------------------------------------------------------- pose2d


@dataclass
class PoseFrame:
    """One frame of ``pose2d``'s index: remove-bg's flags plus ``no_pose``, and its row in
    the arrays (None for a frame without a crop)."""

    index: int
    time_ms: float
    row: int | None
    flags: list[str]
    reason: str | None
    usable: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PoseFrame:
        keys = ("index", "time_ms", "row", "flags", "reason", "usable")
        return cls(*(data[k] for k in keys))

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# (name, dtype); N rows, one per frame with a crop
_POSE_ARRAYS: tuple[tuple[str, str], ...] = (
    ("frame_index", "int64"),
    ("time_ms", "float64"),
    ("found", "bool"),
    ("landmarks_crop", "float32"),
    ("landmarks_source", "float32"),
    ("landmarks_crop_raw", "float32"),
    ("coco17_crop", "float32"),
    ("coco17_source", "float32"),
    ("body25_crop", "float32"),
    ("body25_source", "float32"),
)


@dataclass
class Pose2D:
    """``pose2d``: ``frames.json`` (:class:`PoseFrame` per frame of remove-bg) and
    ``pose2d.npz``, one row per frame with a crop (N rows; rows where ``found`` is false
    are zeros). Landmarks: x, y, z, visibility, presence, x and y in that frame's pixels
    (crop or source; pixel-corner convention), z in x's scale."""

    STAGE: ClassVar[str] = "pose2d"
    ARRAYS: ClassVar[str] = "pose2d.npz"

    frames: list[PoseFrame]
    frame_index: np.ndarray  # (N,) int64
    time_ms: np.ndarray  # (N,) float64
    found: np.ndarray  # (N,) bool
    landmarks_crop: np.ndarray  # (N, 33, 5) float32, filtered
    landmarks_source: np.ndarray  # (N, 33, 5) float32, filtered
    landmarks_crop_raw: np.ndarray  # (N, 33, 5) float32, before filtering
    coco17_crop: np.ndarray  # (N, 17, 3) float32: x, y, confidence
    coco17_source: np.ndarray  # (N, 17, 3) float32
    body25_crop: np.ndarray  # (N, 25, 3) float32
    body25_source: np.ndarray  # (N, 25, 3) float32
    # (N, 33, 4) float32: Pose's world landmarks (metres about the hips, image axes) and
    # visibility, NaN where Pose gave none; None for outputs of pose2d version 2
    world_landmarks: np.ndarray | None = None
    folder: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def read(cls, folder: Path) -> Pose2D:
        data = read_index_json(folder, cls.STAGE)
        try:
            frames = [PoseFrame.from_json(e) for e in data["frames"]]
        except MALFORMED as exc:
            raise malformed(folder, INDEX, cls.STAGE, exc) from None
        path = Path(folder) / cls.ARRAYS
        arrays = load_arrays(path, cls.STAGE)
        need_arrays(arrays, [k for k, _ in _POSE_ARRAYS], path)
        world = arrays.get("world_landmarks")
        n = len(arrays["found"])
        if world is not None and world.shape != (n, 33, 4):
            raise StageError(f"{path}: world_landmarks has shape {world.shape}, not ({n}, 33, 4)")
        return cls(
            frames,
            **{k: arrays[k] for k, _ in _POSE_ARRAYS},
            world_landmarks=world,
            folder=Path(folder),
        )

    def write(self, folder: Path) -> None:
        data = {k: np.asarray(getattr(self, k), dtype) for k, dtype in _POSE_ARRAYS}
        if self.world_landmarks is not None:
            data["world_landmarks"] = np.asarray(self.world_landmarks, np.float32)
        save_npz(Path(folder) / self.ARRAYS, data)
        write_json(Path(folder) / INDEX, {"frames": [f.to_json() for f in self.frames]})

    def by_index(self) -> dict[int, PoseFrame]:
        return {int(f.index): f for f in self.frames}

    def landmarks(self, frame: PoseFrame) -> np.ndarray | None:
        """The frame's (33, 5) landmarks in crop pixels; None where no pose was found."""
        if frame.row is None or not self.found[frame.row]:
            return None
        return self.landmarks_crop[frame.row]

    def world(self, frame: PoseFrame) -> np.ndarray | None:
        """The frame's (33, 4) world landmarks (NaN where missing); None where there are
        none at all."""
        if self.world_landmarks is None or frame.row is None or not self.found[frame.row]:
            return None
        w = self.world_landmarks[frame.row]
        return w if np.isfinite(w).any() else None


# --------------------------------------------------------------------------- fit-smpl

_FIT_KEYS = ("frame_ids", "ok", "flag", "betas", "global_orient", "body_pose", "camera")


@dataclass
class Fits:
    """``fit-smpl``'s ``fits.npz``: per frame of ``pose2d`` (T rows) the fit or why not.

    Frames not fitted have zeros and NaN figures. The camera convention is
    ``hpt_data.body.weak_perspective.project``'s: ``camera`` (s, tx, ty) at the pelvis's
    depth plane, ``camera_distance`` metres to it (0 = weak perspective). ``camera`` and
    ``camera_distance`` are float32 in the file and float64 here (the renderers' input).
    Fits of fit-smpl version 1 have no ``camera_distance`` (read as zeros); the fields
    marked optional are None when a hand-made file lacks them.
    """

    STAGE: ClassVar[str] = "fit-smpl"
    ARRAYS: ClassVar[str] = "fits.npz"

    frame_ids: list[str]  # (T,) six-digit frame ids
    ok: np.ndarray  # (T,) bool: fitted and passed the checks
    flag: list[str]  # (T,) '' or the reason(s), '; '-joined
    betas: np.ndarray  # (NB,) float32, one shape per video
    global_orient: np.ndarray  # (T, 3) float32 axis-angle, camera frame
    body_pose: np.ndarray  # (T, 69) float32 axis-angle of joints 1..23
    camera: np.ndarray  # (T, 3) float64 (s, tx, ty)
    camera_distance: np.ndarray  # (T,) float64 metres
    body_model: str = "builtin"  # 'builtin' or the SMPL file
    joints3d: np.ndarray | None = None  # (T, 24, 3) float32, camera frame metres
    joints2d: np.ndarray | None = None  # (T, 24, 2) float32, crop pixels at crop_size
    reproj_px: np.ndarray | None = None  # (T,) float32, landmark error, px at 1024
    mask_iou: np.ndarray | None = None  # (T,) float32
    crop_size: int | None = None  # the crops' side (remove-bg's size)
    # 'world_landmarks' (estimated per video), 'assumed' (the setting), 'focal' (given);
    # '' in fits of fit-smpl before version 3
    camera_distance_source: str = ""
    folder: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def read(cls, folder: Path) -> Fits:
        path = Path(folder) / cls.ARRAYS
        arrays = load_arrays(path, cls.STAGE)
        need_arrays(arrays, _FIT_KEYS, path)
        try:
            t = int(arrays["ok"].shape[0])

            def optional(key: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray | None:
                return np.asarray(arrays[key], dtype).reshape(shape) if key in arrays else None

            fits = cls(
                frame_ids=[str(x) for x in arrays["frame_ids"]],
                ok=arrays["ok"].astype(bool),
                flag=[str(x) for x in arrays["flag"]],
                betas=np.asarray(arrays["betas"], np.float32).reshape(-1),
                global_orient=np.asarray(arrays["global_orient"], np.float32).reshape(t, 3),
                body_pose=np.asarray(arrays["body_pose"], np.float32).reshape(t, 69),
                camera=np.asarray(arrays["camera"], np.float64).reshape(t, 3),
                camera_distance=(
                    np.asarray(arrays["camera_distance"], np.float64).reshape(t)
                    if "camera_distance" in arrays
                    else np.zeros(t)
                ),
                body_model=str(arrays["body_model"]) if "body_model" in arrays else "builtin",
                joints3d=optional("joints3d", "float32", (t, 24, 3)),
                joints2d=optional("joints2d", "float32", (t, 24, 2)),
                reproj_px=optional("reproj_px", "float32", (t,)),
                mask_iou=optional("mask_iou", "float32", (t,)),
                crop_size=int(arrays["crop_size"]) if "crop_size" in arrays else None,
                camera_distance_source=str(arrays.get("camera_distance_source", "")),
                folder=Path(folder),
            )
        except (ValueError, TypeError) as exc:
            raise StageError(f"{path}: cannot read the fits ({exc})") from None
        if len(fits.frame_ids) != t or len(fits.flag) != t:
            raise StageError(f"{path}: frame_ids, flag and ok differ in length")
        return fits

    def write(self, folder: Path) -> None:
        """``fits.npz`` with every field (the optional ones must be set)."""
        t = len(self.frame_ids)
        missing = [
            k
            for k in ("joints3d", "joints2d", "reproj_px", "mask_iou", "crop_size")
            if getattr(self, k) is None
        ]
        if missing:
            raise ValueError(f"Fits.write needs {', '.join(missing)}")
        save_npz(
            Path(folder) / self.ARRAYS,
            {
                "frame_ids": np.array(self.frame_ids),
                "ok": np.asarray(self.ok, bool).reshape(t),
                "flag": np.array(self.flag),
                "betas": np.asarray(self.betas, np.float32).reshape(-1),
                "global_orient": np.asarray(self.global_orient, np.float32),
                "body_pose": np.asarray(self.body_pose, np.float32),
                "camera": np.asarray(self.camera, np.float32),
                "camera_distance": np.asarray(self.camera_distance, np.float32),
                "joints3d": np.asarray(self.joints3d, np.float32),
                "joints2d": np.asarray(self.joints2d, np.float32),
                "reproj_px": np.asarray(self.reproj_px, np.float32),
                "mask_iou": np.asarray(self.mask_iou, np.float32),
                "body_model": np.array(self.body_model),
                "crop_size": np.array(self.crop_size),
                "camera_distance_source": np.array(self.camera_distance_source),
            },
        )

    def row_of(self, fid: str) -> int | None:
        """The row of frame ``fid``; None when the fit has no such frame."""
        try:
            return self.frame_ids.index(fid)
        except ValueError:
            return None
