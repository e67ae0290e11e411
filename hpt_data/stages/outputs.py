"""What each stage leaves in a video's work folder, as typed objects: one reader and one
writer per stage output, shared by the stage that writes it and by everything that reads
it (the later stages, ``hpt_data.gather``, ``hpt_data.preview``, ``pipelines``), so that a
file's layout is written down, and parsed, in one place.

| stage | object | files (relative to ``<video>/<stage>/``) |
| --- | --- | --- |
| ``sample-frames`` | :class:`Frames` | ``frames.json``, ``frames/<index>.png`` (or ``.jpg``) |
| ``remove-bg`` | :class:`Crops` | ``frames.json``, ``image/``, ``alpha/``, ``mask/<index>.png`` |
| ``pose2d`` | :class:`Pose2D` | ``frames.json``, ``pose2d.npz`` |
| ``fit-smpl`` | :class:`Fits` | ``fits.npz`` (``fit.json``, ``preview.png``: for people) |
| ``render-maps`` | :class:`Maps`, :class:`FrameMaps` | ``frames.json``, ``maps/<frame_id>.npz`` |
| ``voxelize`` | :class:`Volumes`, :class:`FrameVolume` | ``frames.json``, ``voxels/``, binvox |

``X.read(folder)`` raises :class:`~hpt_data.errors.StageError` with a one-line reason when
a file is missing or malformed, and remembers ``folder`` so that the per-frame files can
be read through it (``crops.image(crop)``). ``x.write(folder)`` is byte-for-byte
deterministic (sorted JSON keys, ``.npz`` without time stamps): an output that is redone
equals the one it replaces, so the later stages stay up to date. Reading and writing an
output gives back the same bytes: nothing is dropped, cast or rounded on the way.

Frame ids: ``sample-frames``, ``remove-bg`` and ``pose2d`` name a frame by its ``index``
in the source; ``fit-smpl`` and later by ``frame_id``, the index as six digits
(:func:`frame_id`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from hpt_data.crop import CropWindow
from hpt_data.errors import StageError
from hpt_data.stages._frames_io import INDEX, read_image, save_npz, write_json

if TYPE_CHECKING:
    from hpt_data.render.maps import Maps as RenderedMaps

__all__ = [
    "INDEX",
    "Crop",
    "Crops",
    "Fits",
    "FittedFrame",
    "FrameMaps",
    "FrameVolume",
    "Frames",
    "Maps",
    "Pose2D",
    "PoseFrame",
    "SampledFrame",
    "SourceFacts",
    "VolumeFrame",
    "Volumes",
    "frame_id",
    "safe_name",
]


def frame_id(index: int) -> str:
    """The id of the frame with source ``index`` from ``fit-smpl`` on: ``000012``."""
    return f"{int(index):06d}"


def safe_name(fid: str) -> str:
    """A file name for a frame id (ids are the fitter's; keep them readable)."""
    bad = set('/\\:*?"<>| ')
    return "".join("_" if c in bad else c for c in fid) or "frame"


def _read_json(folder: Path, stage: str) -> dict[str, Any]:
    path = Path(folder) / INDEX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StageError(f"{path}: cannot read the {stage} index ({exc})") from None
    if not isinstance(data, dict):
        raise StageError(f"{path}: the {stage} index is not a JSON object")
    return data


def _malformed(folder: Path, name: str, stage: str, exc: Exception) -> StageError:
    what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
    return StageError(f"{Path(folder) / name}: malformed {stage} output ({what})")


MALFORMED = (KeyError, TypeError, AttributeError)  # what a from_json raises on a bad index


def _parse(cls: Any, folder: Path) -> Any:
    """``cls.from_json`` of the ``frames.json`` in ``folder``, or a one-line StageError."""
    data = _read_json(folder, cls.STAGE)
    try:
        return cls.from_json(data, Path(folder))
    except MALFORMED as exc:
        raise _malformed(folder, INDEX, cls.STAGE, exc) from None


def _load_npz(path: Path, stage: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise StageError(f"{path}: cannot read the {stage} arrays ({exc})") from None


def _need(arrays: dict[str, np.ndarray], keys: Sequence[str], path: Path) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise StageError(f"{path}: missing {', '.join(missing)}")


def _folder(obj: Any, what: str) -> Path:
    if obj.folder is None:
        raise ValueError(f"{what} was not read from a folder: pass it to read() first")
    return Path(obj.folder)


# --------------------------------------------------------------------------- sample-frames


@dataclass
class SourceFacts:
    """What ``sample-frames`` found out about the source (``frames.json``'s ``source``)."""

    path: str
    kind: str  # video | images
    width: int  # pixels, after rotation
    height: int
    fps: float  # declared (image sequences: the sequence_fps setting)
    rotation: int  # degrees applied from the container's metadata
    codec: str | None
    declared_frames: int | None
    decoded_frames: int
    signature: str  # hpt_data.stages._frames_io.file_signature of the source

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SampledFrame:
    """One kept frame: its index and time stamp in the source and its image file."""

    index: int
    time_ms: float
    file: str  # frames/000012.png
    notes: dict[str, Any] = field(default_factory=dict)  # the mode's own: pose_change (diverse)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampledFrame:
        rest = dict(data)
        return cls(rest.pop("index"), rest.pop("time_ms"), rest.pop("file"), rest)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "time_ms": self.time_ms, "file": self.file, **self.notes}


@dataclass
class Frames:
    """``sample-frames``: the kept frames of one video, in source order."""

    STAGE: ClassVar[str] = "sample-frames"

    source: SourceFacts
    mode: str  # the sampling mode that chose them
    frames: list[SampledFrame]
    folder: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path | None = None) -> Frames:
        return cls(
            SourceFacts(**data["source"]),
            data["mode"],
            [SampledFrame.from_json(e) for e in data["frames"]],
            folder,
        )

    @classmethod
    def read(cls, folder: Path) -> Frames:
        return _parse(cls, folder)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.to_json(),
            "mode": self.mode,
            "frames": [f.to_json() for f in self.frames],
        }

    def write(self, folder: Path) -> None:
        """``frames.json`` (the frame images are written as they are decoded)."""
        write_json(Path(folder) / INDEX, self.to_json())

    def image(self, file: str) -> np.ndarray:
        """A kept frame ((H, W, 3) uint8 BGR), by its ``file``."""
        return read_image(_folder(self, "Frames") / file)


