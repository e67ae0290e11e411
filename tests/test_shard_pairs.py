"""Pairs as data (schema 3): the pair lists write-shards stores per split, read back through
``read_pairs``, checked by verify, used by ``PairDataset`` and scored exactly by ``hpt eval``;
the dataset's pairs whose frames the chain dropped are counted by reason; the rule's pairs
where a dataset defines none; version-2 sets (no pairs) still read; a cut or malformed pair
file is one line naming it."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from old_shards import as_version
from shard_records import make_record
from stages_for_tests import ListOptions, ListSource
from train_records import make_train_record
from typer.testing import CliRunner

from hpt_data.config import DatasetConfig
from hpt_data.orchestrator import Dataset, scan_videos
from hpt_data.shard_pairs import FrameLedger, resolve_pairs, rule_pairs
from hpt_data.shards.pairs import HEADER, read_pairs
from hpt_data.shards.reading import ShardError
from hpt_data.shards.stats import collect_stats
from hpt_data.shards.verify import verify_shards
from hpt_data.shards.writer import ShardWriter
from hpt_data.sources.base import FramePair, SourceScan
from hpt_data.sources.split import SplitRule
from hpt_data.workdir import DatasetDir
from hpt_model.data import PairDataset, ShardFrames
from pipelines.cli import app

# (video, frame index, person): five test frames over three videos, two people
TEST_FRAMES = [("a", 0, "p0"), ("a", 1, "p0"), ("b", 2, "p0"), ("c", 3, "p1"), ("c", 4, "p1")]
# listed in an order of their own, one target twice, across the shards (1 MiB: 2 frames each)
PAIRS = [
    (("c", "000004"), ("a", "000000")),
    (("a", "000000"), ("b", "000002")),
    (("c", "000003"), ("c", "000004")),
    (("b", "000002"), ("a", "000000")),
]


@pytest.fixture(scope="module")
def pair_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set of 5 test frames in 3 shards and 2 train frames, storing PAIRS for test."""
    out = tmp_path_factory.mktemp("pairs") / "shards"
    with ShardWriter(out, "pairs-check", max_bytes=1 << 20) as writer:
        for video, index, person in TEST_FRAMES:
            writer.write("test", make_record(index, person, video))
        for index in (5, 6):
            writer.write("train", make_record(index, "p2", "d"))
        writer.write_pairs("test", PAIRS, origin="dataset", left_out={"frame not sampled": 1})
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _test_pairs_entry(shards: Path) -> tuple[dict, dict]:
    manifest = json.loads((shards / "manifest.json").read_text())
    return manifest, manifest["pairs"]["test"]


def test_pairs_come_back_equal_across_shard_boundaries(pair_set: Path) -> None:
    manifest, entry = _test_pairs_entry(pair_set)
    assert len([s for s in manifest["shards"] if s["split"] == "test"]) >= 2  # boundaries crossed
    assert manifest["schema_version"] >= 3  # pairs are stored since 3
    assert read_pairs(pair_set, "test") == PAIRS
    assert read_pairs(pair_set, "train") is None  # no list stored for train
    assert entry["origin"] == "dataset" and entry["pairs"] == 4
    assert entry["left_out"] == {"frame not sampled": 1}
    text = (pair_set / entry["file"]).read_text()
    assert text.splitlines()[0] == HEADER and text.splitlines()[1] == "c,000004,a,000000"
    assert verify_shards(pair_set).ok
    lines = collect_stats(pair_set).lines()
    assert "test pairs stored: 4 (the dataset's list); left out 1: frame not sampled 1" in lines


def test_verify_names_a_pair_whose_frame_is_not_in_its_split(tmp_path: Path) -> None:
    out = tmp_path / "shards"
    with ShardWriter(out, "x", max_bytes=1 << 20) as writer:
        writer.write("test", make_record(0, "p0", "a"))
        writer.write("train", make_record(1, "p0", "b"))
        # line 3 names the train frame, line 4 a frame nowhere
        writer.write_pairs(
            "test",
            [(("a", "000000"), ("a", "000000")), (("b", "000001"), ("a", "000000")),
             (("a", "000000"), ("z", "000009"))],
            origin="dataset",
        )  # fmt: skip
    problems = verify_shards(out).problems
    assert len(problems) == 1
    assert "pairs-test.csv: 2 frame reference(s) not in the 'test' shards" in problems[0]
    assert "first at line 3: b/000001" in problems[0]
    with pytest.raises(ShardError, match=r"pairs-test.csv line 3: frame b/000001 is not in"):
        PairDataset(out, "test")


