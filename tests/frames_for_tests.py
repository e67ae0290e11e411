"""Clips, bad files and a file-list source for the frame-stage tests.

An importable module (not a test file): the local executor starts workers with ``spawn``,
and a worker imports the source's module by name. The clips are made here with
``cv2.VideoWriter``; the person in them is a real photograph that matplotlib ships
(Grace Hopper, an upper-body portrait).
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from hpt_data.config import DatasetConfig
from hpt_data.executors import LocalExecutor
from hpt_data.orchestrator import Dataset, build
from hpt_data.sources.base import SourceScan, VideoRecord, VideoSource
from hpt_data.sources.split import SplitRule
from hpt_data.stages.base import Stage
from hpt_data.workdir import DatasetDir


def portrait() -> np.ndarray:
    """Grace Hopper's portrait, (600, 512, 3) uint8 BGR."""
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(path)
    return image


def write_video(
    path: Path, frames: list[np.ndarray], fps: float = 10, fourcc: str = "mp4v"
) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def dot_frames(n: int = 8, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    """A red dot moving on a grey ramp: a clip with no person; frame i has mean ~ 20 i."""
    frames = []
    for i in range(n):
        img = np.full((size[1], size[0], 3), (i * 20) % 255, np.uint8)
        cv2.circle(img, (10 + 4 * i, size[1] // 2), 6, (0, 0, 255), -1)
        frames.append(img)
    return frames


def portrait_frames(n: int = 6, size: int = 320, step: int = 6) -> list[np.ndarray]:
    """The portrait scaled to 0.45 and moved ``step`` px right per frame over a plain
    grey square of ``size`` px, its lower edge on the frame's lower edge."""
    face = cv2.resize(portrait(), None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
    fh, fw = face.shape[:2]
    frames = []
    for i in range(n):
        img = np.full((size, size, 3), 128, np.uint8)
        x = (size - fw) // 2 - (n // 2) * step + i * step
        img[size - fh :, x : x + fw] = face
        frames.append(img)
    return frames


# ---------------------------------------------------------------- hand-made MP4 files


def _boxes(data: bytes, start: int, end: int, path: tuple = ()):
    i = start
    while i < end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        yield i, size, kind, path
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
            yield from _boxes(data, i + 8, i + size, (*path, i))
        i += size


def rotate_mp4(src: Path, dst: Path) -> Path:
    """Copy an MP4 written by OpenCV with a 90-degree display matrix in its track header,
    as a phone filming upright writes it."""
    data = bytearray(src.read_bytes())
    i = data.find(b"tkhd")
    assert data[i + 4] == 0, "tkhd version 0 expected"
    matrix_at = i + 4 + 4 + 20 + 8 + 8
    struct.pack_into(">9i", data, matrix_at, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    dst.write_bytes(bytes(data))
    return dst


def retime_mp4(src: Path, dst: Path, deltas: list[int]) -> Path:
    """Copy an MP4 written by OpenCV with per-frame durations ``deltas`` (in its track's
    time scale): a variable-frame-rate video. Their sum must equal the original duration
    (the edit list keeps it)."""
    data = bytearray(src.read_bytes())
    found = [(o, s, p) for o, s, kind, p in _boxes(data, 0, len(data)) if kind == b"stts"]
    if not found:
        raise ValueError("no stts box")
    off, size, parents = found[0]
    new = struct.pack(">I4sII", 16 + 8 * len(deltas), b"stts", 0, len(deltas))
    new += b"".join(struct.pack(">II", 1, d) for d in deltas)
    grow = len(new) - size
    out = data[:off] + new + data[off + size :]
    for p in parents:  # moov, trak, mdia, minf, stbl grow; mdat comes first, offsets hold
        struct.pack_into(">I", out, p, struct.unpack(">I", out[p : p + 4])[0] + grow)
    dst.write_bytes(bytes(out))
    return dst


def unsupported_codec_mp4(src: Path, dst: Path) -> Path:
    """Copy an MP4 (MPEG-4 part 2) with its sample entry renamed to an unknown codec."""
    data = bytearray(src.read_bytes())
    esds = data.find(b"esds")
    oti = data.find(b"\x20", data.find(b"\x04", esds + 8))  # objectTypeIndication
    data[oti] = 0xEE
    entry = data.find(b"mp4v")
    data[entry : entry + 4] = b"zzzz"
    dst.write_bytes(bytes(data))
    return dst


def bad_inputs(folder: Path) -> dict[str, Path]:
    """One file per kind of bad input, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    good = write_video(folder / "_good.mp4", dot_frames(12))
    files = {}
    files["empty"] = folder / "empty.mp4"
    files["empty"].write_bytes(b"")
    data = good.read_bytes()
    files["truncated"] = folder / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["text"] = folder / "text.mp4"
    files["text"].write_text("this is not a video\n")
    files["tiny"] = write_video(
        folder / "tiny.avi", [np.zeros((1, 1, 3), np.uint8)] * 3, 10, "MJPG"
    )
    files["codec"] = unsupported_codec_mp4(good, folder / "codec.mp4")
    avi = write_video(folder / "_long.avi", dot_frames(30), 10, "MJPG").read_bytes()
    files["truncated_avi"] = folder / "cut.avi"
    files["truncated_avi"].write_bytes(avi[: len(avi) // 2])
    files["zero"] = folder / "zero.mp4"
    writer = cv2.VideoWriter(str(files["zero"]), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    writer.release()
    return files


def render_synthetic_clip(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """One short clip of the synthetic source (a person walking, 1 s at 15 fps, 480x640)
    and its ground truth, rendered once per test session into ``folder``. Skips the test
    when the synthetic source cannot be imported."""
    import pytest

    try:
        from hpt_data.sources.synthetic import SyntheticOptions, SyntheticSource
        from hpt_data.sources.synthetic.ground_truth import load_ground_truth
    except ImportError as exc:  # the source is optional for these tests
        pytest.skip(f"synthetic source not importable: {exc}")
    source = SyntheticSource(folder, SyntheticOptions(persons=1, clips_per_person=1, seconds=1.0))
    video = source.scan().videos[0]
    if not source.is_materialized(video):
        folder.mkdir(parents=True, exist_ok=True)
        source.materialize(video)
    return Path(video.path), load_ground_truth(video.ground_truth)


# ---------------------------------------------------------------- a source of given files


@dataclass(frozen=True)
class FilesOptions:
    files: list[str] = field(default_factory=list)


class FilesSource(VideoSource):
    """The given files, as they are (no probing, unlike ``video_folder``): the stages see
    the bad ones too. Video id: the file's stem."""

    name = "files"
    Options = FilesOptions
    root_must_exist = False

    def scan(self) -> SourceScan:
        return SourceScan(
            videos=[VideoRecord(Path(f).stem, "p0", self.name, str(f)) for f in self.options.files]
        )

    def is_materialized(self, video: VideoRecord) -> bool:
        return True


def make_dataset(
    tmp: Path,
    files: list[Path],
    stage_classes: tuple[type[Stage], ...],
    settings: dict | None = None,
) -> Dataset:
    config = DatasetConfig(
        name="clips",
        source="files",
        root=tmp,
        options=FilesOptions([str(f) for f in files]),
        split=SplitRule(),
        stages=settings or {},
    )
    stages = {c.name: c((settings or {}).get(c.name)) for c in stage_classes}
    source = FilesSource(tmp, config.options, dataset="clips")
    return Dataset(config, DatasetDir(tmp / "work" / "clips"), source, stages)


def output_files(folder: Path) -> dict[str, bytes]:
    """Every file of a stage output but its manifest (which holds times), with bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "_stage.json"
    }


def frame_stages(names: str) -> tuple[tuple[type[Stage], ...], dict]:
    """The frame stages named (comma-separated, in order) and the settings the tests use:
    every frame, and portraits (cut by the frame's lower edge) accepted."""
    from hpt_data.stages import stage_class
    from hpt_data.stages.remove_bg import RemoveBgSettings
    from hpt_data.stages.sample_frames import SampleFramesSettings

    classes = tuple(stage_class(n) for n in names.split(","))
    settings = {
        "sample-frames": SampleFramesSettings(mode="stride"),
        "remove-bg": RemoveBgSettings(max_edge_cut=1.0),
    }
    return classes, {k: v for k, v in settings.items() if k in names.split(",")}


def run_child_build(tmp: str, files: str, stages: str, workers: str) -> None:
    """Entry point of the SIGKILL test's child: the named stages over ``files``."""
    classes, settings = frame_stages(stages)
    ds = make_dataset(Path(tmp), [Path(f) for f in files.split(",")], classes, settings)
    with LocalExecutor(workers=int(workers)) as ex:
        report = build(ds, ex, progress=False)
    for step in report.steps:
        for o in step.outcomes:
            print(f"{step.step} {o.video_id} {o.state} {o.error}")
    sys.stdout.flush()
