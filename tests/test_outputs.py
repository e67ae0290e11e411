"""The typed stage outputs (``hpt_data.stages.outputs``): on a real build every reader and
writer pair gives back the bytes it read (nothing dropped, cast or rounded, so a stage that
reads and writes through them keeps its outputs, and its digests, as they were), and a
missing or malformed output is a one-line error naming the file."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from hpt_data.errors import StageError
from hpt_data.stages import outputs
from hpt_data.stages.posed_frames import plan_frames


def _same(a: Path, b: Path) -> None:
    assert a.read_bytes() == b.read_bytes(), f"{a} does not round-trip"


@pytest.mark.slow
def test_every_output_of_a_build_reads_and_writes_back_byte_identical(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    videos = sorted((tiny_dataset.parent / "work" / "tiny" / "videos").iterdir())
    assert videos
    checked = 0
    for vdir in videos:
        out = tmp_path / vdir.name
        outputs.Frames.read(vdir / "sample-frames").write(out / "sample-frames")
        _same(vdir / "sample-frames" / "frames.json", out / "sample-frames" / "frames.json")
        outputs.Crops.read(vdir / "remove-bg").write(out / "remove-bg")
        _same(vdir / "remove-bg" / "frames.json", out / "remove-bg" / "frames.json")
        pose = outputs.Pose2D.read(vdir / "pose2d")
        pose.write(out / "pose2d")
        for name in ("frames.json", "pose2d.npz"):
            _same(vdir / "pose2d" / name, out / "pose2d" / name)
        outputs.Fits.read(vdir / "fit-smpl").write(out / "fit-smpl")
        _same(vdir / "fit-smpl" / "fits.npz", out / "fit-smpl" / "fits.npz")
        maps = outputs.Maps.read(vdir / "render-maps")
        maps.write(out / "render-maps")
        _same(vdir / "render-maps" / "frames.json", out / "render-maps" / "frames.json")
        volumes = outputs.Volumes.read(vdir / "voxelize")
        volumes.write(out / "voxelize")
        _same(vdir / "voxelize" / "frames.json", out / "voxelize" / "frames.json")
        for frame in maps.frames:
            if frame.file:
                maps.maps(frame).write(out / "render-maps" / frame.file)
                _same(vdir / "render-maps" / frame.file, out / "render-maps" / frame.file)
                checked += 1
        for frame in volumes.frames:
            if frame.file:
                volumes.volume(frame).write(out / "voxelize" / frame.file)
                _same(vdir / "voxelize" / frame.file, out / "voxelize" / frame.file)
        # the joins the shards are made of: pose2d rows and fit rows of the crops' frames
        crops = outputs.Crops.read(vdir / "remove-bg")
        fits = outputs.Fits.read(vdir / "fit-smpl")
        by_index = pose.by_index()
        for crop in crops.frames:
            if crop.usable:
                assert pose.landmarks(by_index[crop.index]) is not None
                assert fits.row_of(outputs.frame_id(crop.index)) is not None
    assert checked >= 4


def test_a_missing_or_malformed_output_is_one_line_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(StageError, match=r"frames\.json: cannot read the remove-bg index"):
        outputs.Crops.read(tmp_path)
    (tmp_path / "frames.json").write_text(json.dumps({"size": 512}))
    with pytest.raises(StageError, match=r"frames\.json: malformed remove-bg output \(missing"):
        outputs.Crops.read(tmp_path)
    (tmp_path / "frames.json").write_text(json.dumps({"frames": [{"index": 0}]}))
    with pytest.raises(StageError, match=r"malformed pose2d output \(missing key 'time_ms'\)"):
        outputs.Pose2D.read(tmp_path)
    np.savez(tmp_path / "fits.npz", ok=np.ones(2, bool))
    with pytest.raises(StageError, match=r"fits\.npz: missing frame_ids, flag, betas"):
        outputs.Fits.read(tmp_path)
    (tmp_path / "fits.npz").write_bytes(b"not a zip")
    with pytest.raises(StageError, match=r"fits\.npz: cannot read the fit-smpl arrays"):
        outputs.Fits.read(tmp_path)


def test_fits_of_fit_smpl_version_1_read_as_weak_perspective(tmp_path: Path) -> None:
    """Fits written before ``camera_distance`` existed read as distance 0 (how they were
    fitted); the figures a hand-made file lacks are None, and writing needs them."""
    t = 2
    np.savez(
        tmp_path / "fits.npz",
        frame_ids=np.array(["000000", "000003"]),
        ok=np.array([True, False]),
        flag=np.array(["", "fit diverged"]),
        betas=np.zeros(10, np.float32),
        global_orient=np.zeros((t, 3), np.float32),
        body_pose=np.zeros((t, 69), np.float32),
        camera=np.tile(np.float32([0.9, 0.1, -0.1]), (t, 1)),
    )
    fits = outputs.Fits.read(tmp_path)
    assert fits.camera_distance.tolist() == [0.0, 0.0] and fits.camera.dtype == np.float64
    assert fits.body_model == "builtin" and fits.joints3d is None and fits.crop_size is None
    assert fits.row_of("000003") == 1 and fits.row_of("000006") is None
    with pytest.raises(ValueError, match=r"Fits\.write needs joints3d"):
        fits.write(tmp_path / "again")


def test_plan_frames_records_failed_fits_and_reuses_intact_frames(tmp_path: Path) -> None:
    """The skeleton render-maps and voxelize share: a failed fit is recorded with its
    reason, an entry whose files the stage could reuse is kept as it was, the rest is to
    draw."""
    from hpt_data.stages._frames_io import PreviousOutput

    fits = outputs.Fits(
        frame_ids=["000000", "000001", "000002"],
        ok=np.array([True, False, True]),
        flag=["", "mask IoU 0.40 < 0.6", ""],
        betas=np.zeros(10, np.float32),
        global_orient=np.zeros((3, 3), np.float32),
        body_pose=np.zeros((3, 69), np.float32),
        camera=np.zeros((3, 3)),
        camera_distance=np.zeros(3),
    )
    previous = tmp_path / "previous"
    old = outputs.VolumeFrame("000002", 2, True, [], None, "voxels/000002.npz", "binvox/000002")
    outputs.Volumes([64, 256, 256], [old]).write(previous)
    size = (previous / "frames.json").stat().st_size
    (previous / "_stage.json").write_text(json.dumps({"files": {"frames.json": size}}))
    entries, todo = plan_frames(
        fits,
        PreviousOutput(previous),
        tmp_path / "out",
        lambda prev, fid: fid == "000002",
        outputs.VolumeFrame,
    )
    assert todo == [0]
    assert entries[1].reason == "fit-smpl: mask IoU 0.40 < 0.6" and not entries[1].ok
    assert entries[2] == old
    assert entries[0].to_json() == {
        "frame_id": "000000",
        "row": 0,
        "ok": False,
        "flags": [],
        "reason": None,
        "file": None,
        "binvox": None,
    }


def test_body_windows_round_trip_and_full_frame_files_still_read(tmp_path: Path) -> None:
    """S, D and the voxel labels are stored as the body's window: reading gives back the
    full arrays (background, NaN and an empty frame included); files written before the
    window (full arrays, no window key) read as they are; a window that does not fit the
    block is a StageError naming the file."""
    from hpt_data.stages._frames_io import save_npz
    from hpt_data.stages.outputs._window import crop_window, fill_window

    rng = np.random.default_rng(0)
    parsing = np.zeros((64, 64), np.uint8)
    parsing[10:30, 5:12] = rng.integers(1, 7, (20, 7))
    depth = np.full((64, 64), np.inf, np.float16)
    depth[10:30, 5:12] = rng.uniform(2, 3, (20, 7))
    depth[40, 50] = np.nan  # not background: kept
    box, window = crop_window([parsing, depth], [0, np.inf])
    assert window.tolist() == [[10, 5], [64, 64]] and parsing[box].shape == (31, 46)
    np.testing.assert_array_equal(fill_window(depth[box], window, np.inf), depth)
    np.testing.assert_array_equal(fill_window(parsing[box], window, 0), parsing)
    labels = np.zeros((8, 16, 16), np.uint8)
    labels[2:5, 3, 4:9] = 3
    box, window = crop_window([labels], [0])
    assert labels[box].shape == (3, 1, 5)
    np.testing.assert_array_equal(fill_window(labels[box], window, 0), labels)
    empty = np.zeros((8, 16, 16), np.uint8)
    box, window = crop_window([empty], [0])
    assert empty[box].size == 0
    np.testing.assert_array_equal(fill_window(empty[box], window, 0), empty)

    volume = outputs.FrameVolume(labels, 1.5, 0.01, np.array([1.0, 0, 0]), 3.0, 2.9)
    volume.write(tmp_path / "new.npz")
    full = {"labels": labels, "z0": np.float64(1.5), "dz": np.float64(0.01)}
    full |= {"camera": np.array([1.0, 0, 0]), "camera_distance": np.float64(3.0)}
    save_npz(tmp_path / "old.npz", full | {"ref_z": np.float64(2.9)})
    for name in ("new", "old"):
        back = outputs.FrameVolume.read(tmp_path / f"{name}.npz")
        np.testing.assert_array_equal(back.labels, labels)
        assert (back.z0, back.dz, back.camera_distance, back.ref_z) == (1.5, 0.01, 3.0, 2.9)
    save_npz(tmp_path / "bad.npz", full | {"ref_z": np.float64(2.9), "labels_window": window[:1]})
    with pytest.raises(StageError, match=r"bad\.npz"):
        outputs.FrameVolume.read(tmp_path / "bad.npz")


def test_npz_files_read_as_numpy_reads_them(tmp_path: Path) -> None:
    """``load_arrays``' own reader gives numpy's arrays (dtype, shape, order, values,
    writable); what it does not take goes to ``np.load``, with numpy's errors."""
    from hpt_data.stages._frames_io import save_npz
    from hpt_data.stages.outputs._common import _fast_npz, load_arrays

    arrays = {
        "f2": np.array([[1.5, np.inf], [-np.inf, np.nan]], np.float16),
        "big": np.arange(12, dtype=">f4").reshape(3, 4),
        "scalar": np.float64(3.25),
        "empty": np.zeros((0, 3), np.int32),
        "fortran": np.asfortranarray(np.arange(6).reshape(2, 3)),
        "bool": np.array([True, False]),
        "text": np.array(["ab", "c"]),
        "one": np.arange(5, dtype=np.uint8)[None],
    }
    for level in (0, 1, 6):
        save_npz(tmp_path / "a.npz", arrays, level=level)
        fast = _fast_npz((tmp_path / "a.npz").read_bytes())  # not a fallback
        for got in (fast, load_arrays(tmp_path / "a.npz", "t")):
            with np.load(tmp_path / "a.npz") as ref:
                assert sorted(got) == sorted(ref.files)
                for key in ref.files:
                    want = ref[key]
                    assert got[key].dtype == want.dtype and got[key].shape == want.shape
                    assert got[key].flags.f_contiguous == want.flags.f_contiguous
                    assert got[key].flags.writeable
                    assert np.array_equal(got[key], want, equal_nan=want.dtype.kind == "f")
    np.savez(tmp_path / "b.npz", **arrays)  # numpy's own writer
    assert sorted(load_arrays(tmp_path / "b.npz", "t")) == sorted(arrays)
    np.savez(tmp_path / "o.npz", o=np.array([{}], dtype=object))
    with pytest.raises(StageError, match=r"o\.npz: cannot read the t arrays"):
        load_arrays(tmp_path / "o.npz", "t")
    with pytest.raises(StageError, match=r"missing\.npz"):
        load_arrays(tmp_path / "missing.npz", "t")