def test_an_empty_stored_list_is_refused_not_scored_as_nothing(tmp_path: Path) -> None:
    out = tmp_path / "shards"
    with ShardWriter(out, "x", max_bytes=1 << 20) as writer:
        writer.write("test", make_record(0, "p0", "a"))
        writer.write_pairs("test", [], origin="dataset", left_out={"frame dropped by pose2d": 2})
    assert read_pairs(out, "test") == [] and verify_shards(out).ok
    with pytest.raises(ShardError, match=r"pairs-test.csv: the stored 'test' pair list is empty"):
        PairDataset(out, "test")
    assert len(PairDataset(out, "test", pairs="sampled")) == 1


def test_pair_dataset_yields_exactly_the_stored_pairs(pair_set: Path) -> None:
    stored = PairDataset(pair_set, "test", source_fields=("frame_id",), target_fields=("frame_id",))
    assert stored.stored and len(stored) == len(PAIRS)
    keys = ShardFrames(pair_set, "test").frame_keys
    for epoch in (0, 3):  # the same pairs in every epoch
        stored.set_epoch(epoch)
        got = []
        for i in range(len(stored)):
            item = stored[i]
            source = keys[int(stored.sources[i])]
            target = keys[int(stored.targets[i])]
            assert item["source_frame_id"] == source.split("/")[1]
            assert item["target_frame_id"] == target.split("/")[1]
            got.append((tuple(source.split("/")), tuple(target.split("/"))))
        assert got == PAIRS
    with pytest.raises(IndexError):
        stored[len(PAIRS)]
    sampled = PairDataset(pair_set, "test", pairs="sampled")
    assert not sampled.stored and len(sampled) == len(TEST_FRAMES)  # every frame a target
    train = PairDataset(pair_set, "train")  # auto: training samples
    assert not train.stored and len(train) == 2
    with pytest.raises(ShardError, match=r"manifest.json: no stored 'train' pairs"):
        PairDataset(pair_set, "train", pairs="stored")
    with pytest.raises(ValueError, match="pairs must be one of auto, stored, sampled"):
        PairDataset(pair_set, "test", pairs="listed")


def test_version_2_sets_read_without_pairs(pair_set: Path, tmp_path: Path) -> None:
    """A set as version 2 wrote it (no pairs in the manifest, shards saying 2, images and
    text in HDF5's heap) reads: no pairs (None), PairDataset samples as before."""
    old = as_version(pair_set, tmp_path / "v2", 2)
    assert "pairs" not in json.loads((old / "manifest.json").read_text())
    assert verify_shards(old).ok
    assert read_pairs(old, "test") is None and read_pairs(old, "train") is None
    dataset = PairDataset(old, "test")
    assert not dataset.stored and len(dataset) == len(TEST_FRAMES)


def test_a_cut_or_malformed_pair_file_is_one_line_naming_it(pair_set: Path, tmp_path: Path) -> None:
    cut = _copy(pair_set, tmp_path / "cut")
    _, entry = _test_pairs_entry(cut)
    path = cut / entry["file"]
    path.write_bytes(path.read_bytes()[:-7])
    for call in (lambda: read_pairs(cut, "test"), lambda: PairDataset(cut, "test")):
        with pytest.raises(ShardError) as err:
            call()
        message = str(err.value)
        assert message.startswith(f"{path}: ") and "\n" not in message
        assert "truncated or replaced" in message
    assert any(p.startswith(f"{path}: ") for p in verify_shards(cut).problems)

    bad = _copy(pair_set, tmp_path / "bad")
    manifest, entry = _test_pairs_entry(bad)
    path = bad / entry["file"]
    lines = path.read_text().splitlines()
    lines[2] = "a,000000,b"  # line 3 lost a field
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (bad / "manifest.json").write_text(json.dumps(manifest))  # the manifest agrees
    with pytest.raises(ShardError, match=rf"^{path} line 3: 3 fields, expected 4$"):
        read_pairs(bad, "test")
    assert verify_shards(bad).problems == [f"{path} line 3: 3 fields, expected 4"]


