"""``remove-bg``: find every person, keep one, crop a square around them, remove the
background and the other people.

Per video, over the kept frames of ``sample-frames``:

1. Every person in each frame (:func:`hpt_data.perception.people.find_people`: MediaPipe's
   person detector and Pose landmark model run directly, one image at a time), each with
   33 landmarks and the landmark model's own mask of that person. The detector runs every
   ``detect_every`` frames and wherever someone followed is lost; between, the landmark
   model alone follows each person from the region of their last landmarks
   (:func:`hpt_data.perception.follow.follow_frame`, as MediaPipe's own tracking does).
2. People linked across frames into tracks (:mod:`hpt_data.perception.tracking`), and one
   track kept: ``person: main`` (the performer: size × centrality × track length) or
   ``person: <track id>``; or, with ``person: all``, every track seen in at least
   ``min_track_frames`` frames, each its own crop set (:mod:`hpt_data.stages.remove_bg_clips`;
   the orchestrator makes each a person clip ``<video id>#p1``, ``#p2``, ...).
3. The kept person's matte: their mask where no other person's is likelier
   (:mod:`hpt_data.perception.masks`), kept only on the connected parts of
   ``matte >= 0.5`` that touch their landmark box; its bounding box is the person's box.
4. Flags (the frame stays in the index, marked, and is excluded from training):
   ``no_person`` (the kept person is not found in the frame, or their matte is smaller
   than ``min_person_area`` of the frame); ``cut_by_edge`` (more than ``max_edge_cut`` of
   the person's extent, the box of the matte and of all 33 landmarks, which Pose places
   beyond the frame for body parts it does not see, lies outside the frame);
   ``several_people`` (another person's mask claims more than ``max_other_overlap`` of the
   kept person's: a real occlusion; someone merely in view is no flag).
5. A square window centred on the person's box, ``margin`` of its longer side added on
   each side, is resized to ``size`` (see ``hpt_data.crop`` for the transform) and the
   person is composited over ``background`` (the other people's pixels are background).
6. The kept person's landmarks for pose2d (:func:`crop_landmarks`): found again on the
   crop window at the crop's size, others removed (:func:`landmark_input`), averaged with
   the mirror look (``mirror_pass``); where it shows the frame alone, the follow look's,
   moved as the crop would move them, and its mirror look (``reuse_follow_look``).

Output folder::

    frames.json            per frame: source index and time, flags and reason, the box,
                           the crop window and its source->crop matrix, file names,
                           ``track`` (the kept person's track id) and ``people`` (how many)
    people.npz             every person of every frame, their track and the kept one
                           (:class:`hpt_data.stages.outputs.People`) and the kept
                           person's landmarks found on the crop; pose2d reads these
    image/000012.png       the person over the background colour, size x size, BGR;
                           not with ``crop_file: matte`` (the crop is then rebuilt from
                           the frame and the matte: :mod:`hpt_data.stages._crop_matte`)
    alpha/000012.png       the soft matte, uint8 (255 = person); only with ``alpha``
                           (``keep: all``) or ``crop_file: matte``
    mask/000012.png        the binary mask, uint8 0/255 (alpha >= 128)

With ``person: all``: ``people.npz`` (no one kept), ``clips.json`` and, per clip,
``clips/p1/`` holding the files above for that person.

A frame flagged ``no_person`` has no files. A video none of whose frames is usable (with
``person: all``: none of whose tracks makes a clip) fails with a one-line reason.
``frames.json`` is written and read through :class:`hpt_data.stages.outputs.Crops`.

For one image (the pose-transfer pipelines' photos): :func:`segment_person` and
``crop_person`` (from :mod:`hpt_data.stages._crop_matte`, public here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hpt_data.errors import StageError
from hpt_data.stages._crop_matte import blend_crop, crop_alpha, crop_landmarks, mirror_look
from hpt_data.stages._crop_matte import crop_person as crop_person  # public here (pipelines)
from hpt_data.stages._frames_io import PreviousOutput, write_image
from hpt_data.stages._remove_bg_parts import (
    FLAG_TEXT,
    ImageCache,
    flag_summary,
    keep_person_components,
    landmark_box,
    people_arrays,
    previous_crop_landmarks,
    previous_people,
    read_people,
    rescans,
)
from hpt_data.stages.base import Stage, StageContext, StageResult
from hpt_data.stages.outputs import Crop, Crops, Frames
from hpt_data.stages.remove_bg_clips import previous_clips, write_clips

if TYPE_CHECKING:
    from hpt_data.perception.people import PersonDetection
    from hpt_data.perception.tracking import Track

#: The kept person's matte reaches this many pixels (a square's side) around the parts of
#: their mask at 0.5 or more: the soft edge kept, stray low values farther off dropped.
MATTE_DILATION = 5


@dataclass(frozen=True)
class RemoveBgSettings:
    """Keys under ``stages: remove-bg:`` in ``datasets.yaml``."""

    size: int = 1024  # side of the square crop, pixels
    margin: float = 0.1  # added on each side, as a fraction of the person box's longer side
    background: list[int] = field(default_factory=lambda: [255, 255, 255])  # RGB, 0..255
    max_edge_cut: float = 0.1  # flag when more of the person's extent lies outside the frame
    min_person_area: float = 0.002  # flag no_person below this fraction of the frame
    person: str | int = "main"  # main (the performer), a track id (1, 2, ...), or all: every
    # track of at least min_track_frames frames its own clip (<video id>#p1, #p2, ... by
    # first appearance)
    min_track_frames: int = 8  # person: all: a track seen in fewer sampled frames is no clip
    # (8: 0.8 s at sample-frames' default 10 fps, so everyone visible for 1 s is a clip with 2
    # frames to spare; at a lower sampling rate, lower it to the frames of one second)
    max_other_overlap: float = 0.2  # flag several_people above this share of our mask
    check_other_people: bool = True  # flag frames where another person overlaps the kept one
    max_track_gap: int = 5  # frames a person may go unseen and keep their track id
    min_detection_confidence: float = 0.5  # person detector threshold
    detect_every: int = 5  # frames; between, the people followed by the landmark model alone
    rescan_every: int | None = None  # every this many frames (and after a track went
    # unseen) the detector also looks on zoomed tiles (0: never), for the small and
    # turned-away people the whole-frame detector misses, and peels people off with the
    # landmark model; their tracks carry them on (a pass: ~19 detections, up to 18 landmark
    # looks). None: 4 with person: all, never otherwise (the performer is found without;
    # on the dev seed rescans kept them no better and flagged 2 more frames)
    mirror_pass: bool | Literal["alternate"] = True  # the crop's landmarks: mean of the
    # model's look and its look at the mirror image (one landmark run more a frame);
    # alternate: on every other frame only, one look on the others moved to where the mean
    # would sit (half a run more a frame; docs/perception.md)
    reuse_follow_look: bool = True  # the person alone, the crop inside the frame: the crop's
    # landmarks from the follow look, not a look at the crop (one run less a frame)
    alpha: bool = False  # keep the soft matte (alpha/) with crop_file: image too (to look at)

    # the crop on disk: matte (only the 8-bit matte, alpha/: the crop is rebuilt from the
    # frame when read) or image (also its colour PNG, image/)
    crop_file: Literal["matte", "image"] = "matte"

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"size must be at least 16, got {self.size}")
        if not 0 <= self.margin <= 1:
            raise ValueError(f"margin must be in [0, 1], got {self.margin}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(f"background must be 3 values in 0..255, got {self.background}")
        if not 0 <= self.max_edge_cut <= 1:
            raise ValueError(f"max_edge_cut must be in [0, 1], got {self.max_edge_cut}")
        if not 0 <= self.max_other_overlap <= 1:
            raise ValueError(f"max_other_overlap must be in [0, 1], got {self.max_other_overlap}")
        if not 0 < self.min_detection_confidence < 1:
            raise ValueError("min_detection_confidence must be in (0, 1)")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.rescan_every is not None and self.rescan_every < 0:
            raise ValueError(f"rescan_every must be >= 0, got {self.rescan_every}")
        if self.max_track_gap < 0:
            raise ValueError(f"max_track_gap must be >= 0, got {self.max_track_gap}")
        if self.min_track_frames < 1:
            raise ValueError(f"min_track_frames must be at least 1, got {self.min_track_frames}")
        track_id = isinstance(self.person, int) and self.person >= 1
        if self.person not in ("main", "all") and not track_id:
            raise ValueError(f"person must be main, all or a track id >= 1, got {self.person!r}")


@dataclass
class Segmentation:
    """One frame's kept person: ``landmarks`` (33, 5) and ``matte`` (H, W) float32 in
    source pixels, ``box`` (x0, y0, x1, y1) of ``matte >= 0.5``; empty fields when not
    found."""

    landmarks: np.ndarray | None
    matte: np.ndarray | None
    box: tuple[int, int, int, int] | None
    flags: list[str]
    facts: dict[str, Any]
    #: (H, W) float32, what the other people claim (their matte where above the kept
    #: person's, :func:`~hpt_data.perception.masks.kept_and_others`); None when alone
    others: np.ndarray | None = None


def find_frame_people(image: np.ndarray, settings: RemoveBgSettings) -> list[PersonDetection]:
    """Every person in one (H, W, 3) uint8 BGR frame, with their masks."""
    import cv2

    from hpt_data.perception.people import PeopleOptions, find_people

    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    opts = PeopleOptions(min_score=settings.min_detection_confidence)
    return find_people(rgb, opts, masks=True)


def segment_kept(
    image: np.ndarray,
    people: Sequence[PersonDetection],
    keep: int | None,
    settings: RemoveBgSettings,
) -> Segmentation:
    """Segment ``people[keep]`` in one (H, W, 3) BGR frame and flag problems."""
    import cv2

    from hpt_data.perception.masks import kept_and_others
    from hpt_data.perception.people import mask_reach, region_matte_part, region_window

    h, w = image.shape[:2]
    if keep is None:
        return Segmentation(None, None, None, ["no_person"], {"people": len(people)})
    lm = people[keep].landmarks
    # the kept person's matte is 0 outside their region: work in its window of the frame;
    # alone, only in the part where their matte can reach 0.5, with room for the dilation
    # below (the same values; the others' claims need the whole window: kept_and_others)
    if len(people) == 1:
        x0, y0, x1, y1 = mask_reach(people[keep], w, h, pad=MATTE_DILATION // 2 + 1)
        soft, overlap, claimed = region_matte_part(people[keep], w, h, (x0, y0, x1, y1)), 0.0, None
    else:
        x0, y0, x1, y1 = region_window(people[keep], w, h)
        soft, overlap, claimed = kept_and_others(people, keep, w, h, (x0, y0, x1, y1))
    lx0, ly0, lx1, ly1 = landmark_box(lm)
    binary = keep_person_components(soft >= 0.5, (lx0 - x0, ly0 - y0, lx1 - x0, ly1 - y0))
    area = float(np.count_nonzero(binary)) / (h * w)
    facts: dict[str, Any] = {"people": len(people), "mask_area": round(area, 6)}
    if area < settings.min_person_area:
        return Segmentation(lm, None, None, ["no_person"], facts)
    binary8 = binary.view(np.uint8)  # 0/1, no copy
    dilated = cv2.dilate(binary8, np.ones((MATTE_DILATION,) * 2, np.uint8)).view(bool)
    matte = np.zeros((h, w), np.float32)
    np.copyto(matte[y0:y1, x0:x1], soft, where=dilated)  # 0 elsewhere
    bx, by, bw, bh = cv2.boundingRect(binary8)  # of the nonzero pixels
    box = (bx + x0, by + y0, bx + bw + x0, by + bh + y0)

    # extent: the matte's box and every landmark, including those placed beyond the frame
    ex0, ey0 = min(box[0], lm[:, 0].min()), min(box[1], lm[:, 1].min())
    ex1, ey1 = max(box[2], lm[:, 0].max()), max(box[3], lm[:, 1].max())
    inside = max(0.0, min(ex1, w) - max(ex0, 0)) * max(0.0, min(ey1, h) - max(ey0, 0))
    edge_cut = 1.0 - inside / max((ex1 - ex0) * (ey1 - ey0), 1e-9)
    facts.update({"edge_cut": round(edge_cut, 4), "other_person": round(overlap, 4)})
    flags = []
    if edge_cut > settings.max_edge_cut:
        flags.append("cut_by_edge")
    if settings.check_other_people and overlap > settings.max_other_overlap:
        flags.append("several_people")
    others = None
    if claimed is not None:
        others = np.zeros((h, w), np.float32)
        others[y0:y1, x0:x1] = claimed
    return Segmentation(lm, matte, box, flags, facts, others)


def segment_person(
    image: np.ndarray, settings: RemoveBgSettings, person: int | None = None
) -> Segmentation:
    """Find and segment one person in a single (H, W, 3) uint8 BGR image (a photo): the
    ``person``-th from the left (1-based), or by default the most prominent (size ×
    centrality). ``facts["people"]`` says how many were found, ``facts["person"]`` which
    one was kept (its number from the left)."""
    from hpt_data.perception.masks import left_to_right
    from hpt_data.perception.tracking import frame_prominence

    h, w = image.shape[:2]
    people = find_frame_people(image, settings)
    order = left_to_right(people)
    if person is not None:
        if not 1 <= person <= len(people):
            raise ValueError(f"person {person} asked for, {len(people)} found")
        keep: int | None = order[person - 1]
    elif people:
        keep = max(range(len(people)), key=lambda i: frame_prominence(people[i].box, w, h))
    else:
        keep = None
    seg = segment_kept(image, people, keep, settings)
    if keep is not None:
        seg.facts["person"] = order.index(keep) + 1
    return seg


class RemoveBackground(Stage):
    """Find every person, keep one (tracked through the video), crop a square around them
    and remove the background and the others; flag frames where the kept person is not
    found, is cut by the frame edge, or is overlapped by another person."""

    name = "remove-bg"
    requires = ("sample-frames",)
    Settings = RemoveBgSettings
    # 5: a zoomed tile's person needs half their landmark box in the frame; 6: crop_file:
    # matte by default (no colour crop; blended with the 8-bit matte); 7: tracks mended,
    # looks with the others painted out, person: all rescans every 4 frames and peels; 8:
    # the landmark pass on the crop sees the person's surroundings (landmark_input); 9: and
    # its mirror image (mirror_pass); 10: the follow look and its mirror where the crop shows
    # what it saw (reuse_follow_look); 11: zoom-4 rescans, tile looks with the others painted
    version = 11
    extra_files = ("alpha",)
    late_settings = ("min_track_frames",)

    def run(self, ctx: StageContext) -> StageResult:

        from hpt_data.perception.follow import follow_frame, observation
        from hpt_data.perception.people import PeopleOptions
        from hpt_data.perception.relink import mend
        from hpt_data.perception.tracking import Tracker, TrackOptions

        s: RemoveBgSettings = self.settings
        upstream = Frames.read(ctx.inputs["sample-frames"])
        previous = PreviousOutput(ctx.previous)
        old_on_crop: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if s.person == "all":
            old_clips, old_people = previous_clips(previous)
            old = next(iter(old_clips.values()), ("", {}))[1]
        else:
            old, old_people, old_on_crop = self._previous(previous)
        rescan_every = rescans(s.rescan_every, s.person)
        tracker = Tracker(TrackOptions(max_gap=s.max_track_gap))
        options = PeopleOptions(min_score=s.min_detection_confidence, bgr=True)
        found: list[list[PersonDetection]] = []  # per frame: fresh, or the last run's
        images = ImageCache(upstream)
        fresh: set[int] = set()
        for pos, frame in enumerate(upstream.frames):
            prev = old.get(frame.index)
            if prev is not None and old_people is not None and prev.source_file == frame.file:
                people, ids = old_people[frame.index]
                tracker.restore(pos, [observation(p) for p in people], ids)
            else:  # BGR as read: the models' inputs are swapped (options.bgr), not the frame
                people = follow_frame(
                    images.get(pos), tracker, pos, s.detect_every, options, rescan_every
                )
                fresh.add(pos)
            found.append(people)
        mend(tracker, found, images.get, fresh, options)
        tracks = tracker.tracks
        passes = _Passes(self, upstream, images, found, fresh, previous, ctx.out_dir)
        if s.person == "all":
            return write_clips(passes, tracks, old_clips, ctx.video.path)
        kept = self._kept_track(tracks, images, ctx)
        entries, reused, on_crop = passes.crops(kept, old, old_on_crop)
        counts = Counter(f for e in entries for f in e.flags)
        usable = sum(e.usable for e in entries)
        if usable == 0:
            raise StageError(f"{ctx.video.path}: no usable frame; {flag_summary(entries)}")
        people_arrays(upstream, found, tracks, kept, on_crop).write(ctx.out_dir)
        Crops(entries, s.size, list(s.background), s.crop_file).write(ctx.out_dir)
        metrics: dict[str, Any] = {"frames": len(entries), "usable": usable, "reused": reused}
        metrics.update({"tracks": len(tracks), "kept_track": _tid(kept)})
        metrics.update({f"flagged_{f}": k for f, k in sorted(counts.items())})
        return StageResult(metrics)

    @staticmethod
    def _previous(
        previous: PreviousOutput,
    ) -> tuple[dict[int, Crop], dict[int, list] | None, dict[int, tuple[np.ndarray, np.ndarray]]]:
        """The last run's crops by frame index and, when its ``people.npz`` is intact (read
        once), each frame's people (without masks) and the landmarks found on the crops."""
        before = previous.parsed(Crops.from_json)
        people = read_people(previous) if before is not None else None
        if before is None or people is None:
            return {}, None, {}
        on_crop = previous_crop_landmarks(previous, people=people)
        return before.by_index(), previous_people(previous, people), on_crop

    def _kept_track(
        self, tracks: list[Track], images: ImageCache, ctx: StageContext
    ) -> Track | None:
        from hpt_data.perception.tracking import main_track

        s: RemoveBgSettings = self.settings
        if s.person == "main":
            if not tracks:
                return None
            h, w = images.get(tracks[0].frames[0]).shape[:2]
            return main_track(tracks, w, h)
        chosen = next((t for t in tracks if t.id == s.person), None)
        if chosen is None:
            have = ", ".join(f"{t.id} ({len(t)} frames)" for t in tracks) or "none"
            raise StageError(f"{ctx.video.path}: no person track {s.person}; tracks: {have}")
        return chosen

    def _frame(
        self,
        frame: Any,
        image: np.ndarray,
        people: list[PersonDetection],
        member: int | None,
        track: int | None,
        out_dir: Path,
        mirror: bool,
    ) -> tuple[Crop, tuple[np.ndarray, np.ndarray] | None]:
        """One frame's crop entry (its files written) and the kept person's landmarks and
        world landmarks found again on the crop (:func:`landmarks_on_crop`; None without
        a crop; ``mirror``: with the mirror look, :func:`crop_landmarks`)."""
        s: RemoveBgSettings = self.settings
        seg = segment_kept(image, people, member, s)
        entry = Crop(
            index=frame.index,
            time_ms=frame.time_ms,
            source_file=frame.file,
            source_size=[image.shape[1], image.shape[0]],
            flags=seg.flags,
            reason="; ".join(FLAG_TEXT[f] for f in seg.flags) or None,
            usable=not seg.flags,
            facts={**seg.facts, "track": track},
        )
        if seg.matte is None or seg.box is None or member is None:
            return entry, None
        alpha, alpha8, window = crop_alpha(seg, s, blend=s.crop_file == "image")
        refined = crop_landmarks(image, seg, window, people[member], s, mirror)
        name = f"{frame.index:06d}.png"
        entry.mask = f"mask/{name}"
        if alpha is not None:  # crop_file: image; else Crops.image rebuilds it when read
            entry.image = f"image/{name}"
            write_image(out_dir / entry.image, blend_crop(image, alpha, window, s.background))
        if s.alpha or s.crop_file == "matte":
            entry.alpha = f"alpha/{name}"
            write_image(out_dir / entry.alpha, alpha8)
        write_image(out_dir / entry.mask, alpha8 >= 128)  # 1 bit a pixel, read as 0/255
        entry.box, entry.crop = list(seg.box), window.to_json()
        return entry, refined


