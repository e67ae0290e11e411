"""Decoding videos, image-sequence folders and single images into time-stamped frames, with
one-line errors.

Why a module of its own: every stage reads frames the same way, and the ways a file can be
unusable (empty, not a video, truncated, an unsupported codec, zero frames, tiny frames)
must each give their own one-line reason that names the file.

Facts checked with the OpenCV wheel this project pins (opencv-contrib-python 4.11, FFmpeg
backend):

- Rotation metadata (an MP4/MOV display matrix, as phones write) is *not* applied by
  default: ``CAP_PROP_ORIENTATION_AUTO`` reads 0 and frames come out as stored. We switch
  the automatic rotation off explicitly and rotate by ``CAP_PROP_ORIENTATION_META``
  ourselves, so the result does not depend on the OpenCV build's default.
- Time stamps: after ``read()``, ``CAP_PROP_POS_MSEC`` is the presentation time of the
  frame just decoded (its pts), so variable-frame-rate videos get their true times, not
  ``index / fps``.
- A truncated MP4 (recording cut before its ``moov`` index was written) does not open; a
  truncated AVI opens and stops decoding early. Both are reported.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hpt_data.errors import HptError
from hpt_data.fast_zlib import fast_zlib

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

#: A frame further than this past the decoder's position (or before it) is reached by a
#: seek where its pixels' CRC is known: below it, decoding forward costs about as much as
#: a seek's decode from the keyframe before the frame.
SEEK_MIN_FRAMES = 32


def pixels_crc32(image: np.ndarray) -> int:
    """CRC-32 of a frame's pixels (C order): what sample-frames records for a frame it
    keeps no file of, and what a seek's frame is checked against (ISA-L's where installed,
    the same value as zlib's: ``hpt_data.fast_zlib``)."""
    return fast_zlib.crc32(np.ascontiguousarray(image))