def test_a_member_whose_crc_is_wrong_is_refused(tmp_path: Path) -> None:
    """The fast reader checks each member's CRC-32 (ISA-L's where installed, zlib's
    otherwise), and numpy's reader, which load_arrays falls back to, does too."""
    import zipfile

    from hpt_data.stages._frames_io import save_npz
    from hpt_data.stages.outputs._common import _fast_npz, load_arrays

    save_npz(tmp_path / "a.npz", {"x": np.arange(1000, dtype=np.int32)}, level=1)
    data = bytearray((tmp_path / "a.npz").read_bytes())
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        crc = zf.infolist()[0].CRC.to_bytes(4, "little")
    assert data.count(crc) == 2  # the local header's and the central directory's
    (tmp_path / "b.npz").write_bytes(bytes(data).replace(crc, bytes(4)))
    with pytest.raises(ValueError, match="CRC-32"):
        _fast_npz((tmp_path / "b.npz").read_bytes())
    with pytest.raises(StageError, match=r"b\.npz"):
        load_arrays(tmp_path / "b.npz", "t")


@pytest.mark.parametrize("level", [0, 1, 6])
def test_every_flipped_byte_reads_back_the_arrays_or_names_the_file(
    tmp_path: Path, level: int
) -> None:
    """Damage anywhere in a per-frame ``.npz`` (each byte in turn inverted: the deflate
    stream, a zip header, a stored ``.npy`` header) gives either the arrays written (a
    field no reader checks) or the one-line StageError naming the file, never a
    traceback: ``np.load`` raises zlib's, zipfile's and numpy's header parser's own
    exceptions, which a reader must name."""
    from hpt_data.stages._frames_io import save_npz
    from hpt_data.stages.outputs._common import load_arrays

    arrays = {"labels": np.arange(40, dtype=np.uint8).reshape(5, 8), "z": np.float64(2.5)}
    save_npz(tmp_path / "good.npz", arrays, level=level)
    good = (tmp_path / "good.npz").read_bytes()
    bad = tmp_path / "bad.npz"
    named = 0
    for at, flip in itertools.product(range(len(good)), (0xFF, 0x01)):  # 0x01: '5' -> '4'
        data = bytearray(good)
        data[at] ^= flip
        bad.write_bytes(bytes(data))
        try:
            got = load_arrays(bad, "t")
        except StageError as exc:
            assert str(bad) in str(exc) and "\n" not in str(exc), (at, flip, exc)
            named += 1
            continue
        assert sorted(got) == sorted(arrays), (at, flip)
        for key, want in arrays.items():
            assert got[key].dtype == np.asarray(want).dtype, (at, flip, key)
            assert np.array_equal(got[key], want), (at, flip, key)
    assert named > len(good)  # most damage is caught, not read past