def test_resolve_pairs_keeps_written_pairs_and_counts_the_others_by_reason() -> None:
    ledger = FrameLedger(
        written={("a", "000000"): "test", ("a", "000002"): "test", ("t", "000000"): "train"},
        dropped={("a", "000001"): "pose2d"},
        gathered={"a", "t"},
        failed={"f"},
        splits={"a": "test", "t": "train", "f": "test", "x": "excluded"},
    )
    pairs = [
        FramePair("test", "a", 0, "a", 2),  # kept
        FramePair("test", "a", 1, "a", 0),  # source dropped by pose2d
        FramePair("test", "a", 0, "a", 7),  # target never sampled
        FramePair("test", "t", 0, "a", 0),  # source in the train split
        FramePair("test", "f", 0, "a", 0),  # video whose outputs could not be read
        FramePair("test", "a", 0, "x", 0),  # video excluded by the split rule
        FramePair("test", "n", 0, "a", 0),  # video not built (a stage failed, --limit)
        FramePair("train", "t", 0, "t", 0),  # kept, train
    ]
    kept, left = resolve_pairs(pairs, ledger)
    assert kept == {
        "test": [(("a", "000000"), ("a", "000002"))],
        "train": [(("t", "000000"), ("t", "000000"))],
    }
    assert left == {
        "test": Counter(
            {
                "frame dropped by pose2d": 1,
                "frame not sampled": 1,
                "frame in the train split": 1,
                "video outputs unreadable": 1,
                "video in no split (excluded)": 1,
                "video not built": 1,
            }
        )
    }


def _ledger(frames: list[tuple[str, int, str, str]]) -> FrameLedger:
    """frames: (video, index, person, outfit), all written to test."""
    ledger = FrameLedger()
    for video, index, person, outfit in frames:
        ledger.written[(video, f"{index:06d}")] = "test"
        ledger.persons[video], ledger.outfits[video] = person, outfit
    return ledger


def test_rule_pairs_prefer_another_outfit_then_another_clip_and_are_seeded() -> None:
    frames = [("a", i, "p0", "red") for i in range(3)] + [("b", 0, "p0", "blue")]
    frames += [("c", 5, "p0", "red")]  # p0: red in a and c, blue in b
    frames += [("d", i, "p1", "d") for i in range(4)] + [("e", 0, "p1", "e")]  # p1: 2 clips
    frames += [("f", i, "p2", "f") for i in range(3)]  # p2: one clip
    frames += [("g", 0, "p3", "g")]  # p3: one frame, no pair
    ledger = _ledger(frames)
    pairs, alone = rule_pairs(ledger, "test")
    assert alone == 1
    targets = [t for _, t in pairs]
    assert targets == sorted(targets) and len(set(targets)) == len(frames) - 1
    by_target = {t: s for s, t in pairs}
    for red in [("a", "000000"), ("a", "000001"), ("a", "000002"), ("c", "000005")]:
        assert by_target[red] == ("b", "000000")  # another outfit: there is only b
    assert by_target[("b", "000000")][0] in ("a", "c")  # blue draws a red one
    for i in range(4):
        assert by_target[("d", f"{i:06d}")] == ("e", "000000")  # the other clip
    assert by_target[("e", "000000")][0] == "d"
    for i in range(3):  # one clip: another frame of it
        source = by_target[("f", f"{i:06d}")]
        assert source[0] == "f" and source != ("f", f"{i:06d}")
    assert rule_pairs(ledger, "test") == (pairs, alone)  # the same every time
    # a pair depends on its target only: without p1 and p2, p0's pairs are the same
    fewer, _ = rule_pairs(_ledger(frames[:5]), "test")
    assert fewer == [p for p in pairs if p[1][0] in "abc"]
    # another seed draws other sources somewhere (39 choices for each of 40 targets)
    many = _ledger([("h", i, "p4", "h") for i in range(40)])
    assert rule_pairs(many, "test", seed=0)[0] != rule_pairs(many, "test", seed=1)[0]


