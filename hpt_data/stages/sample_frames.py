"""``sample-frames``: decode a video (or image folder) and keep keyframes, with time stamps.

Output folder::

    frames.json             source facts (size, rotation, fps, frame counts, signature) and
                            one entry per kept frame: source index, time stamp (ms), file
    frames/000012.png       the kept frames, named by their index in the source; none
                            where image_format resolves to video, whose entries name the frame
                            ``video#000012`` and are decoded from the source when read
                            (:mod:`hpt_data.stages._source_frames`)

Modes (``Settings.mode``):
- ``stride``: every ``stride``-th decoded frame;
- ``fps``: the first frame at or after each tick of a ``fps`` clock started at the first
  frame's time stamp (true time stamps, so variable-frame-rate videos sample evenly in time);
- ``diverse``: of every ``stride``-th frame, keep one when its 2D pose differs from the
  last kept frame's by at least ``min_pose_change`` pose radii (MediaPipe Pose on a
  reduced copy, tracking from frame to frame; see ``docs/perception.md`` for why a pose
  measure and not a motion measure). A frame where no pose is found is kept: remove-bg
  decides about it and records why.

``max_frames`` caps the count by keeping frames evenly spread over those selected.
Frames are lossless by default (the video's own compression is not compounded before
segmentation and the 1024 crops; see ``docs/perception.md``): ``image_format: auto`` keeps
no file where decoding the source again is cheaper (:func:`frame_format`), PNG otherwise.
``frames.json`` is written and read through :class:`hpt_data.stages.outputs.Frames`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import PreviousOutput, file_signature, write_image
from hpt_data.stages._source_frames import video_frame_file, video_frame_index
from hpt_data.stages.base import Stage, StageContext, StageResult
from hpt_data.stages.outputs import Frames, SampledFrame, SourceFacts
from hpt_data.video import Frame, VideoError, VideoReader, pixels_crc32

DIVERSE_SIDE = 512  # longest side of the copy that the diverse mode's pose pass sees
#: image_format auto decodes a video again (no frame files) where at least this share of
#: its frames is kept. Decoding is cheap beside a PNG round trip (benchmarks/chain.py, one
#: 1024² clip: 1.6 ms a frame against 10 to write and 11 to read back, per reading
#: stage), so the break-even share is lower; a half leaves room for sources that decode
#: slower (long GOPs, 4K)
AUTO_VIDEO_SHARE = 0.5


@dataclass(frozen=True)
class SampleFramesSettings:
    """Keys under ``stages: sample-frames:`` in ``datasets.yaml``."""

    # stride: every stride-th frame; fps: fps frames per second of video; diverse: of every
    # stride-th frame, those whose pose moved by min_pose_change since the last kept one
    mode: Literal["stride", "fps", "diverse"] = "fps"
    stride: int = 1  # stride mode: keep every Nth frame; diverse mode: look at every Nth
    fps: float = 10.0  # fps mode: frames kept per second of video
    min_pose_change: float = 0.05  # diverse mode: in pose radii (keypoints.pose_distance)
    max_frames: int = 0  # at most this many frames per video, evenly spread (0: no cap)
    image_format: Literal["auto", "png", "jpg", "video"] = "auto"  # of the kept frames:
    # video (no file: later stages decode each from the source again; no scratch, but the
    # source must stay where it is, unchanged), png (lossless), jpg, or auto: video for
    # image folders and photos (their files are the frames) and for a video of which at
    # least half the frames are kept (decoding again costs less than a PNG round trip
    # there), png otherwise. png, video and auto give later stages the same pixels:
    # switching among them keeps every output valid (rerun sample-frames with --force to
    # drop PNGs already written)
    jpeg_quality: int = 95  # with image_format: jpg
    png_encoder: Literal["fast", "libpng"] = "fast"  # png: fast (rows Up-filtered: half
    # libpng's encoding time, 2/3 of its decoding, ~7 % more bytes) or libpng; both lossless
    sequence_fps: float = 25.0  # time stamps of image-sequence folders
    min_side: int = 32  # frames smaller than this on a side are refused
    keep_truncated: bool = False  # keep the decodable part of a truncated video

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"stride must be at least 1, got {self.stride}")
        if self.fps <= 0 or self.sequence_fps <= 0:
            raise ValueError("fps and sequence_fps must be positive")
        if self.max_frames < 0:
            raise ValueError(f"max_frames must be 0 (no cap) or more, got {self.max_frames}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")
        if self.min_pose_change < 0 or self.min_side < 1:
            raise ValueError("min_pose_change must be >= 0 and min_side >= 1")


def expected_share(settings: SampleFramesSettings, fps: float, frames: int) -> float:
    """The share of a video's ``frames`` (0: unknown) at ``fps`` that ``settings`` keep; 0
    where it cannot be told beforehand (the diverse mode, an unknown frame rate or length
    under a ``max_frames`` cap)."""
    if settings.mode == "stride":
        share = 1.0 / settings.stride
    elif settings.mode == "fps" and fps > 0:
        share = min(1.0, settings.fps / fps)
    else:
        return 0.0
    if settings.max_frames:
        share = min(share, settings.max_frames / frames) if frames else 0.0
    return share


def frame_format(settings: SampleFramesSettings, kind: str, fps: float, frames: int) -> str:
    """How the kept frames of one source (``kind`` video or images, ``fps``, ``frames``:
    0 when unknown) are stored: png, jpg or video (no file), ``auto`` resolved."""
    if settings.image_format != "auto":
        return settings.image_format
    if kind == "images":
        return "video"
    return "video" if expected_share(settings, fps, frames) >= AUTO_VIDEO_SHARE else "png"


class _Selector:
    """Decides frame by frame whether to keep it; ``note`` is stored with a kept frame."""

    def __init__(self, settings: SampleFramesSettings) -> None:
        self.s = settings
        self.next_ms: float | None = None
        self.last: Any = None
        self.model: Any = None
        if settings.mode == "diverse":
            from hpt_data.stages.mediapipe_models import pose_model, reset_model

            self.model = pose_model(static=False, segmentation=False)
            reset_model(self.model)  # no tracking state from another video

    def keep(self, frame: Frame) -> tuple[bool, dict[str, Any]]:
        s = self.s
        if s.mode == "stride":
            return frame.index % s.stride == 0, {}
        if s.mode == "fps":
            period = 1000.0 / s.fps
            if self.next_ms is None:
                self.next_ms = frame.time_ms
            if frame.time_ms + min(1.0, 0.01 * period) < self.next_ms:
                return False, {}
            while self.next_ms <= frame.time_ms + min(1.0, 0.01 * period):
                self.next_ms += period
            return True, {}
        if frame.index % s.stride:
            return False, {}
        return self._keep_diverse(frame)

    def _keep_diverse(self, frame: Frame) -> tuple[bool, dict[str, Any]]:
        import cv2

        from hpt_data.keypoints import pose_distance
        from hpt_data.stages.mediapipe_models import run_pose

        image = frame.image
        scale = DIVERSE_SIDE / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = run_pose(self.model, image)
        if found is None:
            return True, {"pose_change": None}
        lm = found.landmarks
        if self.last is None:
            self.last = lm
            return True, {"pose_change": None}
        change = pose_distance(self.last[:, :2], lm[:, :2], self.last[:, 3], lm[:, 3])
        if change < self.s.min_pose_change:
            return False, {}
        self.last = lm
        return True, {"pose_change": round(change, 4) if np.isfinite(change) else None}


class SampleFrames(Stage):
    """Decode a video and keep keyframes (stride, fps or pose-diverse), with time stamps."""

    name = "sample-frames"
    Settings = SampleFramesSettings
    version = 1
    # the PNG encoder changes the files' bytes, never their pixels: outputs made with the
    # other one stay valid (no later stage could tell), so its default is not fingerprinted
    late_settings = ("png_encoder",)

    @staticmethod
    def fingerprinted(settings: dict[str, Any]) -> dict[str, Any]:
        # png, video and auto give every later stage the same pixels (lossless files, or
        # the source decoded again): outputs made under one stay valid under another
        if settings.get("image_format") in ("auto", "video"):
            settings = {**settings, "image_format": "png"}
        return settings

    def run(self, ctx: StageContext) -> StageResult:
        s: SampleFramesSettings = self.settings
        path = Path(ctx.video.path)
        try:
            reader = VideoReader(path, s.sequence_fps, s.min_side)
            signature = file_signature(path)
            previous = PreviousOutput(ctx.previous)
            old = previous.parsed(Frames.from_json)
            if old is not None and old.source.signature == signature:
                index, reused = self._redo_missing(reader, old, previous, ctx.out_dir)
            else:
                info = reader.info
                fmt = frame_format(s, info.kind, info.fps, info.declared_frames)
                index, reused = self._sample(reader, signature, ctx.out_dir, fmt), 0
        except VideoError as exc:
            raise StageError(str(exc)) from None
        index.write(ctx.out_dir)
        return StageResult(
            {
                "decoded": index.source.decoded_frames,
                "kept": len(index.frames),
                "reused": reused,
            }
        )

    def _write(self, frame: Frame, out_dir: Path, fmt: str) -> str:
        s: SampleFramesSettings = self.settings
        if fmt == "video":  # hpt_data.stages._source_frames decodes it again
            return video_frame_file(frame.index)
        rel = f"frames/{frame.index:06d}.{fmt}"
        write_image(out_dir / rel, frame.image, fmt, s.jpeg_quality, s.png_encoder)
        return rel

    def _sample(self, reader: VideoReader, signature: str, out_dir: Path, fmt: str) -> Frames:
        s: SampleFramesSettings = self.settings
        selector = _Selector(s)
        kept: list[SampledFrame] = []
        decoded = 0
        for frame in reader.frames(allow_truncated=s.keep_truncated):
            decoded += 1
            keep, note = selector.keep(frame)
            if keep:
                rel = self._write(frame, out_dir, fmt)
                crc = pixels_crc32(frame.image) if fmt == "video" else None
                kept.append(SampledFrame(frame.index, frame.time_ms, rel, note, crc))
        if s.max_frames and len(kept) > s.max_frames:
            chosen = set(np.round(np.linspace(0, len(kept) - 1, s.max_frames)).astype(int).tolist())
            for i, entry in enumerate(kept):
                if i not in chosen and video_frame_index(entry.file) is None:
                    (out_dir / entry.file).unlink()
            kept = [e for i, e in enumerate(kept) if i in chosen]
        info = reader.info
        source = SourceFacts(
            path=info.path,
            kind=info.kind,
            width=info.width,
            height=info.height,
            fps=round(info.fps, 6),
            rotation=info.rotation,
            codec=info.codec,
            declared_frames=info.declared_frames,
            decoded_frames=decoded,
            signature=signature,
        )
        return Frames(source, s.mode, kept)

    def _redo_missing(
        self, reader: VideoReader, old: Frames, previous: PreviousOutput, out_dir: Path
    ) -> tuple[Frames, int]:
        """Same source, same settings: keep the previous selection, link the frames still
        intact and decode only up to the last missing one."""
        missing = {}
        for entry in old.frames:
            in_source = video_frame_index(entry.file) is not None  # no file to lose
            if not in_source and not previous.reuse(entry.file, out_dir):
                missing[entry.index] = entry
        reused = len(old.frames) - len(missing)
        if missing:
            last = max(missing)
            for frame in reader.frames(allow_truncated=True, stop_after=last):
                if frame.index in missing:
                    if frame.time_ms != missing[frame.index].time_ms:
                        raise StageError(
                            f"{reader.path}: frame {frame.index} changed its time stamp"
                        )
                    self._write(frame, out_dir, Path(missing[frame.index].file).suffix[1:])
                    del missing[frame.index]
            if missing:
                raise StageError(f"{reader.path}: frame {min(missing)} can no longer be decoded")
        return old, reused