# --------------------------------------------------------------------------- remove-bg

_CROP_KEYS = (
    "index",
    "time_ms",
    "source_file",
    "source_size",
    "flags",
    "reason",
    "usable",
    "box",
    "crop",
    "image",
    "alpha",
    "mask",
)


@dataclass
class Crop:
    """One frame of ``remove-bg``: its flags and, when a person was found, the box, the
    crop window and the three image files (all at ``Crops.size``)."""

    index: int
    time_ms: float
    source_file: str = ""  # the sample-frames image it was cut from
    source_size: list[int] = field(default_factory=list)  # [width, height]
    flags: list[str] = field(default_factory=list)  # no_person, cut_by_edge, several_people
    reason: str | None = None  # the flags in words
    usable: bool = False  # no flag
    facts: dict[str, Any] = field(default_factory=dict)  # mask_area, edge_cut, other_person
    box: list[int] | None = None  # the person's box (x0, y0, x1, y1), source pixels
    crop: dict[str, Any] | None = None  # CropWindow.to_json(): source -> crop
    image: str | None = None  # image/000012.png: the person over the background, BGR
    alpha: str | None = None  # alpha/000012.png: the soft matte, uint8
    mask: str | None = None  # mask/000012.png: uint8 0/255 (alpha >= 128)

    @property
    def window(self) -> CropWindow:
        if self.crop is None:
            raise ValueError(f"frame {self.index} has no crop")
        return CropWindow.from_json(self.crop)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Crop:
        facts = {k: v for k, v in data.items() if k not in _CROP_KEYS}
        return cls(
            data["index"],
            data["time_ms"],
            data.get("source_file", ""),
            data.get("source_size", []),
            data.get("flags", []),
            data.get("reason"),
            data.get("usable", False),
            facts,
            data.get("box"),
            data.get("crop"),
            data.get("image"),
            data.get("alpha"),
            data.get("mask"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "time_ms": self.time_ms,
            "source_file": self.source_file,
            "source_size": self.source_size,
            "flags": self.flags,
            "reason": self.reason,
            "usable": self.usable,
            **self.facts,
        }
        for key in ("box", "crop", "image", "alpha", "mask"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Crops:
    """``remove-bg``: one :class:`Crop` per kept frame of ``sample-frames``."""

    STAGE: ClassVar[str] = "remove-bg"

    frames: list[Crop]
    size: int = 1024  # side of the square crops, pixels
    background_rgb: list[int] = field(default_factory=lambda: [255, 255, 255])
    folder: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path | None = None) -> Crops:
        return cls(
            [Crop.from_json(e) for e in data["frames"]],
            data.get("size", 1024),
            data.get("background_rgb", [255, 255, 255]),
            folder,
        )

    @classmethod
    def read(cls, folder: Path) -> Crops:
        return _parse(cls, folder)

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "background_rgb": self.background_rgb,
            "frames": [f.to_json() for f in self.frames],
        }

    def write(self, folder: Path) -> None:
        """``frames.json`` (the crops are written frame by frame by the stage)."""
        write_json(Path(folder) / INDEX, self.to_json())

    def by_index(self) -> dict[int, Crop]:
        return {int(c.index): c for c in self.frames}

    def image(self, crop: Crop) -> np.ndarray:
        """The person over the background: (size, size, 3) uint8 BGR."""
        if not crop.image:
            raise StageError(f"{_folder(self, 'Crops')}: frame {crop.index} has no crop")
        return read_image(_folder(self, "Crops") / crop.image)

    def mask(self, crop: Crop) -> np.ndarray | None:
        """The person's mask, (size, size) bool; None when the frame has none or its file
        cannot be read."""
        import cv2

        folder = _folder(self, "Crops")
        if not crop.mask or not (folder / crop.mask).is_file():
            return None
        mask = cv2.imread(str(folder / crop.mask), cv2.IMREAD_GRAYSCALE)
        return None if mask is None else mask >= 128


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
    folder: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def read(cls, folder: Path) -> Pose2D:
        data = _read_json(folder, cls.STAGE)
        try:
            frames = [PoseFrame.from_json(e) for e in data["frames"]]
        except MALFORMED as exc:
            raise _malformed(folder, INDEX, cls.STAGE, exc) from None
        path = Path(folder) / cls.ARRAYS
        arrays = _load_npz(path, cls.STAGE)
        _need(arrays, [k for k, _ in _POSE_ARRAYS], path)
        return cls(frames, **{k: arrays[k] for k, _ in _POSE_ARRAYS}, folder=Path(folder))

    def write(self, folder: Path) -> None:
        save_npz(
            Path(folder) / self.ARRAYS,
            {k: np.asarray(getattr(self, k), dtype) for k, dtype in _POSE_ARRAYS},
        )
        write_json(Path(folder) / INDEX, {"frames": [f.to_json() for f in self.frames]})

    def by_index(self) -> dict[int, PoseFrame]:
        return {int(f.index): f for f in self.frames}

    def landmarks(self, frame: PoseFrame) -> np.ndarray | None:
        """The frame's (33, 5) landmarks in crop pixels; None where no pose was found."""
        if frame.row is None or not self.found[frame.row]:
            return None
        return self.landmarks_crop[frame.row]


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
    folder: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def read(cls, folder: Path) -> Fits:
        path = Path(folder) / cls.ARRAYS
        arrays = _load_npz(path, cls.STAGE)
        _need(arrays, _FIT_KEYS, path)
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
            },
        )

    def row_of(self, fid: str) -> int | None:
        """The row of frame ``fid``; None when the fit has no such frame."""
        try:
            return self.frame_ids.index(fid)
        except ValueError:
            return None


