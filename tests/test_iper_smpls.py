"""iPER's per-frame SMPL fits (``smpls/<person>/<outfit>/<action>/pose_shape.pkl``): the
source records the file in the video's meta, the reader gives back the arrays as written and
refuses a malformed file or a pickle that reaches for code, in one line naming it."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from hpt_data.errors import HptError
from hpt_data.sources.iper import IperSource
from hpt_data.sources.iper_smpls import read_pose_shape

DATA = Path(__file__).parent / "data" / "iper"


def write_fits(path: Path, rows: int, protocol: int = 2, **arrays: np.ndarray) -> dict:
    """A pose_shape.pkl of seeded arrays (as the release's: float32, one row per frame)."""
    rng = np.random.default_rng(rows)
    data = {
        "pose": rng.normal(size=(rows, 72)).astype(np.float32),
        "shape": rng.normal(size=(rows, 10)).astype(np.float32),
        "cams": rng.normal(size=(rows, 3)).astype(np.float32),
    }
    data.update(arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return data


def test_the_source_records_the_fits_and_the_reader_returns_them(tmp_path: Path) -> None:
    root = tmp_path / "iper"
    shutil.copytree(DATA, root)
    fits = root / "smpls" / "001" / "1" / "1" / "pose_shape.pkl"
    frames = len(list((root / "images_HD" / "001" / "1" / "1").glob("*.jpg")))
    written = write_fits(fits, frames)
    videos = {v.video_id: v for v in IperSource(root).scan().videos}
    assert videos["001_1_1"].meta["smpl"] == {
        "file": str(fits.resolve()),
        "format": "iper_pose_shape",
    }
    assert all("smpl" not in v.meta for k, v in videos.items() if k != "001_1_1")
    for protocol in (2, 4):
        write_fits(fits, frames, protocol)
        got = read_pose_shape(fits, frames=frames)
        assert len(got) == frames
        for key in ("pose", "shape", "cams"):
            np.testing.assert_array_equal(getattr(got, key), written[key])


def test_a_malformed_or_hostile_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pose_shape.pkl"
    write_fits(path, 3, cams=np.zeros((3, 4)))
    with pytest.raises(HptError, match=r"'cams' is float64 \(3, 4\), expected \(N, 3\)"):
        read_pose_shape(path)
    write_fits(path, 3, shape=np.zeros((2, 10)))
    with pytest.raises(HptError, match="row counts differ"):
        read_pose_shape(path)
    write_fits(path, 3)
    with pytest.raises(HptError, match="3 rows, the video has 5 frames"):
        read_pose_shape(path, frames=5)
    path.write_bytes(pickle.dumps({"pose": np.zeros((1, 72))}))
    with pytest.raises(HptError, match="no 'shape' array"):
        read_pose_shape(path)
    marker = tmp_path / "ran"

    class Hostile:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path.write_bytes(pickle.dumps({"pose": Hostile()}))
    with pytest.raises(HptError) as caught:
        read_pose_shape(path)
    assert str(path) in str(caught.value) and "refuses to unpickle" in str(caught.value)
    assert "\n" not in str(caught.value) and not marker.exists()
