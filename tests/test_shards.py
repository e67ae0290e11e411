"""HDF5 shards: round trip, verify, corruption, crash safety, and the training pair reader."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from old_shards import as_version
from shard_records import make_record
from torch.utils.data import DataLoader, DistributedSampler

from hpt_data.shards import open_shard
from hpt_data.shards.reading import ShardError, ShardFile, load_manifest
from hpt_data.shards.schema import FIELDS, SCHEMA_VERSION
from hpt_data.shards.verify import verify_shard_file, verify_shards
from hpt_data.shards.writer import ShardWriter, sha256_file
from hpt_model.config import HPTConfig
from hpt_model.data import (
    PairDataset,
    ShardFrames,
    decode_pair_batch,
    fields_for_stage,
    pair_indices,
)
from hpt_model.method import STAGES, build_stage_inputs

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
        start, length = h5["image_spans"][0]
        jpeg = h5["image"][start : start + length].tobytes()
    data = bytearray(shard.read_bytes())
    at = data.find(jpeg[1000:1064])
    assert at > 0
    data[at + 10] ^= 0x01
    shard.write_bytes(bytes(data))
    assert any("SHA-256" in p for p in verify_shards(out).problems)
    with pytest.raises(ShardError, match="fails its CRC-32"):
        ShardFrames(out, shard.name.split("-")[0]).read(0, ["image"])


def test_images_are_flat_bytes_with_checked_spans_and_no_heap(shard_set, tmp_path: Path) -> None:
    """Version 6 stores the JPEG bytes end to end with each frame's span: the file holds no
    HDF5 global heap (whose collection headers, unchecked, could make HDF5 spin on a
    changed byte in versions 1-5), and spans that do not tile the bytes are refused at
    opening, naming the file, before any image is read."""
    out = _copy_set(shard_set[0], tmp_path / "s")
    shard = _first_shard(out)
    assert b"GCOL" not in shard.read_bytes()  # no global heap collection anywhere
    with h5py.File(shard, "r") as h5:
        spans = h5["image_spans"][()]
        assert h5["image"].dtype == np.uint8 and len(h5["image"]) == int(spans[:, 1].sum())
        assert h5["image_spans"].fletcher32
    split = shard.name.split("-")[0]
    before = ShardFrames(out, split).read(1, ["image"])["image"]
    with h5py.File(shard, "r+") as h5:  # frame 0 one byte longer: frame 1 starts inside it
        h5["image_spans"][0, 1] = spans[0, 1] + 1
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["shards"]:  # the manifest agrees: only the spans can tell
        if out / entry["file"] == shard:
            entry["bytes"], entry["sha256"] = shard.stat().st_size, sha256_file(shard)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match=rf"^{shard}: field 'image_spans' does not tile"):
        ShardFrames(out, split)
    assert verify_shards(out).problems[0].startswith(f"{shard}: field 'image_spans'")
    assert before.shape == (1024, 1024, 3)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("short_crc", "field 'image_crc32' has shape"),
        ("float_spans", "field 'image_spans' holds float64, not integers"),
        ("group_spans", "field 'image_spans' is not a dataset"),
        ("long_spans", "field 'image' has"),
    ],
)
def test_damaged_image_tables_are_named_at_opening(
    shard_set, tmp_path: Path, damage: str, said: str
) -> None:
    """The image's CRC and span tables, changed in ways a damaged file can show (a short
    table, another datatype, a group in a dataset's place, more rows than frames): one
    ShardError naming the file when the shard opens, never h5py's IndexError or TypeError
    at a later read."""
    out = _copy_set(shard_set[0], tmp_path / "s")
    shard = _first_shard(out)
    with h5py.File(shard, "r+") as h5:
        if damage == "short_crc":
            h5["image_crc32"].resize((len(h5["image_crc32"]) - 1,))
        else:
            spans = h5["image_spans"][()]
            del h5["image_spans"]
            if damage == "float_spans":
                h5["image_spans"] = spans.astype(np.float64)
            elif damage == "group_spans":
                h5.create_group("image_spans")
            else:
                h5["image_spans"] = np.concatenate([spans, spans])
        frames = len(h5["frame_id"])
    entry = {"file": shard.name, "frames": frames, "bytes": shard.stat().st_size}
    with pytest.raises(ShardError, match=rf"^{re.escape(str(shard))}: {re.escape(said)}"):
        ShardFile(shard.parent, entry)


def test_damaged_hdf5_structure_is_named(shard_set, tmp_path: Path) -> None:
    """A byte of the file's structure changed (object headers, heaps, datatype and link
    messages: its first 4 KB, every 8th byte, inverted and low bit flipped) either leaves
    the shard readable or is a ShardError naming it, never h5py's own RuntimeError,
    KeyError or TypeError (a link turned into a committed datatype)."""
    manifest = json.loads((shard_set[0] / "manifest.json").read_text())
    entry = manifest["shards"][0]
    good = (shard_set[0] / entry["file"]).read_bytes()
    bad = tmp_path / entry["file"]
    bad.parent.mkdir(parents=True)
    named = 0
    for at in range(0, 4096, 8):
        for flip in (0xFF, 0x01):
            data = bytearray(good)
            data[at] ^= flip
            bad.write_bytes(bytes(data))
            try:
                ShardFile(tmp_path, entry).close()
            except ShardError as exc:
                assert str(exc).startswith(f"{bad}: ") and "\n" not in str(exc), (at, flip)
                named += 1
    assert named > 50  # the structure is checked, not read past


@pytest.mark.parametrize(
    ("version", "flip"), [(SCHEMA_VERSION, 0xFF), (SCHEMA_VERSION, 0x01), (4, 0xFF)]
)
def test_damaged_text_is_named(shard_set, tmp_path: Path, version: int, flip: int) -> None:
    """The text fields (frame ids, people, videos): since version 5 in Fletcher-32 chunks,
    so a changed byte is named even where it spells another valid id ('000001' to
    '000000', which versions 1-4, their text in HDF5's unchecked heap, read back as a
    different frame); in a version-4 shard a string that no longer decodes is named. By
    the dataset, the verifier and the one-file verifier (which said "ok" before)."""
    out = _copy_set(shard_set[0], tmp_path / "s")
    if version != SCHEMA_VERSION:
        out = as_version(out, tmp_path / f"v{version}", version)
    manifest = json.loads((out / "manifest.json").read_text())
    shard = next(
        out / e["file"] for e in manifest["shards"] if b"000001" in (out / e["file"]).read_bytes()
    )
    data = bytearray(shard.read_bytes())
    at = data.find(b"000001")
    assert data.find(b"000001", at + 1) < 0  # the frame id's own bytes
    data[at + 5] ^= flip  # 0x01: '000000', another frame's id; 0xFF: not UTF-8
    shard.write_bytes(bytes(data))
    split = shard.name.split("-")[0]
    with pytest.raises(ShardError, match=rf"^{re.escape(str(shard))}: field 'frame_id' is corrupt"):
        ShardFrames(out, split)
    problems = verify_shards(out).problems
    assert problems == [f"{shard}: SHA-256 differs from the manifest (corrupted)"]
    alone = verify_shard_file(shard).problems
    assert len(alone) == 1 and alone[0].startswith(f"{shard}: field 'frame_id' is corrupt")


def test_text_longer_than_a_shard_holds_is_refused() -> None:
    from hpt_data.shards.schema import TEXT_BYTES, check_record

    record = make_record(0)
    check_record(record)
    record["video_id"] = "é" * (TEXT_BYTES // 2 + 1)  # two UTF-8 bytes a character
    with pytest.raises(ValueError, match=rf"video_id: .* {TEXT_BYTES + 2} UTF-8 bytes"):
        check_record(record)
    record["video_id"] = "v\0"
    with pytest.raises(ValueError, match=r"video_id: .*NUL"):
        check_record(record)


def test_a_manifest_entry_without_a_key_is_named(shard_set, tmp_path: Path) -> None:
    out = _copy_set(shard_set[0], tmp_path / "s")
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["shards"][1]["bytes"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match=rf"^{re.escape(str(path))}: shard entry 1 lacks 'bytes'"):
        load_manifest(out)
    assert verify_shards(out).problems[0].startswith(f"{path}: shard entry 1 lacks 'bytes'")
    manifest["shards"] = {"not": "a list"}
    path.write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="no list of 'shards'"):
        load_manifest(out)


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter: no hdf5plugin imported unless the code does it."""
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_plain_h5py_fails_as_documented_and_open_shard_reads(shard_set) -> None:
    """docs/shards.md's claim: plain h5py fails on a Blosc map with the message quoted there;
    ``import hdf5plugin`` or ``open_shard`` reads it."""
    shard = str(_first_shard(shard_set[0]))
    read = "f = h5py.File(sys.argv[1], 'r'); print(f['parsing'][0].max())"
    plain = _python(f"import sys, h5py; {read}", shard)
    assert plain.returncode != 0
    said = plain.stderr.strip().splitlines()[-1]
    doc = (TESTS_DIR.parent / "docs" / "shards.md").read_text(encoding="utf-8")
    quoted = [line for line in doc.splitlines() if line.startswith("OSError: Can't synch")]
    assert len(quoted) == 1
    plugin_dir = re.compile(r"can't open directory \(.*?\)\.")  # HDF5's default, per build
    documented = plugin_dir.sub("DIR.", quoted[0])
    assert plugin_dir.sub("DIR.", said) == documented or "can't find plugin" in said, said
    with_fix = _python(f"import sys, h5py, hdf5plugin; {read}", shard)
    assert with_fix.returncode == 0 and with_fix.stdout.strip() == "6", with_fix.stderr
    ours = _python(
        "import sys; from hpt_data.shards import open_shard; "
        "f = open_shard(sys.argv[1]); print(f['parsing'][0].max(), f.mode)",
        shard,
    )
    assert ours.returncode == 0 and ours.stdout.strip() == "6 r", ours.stderr


