"""Rendered synthetic clips with their per-person truth, and remove-bg with ``person:
all`` on one: what the people and tracking tests (test_people.py, test_tracking.py) each
set up the same way. An importable module, not a test file."""

from __future__ import annotations

from pathlib import Path

from hpt_data.sources.base import VideoRecord
from hpt_data.sources.synthetic import SyntheticOptions, SyntheticSource
from hpt_data.sources.synthetic.ground_truth import load_ground_truth
from hpt_data.stages.base import StageContext
from hpt_data.stages.remove_bg import RemoveBackground, RemoveBgSettings
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings


def rendered_clip(
    root: Path, options: SyntheticOptions, video_id: str | None = None
) -> tuple[VideoRecord, dict]:
    """One clip of the synthetic source under ``root`` (``video_id``, or the only one),
    rendered, and its ground truth."""
    src = SyntheticSource(root, options)
    videos = src.scan().videos
    if video_id is None:
        (video,) = videos
    else:
        video = next(v for v in videos if v.video_id == video_id)
    src.materialize(video)
    return video, load_ground_truth(str(video.ground_truth))


def sample_and_remove_bg(
    video: VideoRecord, tmp_path: Path, settings: RemoveBgSettings | None = None
) -> Path:
    """sample-frames (every frame) and remove-bg with ``settings`` (default ``person:
    all``) on ``video``, under ``tmp_path``; the remove-bg output folder (``tmp_path/rb``)."""
    record = VideoRecord(video.video_id, video.person_id, "test", video.path)
    frames, out = tmp_path / "f", tmp_path / "rb"
    frames.mkdir()
    out.mkdir()
    SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(record, {}, frames))
    RemoveBackground(settings or RemoveBgSettings(person="all")).run(
        StageContext(record, {"sample-frames": frames}, out)
    )
    return out
