"""The hpt-data command line: exit codes, one-line errors, what build and info print."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_sources import write_clip
from train_records import write_train_shards
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.stages import STAGE_NAMES

runner = CliRunner()


@pytest.fixture
def folder_config(tmp_path: Path) -> Path:
    videos = tmp_path / "videos"
    videos.mkdir()
    write_clip(videos / "anna_walk.mp4")
    write_clip(videos / "ben_jump.mp4")
    (videos / "carl_broken.mp4").write_text("not a video")
    config = tmp_path / "datasets.yaml"
    config.write_text(
        "version: 1\nwork_root: work\ndatasets:\n"
        "  clips:\n    source: video_folder\n    root: videos\n"
    )
    return config


def test_every_stage_has_a_command_with_the_common_options() -> None:
    for name in [*STAGE_NAMES, "build"]:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        for option in ("--dataset", "--config", "--workers", "--limit", "--executor", "--force"):
            assert option in result.output, (name, option)


def test_write_shards_takes_only_the_options_it_uses() -> None:
    # it writes one task per shard range on the workers; --force means nothing to it
    result = runner.invoke(app, ["write-shards", "--help"])
    assert result.exit_code == 0
    for option in ("--dataset", "--config", "--work-root", "--limit", "--quiet", "--workers"):
        assert option in result.output, option
    for option in ("--executor", "--ray-address", "--retries"):
        assert option in result.output, option
    assert "--force" not in result.output
    refused = runner.invoke(app, ["write-shards", "--force"])
    assert refused.exit_code == 2 and "No such option: --force" in refused.output


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "datasets.yaml"
    bad.write_text("version: 1\ndatasets:\n  x:\n    source: video_folder\n    rot: y\n")
    result = runner.invoke(app, ["build", "--config", str(bad), "-d", "x"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {bad}:5: datasets.x.rot: unknown key")


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'none.yaml'}: no such file"


def test_build_runs_what_exists_and_info_reports_it(folder_config: Path) -> None:
    result = runner.invoke(app, ["build", "-c", str(folder_config), "-d", "clips", "-w", "1"])
    # the clips hold no person: remove-bg fails both (and says why), so the run exits 1
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "remove-bg      0 ok, 0 skipped, 2 failed, 0 blocked" in out
    assert "anna_walk.mp4: no usable frame; all 8 flagged (no person found: 8)" in out
    assert "carl_broken.mp4: not a video file (its content is no known container" in out
    assert "source         0 ok, 2 skipped, 0 failed, 0 blocked" in out
    work = folder_config.parent / "work" / "clips"
    assert f"work folder: {work}" in out
    assert sorted(p.name for p in (work / "videos").iterdir()) == ["anna_walk", "ben_jump"]

    info = runner.invoke(app, ["info", "-c", str(folder_config), "-d", "clips"])
    assert info.exit_code == 0
    assert "videos: 2 listed, 1 skipped by the source" in info.stdout
    assert "sample-frames  2 done" in info.stdout
    assert "remove-bg      2 failed" in info.stdout
    for later in ("pose2d", "fit-smpl", "render-maps", "voxelize"):  # never reached
        assert f"{later:<14} 2 missing" in info.stdout, later


def test_limit_keeps_the_first_videos(folder_config: Path) -> None:
    result = runner.invoke(
        app, ["build", "-c", str(folder_config), "-d", "clips", "-w", "1", "--limit", "1", "-q"]
    )
    assert result.exit_code == 1  # remove-bg finds no person in the clip (see above)
    work = folder_config.parent / "work" / "clips" / "videos"
    assert [p.name for p in work.iterdir()] == ["anna_walk"]


def test_unknown_dataset_lists_known(folder_config: Path) -> None:
    result = runner.invoke(app, ["info", "-c", str(folder_config), "-d", "nope"])
    assert result.exit_code == 2
    assert "no dataset named 'nope' (datasets: clips)" in result.stderr


# ------------------------------------------------ verify and stats on a bare shard folder


@pytest.fixture(scope="module")
def bare_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real shard set (2 persons x 2 frames) with no datasets.yaml anywhere near it."""
    return write_train_shards(tmp_path_factory.mktemp("received") / "shards", 2, 2)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _shard_files(shards: Path) -> list[Path]:
    manifest = json.loads((shards / "manifest.json").read_text())
    return [shards / entry["file"] for entry in manifest["shards"]]


def test_verify_and_stats_take_a_shard_folder_without_datasets_yaml(
    bare_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPT_DATASETS", raising=False)
    assert runner.invoke(app, ["verify"]).exit_code == 2  # -d demo needs a datasets.yaml
    result = runner.invoke(app, ["verify", str(bare_shards)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"ok: {bare_shards} is a whole shard set"
    assert runner.invoke(app, ["verify", "--quick", str(bare_shards)]).exit_code == 0
    shard = _shard_files(bare_shards)[0]
    alone = runner.invoke(app, ["verify", str(shard)])
    assert alone.exit_code == 0, alone.output
    assert alone.stdout.startswith(f"ok: {shard} is a whole shard")

    shards = _copy(bare_shards, tmp_path / "copy")  # stats writes its plots beside them
    result = runner.invoke(app, ["stats", str(shards)])
    assert result.exit_code == 0, result.output
    assert "train: 4 frames, 2 persons (p0 2, p1 2)" in result.stdout
    assert (shards / "stats.png").is_file() and (shards / "stats.json").is_file()


def test_stats_out_leaves_the_shard_folder_as_it_was(bare_shards: Path, tmp_path: Path) -> None:
    shards = _copy(bare_shards, tmp_path / "copy")
    before = sorted(p.name for p in shards.iterdir())
    plots = tmp_path / "plots"
    result = runner.invoke(app, ["stats", str(shards), "--out", str(plots)])
    assert result.exit_code == 0, result.output
    assert (plots / "stats.png").is_file() and (plots / "stats.json").is_file()
    assert sorted(p.name for p in shards.iterdir()) == before
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    refused = runner.invoke(app, ["stats", str(shards), "--out", str(blocked / "plots")])
    assert refused.exit_code == 2
    assert refused.stderr.strip().startswith(f"error: {blocked / 'plots'}: cannot create")


def test_verify_names_a_truncated_shard(bare_shards: Path, tmp_path: Path) -> None:
    shards = _copy(bare_shards, tmp_path / "copy")
    shard = _shard_files(shards)[0]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    for target in (shards, shard):  # against the manifest, and the file alone (HDF5's check)
        result = runner.invoke(app, ["verify", str(target)])
        assert result.exit_code == 1, result.output
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"problem: {shard}: "), lines
        assert "truncated" in lines[0]


def test_verify_and_stats_refuse_a_folder_that_is_not_a_shard_folder(tmp_path: Path) -> None:
    for command in ("verify", "stats"):
        result = runner.invoke(app, [command, str(tmp_path)])
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines() == [
            f"error: {tmp_path}: no manifest.json: not a shard folder "
            "(hpt-data write-shards makes one)"
        ]
    missing = runner.invoke(app, ["verify", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or folder"