# --------------------------------------------------------------------------- render-maps, voxelize


@dataclass
class FittedFrame:
    """One fitted frame's entry in ``render-maps``' (and ``voxelize``'s) ``frames.json``:
    its row in ``fits.npz``, whether it was drawn, the drawing's flags and the file."""

    frame_id: str
    row: int
    ok: bool = False
    flags: list[str] = field(default_factory=list)
    reason: str | None = None  # why it was skipped, or the flags in words
    file: str | None = None  # maps/000012.npz (voxels/ for voxelize); None when skipped

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            data["frame_id"],
            data["row"],
            data["ok"],
            data["flags"],
            data.get("reason"),
            data["file"],
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VolumeFrame(FittedFrame):
    """A :class:`FittedFrame` of ``voxelize``, with its ``.binvox`` folder."""

    binvox: str | None = None  # binvox/000012 (body.binvox and one per part), or None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        base = FittedFrame.from_json(data)
        return cls(**base.__dict__, binvox=data.get("binvox"))


@dataclass
class FrameMaps:
    """One frame's ``maps/<frame_id>.npz``: the informative maps at each size (the first,
    the fine one, also with the layer boxes and complete part maps). Formats:
    ``docs/maps_and_volumes.md``."""

    parsing: dict[int, np.ndarray]  # size -> (size, size) uint8 part labels S
    depth: dict[int, np.ndarray]  # size -> (size, size) float16 camera z, metres; +inf off body
    joints2d: dict[int, np.ndarray]  # size -> (24, 2) float32 pixels (H is drawn from them)
    sigma: dict[int, np.float32]  # size -> the heatmaps' σ, pixels
    z_range: np.ndarray  # (2,) float32: the posed body's depth range, metres
    boxes: np.ndarray  # (5, 3) int32 [x0, y0, side] at the fine size, in LAYERS order
    part_masks: dict[str, np.ndarray]  # layer -> (n, n) bool, the complete part in its box
    part_depths: dict[str, np.ndarray]  # layer -> (n, n) float16

    @classmethod
    def from_rendered(cls, maps: Sequence[RenderedMaps]) -> FrameMaps:
        """From ``hpt_data.render.maps.Maps`` at each size, the first with the layers; they
        must have no fatal flag. Shared by ``render-maps`` and the pose-transfer pipelines,
        so that both hand the model the same fields."""
        from hpt_data.render.boxes import LAYERS

        fine = maps[0]
        if not fine.boxes:
            raise ValueError("the first maps must hold the layer boxes and complete part maps")
        return cls(
            parsing={m.size: m.parsing for m in maps},
            depth={m.size: m.depth.astype(np.float16) for m in maps},
            joints2d={m.size: m.joints2d.astype(np.float32) for m in maps},
            sigma={m.size: np.float32(m.sigma) for m in maps},
            z_range=np.asarray(fine.z_range, np.float32),
            boxes=np.stack([fine.boxes[n] for n in LAYERS]).astype(np.int32),
            part_masks={n: fine.part_masks[n] for n in LAYERS},
            part_depths={n: fine.part_depths[n].astype(np.float16) for n in LAYERS},
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for size in self.parsing:
            arrays[f"parsing_{size}"] = self.parsing[size]
            arrays[f"depth_{size}"] = self.depth[size]
            arrays[f"joints2d_{size}"] = self.joints2d[size]
            arrays[f"sigma_{size}"] = self.sigma[size]
        arrays["z_range"] = self.z_range
        arrays["boxes"] = self.boxes
        for name in self.part_masks:
            arrays[f"part_mask_{name}"] = self.part_masks[name]
            arrays[f"part_depth_{name}"] = self.part_depths[name]
        return arrays

    @classmethod
    def read(cls, path: Path) -> FrameMaps:
        arrays = _load_npz(path, "render-maps")
        sizes = sorted(
            (int(k.split("_")[1]) for k in arrays if k.startswith("parsing_")), reverse=True
        )
        layers = [k[len("part_mask_") :] for k in arrays if k.startswith("part_mask_")]
        keys = [f"{f}_{s}" for s in sizes for f in ("parsing", "depth", "joints2d", "sigma")]
        keys += ["z_range", "boxes", *(f"part_depth_{n}" for n in layers)]
        _need(arrays, keys, path)
        return cls(
            parsing={s: arrays[f"parsing_{s}"] for s in sizes},
            depth={s: arrays[f"depth_{s}"] for s in sizes},
            joints2d={s: arrays[f"joints2d_{s}"] for s in sizes},
            sigma={s: arrays[f"sigma_{s}"][()] for s in sizes},
            z_range=arrays["z_range"],
            boxes=arrays["boxes"],
            part_masks={n: arrays[f"part_mask_{n}"] for n in layers},
            part_depths={n: arrays[f"part_depth_{n}"] for n in layers},
        )

    def write(self, path: Path) -> None:
        save_npz(path, self.to_arrays())

    def shard_fields(self) -> dict[str, np.ndarray]:
        """The shard fields of these maps (``hpt_data.shards.schema``): parsing, depth,
        their 512 versions, joints2d, part_boxes and the complete part maps, in the
        schema's dtypes."""
        from hpt_data.shards.schema import COARSE, CROP, PART_LAYERS

        fields = {
            "parsing": self.parsing[CROP].astype(np.uint8),
            "depth": _shard_depth(self.depth[CROP]),
            "parsing_512": self.parsing[COARSE].astype(np.uint8),
            "depth_512": _shard_depth(self.depth[COARSE]),
            "joints2d": self.joints2d[CROP].astype(np.float32),
            "part_boxes": self.boxes.astype(np.int32),
        }
        for layer in PART_LAYERS:
            fields[f"layer_mask_{layer}"] = self.part_masks[layer].astype(np.uint8)
            fields[f"layer_depth_{layer}"] = _shard_depth(self.part_depths[layer])
        return fields


def _shard_depth(depth: np.ndarray) -> np.ndarray:
    """Depth as the schema stores it: float16 metres, +inf on the background. Camera-frame
    z of a weak-perspective fit is relative to the body (it can be 0 or negative), so no
    finite value can mark the background."""
    depth = np.asarray(depth, np.float32)
    return np.where(np.isfinite(depth), depth, np.inf).astype(np.float16)


@dataclass
class Maps:
    """``render-maps``: ``frames.json`` (one :class:`FittedFrame` per row of ``fits.npz``)
    and a :class:`FrameMaps` file per drawn frame."""

    STAGE: ClassVar[str] = "render-maps"

    sizes: list[int]  # the resolutions drawn, fine first
    layers: list[str]  # the part layers, in the order of FrameMaps.boxes
    frames: list[FittedFrame]
    folder: Path | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def file_for(fid: str) -> str:
        return f"maps/{safe_name(fid)}.npz"

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path | None = None) -> Maps:
        frames = [FittedFrame.from_json(e) for e in data["frames"]]
        return cls(data["sizes"], data["layers"], frames, folder)

    @classmethod
    def read(cls, folder: Path) -> Maps:
        return _parse(cls, folder)

    def write(self, folder: Path) -> None:
        """``frames.json`` (the frames' maps are written one by one as they are drawn)."""
        write_json(
            Path(folder) / INDEX,
            {
                "sizes": self.sizes,
                "layers": self.layers,
                "frames": [f.to_json() for f in self.frames],
            },
        )

    def by_frame_id(self) -> dict[str, FittedFrame]:
        return {f.frame_id: f for f in self.frames}

    def maps(self, frame: FittedFrame) -> FrameMaps:
        """The frame's maps; StageError when it has none or its file cannot be read."""
        if not frame.file:
            raise StageError(f"{_folder(self, 'Maps')}: frame {frame.frame_id} has no maps")
        return FrameMaps.read(_folder(self, "Maps") / frame.file)