def test_fast_npz_is_a_zip_numpy_and_zipfile_read_as_the_arrays_written(tmp_path: Path) -> None:
    """The per-frame ``.npz`` at level 1 are written by hand (ISA-L's deflate): a valid zip
    (``testzip``), members named, dated and permissioned as ``zipfile`` writes them, the
    arrays given back by numpy, and the same bytes when written again."""
    import zipfile

    from hpt_data.stages._frames_io import save_npz

    rng = np.random.default_rng(3)
    arrays = {
        "labels": (rng.random((256, 256)) > 0.7).astype(np.uint8),
        "depth": rng.random((64, 64)).astype(np.float16),
        "ref_z": np.float64(2.9),
    }
    save_npz(tmp_path / "fast.npz", arrays, level=1)
    save_npz(tmp_path / "zlib.npz", arrays, level=6)  # through zipfile
    with (
        zipfile.ZipFile(tmp_path / "fast.npz") as fast,
        zipfile.ZipFile(tmp_path / "zlib.npz") as ref,
    ):
        assert fast.testzip() is None
        fields = ("filename", "date_time", "external_attr", "create_system", "compress_type")
        for a, b in zip(fast.infolist(), ref.infolist(), strict=True):
            assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    with np.load(tmp_path / "fast.npz") as got:
        assert sorted(got.files) == sorted(arrays)
        for key, want in arrays.items():
            assert got[key].dtype == np.asarray(want).dtype and np.array_equal(got[key], want)
    first = (tmp_path / "fast.npz").read_bytes()
    save_npz(tmp_path / "fast.npz", arrays, level=1)
    assert (tmp_path / "fast.npz").read_bytes() == first