def _tid(track: Track | None) -> int | None:
    return None if track is None else track.id


@dataclass
class _Passes:
    """What a crop pass over the frames needs, for one kept track (:meth:`crops`): once
    with ``person: main`` or a track id, once per clip with ``person: all``."""

    stage: RemoveBackground
    upstream: Frames
    images: ImageCache
    found: list[list[PersonDetection]]
    fresh: set[int]
    previous: PreviousOutput
    out_dir: Path

    def crops(
        self,
        kept: Track | None,
        old: dict[int, Crop],
        old_on_crop: dict[int, tuple[np.ndarray, np.ndarray]],
        prefix: str = "",
        old_prefix: str = "",
        drop: bool = True,
    ) -> tuple[list[Crop], int, list[tuple[np.ndarray, np.ndarray] | None]]:
        """Each frame's crop of ``kept`` (written under ``out_dir/prefix``; the last run's
        files, under ``old_prefix`` of its output, reused where intact, with the landmarks
        ``old_on_crop`` it found on them), how many were reused, and per frame the kept
        person's (33, 5) landmarks and (33, 4) world landmarks found on the crop (None
        without a crop)."""
        import cv2

        from hpt_data.perception.follow import with_masks

        entries: list[Crop] = []
        on_crop: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(self.upstream.frames)
        reused = 0
        out = self.out_dir / prefix if prefix else self.out_dir
        for pos, frame in enumerate(self.upstream.frames):
            member = kept.member_at(pos) if kept is not None else None
            prev = old.get(frame.index)
            if pos not in self.fresh and prev is not None and prev.facts.get("track") == _tid(kept):
                files = [f for f in (prev.image, prev.alpha, prev.mask) if f]
                if all(self.previous.intact(_join(old_prefix, f)) for f in files):
                    for f in files:
                        self.previous.reuse(_join(old_prefix, f), out, f)
                    entries.append(prev)
                    on_crop[pos] = old_on_crop.get(frame.index)
                    reused += 1
                    continue
            image = self.images.get(pos)
            people = self.found[pos]
            if pos not in self.fresh:  # read back without masks: found again
                people = with_masks(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), people)
            mirror = mirror_look(self.stage.settings.mirror_pass, pos)
            tid = _tid(kept)
            entry, on_crop[pos] = self.stage._frame(frame, image, people, member, tid, out, mirror)
            entries.append(entry)
            if drop:
                self.images.drop(pos)
        return entries, reused, on_crop


def _join(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel
