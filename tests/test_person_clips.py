"""``person: all``: a synthetic clip of three people (performer, crosser, small bystander)
built to shards with every long enough track its own person clip (``<video>#p<k>``),
checked against the synthetic per-person ground truth; and the clip ids' rules.

One build (two videos, 10 frames each at 480x640, ``min_track_frames: 3``) serves the
slow tests: about a minute on two shared cores, most of it rendering the two clips.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.names import clip_id, clip_parts, path_name_problem, work_name_problem
from hpt_data.shards.reading import load_manifest
from hpt_data.sources.synthetic.ground_truth import load_ground_truth
from hpt_data.stages.outputs import Crops
from hpt_data.stages.outputs.people import People
from hpt_data.stages.outputs.person_clips import PersonClips
from hpt_model.data import ShardFrames

pytest.importorskip("ai_edge_litert")
runner = CliRunner()

CROWD_ALL = """\
version: 1
work_root: work
datasets:
  crowd:
    source: synthetic
    root: clips
    options: {persons: 2, clips_per_person: 1, seconds: 2.0, fps: 5, width: 480,
              height: 640, seed: 202, actions: [walk], people_per_clip: 3}
    split: {by: person, test_fraction: 0.5, seed: 0}
    stages:
      remove-bg: {person: all, min_track_frames: 3}
    shards: {max_mb: 64}
"""


def test_clip_ids_are_reserved_for_person_clips() -> None:
    assert clip_id("walk01", "p2") == "walk01#p2"
    assert clip_parts("walk01#p2") == ("walk01", "p2")
    assert clip_parts("walk01") is None and clip_parts("walk01#x") is None
    assert clip_parts("walk01#p0") is None
    assert path_name_problem("walk01#p2") is not None  # a source's id may not hold '#'
    assert work_name_problem("walk01#p2") is None
    assert work_name_problem("../x#p1") is not None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crowd_all")
    config = root / "datasets.yaml"
    config.write_text(CROWD_ALL)
    result = runner.invoke(app, ["build", "-c", str(config), "-d", "crowd", "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "person-clips   2 ok" in result.stdout
    return root / "work" / "crowd"


def _clips(work: Path) -> dict[str, list[str]]:
    """video id -> its clip ids, as remove-bg listed them."""
    out = {}
    for video in ("p000-walk", "p001-walk"):
        listed = PersonClips.read(work / "videos" / video / "remove-bg")
        out[video] = [clip_id(video, c.name) for c in listed.clips]
    return out


@pytest.mark.slow
def test_each_clip_holds_one_true_person_and_the_first_is_the_performer(built: Path) -> None:
    """Per clip, the true person whose visible mask its masks match best (IoU in the crop)
    is the same in every usable frame; each clip's person is found in one clip only; p1
    (first seen) is the performer; every track seen in min_track_frames frames is a clip."""
    clips = _clips(built)
    assert sum(len(c) for c in clips.values()) >= 3  # the two performers and someone else
    for video, ids in clips.items():
        vdir = built / "videos" / video
        gt = load_ground_truth(str(json.loads((vdir / "video.json").read_text())["ground_truth"]))
        people = People.read(vdir / "remove-bg")
        long = {t for t in set(people.track.tolist()) if (people.track == t).sum() >= 3}
        assert len(ids) == len(long), (ids, long)
        matched = []
        for cid in ids:
            crops = Crops.read(built / "videos" / cid / "remove-bg")
            best, ious = [], []
            for entry in (e for e in crops.frames if e.usable):
                mask = crops.mask(entry)
                inst = gt["people_instance"][entry.index]
                scores = []
                for k in range(gt["people_boxes"].shape[0]):
                    true = entry.window.cut((inst == k + 1).astype(np.float32), 0.0) >= 0.5
                    scores.append((true & mask).sum() / max((true | mask).sum(), 1))
                best.append(int(np.argmax(scores)))
                ious.append(max(scores))
            person = max(set(best), key=best.count)
            assert best.count(person) == len(best), (cid, best)
            assert np.median(ious) >= 0.8, (cid, ious)
            matched.append(person)
        assert matched[0] == 0  # p1: the performer, in view from the first frame
        assert len(set(matched)) == len(matched)


@pytest.mark.slow
def test_shards_hold_the_clips_with_their_ids_and_splits(built: Path) -> None:
    clips = _clips(built)
    scan = json.loads((built / "videos.json").read_text())
    split_of = {v["video_id"]: v["split"] for v in scan["videos"]}
    assert set(split_of.values()) == {"train", "test"}  # a person per split
    manifest = load_manifest(built / "shards")
    seen: dict[str, str] = {}
    for split in manifest["frames"]:
        frames = ShardFrames(built / "shards", split)
        for i in range(len(frames)):
            got = frames.read(i)
            assert got["person_id"] == got["video_id"]
            seen[got["video_id"]] = split
            crops = Crops.read(built / "videos" / got["video_id"] / "remove-bg")
            entry = crops.by_index()[int(got["frame_id"])]
            crop = crops.image(entry)[:, :, ::-1]  # rebuilt from the clip's linked frames
            assert np.abs(got["image"].astype(int) - crop.astype(int)).mean() < 2.0
    for video, ids in clips.items():
        assert {seen[c] for c in ids if c in seen} == {split_of[video]}  # together
    performers = [ids[0] for ids in clips.values()]
    assert set(performers) <= set(seen)


@pytest.mark.slow
def test_lost_clip_folder_is_remade_and_nothing_later_redone(built: Path) -> None:
    config = built.parent.parent / "datasets.yaml"
    cid = _clips(built)["p000-walk"][0]
    before = json.loads((built / "videos" / cid / "pose2d" / "_stage.json").read_text())
    for f in (built / "videos" / cid / "remove-bg" / "alpha").iterdir():
        f.unlink()
        break
    args = ["build", "-c", str(config), "-d", "crowd", "-w", "1", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "person-clips   1 ok, 1 skipped" in result.stdout
    for stage in ("pose2d", "fit-smpl", "render-maps", "voxelize"):
        assert f"{stage:<14} 0 ok," in result.stdout, result.stdout
    after = json.loads((built / "videos" / cid / "pose2d" / "_stage.json").read_text())
    assert after["created_at"] == before["created_at"]
    info = runner.invoke(app, ["info", "-c", str(config), "-d", "crowd"])
    n = sum(len(c) for c in _clips(built).values())
    assert f"person clips (remove-bg person: all): {n} from 2 videos" in info.stdout
    assert f"pose2d         {n} done" in info.stdout


@pytest.mark.slow
def test_lost_remove_bg_frame_is_redone_alone_and_byte_identical(built: Path) -> None:
    """A crop lost from remove-bg's own clip set: remove-bg redoes that frame only (the
    rest reused), the same bytes, so no clip folder and no later stage is redone."""
    config = built.parent.parent / "datasets.yaml"
    folder = built / "videos" / "p000-walk" / "remove-bg"
    digest = json.loads((folder / "_stage.json").read_text())["digest"]
    lost = sorted((folder / "clips" / "p1" / "alpha").iterdir())[1]
    lost.unlink()
    result = runner.invoke(app, ["build", "-c", str(config), "-d", "crowd", "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "remove-bg      1 ok, 1 skipped" in result.stdout
    assert "person-clips   0 ok, 2 skipped" in result.stdout
    assert "pose2d         0 ok," in result.stdout
    manifest = json.loads((folder / "_stage.json").read_text())
    assert manifest["digest"] == digest and lost.is_file()
    assert manifest["metrics"]["reused"] >= manifest["metrics"]["frames"]


@pytest.mark.slow
def test_fused_build_redoes_only_a_clips_lost_stage(built: Path) -> None:
    config = built.parent.parent / "datasets.yaml"
    cid = _clips(built)["p001-walk"][0]
    shutil.rmtree(built / "videos" / cid / "pose2d")
    args = ["build", "-c", str(config), "-d", "crowd", "-w", "1", "-q", "--fuse-stages"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "person-clips   0 ok" in result.stdout
    assert "pose2d         1 ok" in result.stdout
    assert "fit-smpl       0 ok" in result.stdout  # the same landmarks again