def test_the_export_and_write_shards_pair_by_one_rule() -> None:
    """Without outfits (the shards do not store them) the export's pairs of a split are the
    pairs write-shards would store for it, in any frame order, and a video's outfit is
    what makes them differ: the rule is one function (hpt_data.pair_rule)."""
    from hpt_data.export.frames import FrameRef
    from hpt_data.export.frames import rule_pairs as export_rule

    frames = [("a", i, "p0", "a") for i in range(3)] + [("b", 0, "p0", "b")]
    frames += [("d", i, "p1", "d") for i in range(4)] + [("g", 0, "p3", "g")]
    refs = [FrameRef("test", 0, n, v, p, f"{i:06d}") for n, (v, i, p, _) in enumerate(frames)]
    for seed in (0, 5):
        stored, _ = rule_pairs(_ledger(frames), "test", seed)
        for order in (refs, refs[::-1]):
            exported = [(s.key, t.key) for s, t in export_rule(order, seed)]
            assert exported == stored
    # a and b in one outfit, c in another: the shards' rule prefers c, the export cannot know
    dressed = [("a", 0, "p0", "red"), ("b", 0, "p0", "red"), ("c", 0, "p0", "blue")]
    by_target = {t: s for s, t in rule_pairs(_ledger(dressed), "test")[0]}
    assert by_target[("a", "000000")] == by_target[("b", "000000")] == ("c", "000000")


def _eval_set(out: Path) -> list:
    """2 people × 2 test frames (make_train_record's people), 3 stored pairs in an order
    of their own; one target twice."""
    listed = [
        (("v1", "000001"), ("v0", "000000")),
        (("v0", "000001"), ("v1", "000000")),
        (("v0", "000000"), ("v0", "000000")),
    ]
    with ShardWriter(out, "eval-pairs", max_bytes=64 << 20) as writer:
        for p in range(2):
            for f in range(2):
                writer.write("test", make_train_record(p, f))
        writer.write_pairs("test", listed, origin="dataset", left_out={})
    return listed


def test_eval_scores_exactly_the_stored_pairs(tmp_path: Path) -> None:
    listed = _eval_set(tmp_path / "shards")
    out = tmp_path / "out"
    args = ["eval", "--data", str(tmp_path / "shards"), "--out", str(out), "--oracle"]
    args += ["--allow-random-lpips", "--no-osa", "--grid-rows", "0", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    settings = metrics["settings"]
    assert settings["pairs"] == "stored" and settings["pairs_origin"] == "dataset"
    assert settings["n_pairs"] == 3 and settings["pairs_seed"] is None
    (oracle,) = metrics["models"]
    assert oracle["summary"]["n_images"] == 3
    scored = [
        (tuple(im["source"].split("/")), tuple(im["target"].split("/"))) for im in oracle["images"]
    ]
    assert scored == listed
    table = (out / "table.md").read_text()
    assert "test split, 3 of the dataset's 3 pairs)" in table
    # asked to sample instead: every frame a target once, the pairs drawn with the seed
    out2 = tmp_path / "out2"
    args2 = [*args[:4], str(out2), *args[5:], "--pairs", "sampled"]
    result = CliRunner().invoke(app, args2)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out2 / "metrics.json").read_text())
    assert metrics["settings"]["pairs"] == "sampled" and metrics["settings"]["n_pairs"] == 4
    assert "4 of 4 pairs sampled with seed 0" in (out2 / "table.md").read_text()


class PairedListSource(ListSource):
    """ListSource's videos v0..v3 and two pairs the "dataset" defines."""

    def scan(self) -> SourceScan:
        scan = super().scan()
        scan.pairs = [FramePair("test", "v0", 0, "v1", 3), FramePair("test", "v1", 2, "v3", 0)]
        return scan


def test_scan_keeps_the_pairs_between_the_videos_it_keeps(tmp_path: Path) -> None:
    """The pairs reach write-shards through ``ScanResult.pairs`` (and ``videos.json``); a
    pair naming a video left out by ``--limit`` is dropped there."""
    config = DatasetConfig("lst", "list", tmp_path, ListOptions(count=4), SplitRule(), {})
    ds = Dataset(config, DatasetDir(tmp_path / "work" / "lst"), PairedListSource(tmp_path), {})
    scan = scan_videos(ds, limit=2)
    assert [v.video_id for v in scan.videos] == ["v0", "v1"]
    assert scan.pairs == [FramePair("test", "v0", 0, "v1", 3)]
    recorded = json.loads(ds.dirs.videos_json.read_text())["pairs"]
    assert [FramePair.from_json(p) for p in recorded] == scan.pairs


