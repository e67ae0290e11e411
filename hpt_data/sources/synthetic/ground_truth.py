"""Read and write a clip's ground-truth ``.npz`` byte for byte reproducibly.

``numpy.savez`` stamps every zip entry with the current time, so two identical renders a
second apart differ in bytes. This writer fixes the timestamps (and the entry order), so
the same seed gives the same file; ``numpy.load`` reads it as usual. See
``docs/synthetic.md`` for the fields.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: Version of the ground-truth layout; bump when a field changes meaning.
GT_FORMAT_VERSION = 1

_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` with fixed timestamps, keys in sorted order.

    Arrays must not hold Python objects (``numpy.load(..., allow_pickle=False)`` reads them).
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for key in sorted(arrays):
            arr = np.asanyarray(arrays[key])
            if arr.dtype == object:
                raise ValueError(f"ground-truth field {key!r} holds Python objects")
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)


def load_ground_truth(path: str | Path) -> dict[str, np.ndarray]:
    """Load a clip's ground truth into a dict of arrays (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
