"""What the stage output readers share: frame ids and file names, and reading an index or
an ``.npz`` with a one-line :class:`~hpt_data.errors.StageError` when it is missing or
malformed."""

from __future__ import annotations

import io
import json
import re
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.errors import StageError
from hpt_data.fast_zlib import fast_zlib
from hpt_data.stages._frames_io import INDEX


def frame_id(index: int) -> str:
    """The id of the frame with source ``index`` from ``fit-smpl`` on: ``000012``."""
    return f"{int(index):06d}"


def safe_name(fid: str) -> str:
    """A file name for a frame id (ids are the fitter's; keep them readable)."""
    bad = set('/\\:*?"<>| ')
    return "".join("_" if c in bad else c for c in fid) or "frame"


def read_index_json(folder: Path, stage: str) -> dict[str, Any]:
    """``folder``'s ``frames.json`` as a dict; a one-line StageError when unreadable."""
    path = Path(folder) / INDEX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StageError(f"{path}: cannot read the {stage} index ({exc})") from None
    if not isinstance(data, dict):
        raise StageError(f"{path}: the {stage} index is not a JSON object")
    return data


def malformed(folder: Path, name: str, stage: str, exc: Exception) -> StageError:
    """The one-line error of a file that parses but lacks what its stage writes."""
    what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
    return StageError(f"{Path(folder) / name}: malformed {stage} output ({what})")


MALFORMED = (KeyError, TypeError, AttributeError)  # what a from_json raises on a bad index


def parse_index(cls: Any, folder: Path) -> Any:
    """``cls.from_json`` of the ``frames.json`` in ``folder``, or a one-line StageError."""
    data = read_index_json(folder, cls.STAGE)
    try:
        return cls.from_json(data, Path(folder))
    except MALFORMED as exc:
        raise malformed(folder, INDEX, cls.STAGE, exc) from None


#: What ``np.load`` raises on a damaged ``.npz`` (found by flipping bytes of real outputs):
#: a bad CRC (``BadZipFile``), a broken deflate stream (``zlib.error``), a garbled zip
#: header (``NotImplementedError``: "zip file version 23.5", a compression method;
#: ``RuntimeError``: the "encrypted" flag), a garbled ``.npy`` header, which numpy parses
#: before the CRC is checked (``TokenError``, ``SyntaxError``), and the usual short reads
UNREADABLE_NPZ = (
    OSError,
    RuntimeError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    SyntaxError,
    tokenize.TokenError,
)

# the header numpy writes for a plain array (``np.lib.format``): dtype, order and shape
_NPY_HEADER = re.compile(
    rb"\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (False|True), "
    rb"'shape': \(((?:\d+, ?)*\d*)\), \} *\n"
)


class DamagedNpz(ValueError):
    """An ``.npz`` whose own checks fail (a CRC, a member's size, its name in the two
    headers, the central directory's count, a deflate stream): read no further, since
    ``np.load`` reads a member's header before its CRC and may not check the CRC at all
    (it stops reading a member where the header's shape says the data ends)."""


def _fast_npz(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` held in ``data``, each member inflated in one call and its
    CRC-32 checked, its header matched by :data:`_NPY_HEADER`: the same arrays as
    ``np.load`` (writable copies) at about half its time on a frame's maps, where numpy's
    per-member file objects and ``ast`` header parsing cost as much as the inflating.
    Raises :class:`DamagedNpz` where the file fails its own checks, ValueError on anything
    else it does not take (an unusual header or member: the caller falls back to numpy)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    end = data.rfind(b"PK\x05\x06")  # the end record: its count of members
    if end >= 0 and len(data) >= end + 12:
        listed = struct.unpack("<H", data[end + 10 : end + 12])[0]
        if listed != 0xFFFF and listed != len(infos):  # 0xFFFF: Zip64 keeps the count
            raise DamagedNpz(f"{listed} members listed, {len(infos)} found")
    out = {}
    for info in infos:
        if info.flag_bits & 1 or not info.filename.endswith(".npy"):
            raise ValueError("encrypted or not an array")
        off = info.header_offset
        if data[off : off + 4] != b"PK\x03\x04":
            raise DamagedNpz(f"{info.filename}: no local header")
        name_len, extra_len = struct.unpack("<HH", data[off + 26 : off + 30])
        name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
        if data[off + 30 : off + 30 + name_len] != name:
            raise DamagedNpz(f"{info.filename}: its two headers name it differently")
        start = off + 30 + name_len + extra_len
        stored = data[start : start + info.compress_size]
        if info.compress_type == zipfile.ZIP_DEFLATED:
            try:
                raw = fast_zlib.decompress(stored, -15)
            except Exception as exc:  # zlib.error, isal_zlib.error
                raise DamagedNpz(f"{info.filename}: {exc}") from None
        elif info.compress_type == zipfile.ZIP_STORED:
            raw = stored
        else:
            raise ValueError("compression")
        if len(raw) != info.file_size or fast_zlib.crc32(raw) != info.CRC:
            raise DamagedNpz(f"{info.filename}: bad CRC-32")
        if raw[:6] != b"\x93NUMPY" or raw[6] not in (1, 2, 3):
            raise ValueError("not an array")
        if raw[6] == 1:  # format 1: a 2-byte header length, 2 and 3: 4 bytes
            size, at = struct.unpack("<H", raw[8:10])[0], 10
        else:
            size, at = struct.unpack("<I", raw[8:12])[0], 12
        match = _NPY_HEADER.fullmatch(raw[at : at + size])
        if match is None:
            raise ValueError("header")
        dtype = np.dtype(match.group(1).decode())
        shape = tuple(int(x) for x in match.group(3).split(b",") if x.strip())
        count = int(np.prod(shape, dtype=np.int64))
        if dtype.hasobject or len(raw) != at + size + count * dtype.itemsize:
            raise ValueError("size")
        order = "F" if match.group(2) == b"True" else "C"
        flat = np.frombuffer(raw, dtype, count, at + size)
        out[info.filename[:-4]] = flat.reshape(shape, order=order).copy(order=order)
    return out


def load_arrays(path: Path, stage: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (no pickles), loaded; StageError if unreadable.
    Read by :func:`_fast_npz`; a damaged file is refused there, and one it does not take
    otherwise (or cannot read) goes to ``np.load``, whose arrays or errors are the answer."""
    try:
        return _fast_npz(Path(path).read_bytes())
    except DamagedNpz as exc:
        raise StageError(f"{path}: cannot read the {stage} arrays ({exc})") from None
    except Exception:  # numpy reads it, or says why not
        pass
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except UNREADABLE_NPZ as exc:
        raise StageError(f"{path}: cannot read the {stage} arrays ({exc})") from None


def need_arrays(arrays: dict[str, np.ndarray], keys: Sequence[str], path: Path) -> None:
    """StageError naming the ``keys`` missing from ``arrays`` (read from ``path``)."""
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise StageError(f"{path}: missing {', '.join(missing)}")


def folder_of(obj: Any, what: str) -> Path:
    """The folder an output was read from (its per-frame files are relative to it)."""
    if obj.folder is None:
        raise ValueError(f"{what} was not read from a folder: pass it to read() first")
    return Path(obj.folder)
