"""Copies of a shard set as older schemas wrote them, for the tests of reading old sets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from hpt_data.shards.schema import ENCODED_IMAGES, FIELDS, FLAT_IMAGES_SINCE, spans_name
from hpt_data.shards.writer import sha256_file


def as_version(src: Path, dst: Path, version: int) -> Path:
    """A copy of a shard set as an older schema wrote it: the images as variable-length
    arrays in HDF5's heap (versions 1-5), the text fields as variable-length strings there
    (versions 1-4), lzf instead of Blosc (version 1's; the codec is not part of the
    version), for version 1 no ``camera_distance`` (new in 2); manifest and attributes
    saying ``version``."""
    assert version < FLAT_IMAGES_SINCE, "a copy as a version whose images are flat is a copy"
    manifest = json.loads((src / "manifest.json").read_text())
    text = {f.name for f in FIELDS if f.codec == "text" and version < 5}
    for entry in manifest["shards"]:
        (dst / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(src / entry["file"], "r") as a, h5py.File(dst / entry["file"], "w") as b:
            b.attrs.update(a.attrs)
            b.attrs["schema_version"] = version
            for name, ds in a.items():
                if (name == "camera_distance" and version == 1) or name.endswith("_spans"):
                    continue
                if name in ENCODED_IMAGES:  # each frame's bytes, a vlen array in the heap
                    spans = a[spans_name(name)][()]
                    images = b.create_dataset(
                        name, (len(spans),), dtype=h5py.vlen_dtype(np.uint8), chunks=(64,),
                        maxshape=(None,),
                    )  # fmt: skip
                    for i, (start, length) in enumerate(spans):
                        images[i] = ds[start : start + length]
                elif name in text:
                    values = [v.decode("utf-8") for v in ds[:]]
                    b.create_dataset(
                        name, data=values, dtype=h5py.string_dtype(), chunks=(64,),
                        maxshape=(None,),
                    )  # fmt: skip
                elif "32001" in ds._filters:  # Blosc (HDF5 filter 32001): lzf, as 1 wrote
                    # (H5Ocopy of a Blosc dataset aborted the process under pytest here)
                    b.create_dataset(
                        name, data=ds[:], chunks=ds.chunks, maxshape=ds.maxshape,
                        compression="lzf", shuffle=True, fletcher32=True,
                    )  # fmt: skip
                else:
                    a.copy(name, b)
        entry["bytes"] = (dst / entry["file"]).stat().st_size
        entry["sha256"] = sha256_file(dst / entry["file"])
    if version < 3:  # no stored pairs before 3
        manifest.pop("pairs", None)
    for entry in manifest.get("pairs", {}).values():
        (dst / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / entry["file"], dst / entry["file"])
    manifest["schema_version"] = version
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst
