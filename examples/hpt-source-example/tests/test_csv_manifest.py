"""The plugin keeps hpt_data's source contract, on real (tiny) videos made here.

Run from this folder: ``pytest`` (after ``pip install -e .`` the options also go through
``hpt_data.config`` exactly as ``hpt-data`` reads them).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hpt_source_example import CsvManifestSource

from hpt_data.errors import SourceError
from hpt_data.testing import check_source


def write_clip(path: Path, frames: int = 6, size: tuple[int, int] = (64, 48)) -> Path:
    """A small real mp4 (a dot moving over a grey ramp)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((size[1], size[0], 3), 30 * i, np.uint8)
        cv2.circle(img, (8 + 6 * i, size[1] // 2), 5, (0, 0, 255), -1)
        writer.write(img)
    writer.release()
    return path


def test_the_source_keeps_the_contract(tmp_path: Path) -> None:
    write_clip(tmp_path / "zoe dance.mp4")
    write_clip(tmp_path / "sub" / "max.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "list.csv").write_text(
        "path,person,action\n"
        "zoe dance.mp4,zoe,dance\n"
        "sub/max.mp4,max,\n"
        "gone.mp4,zoe,run\n"
        "empty.mp4,max,run\n"
    )
    report = check_source(CsvManifestSource, {"manifest": "list.csv"}, tmp_path)
    assert [(v.video_id, v.person_id, v.action) for v in report.videos] == [
        ("zoe-dance", "zoe", "dance"),  # safe_id: the space is no folder-name character
        ("sub-max", "max", None),
    ]
    reasons = {Path(p.path).name: p.reason for p in report.problems}
    assert reasons == {"gone.mp4": "listed but missing", "empty.mp4": "empty file (0 bytes)"}


def test_a_missing_manifest_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"videos\.csv: manifest not found"):
        CsvManifestSource(tmp_path).scan()
