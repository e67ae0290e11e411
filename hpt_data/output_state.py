"""Whether a stage's outputs can be trusted, by the rule that ``hpt_data.workdir``
describes: per video (:func:`assess_output`: the orchestrator skips what is done, preflight
plans disk for the rest) and per dataset (:func:`dataset_info`, what ``hpt-data info``
prints).

Apart from the orchestrator, which runs preflight, so that both read one rule without
importing each other (preflight used to import the orchestrator back).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

from hpt_data.errors import HptError
from hpt_data.names import clip_id, clip_parts
from hpt_data.stages import Stage
from hpt_data.stages.outputs.person_clips import PersonClips
from hpt_data.workdir import VideoDir, files_intact

if TYPE_CHECKING:
    from hpt_data.orchestrator import Dataset

OutputState = Literal["done", "missing", "stale", "incomplete"]


def assess_output(
    vdir: VideoDir, stage: Stage, upstream_fingerprints: dict[str, str]
) -> tuple[OutputState, str]:
    """Apply the trust rule to one stage output; returns the state and why."""
    manifest = vdir.manifest(stage.name)
    if manifest is None:
        return "missing", "no output"
    if manifest.get("fingerprint") != stage.fingerprint():
        return "stale", "made with other settings or an older stage version"
    for req in stage.requires:
        up = vdir.manifest(req)
        if up is None or up.get("digest") != manifest.get("inputs", {}).get(req):
            return "stale", f"its input '{req}' has changed"
        if upstream_fingerprints.get(req) not in (None, up.get("fingerprint")):
            return "stale", f"its input '{req}' is stale"
    if not files_intact(vdir.output(stage.name), manifest.get("files", {})):
        return "incomplete", "files are missing or truncated"
    return "done", "up to date"


def dataset_info(ds: Dataset) -> list[dict[str, Any]]:
    """Per stage: how many videos have a done / stale / incomplete / missing output, and
    the failures recorded in the status files (``hpt-data info``). With ``person: all``
    the stages after remove-bg count person clips (``<video id>#p1``) instead of the
    videos remove-bg split, and the earlier ones count the videos only."""
    ids = ds.dirs.video_ids()
    rows = []
    order = list(ds.stages)
    split, listed = _person_clips(ds, ids)
    for stage in ds.stages.values():
        upstream = ds.upstream_fingerprints(stage)
        counts: Counter[str] = Counter()
        failures = []
        # person: all: the stages after remove-bg count the person clips, not their videos
        after = "remove-bg" in order and order.index(stage.name) > order.index("remove-bg")
        for vid in ids:
            clip = clip_parts(vid) is not None
            if (vid in split or (clip and vid not in listed)) if after else clip:
                continue
            vdir = ds.dirs.video(vid)
            state, _ = assess_output(vdir, stage, upstream)
            status = vdir.status(stage.name)
            if state != "done" and status and status.get("state") in ("failed", "blocked"):
                counts[status["state"]] += 1
                failures.append((vid, status.get("error")))
            else:
                counts[state] += 1
        rows.append(
            {
                "stage": stage.name,
                "videos": sum(counts.values()),
                "counts": dict(counts),
                "failures": failures,
            }
        )
    return rows


def _person_clips(ds: Dataset, ids: list[str]) -> tuple[set[str], set[str]]:
    """The videos remove-bg split into person clips (``person: all``) and the clip ids
    their ``clips.json`` lists (a clip folder no longer listed is left uncounted)."""
    split, listed = set(), set()
    for vid in ids:
        folder = ds.dirs.video(vid).output("remove-bg")
        if clip_parts(vid) is None and PersonClips.present(folder):
            split.add(vid)
            try:
                listed.update(clip_id(vid, c.name) for c in PersonClips.read(folder).clips)
            except HptError:
                continue
    return split, listed