# --------------------------------------------------------------------------- the real chain


@pytest.mark.slow
def test_write_shards_stores_rule_pairs_and_counts_the_dataset_pairs_left_out(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """On the tiny dataset built through every stage (``conftest.tiny_dataset``): the build
    stored the rule's test pairs; then write-shards over a copy of its work folder, one
    frame's fit marked failed, with a pair list of the dataset's own, stores the pairs whose
    frames were written and counts the others by reason."""
    import numpy as np

    from hpt_data.shard_tasks import write_dataset_shards
    from hpt_data.sources.base import VideoRecord
    from hpt_data.workdir import VideoDir

    work = tiny_dataset.parent / "work" / "tiny"
    built = work / "shards"
    # the build's rule pairs: every test frame a target once, its source another frame
    # of the same person (one clip each here, so of the same video)
    test_keys = [tuple(k.split("/")) for k in ShardFrames(built, "test").frame_keys]
    rule = read_pairs(built, "test")
    assert rule is not None and sorted(t for _, t in rule) == sorted(test_keys)
    for source, target in rule:
        assert source in test_keys and source != target and source[0] == target[0]
    assert json.loads((built / "manifest.json").read_text())["pairs"]["test"]["origin"] == "rule"
    assert read_pairs(built, "train") is None

    records = json.loads((work / "videos.json").read_text())["videos"]
    videos = [VideoRecord.from_json(r) for r in records]
    train = next(v for v in videos if v.split == "train")
    test = next(v for v in videos if v.split == "test")
    dirs = {v.video_id: VideoDir(shutil.copytree(work / "videos" / v.video_id,
                                                 tmp_path / "videos" / v.video_id))
            for v in (train, test)}  # fmt: skip
    fits_path = dirs[test.video_id].output("fit-smpl") / "fits.npz"
    with np.load(fits_path) as f:
        arrays = dict(f)
    dropped = int(arrays["frame_ids"][0])
    arrays["ok"][0] = False  # the fit of the test video's first frame "failed its checks"
    np.savez(fits_path, **arrays)
    kept = [int(k[1]) for k in test_keys if k[0] == test.video_id and int(k[1]) != dropped]
    train_frames = [int(k.split("/")[1]) for k in ShardFrames(built, "train").frame_keys]
    tv, rv = test.video_id, train.video_id
    pairs = [
        FramePair("test", tv, kept[0], tv, kept[1]),  # stored
        FramePair("test", tv, dropped, tv, kept[0]),  # left out: fit-smpl dropped it
        FramePair("test", tv, kept[1], tv, 999),  # left out: frame never sampled
        FramePair("test", rv, train_frames[0], tv, kept[0]),  # left out: a train frame
        FramePair("test", "elsewhere", 0, tv, kept[0]),  # left out: no such video built
        FramePair("train", rv, train_frames[1], rv, train_frames[0]),  # stored
    ]
    out = tmp_path / "shards"
    summary = write_dataset_shards(
        "tiny", [(v, dirs[v.video_id]) for v in (train, test)], out, 64 << 20, False,
        pairs=pairs,
    )  # fmt: skip
    assert summary.dropped["fit-smpl"] == 1 and not summary.failed
    key = lambda video, index: (video, f"{index:06d}")  # noqa: E731
    assert read_pairs(out, "test") == [(key(tv, kept[0]), key(tv, kept[1]))]
    assert read_pairs(out, "train") == [(key(rv, train_frames[1]), key(rv, train_frames[0]))]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pairs"]["test"]["left_out"] == {
        "frame dropped by fit-smpl": 1,
        "frame in the train split": 1,
        "frame not sampled": 1,
        "video not built": 1,
    }
    assert manifest["pairs"]["train"]["left_out"] == {}
    assert summary.pairs == {"test": 1, "train": 1}
    assert verify_shards(out).ok
    assert len(PairDataset(out, "test")) == 1  # eval scores the one pair left