def test_the_documented_plain_h5py_image_read_gives_the_readers_image(
    shard_set, tmp_path: Path
) -> None:
    """docs/shards.md's block that reads frame ``i``'s image with plain h5py, run as written
    (in a fresh process, without hdf5plugin): the reader's image, pixel for pixel."""
    doc = (TESTS_DIR.parent / "docs" / "shards.md").read_text(encoding="utf-8")
    section = doc.split("### Reading a shard with plain h5py", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    shard = _first_shard(shard_set[0])
    code = f"import sys, numpy\npath, i = sys.argv[1], 1\n{block}numpy.save(sys.argv[2], rgb)"
    done = _python(code, str(shard), str(tmp_path / "rgb.npy"))
    assert done.returncode == 0, done.stderr
    rgb = np.load(tmp_path / "rgb.npy")
    entry = {"file": shard.name, "frames": 0, "bytes": shard.stat().st_size}
    with h5py.File(shard, "r") as h5:
        entry["frames"] = len(h5["frame_id"])
    reader = ShardFile(shard.parent, entry)
    try:
        np.testing.assert_array_equal(rgb, reader.read(1, ["image"])["image"])
    finally:
        reader.close()


def test_without_hdf5plugin_the_reader_says_to_install_it(shard_set) -> None:
    code = (
        "import sys; sys.modules['hdf5plugin'] = None  # as if not installed\n"
        "from hpt_data.shards import ShardError, open_shard\n"
        "try:\n    open_shard(sys.argv[1])\nexcept ShardError as exc:\n    print(exc)"
    )
    shard = _first_shard(shard_set[0])
    out = _python(code, str(shard))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        f"{shard}: cannot read the shards' Blosc-compressed arrays (HDF5 filter 32001): "
        "hdf5plugin is not installed; pip install hdf5plugin"
    )


