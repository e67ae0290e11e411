"""``build --fuse-stages``: each video's stages as one task give the same shards, and the
per-stage report, as the stage-by-stage build (``conftest.tiny_dataset``). One tiny build
(about half a minute on 2 cores): the only way to compare what the two ways write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.shards.reading import load_manifest
from hpt_model.data import ShardFrames

pytestmark = pytest.mark.slow
runner = CliRunner()


def _frames(shards: Path) -> dict[tuple[str, str, str], dict]:
    out = {}
    for split in load_manifest(shards)["frames"]:
        frames = ShardFrames(shards, split)
        for i in range(len(frames)):
            rec = frames.read(i)
            out[(split, rec["video_id"], rec["frame_id"])] = rec
    return out


def test_fused_build_writes_the_shards_of_the_stage_by_stage_build(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    args = ["build", "-c", str(tiny_dataset), "-d", "tiny", "-w", "1", "-q", "--fuse-stages"]
    result = runner.invoke(app, [*args, "--work-root", str(tmp_path / "fused")])
    assert result.exit_code == 0, result.output
    for stage in ("remove-bg", "pose2d", "fit-smpl", "render-maps", "voxelize"):
        line = next(ln for ln in result.stdout.splitlines() if ln.startswith(stage))
        assert " 2 ok, 0 skipped, 0 failed, 0 blocked" in line, line
    fused = _frames(tmp_path / "fused" / "tiny" / "shards")
    staged = _frames(tiny_dataset.parent / "work" / "tiny" / "shards")
    assert len(fused) >= 4 and sorted(fused) == sorted(staged)
    for key, rec in fused.items():
        other = staged[key]
        assert rec.keys() == other.keys()
        for name, value in rec.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, other[name], err_msg=f"{key} {name}")
            else:
                assert value == other[name], (key, name)
    # a second fused build finds every stage up to date
    again = runner.invoke(app, [*args, "--work-root", str(tmp_path / "fused")])
    assert again.exit_code == 0, again.output
    line = next(ln for ln in again.stdout.splitlines() if ln.startswith("voxelize"))
    assert " 0 ok, 2 skipped" in line, line