@dataclass
class FrameVolume:
    """One frame's ``voxels/<frame_id>.npz``: the posed body as part labels on a
    (Z, Y, X) = (64, 256, 256) grid, x and y the fine crop at 1/4, projected as
    render-maps' pixels; bin k spans ``z0 + [k, k+1)·dz`` metres of camera z."""

    labels: np.ndarray  # (Z, Y, X) uint8 part labels
    z0: float  # metres
    dz: float  # metres per bin
    camera: np.ndarray  # (3,) float64 (s, tx, ty), the fit's
    camera_distance: float  # metres to the pelvis (0 = weak perspective)
    ref_z: float  # the pelvis's depth, metres

    @classmethod
    def read(cls, path: Path) -> FrameVolume:
        arrays = _load_npz(path, "voxelize")
        keys = ("labels", "z0", "dz", "camera", "camera_distance", "ref_z")
        _need(arrays, keys, path)
        return cls(
            labels=arrays["labels"],
            z0=float(arrays["z0"]),
            dz=float(arrays["dz"]),
            camera=arrays["camera"],
            camera_distance=float(arrays["camera_distance"]),
            ref_z=float(arrays["ref_z"]),
        )

    def write(self, path: Path) -> None:
        save_npz(
            path,
            {
                "labels": np.asarray(self.labels, np.uint8),
                "z0": np.float64(self.z0),
                "dz": np.float64(self.dz),
                "camera": np.asarray(self.camera, np.float64),
                "camera_distance": np.float64(self.camera_distance),
                "ref_z": np.float64(self.ref_z),
            },
        )


