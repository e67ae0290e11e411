"""hpt-data export: each layout read back by a reader written from the format's own loaders.

The readers below follow the trainers' code, not hpt's writer: PATN/GFLA's CSVs are read
with ``csv`` and ``json.loads`` as their ``pd.read_csv(sep=':')`` and
``load_pose_cords_from_strings`` read them (Pose-Transfer ``tool/pose_utils.py``); NTED's
pairs, ``pose/*.txt`` and LMDB keys as its ``data/fashion_data.py`` does (``item[0]`` the
target, ``.jpg`` → ``.png`` for the key, ``img/`` → ``pose/`` for the keypoints, x − 40 then
×176 scale); the tars through the ``webdataset`` package's own grouping.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lmdb
import numpy as np
import pytest
import typer
import webdataset as wds
from PIL import Image
from shard_records import make_record
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.export import ExportOptions, export
from hpt_data.export.frames import ExportError, ShardSet, export_pairs, frames_of_pairs
from hpt_data.shards.writer import ShardWriter

runner = CliRunner()

# (split, person, video): the frame's seed is its position; frame_id = f"{seed:06d}"
FRAMES = [
    ("train", "p0", "v0"),
    ("train", "p0", "v0"),
    ("train", "p0", "v1"),
    ("train", "p1", "v2"),
    ("train", "p1", "v2"),
    ("test", "p2", "v3"),
    ("test", "p2", "v4"),
    ("test", "p3", "v5"),  # alone: no pair
]
# OpenPose COCO_18 order (nose, neck, Rsho, Relb, Rwri, Lsho, Lelb, Lwri, Rhip, Rkne, Rank,
# Lhip, Lkne, Lank, Reye, Leye, Rear, Lear) as MediaPipe landmark indices
COCO18_MP = [0, (11, 12), 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7]
MISSING_LANDMARKS = {7: "low visibility", 16: "outside the 176 crop"}  # Lear, Rwri


def expected_xy(seed: int) -> np.ndarray:
    """Landmark i sits at (20 + 4 i + seed, 10 + 7 i) in the 256×176 frame."""
    i = np.arange(33, dtype=np.float64)
    return np.stack([20 + 4 * i + seed, 10 + 7 * i], axis=1)


def landmarks(seed: int) -> np.ndarray:
    """(33, 3) at the 1024 crop: a 256×176 point (x, y) is the 1024 pixel centre
    (4 (x + 40) + 1.5, 4 y + 1.5)."""
    xy = expected_xy(seed)
    out = np.zeros((33, 3), np.float32)
    out[:, 0] = 4 * (xy[:, 0] + 40) + 1.5
    out[:, 1] = 4 * xy[:, 1] + 1.5
    out[:, 2] = 0.9
    out[7, 2] = 0.2
    out[16, 0] = 50.0  # 256-frame x about 12: cut off with the 40 columns
    return out


def coco18_expected(seed: int) -> np.ndarray:
    """(18, 2) x, y in the 256×176 frame; NaN where the point must be missing."""
    xy = expected_xy(seed)
    out = np.array([xy[list(s)].mean(axis=0) if isinstance(s, tuple) else xy[s] for s in COCO18_MP])
    for k, s in enumerate(COCO18_MP):
        if s in MISSING_LANDMARKS:
            out[k] = np.nan
    return out


def name(seed: int) -> str:
    _, person, video = FRAMES[seed]
    return f"{person}_{video}_{seed:06d}"


def ids_of(stem: str) -> tuple[str, str]:
    person, video, _ = stem.split("_")
    return person, video


def patn_expected_image(rgb: np.ndarray) -> np.ndarray:
    """The 1024 crop as the In-shop 256 photo (4×4 means) cut to columns 40..215."""
    small = rgb.astype(np.float64).reshape(256, 4, 256, 4, 3).mean(axis=(1, 3))
    return small[:, 40:216]


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    out = tmp_path_factory.mktemp("shards")
    records = {}
    with ShardWriter(out, "toy") as writer:
        for seed, (split, person, video) in enumerate(FRAMES):
            rec = make_record(seed, person, video)
            rec["landmarks"] = landmarks(seed)
            records[name(seed)] = rec
            writer.write(split, rec)
    return out, records


@pytest.fixture(scope="module")
def exported(shards, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    shard_dir, _ = shards
    root = tmp_path_factory.mktemp("exports")
    outs = {}
    for fmt in ("patn", "nted", "webdataset"):
        result = runner.invoke(
            app,
            ["export", "--data", str(shard_dir), "-f", fmt, "-q", str(root / fmt)]
            + (["--samples-per-tar", "2"] if fmt == "webdataset" else []),
        )
        assert result.exit_code == 0, result.output
        assert "dropped (no slot in" in result.output
        outs[fmt] = root / fmt
    return outs


def check_pairs(pairs: list[tuple[str, str]], split: str) -> None:
    """Same person, another frame, another video where the person has one; every frame
    with a partner is a target once."""
    frames = [name(s) for s, f in enumerate(FRAMES) if f[0] == split]
    alone = {n for n in frames if sum(ids_of(m)[0] == ids_of(n)[0] for m in frames) == 1}
    assert sorted(t for _, t in pairs) == sorted(set(frames) - alone)
    for source, target in pairs:
        assert source != target and source in frames
        assert ids_of(source)[0] == ids_of(target)[0]
    # p0's frames in v0 have p0's v1 frame as their only other-video source
    if split == "train":
        sources = dict((t, s) for s, t in pairs)
        assert sources[name(0)] == sources[name(1)] == name(2)


def test_patn_layout_reads_back(shards, exported) -> None:
    _, records = shards
    out = exported["patn"]
    all_pairs = {}
    for split in ("train", "test"):
        with open(out / f"fasion-resize-annotation-{split}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter=":"))
        assert [r["name"] for r in rows] == (out / f"{split}.lst").read_text().split()
        for row in rows:
            stem = row["name"].removesuffix(".jpg")
            seed = int(stem.split("_")[-1])
            y, x = json.loads(row["keypoints_y"]), json.loads(row["keypoints_x"])
            assert len(x) == len(y) == 18
            expected = coco18_expected(seed)
            for k in range(18):
                if np.isnan(expected[k, 0]):
                    assert (x[k], y[k]) == (-1, -1), k
                else:
                    assert isinstance(x[k], int) and isinstance(y[k], int)
                    assert abs(x[k] - expected[k, 0]) <= 0.5 and abs(y[k] - expected[k, 1]) <= 0.5
            img = np.asarray(Image.open(out / split / row["name"]).convert("RGB"))
            assert img.shape == (256, 176, 3)
            want = patn_expected_image(records[stem]["image"])
            assert np.abs(img - want).mean() < 3.0
        with open(out / f"fasion-resize-pairs-{split}.csv", newline="") as fh:
            pairs = [
                (r["from"].removesuffix(".jpg"), r["to"].removesuffix(".jpg"))
                for r in csv.DictReader(fh)
            ]
        check_pairs(pairs, split)
        all_pairs[split] = pairs
    marker = json.loads((out / "hpt-export.json").read_text())
    assert marker["format"] == "patn" and marker["counts"]["test_pairs"] == 2


def test_nted_layout_reads_back(shards, exported) -> None:
    _, records = shards
    out = exported["nted"]
    patn_pairs = {}
    for split in ("train", "test"):
        with open(exported["patn"] / f"fasion-resize-pairs-{split}.csv", newline="") as fh:
            patn_pairs[split] = sorted((r["from"], r["to"]) for r in csv.DictReader(fh))
    for split in ("train", "test"):
        pairs = []
        for line in (out / f"{split}_pairs.txt").read_text().splitlines():
            item = line.strip().split(",")
            target, sources = item[0], item[1:]
            assert target.startswith("img/") and len(target.split("/")) == 5  # their indexing
            pairs += [(s, target) for s in sources]
        stems = [(Path(s).stem, Path(t).stem) for s, t in pairs]
        # the same pairs as the PATN export: frame ids are the last part of both names
        assert sorted((s.split("_")[-1], t.split("_")[-1]) for s, t in stems) == sorted(
            (a.split("_")[-1].removesuffix(".jpg"), b.split("_")[-1].removesuffix(".jpg"))
            for a, b in patn_pairs[split]
        )
        for path in {p for pair in pairs for p in pair}:
            seed = int(Path(path).stem)
            label = path.replace(".jpg", ".png").replace("img/", "pose/").replace(".png", ".txt")
            keypoint = np.loadtxt(out / label)
            assert keypoint.shape == (18, 2)
            # their trans_keypoins at the 256×176 size: x - 40, then × 176/176 and 256/256
            missing = keypoint == -1
            keypoint[:, 0] = keypoint[:, 0] - 40
            keypoint[missing] = -1
            expected = coco18_expected(seed)
            for k in range(18):
                if np.isnan(expected[k, 0]):
                    assert (keypoint[k] == -1).all(), k
                else:
                    assert np.abs(keypoint[k] - expected[k]).max() <= 0.05, k
            want = patn_expected_image(
                records[f"{FRAMES[seed][1]}_{FRAMES[seed][2]}_{seed:06d}"]["image"]
            )
            for (h, w), tol in (((256, 176), 4.0), ((512, 352), None), ((256, 256), None)):
                env = lmdb.open(
                    str(out / f"{h}-{w}"), readonly=True, lock=False, readahead=False, meminit=False
                )
                with env.begin(write=False) as txn:
                    img_bytes = txn.get(path.replace(".jpg", ".png").encode("utf-8"))
                    length = txn.get(b"length")
                env.close()
                img = Image.open(io.BytesIO(img_bytes))
                assert img.format == "PNG" and img.size == (w, h)
                assert length == str(len(FRAMES)).zfill(5).encode()
                if tol is not None:
                    assert np.abs(np.asarray(img.convert("RGB")) - want).mean() < tol


def test_webdataset_tars_read_back(shards, exported) -> None:
    _, records = shards
    out = exported["webdataset"]
    seen = []
    for split in ("train", "test"):
        tars = sorted(str(p) for p in out.glob(f"{split}-*.tar"))
        n = sum(f[0] == split for f in FRAMES)
        assert len(tars) == (n + 1) // 2  # --samples-per-tar 2
        for sample in wds.WebDataset(tars, shardshuffle=False).decode():  # npy, json, .gz
            key = sample["__key__"]
            rec = records[key]
            seen.append(key)
            img = np.asarray(Image.open(io.BytesIO(sample["jpg"])).convert("RGB"))
            assert np.abs(img.astype(int) - rec["image"]).mean() < 2.0
            mask = np.asarray(Image.open(io.BytesIO(sample["mask.png"])))
            assert np.array_equal(mask, rec["mask"] * 255)
            parsing = np.asarray(Image.open(io.BytesIO(sample["parsing.png"])))
            assert np.array_equal(parsing, rec["parsing"])
            depth = sample["depth.npy.gz"]
            assert depth.dtype == np.float16 and np.array_equal(depth, rec["depth"])
            assert np.array_equal(sample["landmarks.npy"], rec["landmarks"])
            assert np.array_equal(sample["joints2d.npy"], rec["joints2d"])
            smpl = sample["smpl.json"]
            for k in ("betas", "global_orient", "body_pose", "camera"):
                assert np.array_equal(np.asarray(smpl[k], np.float32), rec[k]), k
            meta = sample["json"]
            assert (meta["split"], meta["person_id"], meta["video_id"]) == FRAMES[
                int(rec["frame_id"])
            ]
        with open(out / f"{split}-pairs.csv", newline="") as fh:
            check_pairs([(r["source"], r["target"]) for r in csv.DictReader(fh)], split)
    assert sorted(seen) == sorted(records)


def test_pairs_are_seeded_and_stored_pairs_map_to_frames(shards) -> None:
    shard_dir, _ = shards
    opened = ShardSet(shard_dir)
    once = [(s.name, t.name) for s, t in export_pairs(opened, "train", 3)]
    assert once == [(s.name, t.name) for s, t in export_pairs(opened, "train", 3)]
    # p0's v1 frame has two other-video sources: the seed chooses between them
    chosen = {
        s.name
        for seed in range(10)
        for s, t in export_pairs(opened, "train", seed)
        if t.name == name(2)
    }
    assert chosen == {name(0), name(1)}
    stored = frames_of_pairs(opened, "test", [(("v4", "000006"), ("v3", "000005"))])
    assert [(s.name, t.name) for s, t in stored] == [(name(6), name(5))]
    with pytest.raises(ExportError, match="not a test frame"):
        frames_of_pairs(opened, "test", [(("v0", "000000"), ("v3", "000005"))])


def one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_absent_or_malformed_shards_are_one_line(tmp_path: Path) -> None:
    assert "no such file" in one_line_error(
        ["export", "--data", str(tmp_path / "nope"), "-f", "patn", str(tmp_path / "o")]
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    assert "not a shard folder" in one_line_error(
        ["export", "--data", str(bad), "-f", "nted", str(tmp_path / "o")]
    )
    (bad / "manifest.json").write_text("{not json")
    assert "unreadable manifest" in one_line_error(
        ["export", "--data", str(bad), "-f", "webdataset", str(tmp_path / "o")]
    )
    assert not (tmp_path / "o").exists()


def test_failed_export_keeps_the_earlier_one_and_leaves_nothing_half(
    shards, tmp_path: Path
) -> None:

    shard_dir, _ = shards
    copy = tmp_path / "shards"
    shutil.copytree(shard_dir, copy)
    out = tmp_path / "out"
    export(copy, out, ExportOptions("patn"), progress=False)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    shard = sorted(copy.glob("gen-*/test-*.h5"))[0]
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated
    line = one_line_error(["export", "--data", str(copy), "-f", "patn", str(out)])
    assert str(shard) in line
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("mine")
    assert "not an earlier export" in one_line_error(
        ["export", "--data", str(shard_dir), "-f", "patn", str(theirs)]
    )
    assert (theirs / "keep.txt").read_text() == "mine"
    assert "unknown format" in one_line_error(
        ["export", "--data", str(shard_dir), "-f", "tfrecord", str(tmp_path / "x")]
    )


def test_cli_defaults_are_the_library_defaults() -> None:

    command = typer.main.get_command(app).commands["export"]
    defaults = {p.name: p.default for p in command.params}
    library = ExportOptions("patn")
    assert defaults["seed"] == library.seed
    assert defaults["prefix"] == library.prefix
    assert defaults["min_visibility"] == library.min_visibility
    assert defaults["samples_per_tar"] == library.samples_per_tar


def test_a_killed_export_is_never_taken_for_one(shards, tmp_path: Path) -> None:
    """kill -9 in the middle of an export that would replace an earlier one: OUT is still
    the earlier export, whole; the next export clears the leftover and completes."""

    shard_dir, _ = shards
    out = tmp_path / "out"
    export(shard_dir, out, ExportOptions("patn"), progress=False)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    code = "from hpt_data.cli import main; main()"
    args = ["export", "--data", str(shard_dir), "-f", "nted", "-q", str(out)]
    child = subprocess.Popen([sys.executable, "-c", code, *args])
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.partial-*/pose")) and time.monotonic() < deadline:
        assert child.poll() is None, "the export ended before it could be killed"
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert json.loads((out / "hpt-export.json").read_text())["format"] == "patn"
    leftovers = list(tmp_path.glob(".out.partial-*"))
    assert leftovers and not any((p / "hpt-export.json").exists() for p in leftovers)
    export(shard_dir, out, ExportOptions("nted"), progress=False)
    assert json.loads((out / "hpt-export.json").read_text())["format"] == "nted"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_ids_that_export_to_one_name_are_refused_with_both_named(tmp_path: Path) -> None:
    with ShardWriter(tmp_path / "s", "toy") as writer:
        writer.write("train", make_record(0, "p", "v.1"))
        writer.write("train", make_record(0, "p", "v-1"))
    line = one_line_error(
        ["export", "--data", str(tmp_path / "s"), "-f", "patn", str(tmp_path / "o")]
    )
    assert "('v.1', '000000')" in line and "('v-1', '000000')" in line and "p_v-1_000000" in line
    assert not (tmp_path / "o").exists()
