"""Write frames into size-bounded HDF5 shards, crash-safely.

A run writes a new *generation* folder ``<out>/gen-<id>/`` holding ``<split>-<nnnnn>.h5``
shards, each written under a temporary name and renamed when closed; then
``<out>/manifest.json`` (shard list, frame counts, sizes, SHA-256 checksums, and what the
caller adds: ``write-shards`` adds the frames dropped per stage, the failed videos and the
dataset's ``provenance``, ``hpt_data.provenance``; and the pair list of each split given to
``write_pairs``, ``hpt_data.shards.pairs``) is replaced atomically, and only then are older
generations deleted. Whenever a run is killed, the manifest still describes a
complete set (the old one, or none yet): no reader or ``verify`` ever accepts a partly
written shard.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
from h5py import h5s

from hpt_data.shards.pairs import Pair, format_pairs, pairs_file_name
from hpt_data.shards.schema import (
    ENCODED_IMAGES,
    FIELDS,
    IMAGE_CHUNK_BYTES,
    SCHEMA_VERSION,
    TEXT_BYTES,
    Field,
    check_record,
    crc_name,
    spans_name,
)

MANIFEST = "manifest.json"
JPEG_QUALITY = 95
#: A bound on the bytes of HDF5's own structures one frame adds (chunk index entries,
#: B-tree nodes, a partly filled chunk of the images' flat bytes): generous, since an
#: estimate too low delays the flush that measures, and the shard passes ``max_bytes`` by
#: the frames written meanwhile
FRAME_METADATA_BOUND = 64 << 10
#: A frame is estimated at up to this many times the most any frame before it in the shard
#: added (on the chain benchmark's clip frames add 471-512 kB; a person filling more of the
#: crop adds more); frames beyond it can carry their shard past ``max_bytes`` before a
#: flush measures it
GROWTH_MARGIN = 4
# Blosc's own BloscLZ, level 5, for the uint8 labels, masks and volume (byte shuffle, a
# no-op on one-byte values): about a quarter of LZ4HC level 3's writing time on them for
# about 30 % more of their bytes (~4 % of a frame's), decoding a little slower (docs/shards.md,
# docs/throughput.md); LZ4HC 3 until 2026-12-06, whose shards read the same values.
BLOSC = hdf5plugin.Blosc(cname="blosclz", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE)
# Plain LZ4 with byte shuffle for the float16 depth maps: LZ4HC's match search spent most of
# the array writing time on them for ~10 % fewer bytes; plain LZ4 writes them several times
# faster and decodes them as fast or faster (docs/shards.md, benchmarks/results/image_io.json).
BLOSC_DEPTH = hdf5plugin.Blosc(cname="lz4", clevel=9, shuffle=hdf5plugin.Blosc.SHUFFLE)


def blosc_filter(dtype: str) -> Any:
    """The Blosc settings of an array field of ``dtype``: :data:`BLOSC_DEPTH` for float16
    depth, :data:`BLOSC` for the rest. Either is HDF5 filter 32001, which says in each chunk
    how it was compressed: readers need no change."""
    return BLOSC_DEPTH if dtype == "float16" else BLOSC


def encode_image(rgb: np.ndarray, codec: str) -> bytes:
    """(H, W, 3) uint8 RGB to JPEG (quality 95, 4:4:4) or PNG bytes, through Pillow."""
    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(np.ascontiguousarray(rgb))
    if codec == "jpeg":
        img.save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ShardInfo:
    file: str  # relative to the output folder
    split: str
    frames: int
    bytes: int
    sha256: str


class _OpenShard:
    """One shard being filled: resizable datasets, one chunk per frame (the images: flat
    bytes in :data:`IMAGE_CHUNK_BYTES` chunks, a span per frame)."""

    def __init__(self, path: Path, split: str, dataset: str) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        self.h5 = h5py.File(self.tmp, "w")
        self.h5.attrs["schema_version"] = SCHEMA_VERSION
        # fixed-length UTF-8 bytes: a str attribute would be a variable-length string in
        # HDF5's global heap, which version 6 keeps out of the file (schema.py)
        self.h5.attrs["split"] = np.bytes_(split.encode("utf-8"))
        self.h5.attrs["dataset"] = np.bytes_(dataset.encode("utf-8"))
        self.frames = 0
        # the size at the last flush, a bound on what the frames since can have added, how
        # many there were, and the most one frame has added (:meth:`reached`)
        self._flushed = self._since = self._frames_since = self._most = 0
        for f in FIELDS:
            if f.codec == "text":  # fixed-length UTF-8 in checksummed chunks (version 5)
                self.h5.create_dataset(
                    f.name,
                    (0,),
                    maxshape=(None,),
                    dtype=f"S{TEXT_BYTES}",
                    chunks=(64,),
                    fletcher32=True,
                )  # uncompressed: 1 KB a frame for the four, readable without hdf5plugin
            elif f.encoded:  # an image's bytes, end to end (version 6): no heap to damage
                self.h5.create_dataset(
                    f.name, (0,), maxshape=(None,), dtype="uint8", chunks=(IMAGE_CHUNK_BYTES,)
                )  # no Fletcher-32: each image's CRC-32 covers its bytes
            else:
                kwargs: dict[str, Any] = {"fletcher32": True}
                if f.codec == "blosc":
                    kwargs.update(blosc_filter(f.dtype))
                self.h5.create_dataset(
                    f.name,
                    (0, *f.shape),
                    maxshape=(None, *f.shape),
                    dtype=f.dtype,
                    chunks=(1, *f.shape) if f.shape else (1024,),
                    **kwargs,
                )
        for name in ENCODED_IMAGES:
            self.h5.create_dataset(
                crc_name(name),
                (0,),
                maxshape=(None,),
                dtype="uint32",
                chunks=(1024,),
                fletcher32=True,
            )
            self.h5.create_dataset(
                spans_name(name),
                (0, 2),
                maxshape=(None, 2),
                dtype="uint64",
                chunks=(1024, 2),
                fletcher32=True,
            )
        self._image_end = dict.fromkeys(ENCODED_IMAGES, 0)  # bytes in each image field
        # the datasets, looked up once (h5py's lookup by name costs more than a small write)
        self._ds = {name: self.h5[name] for name in self.h5}
        # each array field's frame as a memory space, made once: its frame is written by
        # h5py's low-level call (the same H5Dwrite as ``ds[n] = value``, without the
        # selection machinery, which cost more than most fields' writes)
        self._frame_space = {
            f.name: h5s.create_simple((1, *f.shape)) for f in FIELDS if not f.encoded
        }

    def _write_array(self, f: Field, n: int, value: Any) -> None:
        """Frame ``n`` of array field ``f``: grow the dataset by one frame, write it."""
        dsid = self._ds[f.name].id
        dsid.set_extent((n + 1, *f.shape))
        space = dsid.get_space()
        space.select_hyperslab((n, *(0 for _ in f.shape)), (1, *f.shape))
        arr = np.ascontiguousarray(value, dtype=f.dtype).reshape(1, *f.shape)
        dsid.write(self._frame_space[f.name], space, arr)

    def _append_image(self, name: str, n: int, data: bytes) -> None:
        """Frame ``n``'s encoded image: its bytes after the field's others, its span and
        its CRC-32."""
        start = self._image_end[name]
        end = self._image_end[name] = start + len(data)
        flat = self._ds[name]
        flat.resize((end,))
        flat[start:end] = np.frombuffer(data, np.uint8)
        for aux, value in (
            (spans_name(name), (start, len(data))),
            (crc_name(name), zlib.crc32(data)),
        ):
            ds = self._ds[aux]
            ds.resize((n + 1, *ds.shape[1:]))
            ds[n] = value

    def append(self, record: dict[str, Any]) -> None:
        n = self.frames
        raw = 0
        for f in FIELDS:
            value = record[f.name]
            if not f.encoded:
                self._write_array(f, n, value)
                raw += np.asarray(value).nbytes
                continue
            if f.codec in ("jpeg", "png"):
                data = encode_image(np.asarray(value), f.codec)
                self._append_image(f.name, n, data)
                raw += len(data)
            else:
                ds = self._ds[f.name]
                ds.resize((n + 1,))
                ds[n] = np.bytes_(str(value).encode("utf-8"))
                raw += TEXT_BYTES  # stored fixed-length, uncompressed
        self.frames += 1
        self._frames_since += 1
        bound = raw + raw // 64 + FRAME_METADATA_BOUND
        self._since += min(bound, GROWTH_MARGIN * self._most) if self._most else bound

    def size_on_disk(self) -> int:
        self.h5.flush()
        size = self.tmp.stat().st_size
        if self._frames_since:
            self._most = max(self._most, (size - self._flushed) // self._frames_since)
        self._flushed, self._since, self._frames_since = size, 0, 0
        return size

    def reached(self, max_bytes: int) -> bool:
        """Whether the shard holds ``max_bytes`` or more. Flushing to measure costs
        several ms a frame (a sixth of the writer's time on the chain benchmark's clip), so
        it is done only once the size at the last flush plus an estimate of what the frames
        since added can reach the limit: per frame, its uncompressed bytes (with 1/64 for
        a codec's worst expansion and :data:`FRAME_METADATA_BOUND`), or
        :data:`GROWTH_MARGIN` times the most a frame has added before, if less. The same
        frames give the same decisions, so serial and parallel writes stay identical."""
        if self._flushed + self._since < max_bytes:
            return False
        return self.size_on_disk() >= max_bytes

    def close(self) -> ShardInfo:
        self.h5.attrs["num_frames"] = self.frames
        self.h5.close()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)
        return ShardInfo(
            file=f"{self.path.parent.name}/{self.path.name}",
            split=str(self.path.name.split("-")[0]),
            frames=self.frames,
            bytes=self.path.stat().st_size,
            sha256=sha256_file(self.path),
        )


@dataclass
class ShardWriter:
    """Context manager: ``write(split, record)`` frames, shards roll over at ``max_bytes``.

    The manifest is written on a clean exit only; an exception or a kill leaves the
    previous generation in force.
    """

    out_dir: Path
    dataset: str
    max_bytes: int = 1 << 30
    extra: dict[str, Any] = field(default_factory=dict)  # copied into the manifest (JSON)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.max_bytes < 1 << 20:
            raise ValueError(f"max_bytes must be at least 1 MiB, got {self.max_bytes}")
        self._gen = new_generation()
        self._open: dict[str, _OpenShard] = {}
        self._count: dict[str, int] = {}
        self._done: list[ShardInfo] = []
        self._pairs: dict[str, dict[str, Any]] = {}  # split -> its manifest entry

    def __enter__(self) -> ShardWriter:
        (self.out_dir / self._gen).mkdir(parents=True, exist_ok=False)
        return self

    def write(self, split: str, record: dict[str, Any]) -> None:
        check_record(record)
        shard = self._open.get(split)
        if shard is None:
            index = self._count.get(split, 0)
            self._count[split] = index + 1
            path = self.out_dir / self._gen / f"{split}-{index:05d}.h5"
            shard = self._open[split] = _OpenShard(path, split, self.dataset)
        shard.append(record)
        if shard.reached(self.max_bytes):
            self._done.append(shard.close())
            del self._open[split]

    def write_pairs(self, split: str, pairs: list[Pair], **info: Any) -> None:
        """Store ``split``'s pair list in this generation (:func:`write_pairs_file`)."""
        self._pairs[split] = write_pairs_file(self.out_dir / self._gen, split, pairs, **info)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            for shard in self._open.values():
                shard.h5.close()
                shard.tmp.unlink(missing_ok=True)
            shutil.rmtree(self.out_dir / self._gen, ignore_errors=True)
            return
        for shard in self._open.values():
            self._done.append(shard.close())
        self._open.clear()
        self._publish()

    def _publish(self) -> None:
        publish(self.out_dir, self.dataset, self._gen, self._done, self.extra, self._pairs)


def new_generation() -> str:
    """A fresh generation folder name: ``gen-<UTC time>-<random>``."""
    return f"gen-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def write_pairs_file(gen_dir: Path, split: str, pairs: list[Pair], **info: Any) -> dict[str, Any]:
    """Write ``split``'s pair list (``((video_id, frame_id), (video_id, frame_id))``, source
    then target) into the generation folder ``gen_dir`` as ``pairs-<split>.csv``, and return
    its manifest entry (file, count, size, SHA-256, and ``info``: origin, pairs left out,
    ...). Frames are not checked here: ``hpt-data verify`` checks that every pair's frames
    are in the split."""
    from hpt_data.workdir import atomic_output

    data = format_pairs(pairs)
    path = Path(gen_dir) / pairs_file_name(split)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return {
        "file": f"{path.parent.name}/{path.name}",
        "pairs": len(pairs),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **info,
    }


def publish(
    out_dir: Path,
    dataset: str,
    gen: str,
    shards: list[ShardInfo],
    extra: dict[str, Any],
    pairs: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Make generation ``gen`` (its ``shards``, all closed, and the entries of its ``pairs``
    files, :func:`write_pairs_file`) the one in force: replace the manifest atomically, then
    delete the older generations."""
    from hpt_data.workdir import write_json_atomic

    splits: dict[str, int] = {}
    for s in shards:
        splits[s.split] = splits.get(s.split, 0) + s.frames
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset,
        "generation": gen,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "frames": splits,
        "shards": [s.__dict__ for s in sorted(shards, key=lambda s: s.file)],
        "pairs": dict(sorted((pairs or {}).items())),
        **extra,
    }
    write_json_atomic(out_dir / MANIFEST, manifest)
    for old in out_dir.glob("gen-*"):
        if old.name != gen:
            shutil.rmtree(old, ignore_errors=True)


class RangeWriter:
    """The shards of one range of one split, in a generation folder that another process
    publishes: ``<stem>-<k:03d>.h5``, rolled over at ``max_bytes`` like :class:`ShardWriter`,
    each renamed into place when closed; no manifest. Opening removes what an earlier,
    killed attempt at the same range left (its shards and temporary files)."""

    def __init__(self, gen_dir: Path, dataset: str, split: str, stem: str, max_bytes: int):
        self.gen_dir, self.dataset, self.split, self.stem = Path(gen_dir), dataset, split, stem
        self.max_bytes = max_bytes
        self._open: _OpenShard | None = None
        self.done: list[ShardInfo] = []
        for stale in [*self.gen_dir.glob(f"{stem}-*.h5"), *self.gen_dir.glob(f".{stem}-*")]:
            stale.unlink(missing_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        check_record(record)
        if self._open is None:
            path = self.gen_dir / f"{self.stem}-{len(self.done):03d}.h5"
            self._open = _OpenShard(path, self.split, self.dataset)
        self._open.append(record)
        if self._open.reached(self.max_bytes):
            self.done.append(self._open.close())
            self._open = None

    def close(self) -> list[ShardInfo]:
        if self._open is not None:
            self.done.append(self._open.close())
            self._open = None
        return self.done

    def abort(self) -> None:
        if self._open is not None:
            self._open.h5.close()
            self._open.tmp.unlink(missing_ok=True)
            self._open = None