class VideoError(HptError):
    """A video or image folder cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video before decoding it.

    ``width``/``height`` are after rotation. ``declared_frames`` is the container's frame
    count (exact for MP4/AVI, an estimate for some Matroska files; -1 when unknown).
    """

    path: str
    kind: Literal["video", "images"]
    width: int
    height: int
    fps: float
    declared_frames: int
    rotation: int  # degrees clockwise applied to the stored frames (0, 90, 180, 270)
    codec: str


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its position in the source, its time stamp and its pixels.

    ``image`` is (H, W, 3) uint8 BGR (OpenCV's order).
    """

    index: int
    time_ms: float
    image: np.ndarray


def sniff_container(path: Path) -> str | None:
    """The container family from the first bytes ("MP4/MOV", "AVI", "Matroska/WebM"), or
    None when they look like no video container we know."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "MP4/MOV"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    return None


_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _mp4_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes between ``start`` and ``end``; raises
    ValueError when a box runs past ``end`` (a truncated file)."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        header = 8
        if size == 1:
            if i + 16 > end:
                raise ValueError("box header cut")
            size = struct.unpack(">Q", data[i + 8 : i + 16])[0]
            header = 16
        elif size == 0:
            size = end - i
        if size < header or i + size > end:
            raise ValueError(f"box '{kind.decode(errors='replace')}' runs past the end")
        yield kind, i + header, i + size
        i += size


def diagnose_mp4(path: Path) -> str | None:
    """Why an MP4/MOV that OpenCV refused is unusable, from its box structure, or None when
    the structure looks sound. Reads the whole file (only called after a failure)."""
    data = Path(path).read_bytes()
    try:
        top = {kind: (a, b) for kind, a, b in _mp4_boxes(data, 0, len(data))}
    except ValueError as exc:
        return f"truncated MP4/MOV ({exc})"
    if b"moov" not in top:
        return "truncated or unfinished MP4/MOV: it has no 'moov' index"
    samples, codecs = 0, []
    stack = [top[b"moov"]]
    try:
        while stack:
            a, b = stack.pop()
            for kind, pa, pb in _mp4_boxes(data, a, b):
                if kind in _MP4_CONTAINERS:
                    stack.append((pa, pb))
                elif kind == b"stsd" and pb - pa >= 16:
                    codecs.append(data[pa + 12 : pa + 16].decode("latin-1"))
                elif kind == b"stsz" and pb - pa >= 12:
                    samples += struct.unpack(">I", data[pa + 8 : pa + 12])[0]
    except ValueError as exc:
        return f"corrupt MP4/MOV index ({exc})"
    if samples == 0:
        return "the video has zero frames"
    known = {"avc1", "avc3", "hvc1", "hev1", "mp4v", "jpeg", "mjpa", "av01", "vp09", "vp08"}
    strange = [c for c in codecs if c.strip() and c not in known and c.isprintable()]
    if strange:
        return f"codec '{strange[0]}' is not supported by this OpenCV build"
    return None


def _open_failure(path: Path) -> str:
    container = sniff_container(path)
    if container is None:
        return "not a video file (its content is no known container; OpenCV cannot open it)"
    if container == "MP4/MOV":
        reason = diagnose_mp4(path)
        if reason is not None:
            return reason
    return f"OpenCV cannot open this {container} file (corrupt, or an unsupported codec)"


def _fourcc(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() else "?"


_ROTATE = {90: 0, 180: 1, 270: 2}  # cv2.ROTATE_90_CLOCKWISE, ROTATE_180, ROTATE_90_COUNTERCLOCKWISE


def _rotated(image: np.ndarray, rotation: int) -> np.ndarray:
    """A decoded frame turned by the container's ``rotation`` (degrees clockwise), as
    stored frames are shown."""
    import cv2

    return cv2.rotate(image, _ROTATE[rotation]) if rotation else image


class VideoReader:
    """Frames of a video file or an image-sequence folder, in order, with time stamps.

    Opening checks what can be checked without decoding everything and raises
    ``VideoError``; ``frames()`` raises ``VideoError`` for a stream that stops early (a
    truncated or corrupt file) unless ``allow_truncated``.

    Parameters
    ----------
    path : a video file, a folder of numbered images (sorted by name), or one image file
        (a one-frame video: a photo of a dataset of photos)
    sequence_fps : frame rate assumed for an image folder's time stamps
    min_side : frames smaller than this many pixels on a side are refused
    """

    def __init__(self, path: str | Path, sequence_fps: float = 25.0, min_side: int = 2) -> None:
        self.path = Path(path)
        self.sequence_fps = sequence_fps
        self.min_side = min_side
        self._images: list[Path] = []
        self._declared_zero = False
        self.info = self._probe()

    # -- opening

    def _error(self, reason: str) -> VideoError:
        return VideoError(f"{self.path}: {reason}")

    def _probe(self) -> VideoInfo:
        import cv2

        if self.path.is_dir():
            self._images = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self._images:
                raise self._error("image folder holds no images")
            first = cv2.imread(str(self._images[0]), cv2.IMREAD_COLOR)
            if first is None:
                raise self._error(f"image {self._images[0].name} cannot be decoded")
            self._check_size(first)
            h, w = first.shape[:2]
            return VideoInfo(
                str(self.path), "images", w, h, self.sequence_fps, len(self._images), 0, "image"
            )
        if not self.path.exists():
            raise self._error("no such file")
        if self.path.stat().st_size == 0:
            raise self._error("empty file (0 bytes)")
        if self.path.suffix.lower() in IMAGE_SUFFIXES:
            return self._probe_image()
        cap = self._capture()
        try:
            rotation = round(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
            if rotation not in (0, 90, 180, 270):
                raise self._error(f"rotation metadata of {rotation} degrees is not supported")
            w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if rotation in (90, 270):
                w, h = h, w
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = float(cap.get(cv2.CAP_PROP_FPS))
            codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
        finally:
            cap.release()
        self._declared_zero = count == 0  # some containers report 0 when they do not know
        if 0 < min(w, h) < self.min_side:
            raise self._error(f"frames are {w}x{h} pixels, too small (need {self.min_side})")
        return VideoInfo(
            str(self.path), "video", w, h, fps, count if count > 0 else -1, rotation, codec
        )

    def _probe_image(self) -> VideoInfo:
        """One image file read as a one-frame video (a DeepFashion photo)."""
        import cv2

        first = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if first is None:
            raise self._error("image cannot be decoded (not an image, or a corrupt file)")
        self._check_size(first)
        self._images = [self.path]
        h, w = first.shape[:2]
        return VideoInfo(str(self.path), "images", w, h, self.sequence_fps, 1, 0, "image")

    def _capture(self):  # -> cv2.VideoCapture
        import cv2

        # the decoder's threads within the process's share of the cores: a pool's worker
        # held to fewer threads than the cores (``hpt_data.executors.base.limit_threads``)
        # would otherwise decode on every core, against its neighbours
        threads = cv2.getNumThreads()
        params = [cv2.CAP_PROP_N_THREADS, threads] if threads < cv2.getNumberOfCPUs() else []
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise self._error(_open_failure(self.path))
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)  # we rotate ourselves (see module doc)
        return cap

    def _check_size(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if min(h, w) < self.min_side:
            raise self._error(f"frames are {w}x{h} pixels, too small (need {self.min_side})")

    # -- decoding

    def frames(
        self, allow_truncated: bool = False, stop_after: int | None = None
    ) -> Iterator[Frame]:
        """Every frame in order. ``stop_after``: stop once this source index is passed."""
        if self.info.kind == "images":
            yield from self._image_frames(stop_after)
        else:
            yield from self._video_frames(allow_truncated, stop_after)

    def _image_frames(self, stop_after: int | None) -> Iterator[Frame]:
        import cv2

        for i, p in enumerate(self._images):
            if stop_after is not None and i > stop_after:
                return
            image = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if image is None:
                what = "image" if p == self.path else f"image {p.name}"
                raise self._error(f"{what} cannot be decoded")
            self._check_size(image)
            yield Frame(i, round(1000.0 * i / self.sequence_fps, 3), image)

    def _video_frames(self, allow_truncated: bool, stop_after: int | None) -> Iterator[Frame]:
        import cv2

        cap = self._capture()
        index = 0
        try:
            while stop_after is None or index <= stop_after:
                ok, image = cap.read()
                if not ok or image is None:
                    break
                time_ms = round(float(cap.get(cv2.CAP_PROP_POS_MSEC)), 3)
                image = _rotated(image, self.info.rotation)
                if index == 0:
                    self._check_size(image)
                yield Frame(index, time_ms, image)
                index += 1
        finally:
            cap.release()
        if stop_after is not None and index > stop_after:
            return
        if index == 0 and self._declared_zero:
            raise self._error("the video has zero frames")
        if index == 0:
            raise self._error("no frame could be decoded (a corrupt stream)")
        declared = self.info.declared_frames
        if not allow_truncated and declared > 0 and declared - index > max(2, 0.05 * declared):
            raise self._error(
                f"truncated or corrupt: decoding stopped after {index} of the "
                f"{declared} frames its header declares"
            )


class FrameDecoder:
    """Frames of one source by index, decoded again (sample-frames ``image_format: video``
    keeps no file of them): forward from the last one asked for, the frames between
    grabbed (decoded, not converted), from the start again when asked for an earlier one.

    Decoding is deterministic, so a frame comes out as the pixels sample-frames saw (the
    same decoder, the same frames before it); an image folder's frame is its file.

    Given the frame's pixel CRC (``crc32``, sample-frames records it), a frame more than
    :data:`SEEK_MIN_FRAMES` away is reached by a seek instead (OpenCV seeks to the keyframe
    before it and decodes forward): a write-shards range that starts deep in a long video
    would otherwise decode every frame before it. A seek is not exact for every file (a
    variable frame rate, an open GOP), so its frame is taken only if its CRC matches, and
    every frame after it, until the decoder is reopened, is checked the same way (a seek
    onto a twin of the frame, in a still scene, would shift every later frame by one); a
    mismatch reopens the source and decodes from its first frame, as without a CRC. A
    source whose first three seeks all miss is not sought again.
    """

    def __init__(self, reader: VideoReader) -> None:
        self.reader = reader
        self._cap = None
        self._next = 0  # source index the capture decodes next
        self._sought = False  # the capture's position came from a seek: check every frame
        self.decoded = 0  # frames grabbed or read (not OpenCV's own decoding within a seek)
        self.seeks = 0  # seeks whose frame matched its CRC
        self.seek_misses = 0  # seeks (or frames after one) that did not

    def image(self, index: int, crc32: int | None = None) -> np.ndarray:
        """Frame ``index`` of the source: (H, W, 3) uint8 BGR, rotated as sample-frames'.
        ``crc32``: the frame's :func:`pixels_crc32`, which allows a seek."""
        r = self.reader
        if r.info.kind == "images":
            return self._image_file(index)
        if crc32 is not None and self._far(index) and (self.seeks or self.seek_misses < 3):
            image = self._seek(index, crc32)
            if image is not None:
                return image
        if self._sought and crc32 is None:  # nothing to check a sought position by
            self.close()
        image = self._decode_to(index)
        if self._sought and pixels_crc32(image) != crc32:
            self.seek_misses += 1
            self.close()
            image = self._decode_to(index)
        return image

    def _image_file(self, index: int) -> np.ndarray:
        import cv2

        r = self.reader
        if not 0 <= index < len(r._images):
            raise r._error(f"has no frame {index} (it holds {len(r._images)} images)")
        image = cv2.imread(str(r._images[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise r._error(f"image {r._images[index].name} cannot be decoded")
        return image

    def _far(self, index: int) -> bool:
        """Whether frame ``index`` is further from the decoder than a seek costs."""
        if self._cap is None or index < self._next:
            return index > SEEK_MIN_FRAMES
        return index - self._next > SEEK_MIN_FRAMES

    def _seek(self, index: int, crc32: int) -> np.ndarray | None:
        """Frame ``index`` by a seek, if the frame found there has the CRC ``crc32``."""
        import cv2

        cap = self.reader._capture()
        try:
            ok = cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, image = cap.read() if ok else (False, None)
        except cv2.error:
            ok, image = False, None
        if ok and image is not None:
            self.decoded += 1
            image = _rotated(image, self.reader.info.rotation)
            if pixels_crc32(image) == crc32:
                self.close()
                self._cap, self._next, self._sought = cap, index + 1, True
                self.seeks += 1
                return image
        cap.release()
        self.seek_misses += 1
        return None

    def _decode_to(self, index: int) -> np.ndarray:
        """Frame ``index`` decoded forward from the capture's position (from the start
        again when it is past it, or when there is no capture)."""
        r = self.reader
        if self._cap is None or index < self._next:
            self.close()
            self._cap, self._next = r._capture(), 0
        while self._next < index:
            if not self._cap.grab():
                raise r._error(f"frame {index} can no longer be decoded (stops at {self._next})")
            self._next += 1
            self.decoded += 1
        ok, image = self._cap.read()
        if not ok or image is None:
            raise r._error(f"frame {index} can no longer be decoded")
        self._next += 1
        self.decoded += 1
        return _rotated(image, r.info.rotation)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._sought = False