@dataclass
class Volumes:
    """``voxelize``: ``frames.json`` (one :class:`VolumeFrame` per row of ``fits.npz``)
    and a :class:`FrameVolume` file per voxelized frame."""

    STAGE: ClassVar[str] = "voxelize"

    shape: list[int]  # [Z, Y, X] of every volume
    frames: list[VolumeFrame]
    folder: Path | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def file_for(fid: str) -> str:
        return f"voxels/{safe_name(fid)}.npz"

    @staticmethod
    def binvox_for(fid: str) -> str:
        return f"binvox/{safe_name(fid)}"

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path | None = None) -> Volumes:
        return cls(data["shape"], [VolumeFrame.from_json(e) for e in data["frames"]], folder)

    @classmethod
    def read(cls, folder: Path) -> Volumes:
        return _parse(cls, folder)

    def write(self, folder: Path) -> None:
        """``frames.json`` (the volumes are written one by one as they are made)."""
        write_json(
            Path(folder) / INDEX,
            {"shape": self.shape, "frames": [f.to_json() for f in self.frames]},
        )

    def by_frame_id(self) -> dict[str, VolumeFrame]:
        return {f.frame_id: f for f in self.frames}

    def volume(self, frame: FittedFrame) -> FrameVolume:
        """The frame's volume; StageError when it has none or its file cannot be read."""
        if not frame.file:
            raise StageError(f"{_folder(self, 'Volumes')}: frame {frame.frame_id} has no volume")
        return FrameVolume.read(_folder(self, "Volumes") / frame.file)