def test_open_shard_names_a_truncated_or_foreign_file(shard_set, tmp_path: Path) -> None:
    data = _first_shard(shard_set[0]).read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=rf"^{cut}: HDF5 cannot open it \(.*truncated file"):
        open_shard(cut)
    text = tmp_path / "notes.h5"
    text.write_text("not HDF5")
    with pytest.raises(ShardError, match=rf"^{text}: HDF5 cannot open it \(.*signature"):
        open_shard(text)
    with pytest.raises(ShardError, match=rf"^{tmp_path / 'none.h5'}: no such shard file$"):
        open_shard(tmp_path / "none.h5")
    with open_shard(_first_shard(shard_set[0])) as h5:
        assert h5.mode == "r" and h5["parsing"][0].max() <= 6


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


def test_version_1_shards_read_the_same_and_other_versions_are_refused(
    shard_set, tmp_path: Path
) -> None:
    out = shard_set[0]
    with h5py.File(_first_shard(out), "r") as h5:
        assert h5["frame_id"].dtype == np.dtype("S256") and h5["frame_id"].fletcher32
    assert verify_shards(out).notes == [] and verify_shard_file(_first_shard(out)).notes == []
    for version in (1, 4, 5):
        old = as_version(out, tmp_path / f"v{version}", version)
        with h5py.File(_first_shard(old), "r") as h5:
            assert h5["image"].dtype.kind == "O"  # the copy really keeps images in the heap
            assert (h5["frame_id"].dtype.kind == "O") == (version < 5)  # and text in 1-4
            assert h5["parsing"].compression == "lzf"  # and version 1's codec
        report = verify_shards(old)
        assert report.ok and len(report.notes) == 1  # whole, and worth rewriting
        assert report.notes[0].startswith(f"{old / 'manifest.json'}: schema version {version}, ")
        assert "hpt-data write-shards" in report.notes[0]
        alone = verify_shard_file(_first_shard(old))
        assert alone.ok and alone.notes[0].startswith(f"{_first_shard(old)}: schema version ")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the current schema reads without a warning
            new_frames = ShardFrames(out, "train")
        with pytest.warns(UserWarning, match=rf"schema version {version}, readable, but its "):
            old_frames = ShardFrames(old, "train")  # a damaged heap would hang it: rewrite
        assert old_frames.frame_keys == new_frames.frame_keys
        assert old_frames.person_ids == new_frames.person_ids
        for i in range(len(new_frames)):
            want, got = new_frames.read(i), old_frames.read(i)
            assert want["camera_distance"] == 3.0  # what shard_records writes
            # version 1 fits were weak perspective
            assert got["camera_distance"] == (0.0 if version == 1 else 3.0)
            for name, value in want.items():
                if name != "camera_distance":
                    np.testing.assert_array_equal(got[name], value, err_msg=name)

    future = _copy_set(out, tmp_path / "v6")
    manifest_path = future / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = 7
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match=rf"^{manifest_path}: schema version 7, this hpt reads "):
        load_manifest(future)
    assert "reads versions 1, 2, 3, 4, 5, 6" in verify_shards(future).problems[0]

    shard = _first_shard(out)
    entry = next(e for e in manifest["shards"] if out / e["file"] == shard)
    manifest["schema_version"] = SCHEMA_VERSION
    renamed = _copy_set(out, tmp_path / "attr")
    with h5py.File(renamed / entry["file"], "r+") as h5:
        h5.attrs["schema_version"] = 7
    entry["bytes"] = (renamed / entry["file"]).stat().st_size
    (renamed / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match=rf"^{renamed / entry['file']}: schema version 7"):
        ShardFrames(renamed, entry["split"])


