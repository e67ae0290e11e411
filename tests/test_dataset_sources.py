"""The sources of published datasets (deepfashion, iper, human36m) read their owners' layouts.

Each runs on its fixture in ``tests/data`` (synthetic people under the official names and
formats; ``tests/data/make_dataset_fixtures.py`` makes them). The expected ids, splits,
persons and pairs below are written from those files' content (the lists, the CSVs, the
protocol), not from the plugins; broken copies of the fixtures check the one-line problems.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.errors import HptError, SourceError
from hpt_data.sources.base import VideoRecord
from hpt_data.sources.deepfashion import DeepFashionOptions, DeepFashionSource
from hpt_data.sources.human36m import Human36mOptions, Human36mSource
from hpt_data.sources.iper import IperOptions, IperSource
from hpt_data.sources.registry import list_sources
from hpt_data.sources.split import SplitRule, assign_splits
from hpt_data.testing import check_source
from hpt_data.video import VideoError, VideoReader

DATA = Path(__file__).parent / "data"
OURS = {"deepfashion": DeepFashionSource, "iper": IperSource, "human36m": Human36mSource}
DEV_ENTRY_POINTS = "[hpt_data.sources]\n" + "".join(
    f"{name} = {cls.__module__}:{cls.__name__}\n" for name, cls in OURS.items()
)


@pytest.fixture(scope="module", autouse=True)
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The three registered as pyproject.toml declares them: an install made before they were
    added does not list them, so a throwaway ``.dist-info`` does (as pip would)."""
    if set(OURS) <= {e.name for e in list_sources()}:
        yield
        return
    site = tmp_path_factory.mktemp("site")
    info = site / "hpt_dev_sources-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hpt-dev-sources\nVersion: 0\n")
    (info / "entry_points.txt").write_text(DEV_ENTRY_POINTS)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(site))
        yield


def fixture(name: str, tmp_path: Path) -> Path:
    """A scratch copy of ``tests/data/<name>`` (tests break their copies)."""
    root = tmp_path / name
    shutil.copytree(DATA / name, root)
    return root


def by_id(videos: list[VideoRecord]) -> dict[str, VideoRecord]:
    return {v.video_id: v for v in videos}


def reasons(scan) -> list[tuple[str, str]]:
    return [(Path(p.path).name, p.reason) for p in scan.problems]


# ------------------------------------------------------------------- the contract


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_source_keeps_the_contract_on_its_fixture(name: str, tmp_path: Path) -> None:
    report = check_source(OURS[name], None, fixture(name, tmp_path), sample=None)
    assert report.through_registry  # the options went through hpt_data.config itself
    assert report.problems == []
    assert len(report.checked) == {"deepfashion": 7, "iper": 6, "human36m": 5}[name]


