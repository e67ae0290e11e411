"""sample-frames ``image_format: video``: no frame file is written and later stages decode
each kept frame from the source again; they must get the very pixels a PNG run keeps, in
any order, and a source that moved or changed must say so in one line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from frames_for_tests import (
    dot_frames,
    frame_stages,
    make_dataset,
    output_files,
    portrait_frames,
    write_video,
)
from stages_for_tests import TINY_DATASET
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.errors import StageError
from hpt_data.executors import LocalExecutor
from hpt_data.orchestrator import build
from hpt_data.sources.base import VideoRecord
from hpt_data.stages._source_frames import forget_decoders
from hpt_data.stages.base import StageContext
from hpt_data.stages.outputs import Crops, Frames
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings
from hpt_data.video import FrameDecoder, VideoReader, pixels_crc32

runner = CliRunner()


def sampled(tmp: Path, video: Path, name: str, **settings) -> Frames:
    out = tmp / name
    out.mkdir(parents=True)
    record = VideoRecord(video.stem, "p0", "test", str(video))
    SampleFrames(SampleFramesSettings(**settings)).run(StageContext(record, {}, out))
    return Frames.read(out)


@pytest.mark.parametrize("codec", ["FFV1", "mp4v"])
def test_frames_decoded_again_equal_the_png_frames_in_any_order(tmp_path: Path, codec) -> None:
    # a lossy codec too: the decoder, not the codec, must give the same pixels again
    suffix = ".avi" if codec == "FFV1" else ".mp4"
    clip = write_video(tmp_path / f"dots{suffix}", dot_frames(12, (96, 64)), 10, codec)
    png = sampled(tmp_path, clip, "png", mode="stride", stride=2, image_format="png")
    video = sampled(tmp_path, clip, "video", mode="stride", stride=2, image_format="video")
    assert [f.index for f in video.frames] == [f.index for f in png.frames] == [0, 2, 4, 6, 8, 10]
    assert [f.time_ms for f in video.frames] == [f.time_ms for f in png.frames]
    assert not list((tmp_path / "video").rglob("*.png")), "no frame file with image_format: video"
    forget_decoders()
    # forward, backward (the decoder starts again) and repeated
    for pos in [0, 3, 5, 1, 1, 4, 2, 0]:
        got = video.image(video.frames[pos].file)
        want = png.image(png.frames[pos].file)
        assert got.shape == want.shape == (64, 96, 3)
        assert np.array_equal(got, want), pos
    if codec == "FFV1":  # lossless end to end: the very frames written
        assert np.array_equal(video.image(video.frames[2].file), dot_frames(12, (96, 64))[4])


def test_image_folder_frames_come_from_their_files(tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    folder.mkdir()
    frames = dot_frames(4)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), f)
    index = sampled(tmp_path, folder, "out", mode="stride", image_format="video")
    assert [f.file for f in index.frames] == [f"video#{i:06d}" for i in range(4)]
    for entry in reversed(index.frames):
        assert np.array_equal(index.image(entry.file), frames[entry.index])


def test_auto_keeps_no_file_where_most_frames_are_kept(tmp_path: Path) -> None:
    """image_format auto (the default) decodes a video again where at least half its
    frames are kept, writes PNGs where fewer are, and reads an image folder's own files;
    the formats that give later stages the same pixels share one fingerprint."""
    clip = write_video(tmp_path / "dots.avi", dot_frames(12, (96, 64)), 10, "FFV1")
    half = sampled(tmp_path, clip, "half", mode="stride", stride=2)
    third = sampled(tmp_path, clip, "third", mode="stride", stride=3)
    by_fps = sampled(tmp_path, clip, "fps", mode="fps", fps=4.0)  # 4 of its 10 frames a second
    assert [f.file for f in half.frames] == [f"video#{i:06d}" for i in range(0, 12, 2)]
    assert [f.file for f in third.frames] == [f"frames/{i:06d}.png" for i in range(0, 12, 3)]
    assert by_fps.frames and all(f.file.endswith(".png") for f in by_fps.frames)
    capped = sampled(tmp_path, clip, "capped", mode="stride", max_frames=4)  # a third again
    assert all(f.file.endswith(".png") for f in capped.frames)
    in_half = {f.index: f.file for f in half.frames}
    for entry in third.frames[::2]:  # frames 0 and 6: the same pixels either way
        assert np.array_equal(half.image(in_half[entry.index]), third.image(entry.file))
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, f in enumerate(dot_frames(3)):
        cv2.imwrite(str(folder / f"{i:03d}.png"), f)
    photos = sampled(tmp_path, folder, "photos", mode="stride", stride=3)
    assert [f.file for f in photos.frames] == ["video#000000"]
    prints = {
        fmt: SampleFrames(SampleFramesSettings(image_format=fmt)).fingerprint()
        for fmt in ("auto", "png", "video", "jpg")
    }
    assert prints["auto"] == prints["png"] == prints["video"] != prints["jpg"]


def test_a_moved_or_changed_source_is_named_in_one_line(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "dots.avi", dot_frames(6), 10, "FFV1")
    index = sampled(tmp_path, clip, "out", mode="stride", image_format="video")
    forget_decoders()
    moved = clip.with_name("moved.avi")
    shutil.move(clip, moved)
    with pytest.raises(StageError, match=r"dots\.avi: the source is gone") as gone:
        index.image(index.frames[1].file)
    assert "\n" not in str(gone.value)
    write_video(clip, dot_frames(6, (64, 40)), 10, "FFV1")  # another video in its place
    with pytest.raises(StageError, match=r"dots\.avi: the source changed since sample-frames"):
        index.image(index.frames[1].file)


def test_remove_bg_and_pose2d_write_the_same_files_from_decoded_frames(tmp_path: Path) -> None:
    """The whole frame chain from frames decoded again equals the chain from PNG frames,
    byte for byte, and the crops rebuilt from the matte are the same pixels."""
    clip = write_video(tmp_path / "hopper.avi", portrait_frames(6, step=4), 10, "FFV1")
    stages = "sample-frames,remove-bg,pose2d"
    classes, settings = frame_stages(stages)
    roots = {"png": tmp_path / "png", "video": tmp_path / "video"}
    for fmt, root in roots.items():
        fmt_settings = dict(settings)
        fmt_settings["sample-frames"] = SampleFramesSettings(mode="stride", image_format=fmt)
        ds = make_dataset(root, [clip], classes, fmt_settings)
        with LocalExecutor(workers=1) as ex:
            report = build(ds, ex, progress=False)
        done = [o.state for s in report.steps if s.step in stages.split(",") for o in s.outcomes]
        assert done == ["ok"] * 3, report
    videos = {fmt: root / "work" / "clips" / "videos" / "hopper" for fmt, root in roots.items()}
    assert not list((videos["video"] / "sample-frames").rglob("*.png"))
    for stage in ("remove-bg", "pose2d"):
        got, want = output_files(videos["video"] / stage), output_files(videos["png"] / stage)
        assert got.keys() == want.keys(), stage
        # the index names each crop's source frame: video#000002 against frames/000002.png
        got["frames.json"] = re.sub(rb"video#(\d+)", rb"frames/\1.png", got["frames.json"])
        assert got == want, stage
    crops = {fmt: Crops.read(v / "remove-bg") for fmt, v in videos.items()}
    kept = [c for c in crops["png"].frames if c.has_crop]
    assert len(kept) >= 4
    for crop in kept:
        same = crops["video"].by_index()[crop.index]
        full = crops["png"].image(crop)
        assert np.array_equal(crops["video"].image(same), full)
        # a small copy for pictures, cut and blended at its size: the crop shrunk, nearly
        small = crops["png"].image(crop, side=64)
        shrunk = cv2.resize(full, (64, 64), interpolation=cv2.INTER_AREA)
        assert small.shape == (64, 64, 3)
        assert np.abs(small.astype(int) - shrunk).mean() < 3


TINY = TINY_DATASET + "    stages:\n      sample-frames: {image_format: FORMAT}\n"


@pytest.mark.slow
@pytest.mark.parametrize("image_format", ["png", "video"])
def test_write_shards_fails_a_video_whose_frames_are_gone_in_one_line(
    tmp_path: Path, image_format: str
) -> None:
    """remove-bg's crops are rebuilt from the frames when the shards are written: a lost
    frame file, or a moved source with ``image_format: video``, fails that video with
    one line naming what is gone; the other video is written."""
    config = tmp_path / "datasets.yaml"
    config.write_text(TINY.replace("FORMAT", image_format))
    args = ["-c", str(config), "-d", "tiny"]
    result = runner.invoke(app, ["build", *args, "-q"])
    assert result.exit_code == 0, result.output
    if image_format == "video":
        gone = tmp_path / "clips" / "p000-walk.mp4"
        gone.rename(tmp_path / "elsewhere.mp4")
        reason = f"{gone}: the source is gone"
    else:
        frames = tmp_path / "work" / "tiny" / "videos" / "p000-walk" / "sample-frames"
        next(iter(sorted((frames / "frames").iterdir()))).unlink()
        reason = f"{frames}: 1 of the kept frames are gone (frames/000000.png first)"
    result = runner.invoke(app, ["write-shards", *args])
    failed = [ln for ln in result.output.splitlines() if "failed p000-walk" in ln]
    assert len(failed) == 1 and reason in failed[0], result.output
    assert "frames written: 0 test, 4 train" in result.output or "4 test, 0 train" in result.output


def _moving_dot_clip(tmp_path: Path, n: int = 120) -> tuple[Path, list[np.ndarray]]:
    """An mp4v clip (a keyframe every 12 frames) whose frames all differ, and its frames as
    decoded one after the other."""
    images = []
    for i in range(n):  # a grey that steps by 2 and a dot that moves: no two alike
        img = np.full((64, 96, 3), 10 + 2 * i, np.uint8)
        cv2.circle(img, (8 + (7 * i) % 80, 12 + (3 * i) % 40), 5, (0, 0, 255), -1)
        images.append(img)
    clip = write_video(tmp_path / "long.mp4", images, 10, "mp4v")
    return clip, [f.image for f in VideoReader(clip).frames()]


def test_a_far_frame_is_sought_and_checked_by_its_crc(tmp_path: Path) -> None:
    """A range starting deep in a video seeks there instead of decoding every frame before
    it, and gets the pixels decoding from the start gives (sample-frames records each
    kept frame's CRC; the frames after the seek are checked too)."""
    clip, frames = _moving_dot_clip(tmp_path)
    index = sampled(tmp_path, clip, "video", mode="stride", stride=1, image_format="video")
    crc = {f.index: f.crc32 for f in index.frames}
    assert crc[100] == pixels_crc32(frames[100]) and len(set(crc.values())) == len(frames)
    decoder = FrameDecoder(VideoReader(clip))
    for i in range(100, 106):
        assert np.array_equal(decoder.image(i, crc[i]), frames[i])
    assert decoder.seeks == 1 and decoder.seek_misses == 0
    assert decoder.decoded < 20, decoder.decoded  # from the keyframe before 100, not frame 0
    plain = FrameDecoder(VideoReader(clip))  # no CRC (outputs written before it): no seek
    assert np.array_equal(plain.image(100), frames[100]) and plain.decoded == 101
    # through the stage outputs, as write-shards reads them
    forget_decoders()
    assert np.array_equal(index.image(index.frames[110].file), frames[110])


def test_a_seek_or_a_frame_after_it_that_fails_its_crc_decodes_from_the_start(
    tmp_path: Path,
) -> None:
    clip, frames = _moving_dot_clip(tmp_path)
    crc = [pixels_crc32(f) for f in frames]
    decoder = FrameDecoder(VideoReader(clip))
    # the seek finds a frame whose CRC is not the one asked for: decoded from frame 0
    assert np.array_equal(decoder.image(90, crc[90] ^ 1), frames[90])
    assert decoder.seeks == 0 and decoder.seek_misses == 1 and decoder.decoded >= 91
    # a frame after a good seek that is not what sample-frames saw (a seek onto a twin of
    # the frame in a still scene): the source is decoded again from its start
    decoder = FrameDecoder(VideoReader(clip))
    assert np.array_equal(decoder.image(60, crc[60]), frames[60]) and decoder.seeks == 1
    before = decoder.decoded
    assert np.array_equal(decoder.image(61, crc[61] ^ 1), frames[61])
    assert decoder.seek_misses == 1 and decoder.decoded - before >= 62
    # and without a CRC the decoder no longer trusts the sought position
    decoder = FrameDecoder(VideoReader(clip))
    decoder.image(60, crc[60])
    before = decoder.decoded
    assert np.array_equal(decoder.image(62), frames[62]) and decoder.decoded - before == 63
