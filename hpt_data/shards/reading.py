"""Open shards and read frames, refusing anything that is not whole.

Shared by ``hpt-data verify`` and by ``hpt_model``'s dataset, which imports nothing else
of ``hpt_data``; it needs h5py, numpy, ``hdf5plugin`` (the Blosc filter of the arrays) and
``simplejpeg`` (libjpeg-turbo straight into a numpy array, with DCT-domain downscaling).
Every problem is a ``ShardError`` whose message starts with the file.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import simplejpeg

from hpt_data.errors import HptError
from hpt_data.shards.schema import (
    ENCODED_IMAGES,
    FIELD_BY_NAME,
    FIELDS,
    FLAT_IMAGES_SINCE,
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    crc_name,
    spans_name,
)

with contextlib.suppress(ImportError):  # open_shard says so if it is missing
    import hdf5plugin  # noqa: F401  registers the Blosc filter that version-2 arrays use

MANIFEST = "manifest.json"
BLOSC_FILTER = 32001  # HDF5's id of the Blosc filter (docs/shards.md)


class ShardError(HptError):
    """A shard or manifest that is missing, truncated, corrupt or of another schema."""


#: What h5py raises on a damaged file's structure (found by flipping its bytes): "bad heap
#: free list" (RuntimeError), "bad version number for datatype message" (KeyError on an
#: object's lookup), a broken chunk or heap (OSError), an undecodable string (ValueError)
HDF5_DAMAGE = (OSError, RuntimeError, KeyError, ValueError)


def open_shard(path: str | Path) -> h5py.File:
    """One shard file opened read-only with the Blosc filter registered.

    Plain ``h5py.File`` opens a shard but fails on its first Blosc array with "can't open
    directory (.../lib/plugin)" unless ``hdf5plugin`` was imported (docs/shards.md); this
    imports it. A missing, truncated or non-HDF5 file is a one-line ``ShardError`` naming it.
    """
    path = Path(path)
    if not h5py.h5z.filter_avail(BLOSC_FILTER):
        raise ShardError(
            f"{path}: cannot read the shards' Blosc-compressed arrays (HDF5 filter "
            f"{BLOSC_FILTER}): hdf5plugin is not installed; pip install hdf5plugin"
        )
    if not path.is_file():
        raise ShardError(f"{path}: no such shard file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ShardError(f"{path}: HDF5 cannot open it ({exc})") from None


def load_manifest(shard_dir: Path) -> dict[str, Any]:
    """The manifest of a shard folder, checked for its schema version."""
    path = Path(shard_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShardError(
            f"{path}: no manifest (write-shards never completed here); run write-shards"
        ) from None
    except (OSError, ValueError) as exc:
        raise ShardError(f"{path}: unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict):
        raise ShardError(f"{path}: unreadable manifest: not a JSON object")
    _check_version(path, manifest.get("schema_version"))
    _check_entries(path, manifest)
    return manifest


#: What every shard entry of a manifest holds, and its JSON type
ENTRY_KEYS = {"file": str, "split": str, "frames": int, "bytes": int, "sha256": str}


def _check_entries(path: Path, manifest: dict[str, Any]) -> None:
    """Every shard entry of ``manifest`` has the keys and types readers use (a damaged
    manifest otherwise fails later as a bare ``KeyError``)."""
    shards = manifest.get("shards")
    if not isinstance(shards, list):
        raise ShardError(f"{path}: unreadable manifest: no list of 'shards'")
    for i, entry in enumerate(shards):
        if not isinstance(entry, dict):
            raise ShardError(f"{path}: shard entry {i} is not a JSON object")
        for key, kind in ENTRY_KEYS.items():
            if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
                raise ShardError(f"{path}: shard entry {i} lacks '{key}' ({kind.__name__})")


def _check_version(path: Path, version: object) -> None:
    if version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise ShardError(
            f"{path}: schema version {version}, this hpt reads versions {readable} "
            f"(rewrite the shards with hpt-data write-shards)"
        )


def older_schema_note(path: Path, version: int) -> str | None:
    """What a reader of a set (or shard, ``path``) of schema ``version`` risks that the
    current schema avoids; None for the current one."""
    if version >= FLAT_IMAGES_SINCE:
        return None
    return (
        f"{path}: schema version {version}, readable, but its images sit in HDF5's global "
        f"heap, where one damaged byte can hang a reader with no error (version "
        f"{SCHEMA_VERSION} keeps them out: rewrite with hpt-data write-shards)"
    )


def decode_image(raw: bytes, size: int | None = None) -> np.ndarray:
    """JPEG (or PNG) bytes to (H, W, 3) uint8 RGB.

    ``size``: decode a JPEG at the smallest of libjpeg's n/8 scales whose sides are at least
    ``size`` (512 from 1024: half the decoding time, and equal to a 2×2 area average within
    rounding); None, or another format: full size.
    """
    if simplejpeg.is_jpeg(raw):
        side = size or 0
        return simplejpeg.decode_jpeg(raw, "RGB", min_height=side, min_width=side)
    import io

    from PIL import Image

    with Image.open(io.BytesIO(raw)) as img:
        return np.asarray(img.convert("RGB"))


class ShardFile:
    """One shard opened for reading. ``entry`` is its manifest entry (file, frames, bytes).

    Opening checks what is cheap: the size on disk against the manifest (a truncated
    copy fails here), that HDF5 can open it, its schema version and every field's
    presence, length and per-frame shape, and (version 6 on) that the images' spans tile
    their flat bytes. Reads check the chunk checksums (HDF5) and the images' CRC-32.
    """

    def __init__(self, shard_dir: Path, entry: dict[str, Any]) -> None:
        self.path = Path(shard_dir) / entry["file"]
        self.frames = int(entry["frames"])
        if not self.path.exists():
            raise ShardError(f"{self.path}: listed in the manifest but missing")
        size = self.path.stat().st_size
        if size != entry["bytes"]:
            raise ShardError(
                f"{self.path}: {size} bytes on disk, the manifest says {entry['bytes']} "
                "(truncated or replaced)"
            )
        self.h5 = open_shard(self.path)
        self.datasets: dict[str, h5py.Dataset] = {}  # by name: h5py's lookup costs ~20 µs
        self.defaults: dict[str, np.ndarray] = {}  # fields newer than this shard's version
        # version 6 on: each image field's (offset, length) per frame, (N, 2) uint64
        self.spans: dict[str, np.ndarray] = {}
        self.version = 0
        try:
            self._check_structure()
        except HDF5_DAMAGE as exc:  # a damaged object header, heap or datatype message
            self.h5.close()
            raise ShardError(f"{self.path}: HDF5 structure is corrupt ({exc})") from None
        except BaseException:
            self.h5.close()
            raise

    def _check_structure(self) -> None:
        version = self.h5.attrs.get("schema_version")
        _check_version(self.path, version)
        self.version = int(version)
        flat = self.version >= FLAT_IMAGES_SINCE
        for f in FIELDS:
            if f.name not in self.h5 and int(version) < f.since:
                self.defaults[f.name] = np.full(f.shape, f.default, dtype=f.dtype)
                continue
            if f.name not in self.h5:
                raise ShardError(f"{self.path}: field '{f.name}' is missing")
            ds = self.datasets[f.name] = self.h5[f.name]
            if not isinstance(ds, h5py.Dataset):  # a damaged link's type: a group, a type
                raise ShardError(f"{self.path}: field '{f.name}' is not a dataset")
            if flat and f.name in ENCODED_IMAGES:
                self.spans[f.name] = self._image_spans(f.name, ds)
                continue
            if len(ds) != self.frames:
                raise ShardError(
                    f"{self.path}: field '{f.name}' has {len(ds)} frames, expected {self.frames}"
                )
            if not f.encoded and ds.shape[1:] != f.shape:
                raise ShardError(
                    f"{self.path}: field '{f.name}' has shape {ds.shape[1:]}, expected {f.shape}"
                )
        for name in ENCODED_IMAGES:
            if crc_name(name) not in self.h5:
                raise ShardError(f"{self.path}: field '{crc_name(name)}' is missing")
            ds = self.datasets[crc_name(name)] = self.h5[crc_name(name)]
            if not isinstance(ds, h5py.Dataset):
                raise ShardError(f"{self.path}: field '{crc_name(name)}' is not a dataset")
            if ds.shape != (self.frames,):
                raise ShardError(
                    f"{self.path}: field '{crc_name(name)}' has shape {ds.shape}, "
                    f"expected ({self.frames},)"
                )

    def _image_spans(self, name: str, flat: h5py.Dataset) -> np.ndarray:
        """The spans of image field ``name``, checked: one per frame, each image after the
        one before, together exactly the flat bytes (a damaged span would otherwise read
        another image's bytes, or past the end)."""
        stored = self.h5.get(spans_name(name))
        if stored is None:
            raise ShardError(f"{self.path}: field '{spans_name(name)}' is missing")
        if not isinstance(stored, h5py.Dataset):  # a damaged link's type: a group, a type
            raise ShardError(f"{self.path}: field '{spans_name(name)}' is not a dataset")
        # the shapes before the read: a damaged dimension must not allocate its claim
        if stored.shape != (self.frames, 2) or flat.ndim != 1:
            raise ShardError(
                f"{self.path}: field '{name}' has {flat.shape} bytes and spans {stored.shape}, "
                f"expected (bytes,) and ({self.frames}, 2)"
            )
        if stored.dtype.kind not in "iu":  # a damaged datatype message
            raise ShardError(
                f"{self.path}: field '{spans_name(name)}' holds {stored.dtype}, not integers"
            )
        spans = np.asarray(stored[()], dtype=np.int64)
        ends = np.cumsum(spans[:, 1])
        starts = np.concatenate([[0], ends[:-1]])
        if (
            (spans[:, 1] < 0).any()
            or not np.array_equal(spans[:, 0], starts)
            or ((ends[-1] if len(ends) else 0) != len(flat))
        ):
            raise ShardError(
                f"{self.path}: field '{spans_name(name)}' does not tile the {len(flat)} bytes "
                f"of '{name}' (corrupt)"
            )
        return spans

    def encoded_bytes(self, name: str, index: int) -> bytes:
        """Frame ``index``'s stored image file of field ``name`` (JPEG bytes), its CRC-32
        checked."""
        spans = self.spans.get(name)
        try:
            if spans is None:  # versions 1-5: a variable-length array in HDF5's heap
                data = self.datasets[name][index].tobytes()
            else:
                start, length = spans[index]
                data = self.datasets[name][start : start + length].tobytes()
            expected = int(self.datasets[crc_name(name)][index])
        except HDF5_DAMAGE as exc:  # a broken chunk (or heap), a CRC chunk's Fletcher-32
            raise ShardError(
                f"{self.path}: frame {index} field '{name}' is corrupt ({exc})"
            ) from None
        if zlib.crc32(data) != expected:
            raise ShardError(f"{self.path}: frame {index} field '{name}' fails its CRC-32")
        return data

    def read(
        self, index: int, fields: Iterable[str] | None = None, image_size: int | None = None
    ) -> dict[str, Any]:
        """Frame ``index`` as a dict of numpy arrays (images decoded, (H, W, 3) RGB) and
        strings. ``image_size``: decode images at the smallest JPEG scale ≥ it (see
        ``decode_image``); None: at the stored 1024."""
        names = list(fields) if fields is not None else [f.name for f in FIELDS]
        out: dict[str, Any] = {}
        for name in names:
            f = FIELD_BY_NAME[name]
            if name in self.defaults:
                out[name] = self.defaults[name].copy()
                continue
            try:
                if name in ENCODED_IMAGES:
                    value = decode_image(self.encoded_bytes(name, index), image_size)
                else:
                    value = self.datasets[name][index]
                    if f.codec == "text":
                        value = _text(value)
            except ShardError:
                raise
            except HDF5_DAMAGE as exc:  # a Fletcher-32 failure, a broken chunk or heap
                raise ShardError(
                    f"{self.path}: frame {index} field '{name}' is corrupt ({exc})"
                ) from None
            out[name] = value
        return out

    def text_column(self, name: str) -> list[str]:
        """Every frame's value of the text field ``name`` (``video_id``, ``frame_id``, ...),
        read at once; a damaged heap or an undecodable string is a ShardError naming the
        file and the field."""
        try:
            return [_text(v) for v in self.h5[name][:]]
        except HDF5_DAMAGE as exc:
            raise ShardError(f"{self.path}: field '{name}' is corrupt ({exc})") from None

    def close(self) -> None:
        self.h5.close()


def _text(value: Any) -> str:
    """A text field's stored value as str (bytes in version 5, either kind before)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def shard_entries(manifest: dict[str, Any], split: str | None = None) -> list[dict[str, Any]]:
    return [s for s in manifest["shards"] if split is None or s["split"] == split]


def label_ranges_ok(ds: h5py.Dataset, max_value: int) -> int | None:
    """The first frame whose labels exceed ``max_value``, else None (reads every chunk)."""
    for i in range(len(ds)):
        if int(np.max(ds[i])) > max_value:
            return i
    return None