def test_sources_command_lists_the_three() -> None:
    result = CliRunner().invoke(app, ["sources"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.splitlines() if line.strip()}
    assert {"deepfashion", "iper", "human36m"} <= listed


# ------------------------------------------------------------------- deepfashion

DF_TRAIN = {
    "fashionWOMENBlouses_Shirtsid0000000101_1front": "id_00000001",
    "fashionWOMENBlouses_Shirtsid0000000102_4full": "id_00000001",
    "fashionMENDenimid0000000201_1front": "id_00000002",
    "fashionMENDenimid0000000202_4full": "id_00000002",
}
DF_TEST = {
    "fashionWOMENDressesid0000000301_1front": "id_00000003",
    "fashionWOMENDressesid0000000302_4full": "id_00000003",
    "fashionWOMENDressesid0000000303_7additional": "id_00000003",
}
# fasion-resize-pairs-test.csv, row by row
DF_TEST_PAIRS = [
    ("fashionWOMENDressesid0000000301_1front", "fashionWOMENDressesid0000000302_4full"),
    ("fashionWOMENDressesid0000000301_1front", "fashionWOMENDressesid0000000303_7additional"),
    ("fashionWOMENDressesid0000000302_4full", "fashionWOMENDressesid0000000301_1front"),
    ("fashionWOMENDressesid0000000302_4full", "fashionWOMENDressesid0000000303_7additional"),
]
# fasion-resize-annotation-train.csv, fashionMENDenimid0000000201_1front.jpg: y then x
DF_Y = [47, 59, 69, 96, 116, 75, 101, 125, 117, 156, 198, 117, 154, 184, 42, 44, 42, -1]
DF_X = [87, 75, 58, 56, 63, 89, 85, 84, 62, 58, 50, 81, 91, 75, 83, 88, 71, -1]


def test_deepfashion_reads_photos_items_splits_pairs_and_keypoints(tmp_path: Path) -> None:
    scan = DeepFashionSource(fixture("deepfashion", tmp_path)).scan()
    assert scan.problems == []
    videos = by_id(scan.videos)
    assert {k: v.person_id for k, v in videos.items()} == DF_TRAIN | DF_TEST
    assert {k for k, v in videos.items() if v.split == "train"} == set(DF_TRAIN)
    assert {k for k, v in videos.items() if v.split == "test"} == set(DF_TEST)
    shirt = videos["fashionWOMENBlouses_Shirtsid0000000101_1front"]
    assert (shirt.meta["gender"], shirt.meta["category"], shirt.meta["photo"]) == (
        "WOMEN",
        "Blouses_Shirts",
        "01",
    )
    assert shirt.action == "1front"
    assert Path(shirt.path).name == "fashionWOMENBlouses_Shirtsid0000000101_1front.jpg"
    got = [(p.source_video, p.target_video) for p in scan.pairs]
    assert got == DF_TEST_PAIRS
    assert {(p.split, p.source_frame, p.target_frame) for p in scan.pairs} == {("test", 0, 0)}
    prior = videos["fashionMENDenimid0000000201_1front"].meta["openpose18"]
    want = [[-1, -1] if x == -1 else [x, y] for x, y in zip(DF_X, DF_Y, strict=True)]
    assert prior == {
        "xy": want,
        "image_size": [176, 256],
        "file": "fasion-resize-annotation-train.csv",
    }


@pytest.mark.parametrize("family", ["fashion", "fasion", "fashion-resize"])
def test_deepfashion_reads_each_naming_family(family: str, tmp_path: Path) -> None:
    root = fixture("deepfashion", tmp_path)
    for f in root.glob("fasion-resize-*.csv"):
        f.rename(root / f.name.replace("fasion-resize", family))
    scan = DeepFashionSource(root).scan()
    assert [(p.source_video, p.target_video) for p in scan.pairs] == DF_TEST_PAIRS
    prior = by_id(scan.videos)["fashionMENDenimid0000000201_1front"].meta["openpose18"]
    assert prior["file"] == f"{family}-annotation-train.csv"
    train = DeepFashionSource(root, DeepFashionOptions(pair_splits=["train", "test"])).scan()
    assert {p.split for p in train.pairs} == {"train", "test"}
    assert len(train.pairs) == 4 + 4  # the train CSV's rows, then the test CSV's


def test_deepfashion_reports_each_broken_file_in_one_line(tmp_path: Path) -> None:
    root = fixture("deepfashion", tmp_path)
    ann = root / "fasion-resize-annotation-test.csv"
    ann.write_text(ann.read_text() + "x.jpg: [1, 2]: [3, 4]\nno columns here\ny.jpg: [a]: [b]\n")
    (root / "fasion-resize-pairs-test.csv").write_text(
        "from,to\nfashionWOMENDressesid0000000301_1front.jpg,gone.jpg\n,\n"
    )
    (root / "train" / "holiday.jpg").write_bytes(b"not an In-shop name")
    (root / "train" / "fashionMENDenimid0000000203_1front.jpg").write_bytes(b"")
    moved = "fashionWOMENDressesid0000000303_7additional.jpg"
    shutil.move(root / "test" / moved, root / "train" / moved)  # listed in test.lst
    scan = DeepFashionSource(root).scan()
    got = reasons(scan)
    assert (
        "fasion-resize-annotation-test.csv",
        "line 5 keypoints_y: expected 18 coordinates, got 2",
    ) in got
    assert (
        "fasion-resize-annotation-test.csv",
        "line 6: expected 3 ':'-separated columns, got 1",
    ) in got
    assert any(
        n == ann.name and r.startswith("line 7 keypoints_y: not a bracketed") for n, r in got
    )
    assert ("fasion-resize-pairs-test.csv", "line 3: empty 'from' or 'to'") in got
    assert (
        "fasion-resize-pairs-test.csv",
        "1 of 1 pairs name a photo that was not found or not usable (first: gone.jpg)",
    ) in got
    assert any(n == "holiday.jpg" and "not a flattened In-shop name" in r for n, r in got)
    assert ("fashionMENDenimid0000000203_1front.jpg", "empty file (0 bytes)") in got
    assert (moved, "in the train folder but listed in test.lst") in got
    assert all("\n" not in r for _, r in got) and len(got) == 8
    assert len(scan.videos) == 6  # the other photos are kept


def test_deepfashion_without_photo_folders_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no 'train/' or 'test/' photo folder"):
        DeepFashionSource(tmp_path).scan()


# ------------------------------------------------------------------- iper


def test_iper_reads_frame_folders_lists_and_protocol_pairs(tmp_path: Path) -> None:
    scan = IperSource(fixture("iper", tmp_path)).scan()
    assert scan.problems == []
    videos = by_id(scan.videos)
    # train.txt: 001/1/1 001/1/2 002/1/1 002/1/2; val.txt: 003/1/1 003/1/2
    assert {k: (v.person_id, v.split, v.action) for k, v in videos.items()} == {
        "001_1_1": ("001", "train", "1"),
        "001_1_2": ("001", "train", "2"),
        "002_1_1": ("002", "train", "1"),
        "002_1_2": ("002", "train", "2"),
        "003_1_1": ("003", "test", "1"),
        "003_1_2": ("003", "test", "2"),
    }
    # protocol: 003/1/1 s_n 1 = 000.jpg, self range [0, 300] over 3 frames (cut at the end);
    # 003/1/2 s_n 1 = 001.jpg, self range [1, 2]
    pairs = [
        (p.split, p.source_video, p.source_frame, p.target_video, p.target_frame)
        for p in scan.pairs
    ]
    assert pairs == [
        ("test", "003_1_1", 0, "003_1_1", 0),
        ("test", "003_1_1", 0, "003_1_1", 1),
        ("test", "003_1_1", 0, "003_1_1", 2),
        ("test", "003_1_2", 1, "003_1_2", 1),
        ("test", "003_1_2", 1, "003_1_2", 2),
    ]
    both = IperSource(
        tmp_path / "iper", IperOptions(protocol_targets=["self_imitation", "cross_imitation"])
    )
    cross = [p for p in both.scan().pairs if p.target_video != p.source_video]
    # cross targets: 003/1/1 -> 001/1/2 [1, 2]; 003/1/2 -> 002/1/1 [0, 1]
    assert [(p.source_video, p.source_frame, p.target_video, p.target_frame) for p in cross] == [
        ("003_1_1", 0, "001_1_2", 1),
        ("003_1_1", 0, "001_1_2", 2),
        ("003_1_2", 1, "002_1_1", 0),
        ("003_1_2", 1, "002_1_1", 1),
    ]


def test_iper_reads_the_video_release_too(tmp_path: Path) -> None:
    root = tmp_path / "iper_video"
    (root / "iPER_256_video_release").mkdir(parents=True)
    for name in ("001_1_1", "002_3_2"):
        frames = sorted((DATA / "iper" / "images_HD" / "001" / "1" / "1").glob("*.jpg"))
        writer = cv2.VideoWriter(
            str(root / "iPER_256_video_release" / f"{name}.mp4"),
            cv2.VideoWriter_fourcc(*"mp4v"),
            25,
            (240, 240),
        )
        for f in frames:
            writer.write(cv2.imread(str(f)))
        writer.release()
    (root / "train.txt").write_text("001/1/1\n")
    (root / "val.txt").write_text("002/3/2\n")
    scan = IperSource(root).scan()
    assert scan.problems == []
    assert {(v.video_id, v.person_id, v.split, Path(v.path).suffix) for v in scan.videos} == {
        ("001_1_1", "001", "train", ".mp4"),
        ("002_3_2", "002", "test", ".mp4"),
    }


def test_iper_reports_each_broken_file_in_one_line(tmp_path: Path) -> None:
    root = fixture("iper", tmp_path)
    (root / "train.txt").write_text(
        "001/1/1\n001/1/2\n002/1/1\n002/1/2\n003/1/1\nnot a video\n009/1/1\n"
    )
    (root / "images_HD" / "004" / "1" / "1").mkdir(parents=True)  # no frames in it
    protocol = json.loads((root / "iPER_protocol.json").read_text())
    protocol["val"]["003/1/2"]["self_imitation"]["range"] = [2, 1]
    protocol["val"]["008/1/1"] = protocol["val"]["003/1/1"]
    (root / "iPER_protocol.json").write_text(json.dumps(protocol))
    scan = IperSource(root).scan()
    got = reasons(scan)
    assert (
        "train.txt",
        "line 6: expected <person>/<outfit>/<action> like 001/9/1, got 'not a video'",
    ) in got
    assert any(
        n == "train.txt" and r.startswith("lists 009/1/1, which is not under") for n, r in got
    )
    assert ("1", "image folder holds no images") in got
    assert ("1", "listed in both train.txt and val.txt") in got
    assert (
        "iPER_protocol.json",
        "003/1/2 self_imitation range: expected [first, last] frame numbers, got [2, 1]",
    ) in got
    assert ("iPER_protocol.json", "008/1/1: the protocol's video was not found") in got
    assert ("iPER_protocol.json", "003/1/1: the protocol's video was not found") in got  # skipped
    assert all("\n" not in r for _, r in got) and len(got) == 7
    assert "003_1_1" not in by_id(scan.videos)  # in both lists: skipped
    assert {p.source_video for p in scan.pairs} == set()  # 003/1/1 skipped, 003/1/2 broken
    (root / "iPER_protocol.json").write_text("{not json")
    assert reasons(IperSource(root).scan())[-1][1].startswith("not valid JSON: ")


def test_iper_without_frames_or_videos_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"neither 'images_HD/' \(frame folders\) nor"):
        IperSource(tmp_path).scan()


