"""``person: all``: a video's people become person clips, each an ordinary video to every
later stage, the split and the shards.

remove-bg with ``person: all`` leaves one crop set per kept track under its output's
``clips/p<k>/`` (:mod:`hpt_data.stages.remove_bg_clips`). Once that output is done,
:func:`expand_videos` makes each the work folder of the clip ``<video id>#p<k>``:

- ``video.json``: the video's record with ``video_id`` and ``person_id`` the clip's id (a
  person of their own for pairs and training), the video's ``split`` (the split was drawn
  per video, by the source's person, before anyone was found: all of a video's clips stay
  in its split, so a person whose track broke in two cannot leak across), and in ``meta``
  the ``video``, its ``person`` (the source's person id), ``clip`` and ``track``;
- ``sample-frames/``: the video's, hard-linked (copied where links fail), manifest too;
- ``remove-bg/``: the clip's crop set, hard-linked, with a manifest of remove-bg's
  fingerprint, the video's ``sample-frames`` digest as input, its own file list and
  digest, and ``clip_of`` (the video's remove-bg digest).

Every later stage then reads and trusts these folders by the usual rule
(``hpt_data.workdir``). Each folder appears by one atomic rename and is remade only when
the video's output it came from changed, so a killed run loses nothing and a second run
skips everything; a remade but unchanged clip keeps its digest, and its later stages stay
done.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpt_data.errors import HptError
from hpt_data.names import clip_id, clip_parts
from hpt_data.output_state import assess_output
from hpt_data.sources.base import VideoRecord
from hpt_data.stages.outputs.person_clips import PersonClip, PersonClips
from hpt_data.tasks import TaskOutcome, commit_output, utc_now
from hpt_data.workdir import (
    MANIFEST,
    VideoDir,
    content_digest,
    files_intact,
    link_or_copy,
    list_files,
    read_json,
    write_json_atomic,
)

if TYPE_CHECKING:
    from hpt_data.orchestrator import Dataset

#: The step's name in summaries and build.json.
CLIPS_STEP = "person-clips"
SPLIT_AT = "remove-bg"


def person_all(ds: Dataset) -> bool:
    """Whether the dataset's remove-bg makes person clips (``person: all``)."""
    stage = ds.stages.get(SPLIT_AT)
    return stage is not None and getattr(stage.settings, "person", None) == "all"


def after_split(ds: Dataset, name: str) -> bool:
    """Whether stage ``name`` runs on person clips (comes after remove-bg) in ``ds``."""
    order = list(ds.stages)
    return SPLIT_AT in order and order.index(name) > order.index(SPLIT_AT)


def clip_record(video: VideoRecord, clip: PersonClip) -> VideoRecord:
    """The record of ``video``'s person clip ``clip`` (see the module doc)."""
    cid = clip_id(video.video_id, clip.name)
    meta = {**video.meta, "video": video.video_id, "person": video.person_id}
    meta.update(clip=clip.name, track=clip.track)
    return dataclasses.replace(video, video_id=cid, person_id=cid, meta=meta)


def expand_videos(
    ds: Dataset, videos: Sequence[VideoRecord]
) -> tuple[list[VideoRecord], list[TaskOutcome]]:
    """Each video with a done ``person: all`` remove-bg replaced by its person clips
    (folders made or brought up to date), the others kept as they are (a later stage then
    says what is missing); and per video expanded an outcome (``ok``: a folder was made,
    ``skipped``: all up to date, ``failed``: its clip list is unreadable)."""
    stage = ds.stages[SPLIT_AT]
    upstream = ds.upstream_fingerprints(stage)
    out: list[VideoRecord] = []
    outcomes: list[TaskOutcome] = []
    for video in videos:
        vdir = ds.dirs.video(video.video_id)
        state, _ = assess_output(vdir, stage, upstream)
        if state != "done" or not PersonClips.present(vdir.output(SPLIT_AT)):
            out.append(video)
            continue
        try:
            listed = PersonClips.read(vdir.output(SPLIT_AT))
            made = 0
            for clip in listed.clips:
                record = clip_record(video, clip)
                made += _make_clip_dir(vdir, ds.dirs.video(record.video_id), record, clip)
                out.append(record)
        except (HptError, OSError) as exc:
            outcomes.append(TaskOutcome(video.video_id, "failed", str(exc)))
            continue
        metrics = {"clips": len(listed.clips), "left_out": len(listed.left_out)}
        outcomes.append(TaskOutcome(video.video_id, "ok" if made else "skipped", None, 0, metrics))
    return out, outcomes


