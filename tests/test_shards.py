"""HDF5 shards: round trip, verify, corruption, crash safety, and the training pair reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from shard_records import make_record
from torch.utils.data import DataLoader, DistributedSampler

from hpt_data.shards.reading import ShardError
from hpt_data.shards.schema import FIELDS
from hpt_data.shards.verify import verify_shards
from hpt_data.shards.writer import ShardWriter
from hpt_model.data import PairDataset, ShardFrames, decode_pair_batch, pair_indices

TESTS_DIR = Path(__file__).parent
EXACT = [f.name for f in FIELDS if f.codec not in ("jpeg", "png")]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def write_set(out: Path, n_train: int = 4, n_test: int = 2, max_bytes: int = 1 << 20) -> dict:
    records = {}
    with ShardWriter(out, "toy", max_bytes=max_bytes) as writer:
        for i in range(n_train + n_test):
            split = "train" if i < n_train else "test"
            rec = make_record(i, person=f"p{i % 2}", video=f"v{i % 3}")
            records[(split, rec["video_id"], rec["frame_id"])] = rec
            writer.write(split, rec)
    return records


@pytest.fixture(scope="module")
def shard_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("shards")
    return out, write_set(out)


def test_round_trip_is_exact_for_labels_and_keypoints(shard_set) -> None:
    out, records = shard_set
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["frames"] == {"train": 4, "test": 2}
    assert len(manifest["shards"]) >= 3  # 1 MiB shards roll over
    worst_psnr = np.inf
    for split in ("train", "test"):
        frames = ShardFrames(out, split)
        assert len(frames) == {"train": 4, "test": 2}[split]
        for i in range(len(frames)):
            got = frames.read(i)
            want = records[(split, got["video_id"], got["frame_id"])]
            for name in EXACT:
                if isinstance(want[name], str):
                    assert got[name] == want[name], name
                else:
                    np.testing.assert_array_equal(got[name], want[name], err_msg=name)
            worst_psnr = min(worst_psnr, psnr(got["image"], want["image"]))
    assert worst_psnr >= 40.0, worst_psnr  # JPEG quality 95, 4:4:4


def test_verify_accepts_a_whole_set(shard_set) -> None:
    out, _ = shard_set
    report = verify_shards(out)
    assert report.ok and report.problems == [] and report.leftovers == []


def _copy_set(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _first_shard(out: Path) -> Path:
    manifest = json.loads((out / "manifest.json").read_text())
    return out / manifest["shards"][0]["file"]


def test_truncated_shard_is_caught_and_refused(shard_set, tmp_path: Path) -> None:
    out = _copy_set(shard_set[0], tmp_path / "s")
    shard = _first_shard(out)
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    problems = verify_shards(out).problems
    assert len(problems) == 1 and problems[0].startswith(f"{shard}:")
    assert "truncated" in problems[0]
    with pytest.raises(ShardError, match=rf"^{shard}: .*truncated"):
        ShardFrames(out, shard.name.split("-")[0])


@pytest.mark.parametrize("field", ["parsing", "voxels", "joints2d"])
def test_bit_flip_in_a_chunk_is_caught_and_refused(shard_set, tmp_path: Path, field) -> None:
    out = _copy_set(shard_set[0], tmp_path / "s")
    shard = _first_shard(out)
    with h5py.File(shard, "r") as h5:
        ds = h5[field]
        info = ds.id.get_chunk_info(0)
        offset = info.byte_offset + info.size // 2
    with open(shard, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x10]))
    problems = verify_shards(out).problems
    assert problems and problems[0].startswith(f"{shard}: ")
    split = shard.name.split("-")[0]
    frames = ShardFrames(out, split)  # sizes and structure are intact: opening works
    with pytest.raises(ShardError, match=rf"^{shard}: frame 0 field '{field}' is corrupt"):
        frames.read(0, [field])


def test_corrupt_image_bytes_fail_their_crc(shard_set, tmp_path: Path) -> None:
    out = _copy_set(shard_set[0], tmp_path / "s")
    shard = _first_shard(out)
    with h5py.File(shard, "r") as h5:
        jpeg = h5["image"][0].tobytes()
    data = bytearray(shard.read_bytes())
    at = data.find(jpeg[1000:1064])
    assert at > 0
    data[at + 10] ^= 0x01
    shard.write_bytes(bytes(data))
    assert any("SHA-256" in p for p in verify_shards(out).problems)
    with pytest.raises(ShardError, match="fails its CRC-32"):
        ShardFrames(out, shard.name.split("-")[0]).read(0, ["image"])


def test_missing_manifest_and_unlisted_shards_are_reported(tmp_path: Path) -> None:
    assert "no manifest" in verify_shards(tmp_path).problems[0]
    out = tmp_path / "s"
    write_set(out, 2, 0)
    stray = out / json.loads((out / "manifest.json").read_text())["generation"] / "train-09999.h5"
    stray.write_bytes(b"")
    report = verify_shards(out)
    assert report.ok
    assert report.leftovers == [f"{stray}: not in the manifest (left by an interrupted run)"]


def _writer_child(out: Path, n: int) -> subprocess.Popen:
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); "
        "from shard_records import make_record; "
        "from hpt_data.shards.writer import ShardWriter\n"
        f"with ShardWriter({str(out)!r}, 'toy', max_bytes=1 << 20) as w:\n"
        f"    for i in range({n}):\n"
        "        w.write('train', make_record(i, person=f'p{i % 2}'))\n"
        "        print(i, flush=True)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killed_writer_never_leaves_an_accepted_partial_set(tmp_path: Path) -> None:
    out = tmp_path / "s"
    rng = np.random.default_rng(0)
    previous: dict | None = None  # the manifest of the last complete run
    interrupted = 0  # runs killed before they published
    for run in range(4):
        child = _writer_child(out, 6)
        # kill after a random number of written frames (or let the last run finish)
        kill_after = int(rng.integers(0, 6)) if run < 3 else None
        written = -1
        while kill_after is None or written < kill_after:
            line = child.stdout.readline()
            if not line:
                break
            written = int(line)
        if kill_after is not None:
            time.sleep(float(rng.uniform(0, 0.3)))
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=120)
        report = verify_shards(out)
        manifest_path = out / "manifest.json"
        if not manifest_path.exists():
            # no run completed yet: the set is reported as never completed
            assert previous is None and child.returncode != 0
            assert len(report.problems) == 1 and "no manifest" in report.problems[0]
            interrupted += 1
            continue
        # a manifest is always a whole set: the last complete one, or this run's if it
        # got to publish before the kill landed
        assert report.ok, report.problems
        manifest = json.loads(manifest_path.read_text())
        assert manifest["frames"] == {"train": 6}
        if child.returncode != 0 and manifest == previous:
            interrupted += 1
        if child.returncode == 0:
            assert report.leftovers == []
        previous = manifest
    assert interrupted >= 1  # the kills did land mid-run
    assert previous is not None and previous["frames"] == {"train": 6}
    assert verify_shards(out).ok


def test_pairs_are_same_person_other_frame_and_seeded() -> None:
    persons = ["a", "a", "b", "b", "b", "c"]
    src = pair_indices(persons, seed=0, epoch=0)
    for t, s in enumerate(src):
        assert persons[s] == persons[t]
        assert s != t or persons.count(persons[t]) == 1
    np.testing.assert_array_equal(src, pair_indices(persons, seed=0, epoch=0))
    epochs = {tuple(pair_indices(persons, seed=0, epoch=e)) for e in range(8)}
    assert len(epochs) > 1


def test_pair_dataset_through_dataloader_workers(shard_set) -> None:
    out, _ = shard_set
    ds = PairDataset(out, "train", seed=1)
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    assert sum(len(b["index"]) for b in batches) == 4
    assert batches[0]["source_image"].dtype == torch.uint8  # compact across workers
    b = decode_pair_batch(batches[0])
    assert b["source_image"].shape == (2, 3, 1024, 1024)
    assert b["target_parsing"].dtype == torch.int64 and b["target_parsing"].shape[1:] == (
        1024,
        1024,
    )
    assert b["target_depth"].shape == (2, 1, 1024, 1024)
    assert b["target_joints2d"].shape == (2, 24, 2)
    assert b["target_part_boxes"].shape == (2, 5, 3)
    assert float(b["source_image"].min()) >= -1.0 and float(b["source_image"].max()) <= 1.0
    frames = ShardFrames(out, "train")
    for t, s in enumerate(ds.sources):
        assert frames.person_ids[t] == frames.person_ids[s] and s != t


def test_distributed_ranks_read_disjoint_parts(shard_set) -> None:
    out, _ = shard_set
    ds = PairDataset(out, "train")
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=0)
        sampler.set_epoch(3)
        seen.append(set(sampler))
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(len(ds)))