# ------------------------------------------------------------------- human36m

# the fixture's files: S1 "Greeting.54138969", "Directions 1.54138969"; S9 "Photo.55011271",
# "Walking 1.54138969"; S11 "Directions.54138969" (corrupt in the release), "Posing.55011271"
H36M = {
    "S1_Greeting.54138969": ("S1", "Greeting"),
    "S1_Directions_1.54138969": ("S1", "Directions"),
    "S9_Photo.55011271": ("S9", "TakingPhoto"),
    "S9_Walking_1.54138969": ("S9", "Walking"),
    "S11_Posing.55011271": ("S11", "Posing"),
}


def test_human36m_splits_by_subject_and_by_the_papers_actions(tmp_path: Path) -> None:
    root = fixture("human36m", tmp_path)
    scan = Human36mSource(root).scan()
    assert scan.problems == [] and scan.pairs == []
    videos = by_id(scan.videos)
    assert {k: (v.person_id, v.action) for k, v in videos.items()} == H36M
    assert {k: v.split for k, v in videos.items()} == {
        "S1_Greeting.54138969": "train",
        "S1_Directions_1.54138969": "train",
        "S9_Photo.55011271": "test",
        "S9_Walking_1.54138969": "test",
        "S11_Posing.55011271": "test",
    }
    assert videos["S1_Directions_1.54138969"].meta == {
        "subject": "S1",
        "take": 1,
        "camera": "54138969",
    }
    paper = Human36mSource(root, Human36mOptions(protocol="paper_actions")).scan()
    assert {v.video_id: v.split for v in paper.videos} == {
        "S1_Greeting.54138969": "train",
        "S1_Directions_1.54138969": "test",
        "S9_Photo.55011271": "test",
        "S9_Walking_1.54138969": "train",
        "S11_Posing.55011271": "train",
    }
    one_camera = Human36mSource(root, Human36mOptions(cameras=["55011271"], exclude=[])).scan()
    assert {v.video_id for v in one_camera.videos} == {"S9_Photo.55011271", "S11_Posing.55011271"}
    everything = Human36mSource(root, Human36mOptions(exclude=[])).scan()
    assert "S11_Directions.54138969" in by_id(everything.videos)


