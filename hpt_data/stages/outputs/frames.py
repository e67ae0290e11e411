"""The outputs of the frame stages: ``sample-frames`` (:class:`Frames`) and ``remove-bg``
(:class:`Crops`). See :mod:`hpt_data.stages.outputs`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hpt_data.crop import CropWindow
from hpt_data.errors import StageError
from hpt_data.stages._frames_io import INDEX, read_image, write_json
from hpt_data.stages.outputs._common import folder_of, parse_index

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
    # a frame kept in the source only (``video#``): its pixels' CRC-32
    # (hpt_data.video.pixels_crc32), which lets a reader seek to it and check what it found;
    # None in outputs written before it was recorded (they decode from the first frame)
    crc32: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampledFrame:
        rest = dict(data)
        index, time_ms, file = rest.pop("index"), rest.pop("time_ms"), rest.pop("file")
        crc = rest.pop("crc32", None)
        return cls(index, time_ms, file, rest, None if crc is None else int(crc))

    def to_json(self) -> dict[str, Any]:
        out = {"index": self.index, "time_ms": self.time_ms, "file": self.file, **self.notes}
        return out if self.crc32 is None else {**out, "crc32": self.crc32}


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
        return parse_index(cls, folder)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.to_json(),
            "mode": self.mode,
            "frames": [f.to_json() for f in self.frames],
        }

    def write(self, folder: Path) -> None:
        """``frames.json`` (the frame images are written as they are decoded)."""
        write_json(Path(folder) / INDEX, self.to_json())

    def check_readable(self, files: Iterable[str]) -> None:
        """Raise a one-line ``StageError`` unless every kept frame in ``files`` can be read:
        its file is there, or (``video#`` entries) the source is, with the signature
        sample-frames recorded. A reader that needs many frames asks once, up front, so
        that a lost frame folder or a moved source fails the video, not each frame."""
        from hpt_data.stages._source_frames import check_source, video_frame_index

        folder = folder_of(self, "Frames")
        files = set(files)
        if any(video_frame_index(f) is not None for f in files):
            check_source(self.source.path, self.source.signature)
        missing = sorted(
            f for f in files if video_frame_index(f) is None and not (folder / f).is_file()
        )
        if missing:
            raise StageError(
                f"{folder}: {len(missing)} of the kept frames are gone ({missing[0]} first); "
                "run hpt-data sample-frames again"
            )

    def image(self, file: str) -> np.ndarray:
        """A kept frame ((H, W, 3) uint8 BGR), by its ``file``: read from the file, or
        decoded again from the source for a ``video#`` entry (``image_format: video``;
        reached by a seek where its pixels' CRC was recorded)."""
        from hpt_data.stages._source_frames import source_frame, video_frame_index

        index = video_frame_index(file)
        if index is not None:
            crc = self._crc_by_file.get(file)
            return source_frame(self.source.path, self.source.signature, index, crc)
        return read_image(folder_of(self, "Frames") / file)

    @cached_property
    def _crc_by_file(self) -> dict[str, int | None]:
        """Each kept frame's pixel CRC by its ``file`` (looked up per frame read)."""
        return {f.file: f.crc32 for f in self.frames}


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
    def has_crop(self) -> bool:
        """Whether the frame has a crop: its image file, or (``crop_file: matte``) the matte
        and window it is rebuilt from."""
        return bool(self.image) or (bool(self.alpha) and self.crop is not None)

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
    # image: each crop's colour PNG; matte: rebuilt from the sample-frames frame and the
    # 8-bit matte (hpt_data.stages._crop_matte), the frames in ../sample-frames
    crop_file: str = "image"
    folder: Path | None = field(default=None, compare=False, repr=False)
    # the video's sample-frames index, read once for the crops rebuilt from its frames
    _frames: Frames | None = field(default=None, init=False, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path | None = None) -> Crops:
        return cls(
            [Crop.from_json(e) for e in data["frames"]],
            data.get("size", 1024),
            data.get("background_rgb", [255, 255, 255]),
            data.get("crop_file", "image"),
            folder,
        )

    @classmethod
    def read(cls, folder: Path) -> Crops:
        return parse_index(cls, folder)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "background_rgb": self.background_rgb}
        if self.crop_file != "image":  # an index of image crops reads as before
            out["crop_file"] = self.crop_file
        return {**out, "frames": [f.to_json() for f in self.frames]}

    def write(self, folder: Path) -> None:
        """``frames.json`` (the crops are written frame by frame by the stage)."""
        write_json(Path(folder) / INDEX, self.to_json())

    def by_index(self) -> dict[int, Crop]:
        return {int(c.index): c for c in self.frames}

    def image(self, crop: Crop, side: int | None = None) -> np.ndarray:
        """The person over the background: (size, size, 3) uint8 BGR; with ``crop_file:
        matte``, rebuilt from the frame it was cut from (the video's ``sample-frames``,
        beside this folder) and its matte, the same pixels remove-bg blended. ``side``: a
        smaller copy, (side, side, 3), for pictures (cut and blended at that size: not
        the crop's pixels shrunk, but cheaper)."""
        import cv2

        folder = folder_of(self, "Crops")
        if crop.image:
            image = read_image(folder / crop.image)
            if side is None or side == image.shape[0]:
                return image
            return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        if self.crop_file != "matte" or not crop.has_crop or not crop.alpha:
            raise StageError(f"{folder}: frame {crop.index} has no crop")
        alpha8 = read_image(folder / crop.alpha, gray=True)
        if side is not None and side != alpha8.shape[0]:
            alpha8 = cv2.resize(alpha8, (side, side), interpolation=cv2.INTER_AREA)
        return self._rebuild(crop, alpha8)

    def image_and_mask(self, crop: Crop) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`image` and :meth:`mask` together. With ``crop_file: matte`` the matte is
        decoded once: remove-bg writes the mask as the stored matte's ``>= 128``
        (``mask/<frame>.png``, 0/255), so the mask is taken from it, the same values, when
        the mask file is there (else None, as :meth:`mask` gives)."""
        folder = folder_of(self, "Crops")
        if crop.image or self.crop_file != "matte" or not crop.has_crop or not crop.alpha:
            return self.image(crop), self.mask(crop)
        alpha8 = read_image(folder / crop.alpha, gray=True)
        has_mask = bool(crop.mask) and (folder / str(crop.mask)).is_file()
        return self._rebuild(crop, alpha8), (alpha8 >= 128) if has_mask else None

    def _rebuild(self, crop: Crop, alpha8: np.ndarray) -> np.ndarray:
        """The crop of ``crop_file: matte`` from its frame and ``alpha8``, its stored matte."""
        folder = folder_of(self, "Crops")
        from hpt_data.stages._crop_matte import rebuild_crop

        # the video's folder: the parent, or further up for a person clip's crop set read
        # in place (remove-bg/clips/p1)
        video = next(
            (d for d in list(folder.parents)[:3] if (d / Frames.STAGE).is_dir()), folder.parent
        )
        frames = self._frames
        if frames is None or frames.folder != video / Frames.STAGE:
            frames = self._frames = Frames.read(video / Frames.STAGE)
        frame = frames.image(crop.source_file)
        window = crop.window
        if alpha8.shape[0] != window.size:  # a smaller copy (image(side=...))
            window = replace(window, size=alpha8.shape[0])
        return rebuild_crop(frame, alpha8, window, self.background_rgb)

    def mask(self, crop: Crop) -> np.ndarray | None:
        """The person's mask, (size, size) bool; None when the frame has none (no mask
        file). A mask file that cannot be decoded is a StageError naming it: read as
        "no mask", fit-smpl would fit the frame from its landmarks alone, unsaid."""
        folder = folder_of(self, "Crops")
        if not crop.mask or not (folder / crop.mask).is_file():
            return None
        return read_image(folder / crop.mask, gray=True) >= 128
