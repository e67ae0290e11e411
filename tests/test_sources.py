"""Video sources: the entry-point registry, a contributor's plugin, video_folder, splits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hpt_data.errors import SourceError
from hpt_data.sources.base import VideoRecord
from hpt_data.sources.registry import list_sources, load_source_class
from hpt_data.sources.split import SplitRule, assign_splits
from hpt_data.sources.video_folder import VideoFolderOptions, VideoFolderSource

REPO = Path(__file__).resolve().parents[1]
HPT_DATA = Path(sys.executable).parent / "hpt-data"


def write_clip(path: Path, frames: int = 8, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((size[1], size[0], 3), (i * 20) % 255, np.uint8)
        cv2.circle(img, (10 + 4 * i, size[1] // 2), 6, (0, 0, 255), -1)
        writer.write(img)
    writer.release()
    return path


def test_builtin_sources_are_registered_through_entry_points() -> None:
    names = {e.name: e for e in list_sources()}
    assert names["video_folder"].target == "hpt_data.sources.video_folder:VideoFolderSource"
    assert names["synthetic"].target == "hpt_data.sources.synthetic:SyntheticSource"
    assert load_source_class("video_folder") is VideoFolderSource
    with pytest.raises(
        SourceError, match=r"unknown video source 'nope' \(registered: .*video_folder"
    ):
        load_source_class("nope")


def test_video_folder_lists_good_clips_and_reports_bad_files(tmp_path: Path) -> None:
    good = write_clip(tmp_path / "anna_walk.mp4")
    (tmp_path / "bert_empty.mp4").write_bytes(b"")
    (tmp_path / "carl_text.mp4").write_text("this is not a video\n")
    (tmp_path / "dora_cut.mp4").write_bytes(good.read_bytes()[:600])  # truncated
    (tmp_path / "notes.txt").write_text("ignored: not a video extension")
    scan = VideoFolderSource(tmp_path).scan()
    assert [(v.video_id, v.person_id) for v in scan.videos] == [("anna_walk", "anna")]
    assert scan.videos[0].path == str(good.resolve())
    reasons = {Path(p.path).name: p.reason for p in scan.problems}
    assert set(reasons) == {"bert_empty.mp4", "carl_text.mp4", "dora_cut.mp4"}
    assert reasons["bert_empty.mp4"] == "empty file (0 bytes)"
    assert "cannot open" in reasons["carl_text.mp4"] or "no frame" in reasons["carl_text.mp4"]
    assert "cannot open" in reasons["dora_cut.mp4"] or "no frame" in reasons["dora_cut.mp4"]


def test_video_folder_person_from_csv_and_folders_and_image_sequences(tmp_path: Path) -> None:
    (tmp_path / "p1").mkdir()
    write_clip(tmp_path / "p1" / "clip.mp4")
    seq = tmp_path / "p2" / "seq"
    seq.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(seq / f"{i:04d}.png"), np.full((20, 20, 3), 40 * i, np.uint8))
    by_folder = VideoFolderSource(tmp_path, VideoFolderOptions(person_from="folder")).scan()
    assert sorted((v.video_id, v.person_id) for v in by_folder.videos) == [
        ("p1__clip", "p1"),
        ("p2__seq", "p2"),  # an image sequence is a video: its parent names the person
    ]
    (tmp_path / "persons.csv").write_text("file,person,action\np1/clip.mp4,alice,walking\n")
    by_csv = VideoFolderSource(tmp_path, VideoFolderOptions(person_from="csv")).scan()
    assert [(v.person_id, v.action) for v in by_csv.videos] == [("alice", "walking")]
    assert [Path(p.path).name for p in by_csv.problems] == ["seq"]
    (tmp_path / "persons.csv").write_text("name,who\n")
    with pytest.raises(SourceError, match=r"persons\.csv:1: expected a header"):
        VideoFolderSource(tmp_path, VideoFolderOptions(person_from="csv")).scan()


def test_video_folder_options_are_checked() -> None:
    with pytest.raises(ValueError, match="named group"):
        VideoFolderOptions(person_pattern=r"^(\w+)")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        VideoFolderOptions(person_pattern=r"(?P<person>")


def _records(persons: int, per_person: int = 2) -> list[VideoRecord]:
    return [
        VideoRecord(f"v{p}-{k}", f"p{p}", "x", "/x", action=f"a{k}")
        for p in range(persons)
        for k in range(per_person)
    ]


def test_split_by_person_is_seeded_disjoint_and_about_the_fraction() -> None:
    videos = _records(20)
    split = assign_splits(videos, SplitRule(by="person", test_fraction=0.1, seed=0))
    test_persons = {v.person_id for v in split if v.split == "test"}
    train_persons = {v.person_id for v in split if v.split == "train"}
    assert len(test_persons) == 2 and not test_persons & train_persons
    again = assign_splits(list(reversed(videos)), SplitRule(test_fraction=0.1, seed=0))
    assert {v.person_id for v in again if v.split == "test"} == test_persons
    other = assign_splits(videos, SplitRule(test_fraction=0.1, seed=1))
    assert {v.person_id for v in other if v.split == "test"} != test_persons


def test_split_by_action_lists() -> None:
    rule = SplitRule(by="action", train_actions=["a0"], test_actions=["a1"])
    split = assign_splits(_records(2, 3), rule)
    assert {v.action: v.split for v in split} == {"a0": "train", "a1": "test", "a2": "excluded"}
    with pytest.raises(ValueError, match="both train and test"):
        SplitRule(by="action", train_actions=["a"], test_actions=["a"])


@pytest.mark.slow
def test_a_contributors_source_installs_and_is_listed(tmp_path: Path) -> None:
    """The README's worked example, pip-installed into a folder and put on the path."""
    site = tmp_path / "site"
    package = shutil.copytree(REPO / "examples" / "hpt-source-example", tmp_path / "pkg")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = subprocess.run(
        [str(HPT_DATA), "sources"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("csv_manifest"))
    assert "hpt_source_example:CsvManifestSource" in line
    assert "[hpt-source-example]" in line and "options: manifest" in line

    # and a dataset can use it: the scan lands in the work folder
    root = tmp_path / "videos"
    root.mkdir()
    write_clip(root / "a.mp4")
    (root / "videos.csv").write_text("path,person,action\na.mp4,zoe,dance\nb.mp4,zoe,run\n")
    config = tmp_path / "datasets.yaml"
    config.write_text(
        f"version: 1\nwork_root: {tmp_path / 'work'}\ndatasets:\n"
        f"  mine:\n    source: csv_manifest\n    root: {root}\n"
    )
    built = subprocess.run(
        [str(HPT_DATA), "build", "-d", "mine", "-c", str(config), "-w", "1", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # the clip holds no person: remove-bg fails it (and says why), so the run exits 1
    assert built.returncode == 1, built.stderr
    assert "a.mp4: no usable frame" in built.stdout
    assert f"skipped {root / 'b.mp4'}: listed but missing" in built.stdout
    assert (tmp_path / "work" / "mine" / "videos" / "a" / "video.json").exists()