def test_human36m_reports_each_broken_file_in_one_line(tmp_path: Path) -> None:
    root = fixture("human36m", tmp_path)
    videos = root / "S9" / "Videos"
    shutil.copy(videos / "Photo.55011271.mp4", videos / "_ALL.55011271.mp4")
    shutil.copy(videos / "Photo.55011271.mp4", videos / "Dancing.55011271.mp4")
    (videos / "Eating 2.60457274.mp4").write_bytes(b"")
    got = reasons(Human36mSource(root).scan())
    assert sorted(got) == [
        ("Dancing.55011271.mp4", "unknown action 'Dancing'"),
        ("Eating 2.60457274.mp4", "empty file (0 bytes)"),
        ("_ALL.55011271.mp4", "not an action video (<Action>[ <take>].<camera>.mp4)"),
    ]
    with pytest.raises(SourceError, match=r"no S<n>/Videos/ folder"):
        Human36mSource(tmp_path / "nothing").scan()
    with pytest.raises(ValueError, match=r"unknown actions \['Dance'\]"):
        Human36mOptions(test_actions=["Dance"])


# ------------------------------------------------------------------- split by: source


def test_split_by_source_keeps_the_sources_split_and_refuses_a_missing_one() -> None:
    def rec(i: str, split: str) -> VideoRecord:
        return VideoRecord(i, "p", "iper", f"/x/{i}", split=split)

    kept = assign_splits(
        [rec("a", "train"), rec("b", "test"), rec("c", "excluded")], SplitRule(by="source")
    )
    assert [v.split for v in kept] == ["train", "test", "excluded"]
    with pytest.raises(HptError) as caught:
        assign_splits([rec("a", "train"), rec("b", "unassigned")], SplitRule(by="source"))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "split by: source, but source 'iper' set no split on 1 of 2 videos (b)"
    )


