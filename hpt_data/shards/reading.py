"""Open shards and read frames, refusing anything that is not whole (h5py + numpy only).

Shared by ``hpt-data verify`` and by ``hpt_model``'s dataset, which imports nothing else
of ``hpt_data``. Every problem is a ``ShardError`` whose message starts with the file.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hpt_data.errors import HptError
from hpt_data.shards.schema import (
    ENCODED_IMAGES,
    FIELD_BY_NAME,
    FIELDS,
    SCHEMA_VERSION,
    crc_name,
)

MANIFEST = "manifest.json"


class ShardError(HptError):
    """A shard or manifest that is missing, truncated, corrupt or of another schema."""


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
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ShardError(f"{path}: schema version {version}, this hpt reads {SCHEMA_VERSION}")
    return manifest


def decode_image(data: np.ndarray) -> np.ndarray:
    """JPEG/PNG bytes (as a uint8 array) to (H, W, 3) uint8 RGB."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data.tobytes())) as img:
        return np.asarray(img.convert("RGB"))


class ShardFile:
    """One shard opened for reading. ``entry`` is its manifest entry (file, frames, bytes).

    Opening checks what is cheap: the size on disk against the manifest (a truncated
    copy fails here), that HDF5 can open it, its schema version and every field's
    presence, length and per-frame shape. Reads check the chunk checksums (HDF5) and the
    images' CRC-32.
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
        try:
            self.h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise ShardError(f"{self.path}: HDF5 cannot open it ({exc})") from None
        try:
            self._check_structure()
        except ShardError:
            self.h5.close()
            raise

    def _check_structure(self) -> None:
        version = self.h5.attrs.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ShardError(f"{self.path}: schema version {version}, expected {SCHEMA_VERSION}")
        for f in FIELDS:
            if f.name not in self.h5:
                raise ShardError(f"{self.path}: field '{f.name}' is missing")
            ds = self.h5[f.name]
            if len(ds) != self.frames:
                raise ShardError(
                    f"{self.path}: field '{f.name}' has {len(ds)} frames, expected {self.frames}"
                )
            if not f.encoded and ds.shape[1:] != f.shape:
                raise ShardError(
                    f"{self.path}: field '{f.name}' has shape {ds.shape[1:]}, expected {f.shape}"
                )

    def read(self, index: int, fields: Iterable[str] | None = None) -> dict[str, Any]:
        """Frame ``index`` as a dict of numpy arrays (images decoded) and strings."""
        names = list(fields) if fields is not None else [f.name for f in FIELDS]
        out: dict[str, Any] = {}
        for name in names:
            f = FIELD_BY_NAME[name]
            try:
                value = self.h5[name][index]
                if name in ENCODED_IMAGES:
                    expected = int(self.h5[crc_name(name)][index])
                    if zlib.crc32(value.tobytes()) != expected:
                        raise ShardError(
                            f"{self.path}: frame {index} field '{name}' fails its CRC-32"
                        )
                    value = decode_image(value)
                elif f.codec == "text":
                    value = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            except ShardError:
                raise
            except (OSError, ValueError) as exc:  # a Fletcher-32 failure, a broken chunk
                raise ShardError(
                    f"{self.path}: frame {index} field '{name}' is corrupt ({exc})"
                ) from None
            out[name] = value
        return out

    def close(self) -> None:
        self.h5.close()


def shard_entries(manifest: dict[str, Any], split: str | None = None) -> list[dict[str, Any]]:
    return [s for s in manifest["shards"] if split is None or s["split"] == split]


def label_ranges_ok(ds: h5py.Dataset, max_value: int) -> int | None:
    """The first frame whose labels exceed ``max_value``, else None (reads every chunk)."""
    for i in range(len(ds)):
        if int(np.max(ds[i])) > max_value:
            return i
    return None
