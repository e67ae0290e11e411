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

from hpt_data.names import clip_parts
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
    split = {vid for vid in ids if PersonClips.present(ds.dirs.video(vid).output("remove-bg"))}
    for stage in ds.stages.values():
        upstream = ds.upstream_fingerprints(stage)
        counts: Counter[str] = Counter()
        failures = []
        # person: all: the stages after remove-bg count the person clips, not their videos
        after = "remove-bg" in order and order.index(stage.name) > order.index("remove-bg")
        for vid in ids:
            if (vid in split) if after else (clip_parts(vid) is not None):
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