def test_split_by_source_on_a_source_without_splits_stops_the_build_in_one_line(
    tmp_path: Path,
) -> None:
    config = tmp_path / "datasets.yaml"
    config.write_text(
        "version: 1\ndatasets:\n  demo:\n    source: synthetic\n    root: clips\n"
        "    options: {persons: 2, clips_per_person: 1}\n    split: {by: source}\n"
    )
    result = CliRunner().invoke(app, ["build", "-c", str(config), "-d", "demo", "-q"])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "split by: source, but source 'synthetic' set no split" in lines[0]
    assert not (tmp_path / "work").exists() and not (tmp_path / "clips").exists()


# ------------------------------------------------------------------- one photo as a video


def test_an_image_file_reads_as_a_one_frame_video(tmp_path: Path) -> None:
    photo = DATA / "deepfashion" / "test" / "fashionWOMENDressesid0000000301_1front.jpg"
    reader = VideoReader(photo)
    frames = list(reader.frames())
    assert (
        reader.info.kind,
        reader.info.declared_frames,
        reader.info.width,
        reader.info.height,
    ) == (
        "images",
        1,
        176,
        256,
    )
    assert len(frames) == 1 and frames[0].index == 0 and frames[0].image.shape == (256, 176, 3)
    np.testing.assert_array_equal(frames[0].image, cv2.imread(str(photo)))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"no jpeg here")
    with pytest.raises(VideoError) as caught:
        VideoReader(bad)
    assert str(caught.value) == f"{bad}: image cannot be decoded (not an image, or a corrupt file)"


# ------------------------------------------------------------------- to shards

BUILD = """\
version: 1
work_root: work
datasets:
  iper:
    source: iper
    root: iper
    split: {by: source}
    stages:
      sample-frames: {mode: stride, stride: 1}
    shards: {max_mb: 64}
"""


@pytest.mark.slow
def test_iper_fixture_builds_to_shards_with_its_split_persons_and_pairs(tmp_path: Path) -> None:
    """``hpt-data build`` of two of the fixture's videos (001/1/2 in train.txt, 003/1/1 in
    val.txt; 3 frames each) through every stage: ~15-30 s on 2 shared cores, most of it
    fit-smpl; the one build that shows a published layout reaching the shards."""
    root = tmp_path / "iper"
    for name in ("001/1/2", "003/1/1"):
        shutil.copytree(DATA / "iper" / "images_HD" / name, root / "images_HD" / name)
    for name in ("train.txt", "val.txt", "iPER_protocol.json"):
        shutil.copy(DATA / "iper" / name, root / name)
    config = tmp_path / "datasets.yaml"
    config.write_text(BUILD)
    result = CliRunner().invoke(app, ["build", "-c", str(config), "-d", "iper", "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    from hpt_data.shards.reading import load_manifest
    from hpt_data.shards.stats import collect_stats

    shards = tmp_path / "work" / "iper" / "shards"
    assert load_manifest(shards)["frames"] == {"train": 3, "test": 3}
    persons = {split: dict(c) for split, c in collect_stats(shards).persons.items()}
    assert persons == {"train": {"001": 3}, "test": {"003": 3}}
    scanned = json.loads((tmp_path / "work" / "iper" / "videos.json").read_text())
    assert {v["video_id"]: v["split"] for v in scanned["videos"]} == {
        "001_1_2": "train",
        "003_1_1": "test",
    }
    # the protocol's 003/1/1 entry: source frame 000.jpg, self-imitation frames 0..2
    assert [
        (p["source_frame"], p["target_video"], p["target_frame"]) for p in scanned["pairs"]
    ] == [
        (0, "003_1_1", 0),
        (0, "003_1_1", 1),
        (0, "003_1_1", 2),
    ]
    from hpt_data.shards.pairs import read_pairs

    # stride 1 keeps every frame: the protocol's three pairs are stored, none left out
    assert read_pairs(shards, "test") == [
        (("003_1_1", "000000"), ("003_1_1", f"{k:06d}")) for k in range(3)
    ]
    entry = load_manifest(shards)["pairs"]["test"]
    assert (entry["origin"], entry["left_out"]) == ("dataset", {})
