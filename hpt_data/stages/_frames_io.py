"""Small file helpers shared by the stages: images, JSON, deterministic ``.npz``, and
reuse of intact files from a previous output. The stage outputs themselves are read and
written through ``hpt_data.stages.outputs``.

Every writer here is byte-for-byte deterministic (fixed key order, no time stamps), so an
output that is redone equals the one it replaces and downstream stages stay up to date.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from hpt_data.errors import StageError
from hpt_data.workdir import link_or_copy

_EPOCH = (1980, 1, 1, 0, 0, 0)
INDEX = "frames.json"
T = TypeVar("T")


def write_image(
    path: Path,
    image: np.ndarray,
    fmt: Literal["png", "jpg"] = "png",
    quality: int = 95,
    png: Literal["fast", "libpng"] = "libpng",
) -> None:
    """Encode ``image`` ((H, W, 3) BGR or (H, W) gray, uint8; or an (H, W) bool mask, PNG
    only: 1 bit a pixel, read back as 0/255) as PNG or JPEG at ``path``.

    PNG is lossless whichever encoder, so the pixels every later stage reads are the same.
    ``png="libpng"`` (OpenCV's encoder, zlib level 1, run-length strategy: 26-39 % smaller
    than OpenCV's default on the synthetic frames and crops, libpng choosing each row's
    filter); ``png="fast"``: :func:`fast_png` (every row "Up"-filtered: about half the
    encoding time and a third less decoding time of a 1024² colour frame, a few % more
    bytes on frames, ~15 % on crops: ``benchmarks/results/image_io.json``). Gray images
    always take :func:`fast_png` (the same size as libpng's in a fifth of its time)."""
    import cv2

    gray = image.ndim == 2 and image.dtype in (np.uint8, np.bool_)
    if fmt == "png" and (gray or (image.dtype == np.uint8 and png == "fast")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(fast_png(image))
        return
    if fmt == "jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    else:
        params = [
            cv2.IMWRITE_PNG_COMPRESSION,
            1,
            cv2.IMWRITE_PNG_STRATEGY,
            cv2.IMWRITE_PNG_STRATEGY_RLE,
        ]
    ok, buf = cv2.imencode(f".{fmt}", image, params)
    if not ok:
        raise StageError(f"{path}: could not encode the image as {fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def deflate_fast(raw: bytes, wbits: int = 15) -> bytes:
    """``raw`` as a zlib stream (a PNG's IDAT; ``wbits=-15``: raw deflate, a zip member's)
    by ISA-L's deflate at level 1 (``isal``):
    remove-bg's 1024² matte in 0.28 ms against zlib's 5.3 at level 1 run-length, for 1.2×
    the bytes; a 1024² colour frame in 2.5 against 19.5 ms, 1.04× the bytes
    (``benchmarks/results/deflate.json``). Any inflater reads it. The same bytes every time
    on one kind of CPU; ISA-L picks its code by the CPU's features, so another kind (an
    ARM node, an x86 without SSE4.2) may deflate differently: the pixels stay the same, but
    an output redone there makes the stages after it redo theirs (their inputs' digests)."""
    from isal import isal_zlib

    return isal_zlib.compress(raw, 1, wbits=wbits)


def fast_png(image: np.ndarray) -> bytes:
    """An (H, W) gray or (H, W, 3) BGR uint8 image as PNG (RGB for colour): every row
    "Up"-filtered (its difference from the row above, one numpy subtraction), deflated by
    :func:`deflate_fast`. OpenCV lets libpng try every filter on every row, most of its
    encoding time; one filter for all rows is also the cheapest to undo when the file is
    read. For masks: about the size of OpenCV's PNG at 5x less time. An (H, W)
    bool mask is written 1 bit a pixel (PNG bit depth 1): decoders widen it to 0/255
    (libpng, so OpenCV's ``imread``), the pixels of the 8-bit 0/255 file; an eighth of
    the bytes to deflate (remove-bg's masks: a tenth of the time)."""
    import cv2

    h, w = image.shape[:2]
    colour = image.ndim == 3
    if colour and image.shape[2] != 3:
        raise ValueError(f"fast_png takes gray or 3-channel images, got shape {image.shape}")
    bits = image.dtype == np.bool_
    if bits:
        flat = np.packbits(image, axis=1)  # each row padded to whole bytes, as PNG wants
    else:
        flat = (cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if colour else image).reshape(h, -1)
    rows = np.empty((h, flat.shape[1] + 1), np.uint8)
    rows[:, 0] = 2  # PNG filter type Up
    rows[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])  # modulo 256, as PNG wants
    data = deflate_fast(rows.tobytes())
    # 8 bits (1 for a bool mask), colour type 2 (RGB) or 0 (gray), no interlace
    header = struct.pack(">IIBBBBB", w, h, 1 if bits else 8, 2 if colour else 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def read_image(path: Path, gray: bool = False) -> np.ndarray:
    """An image written by ``write_image``: (H, W, 3) BGR, or (H, W) with ``gray``."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if image is None:
        raise StageError(f"{path}: cannot read the image")
    return image


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def save_npz(path: Path, arrays: Mapping[str, np.ndarray], level: int = 6) -> None:
    """``numpy.savez_compressed`` without its time stamps: same arrays, same bytes.
    ``level``: deflate's; 1 (the per-frame maps and volumes) is ISA-L's level 1
    (:func:`deflate_fast`, :func:`fast_npz`: a fifth of zlib's level-1 time on a frame's
    maps for a few % more bytes; docs/throughput.md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if level == 1 and all(np.asanyarray(a).nbytes < 1 << 31 for a in arrays.values()):
        path.write_bytes(fast_npz(arrays))  # members under zip's 4 GB without Zip64
        return
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, _npy_bytes(arrays[key]), compresslevel=level)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


#: The zip fields ``save_npz`` writes as ``zipfile`` does for its members: made by Unix
#: (3) zip 2.0, deflated (8), dated 1980-01-01 00:00 (DOS time 0, date 0x21), -rw-r--r--
_ZIP_MADE_BY, _ZIP_NEEDS, _ZIP_DEFLATE, _DOS_DATE = (3 << 8) | 20, 20, 8, 0x21


def fast_npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` (a zip of ``<key>.npy`` members, in key order) whose members are deflated
    by :func:`deflate_fast`: what ``zipfile`` would write at another deflate, read by
    ``np.load``, ``zipfile`` and ``load_arrays`` alike. Written by hand because
    ``zipfile`` takes no other compressor."""
    local, central = [], []
    offset = 0
    for key in sorted(arrays):
        name = f"{key}.npy".encode()
        raw = _npy_bytes(arrays[key])
        data = deflate_fast(raw, wbits=-15)  # raw deflate, as zip members are
        sizes = struct.pack("<III", zlib.crc32(raw), len(data), len(raw))
        common = struct.pack("<HHHHH", _ZIP_NEEDS, 0, _ZIP_DEFLATE, 0, _DOS_DATE) + sizes
        head = b"PK\x03\x04" + common + struct.pack("<HH", len(name), 0) + name
        central.append(
            b"PK\x01\x02"
            + struct.pack("<H", _ZIP_MADE_BY)
            + common
            + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0o644 << 16, offset)
            + name
        )
        local += [head, data]
        offset += len(head) + len(data)
    directory = b"".join(central)
    end = b"PK\x05\x06" + struct.pack(
        "<HHHHIIH", 0, 0, len(central), len(central), len(directory), offset, 0
    )
    return b"".join(local) + directory + end


def file_signature(path: Path) -> str:
    """A cheap content signature of a source video or image folder (size plus the bytes at
    its start and end), to tell whether a previous output was made from the same file."""
    h = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.name}:{size}\0".encode())
        with open(p, "rb") as fh:
            h.update(fh.read(1 << 16))
            if size > 1 << 17:
                fh.seek(-(1 << 16), os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()[:20]


class PreviousOutput:
    """This stage's last complete output for the video (``StageContext.previous``), from
    which intact files are reused. A file counts as intact when its size is the one its
    manifest recorded (the orchestrator hands it over because some file is missing or
    truncated)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.sizes: dict[str, int] = {}
        self.index: dict[str, Any] | None = None
        if folder is None:
            return
        try:
            manifest = json.loads((folder / "_stage.json").read_text(encoding="utf-8"))
            self.sizes = {str(k): int(v) for k, v in manifest.get("files", {}).items()}
        except (OSError, ValueError, AttributeError):
            self.sizes = {}
        if self.intact(INDEX):
            try:
                self.index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.index = None

    def parsed(self, parse: Callable[[dict[str, Any], Path], T]) -> T | None:
        """The previous ``frames.json`` through ``parse`` (an output's ``from_json``, see
        ``hpt_data.stages.outputs``); None when there is none or it does not parse."""
        if self.index is None or self.folder is None:
            return None
        try:
            return parse(self.index, self.folder)
        except (KeyError, TypeError, AttributeError, ValueError):
            return None

    def intact(self, rel: str) -> bool:
        if self.folder is None or rel not in self.sizes:
            return False
        try:
            return (self.folder / rel).stat().st_size == self.sizes[rel]
        except OSError:
            return False

    def reuse(self, rel: str, out_dir: Path, dst_rel: str | None = None) -> bool:
        """Link (or copy) ``rel`` into ``out_dir`` (as ``dst_rel``, by default ``rel``) if
        intact; whether it was reused."""
        folder = self.folder
        if folder is None or not self.intact(rel):
            return False
        link_or_copy(folder / rel, out_dir / (rel if dst_rel is None else dst_rel))
        return True