@pytest.mark.parametrize("size", [512, 256, 128])
def test_images_decoded_at_a_stage_size_match_an_area_average(shard_set, size) -> None:
    out, _ = shard_set
    frames = ShardFrames(out, "train")
    full = frames.read(1, ["image"])["image"].astype(np.float64)
    small = frames.read(1, ["image"], image_size=size)["image"]
    assert small.shape == (size, size, 3) and small.dtype == np.uint8
    k = full.shape[0] // size
    area = full.reshape(size, k, size, k, 3).mean(axis=(1, 3))
    assert psnr(small, area) >= 45.0  # libjpeg's DCT scaling is a box filter, to rounding


def test_fields_for_stage_give_each_stage_what_it_uses(shard_set) -> None:
    """Each stage's inputs from its field subset equal those from the full item (images
    decoded smaller, to JPEG-scaling rounding). The tiny config keeps it fast; the paper's
    sizes only change which sizes are asked for, checked first."""
    out, _ = shard_set
    paper = fields_for_stage("coarse")
    assert paper["image_size"] == 512 and "parsing_512" in paper["target_fields"]
    assert "depth" not in paper["target_fields"] and paper["source_fields"] == ("image",)
    fine = fields_for_stage("fine", HPTConfig.paper())
    assert fine["image_size"] is None and "layer_mask_face" in fine["target_fields"]
    assert fields_for_stage("arm")["target_fields"][-4:] == (
        "layer_mask_left_arm",
        "layer_depth_left_arm",
        "layer_mask_right_arm",
        "layer_depth_right_arm",
    )
    config = HPTConfig.tiny()
    full = next(iter(DataLoader(PairDataset(out, "train", with_volume=True), batch_size=1)))
    for stage in STAGES:
        kwargs = fields_for_stage(stage, config)
        loader = DataLoader(PairDataset(out, "train", **kwargs), batch_size=1, num_workers=0)
        batch = next(iter(loader))
        assert set(batch) < set(full) or stage == "volume", stage
        assert batch["source_image"].is_contiguous()  # the collated view is a plain tensor
        want = build_stage_inputs(full, config, stage)
        got = build_stage_inputs(batch, config, stage)
        for part in ("coarse", "fine", "parts"):
            a, b = getattr(want, part), getattr(got, part)
            if isinstance(a, dict):
                assert a.keys() == b.keys(), (stage, part)
                pairs = [
                    (getattr(a[k], f), getattr(b[k], f), f"{k}.{f}")
                    for k in a
                    for f in ("source", "parsing", "depth", "target", "complete", "unoccluded")
                ]
            elif a is None:
                assert b is None, (stage, part)
                continue
            else:
                pairs = [
                    (getattr(a, f), getattr(b, f), f)
                    for f in ("source", "target", "parsing", "depth", "heatmaps")
                ]
            for x, y, name in pairs:
                image = name.split(".")[-1] in ("source", "target")
                tol = 2e-2 if kwargs["image_size"] and image else 0
                torch.testing.assert_close(y, x, atol=tol, rtol=0, msg=f"{stage} {part} {name}")
        if stage == "volume":
            assert torch.equal(got.volume_target, want.volume_target)
            torch.testing.assert_close(got.volume_image, want.volume_image, atol=2e-2, rtol=0)
    with pytest.raises(ValueError, match="unknown stage 'coarser'"):
        fields_for_stage("coarser")


def test_shards_roll_over_where_measuring_every_frame_would(tmp_path: Path, monkeypatch) -> None:
    """The writer flushes to measure a shard only once an estimate of its size can reach
    ``max_bytes``; it still closes each shard at the frame where measuring after every
    frame would, and measures far less often."""
    from hpt_data.shards import writer as shard_writer

    measured = {"bound": 0, "every": 0}
    size_on_disk = shard_writer._OpenShard.size_on_disk
    shards = {}
    for mode in ("bound", "every"):

        def counted(self, mode=mode):
            measured[mode] += 1
            return size_on_disk(self)

        monkeypatch.setattr(shard_writer._OpenShard, "size_on_disk", counted)
        if mode == "every":
            monkeypatch.setattr(
                shard_writer._OpenShard, "reached", lambda self, most: self.size_on_disk() >= most
            )
        write_set(tmp_path / mode, n_train=72, n_test=8, max_bytes=10 << 20)
        manifest = json.loads((tmp_path / mode / "manifest.json").read_text())
        shards[mode] = [(s["split"], s["frames"]) for s in manifest["shards"]]
    assert shards["bound"] == shards["every"]
    assert len(shards["bound"]) >= 5
    assert measured["every"] == 80 and measured["bound"] < 0.75 * 80