def _make_clip_dir(parent: VideoDir, cdir: VideoDir, record: VideoRecord, clip: PersonClip) -> int:
    """Bring one clip's folder up to date; how many stage folders were (re)made."""
    if read_json(cdir.record_json) != record.to_json():
        write_json_atomic(cdir.record_json, record.to_json())
    made = 0
    frames = parent.manifest("sample-frames") or {}
    have = cdir.manifest("sample-frames") or {}
    if have.get("digest") != frames.get("digest") or not _intact(cdir, "sample-frames"):
        _link_output(parent.output("sample-frames"), cdir, "sample-frames", dict(frames))
        made += 1
    crops = parent.manifest(SPLIT_AT) or {}
    clip_of = {"video": parent.path.name, "digest": crops.get("digest"), "clip": clip.name}
    clip_of["track"] = clip.track
    have = cdir.manifest(SPLIT_AT) or {}
    same = have.get("clip_of") == clip_of and have.get("fingerprint") == crops.get("fingerprint")
    if not same or not _intact(cdir, SPLIT_AT):
        manifest = {k: v for k, v in crops.items() if k not in ("files", "digest", "metrics")}
        manifest.update(clip_of=clip_of, created_at=utc_now(), metrics=dataclasses.asdict(clip))
        _link_output(parent.output(SPLIT_AT) / clip.folder, cdir, SPLIT_AT, manifest)
        made += 1
    return made


def _intact(vdir: VideoDir, stage: str) -> bool:
    manifest = vdir.manifest(stage)
    return manifest is not None and files_intact(vdir.output(stage), manifest.get("files", {}))


def _link_output(src: Path, cdir: VideoDir, stage: str, manifest: dict[str, Any]) -> None:
    """Hard-link every file of ``src`` into a new output folder of ``stage`` in ``cdir``,
    write ``manifest`` (its files and digest from what was linked) and put it in place."""
    cdir.clear_temp_outputs(stage)
    tmp = cdir.new_temp_output(stage)
    try:
        for path in sorted(src.rglob("*")):
            if not path.is_file() or path.name == MANIFEST:
                continue
            link_or_copy(path, tmp / path.relative_to(src))
        files = list_files(tmp)
        manifest.update(files=files, digest=content_digest(tmp, files))
        write_json_atomic(tmp / MANIFEST, manifest)
        commit_output(tmp, cdir.output(stage))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def clip_parent(video_id: str) -> str | None:
    """The video a person clip's id belongs to, or None for a video's own id."""
    parts = clip_parts(video_id)
    return parts[0] if parts else None


def expanded(vdir: VideoDir) -> bool:
    """Whether the video's remove-bg output lists person clips (``person: all``)."""
    return PersonClips.present(vdir.output(SPLIT_AT))


def clips_line(ds: Dataset) -> str:
    """What ``hpt-data info`` says of the person clips ("" when there are none and the
    dataset does not make them)."""
    videos = clips = 0
    for vid in ds.dirs.video_ids():
        vdir = ds.dirs.video(vid)
        if clip_parent(vid) is None and expanded(vdir):
            try:
                clips += len(PersonClips.read(vdir.output(SPLIT_AT)).clips)
            except HptError:
                continue
            videos += 1
    if not videos and not person_all(ds):
        return ""
    return f"person clips (remove-bg person: all): {clips} from {videos} videos"
