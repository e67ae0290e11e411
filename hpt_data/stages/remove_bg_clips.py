"""remove-bg with ``person: all``: every long enough track its own crop set.

A track seen in at least ``min_track_frames`` of the sampled frames becomes a person clip:
the crop pass that ``person: <track id>`` runs, written under ``clips/p<k>/`` (see
:mod:`hpt_data.stages.outputs.person_clips`) and numbered by first appearance. A track
none of whose frames is usable (always cut by the edge, say) is left out, with the reason
in ``clips.json``. The top-level ``people.npz`` holds every person with no one kept.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import PreviousOutput
from hpt_data.stages._remove_bg_parts import (
    people_arrays,
    previous_crop_landmarks,
    previous_people,
)
from hpt_data.stages.base import StageResult
from hpt_data.stages.outputs import Crop, Crops
from hpt_data.stages.outputs.person_clips import PersonClip, PersonClips

if TYPE_CHECKING:
    from hpt_data.perception.people import PersonDetection
    from hpt_data.perception.tracking import Track

#: the last run's crops of each kept track: track id -> (its clip folder, crops by index)
OldClips = dict[int, tuple[str, dict[int, Crop]]]


def previous_clips(
    previous: PreviousOutput,
) -> tuple[OldClips, dict[int, list[PersonDetection]] | None]:
    """The last ``person: all`` run's clips whose ``frames.json`` is intact, and each
    frame's people from its ``people.npz`` (None when unusable)."""
    if previous.folder is None or not previous.intact(PersonClips.FILE):
        return {}, None
    try:
        listed = PersonClips.read(previous.folder)
    except StageError:
        return {}, None
    old: OldClips = {}
    for clip in listed.clips:
        if previous.intact(f"{clip.folder}/frames.json"):
            try:
                crops = Crops.read(previous.folder / clip.folder)
            except StageError:
                continue
            old[clip.track] = (clip.folder, crops.by_index())
    return old, previous_people(previous)


def clip_order(tracks: list[Track]) -> list[Track]:
    """Tracks by first appearance (their first frame), ties by track id."""
    return sorted(tracks, key=lambda t: (t.frames[0], t.id))


def write_clips(passes: Any, tracks: list[Track], old: OldClips, video: str) -> StageResult:
    """Write one crop set per kept track and ``clips.json``; ``passes`` is remove-bg's
    crop pass (``remove_bg._Passes``). Raises a one-line StageError when no track makes
    a clip."""
    s = passes.stage.settings
    out = passes.out_dir
    clips: list[PersonClip] = []
    left_out: dict[str, str] = {}
    reused_total = 0
    for track in clip_order(tracks):
        if len(track) < s.min_track_frames:
            left_out[str(track.id)] = f"seen in {len(track)} frames"
            continue
        name = f"p{len(clips) + 1}"
        folder = f"clips/{name}"
        old_folder, old_crops = old.get(track.id, ("", {}))
        old_on_crop = previous_crop_landmarks(passes.previous, old_folder) if old_folder else {}
        entries, reused, on_crop = passes.crops(
            track, old_crops, old_on_crop, folder, old_folder, drop=False
        )
        usable = sum(e.usable for e in entries)
        if usable == 0:
            shutil.rmtree(out / folder, ignore_errors=True)
            left_out[str(track.id)] = f"no usable frame of {len(track)}"
            continue
        people_arrays(passes.upstream, passes.found, tracks, track, on_crop).write(out / folder)
        Crops(entries, s.size, list(s.background), s.crop_file).write(out / folder)
        first = passes.upstream.frames[track.frames[0]].index
        clips.append(PersonClip(name, track.id, int(first), len(track), usable))
        reused_total += reused
    if not clips:
        why = "; ".join(f"track {t}: {r}" for t, r in left_out.items()) or "no one found"
        raise StageError(
            f"{video}: no person clip (min_track_frames {s.min_track_frames} with a usable "
            f"frame); {why}"
        )
    people_arrays(passes.upstream, passes.found, tracks, None).write(out)
    PersonClips(clips, s.min_track_frames, left_out).write(out)
    metrics: dict[str, Any] = {"frames": len(passes.upstream.frames), "tracks": len(tracks)}
    metrics.update(clips=len(clips), usable=sum(c.usable for c in clips), reused=reused_total)
    return StageResult(metrics)
