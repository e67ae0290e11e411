"""People tracked across frames (``hpt_data.perception.tracking``) and remove-bg keeping one
of several: on the synthetic source's per-person ground truth (three people: performer,
crosser, small bystander) and on two people made to cross."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from people_clips import rendered_clip, sample_and_remove_bg

from hpt_data.perception.anchors import box_iou
from hpt_data.perception.tracking import (
    Observation,
    Tracker,
    TrackOptions,
    main_track,
    oks,
    track_people,
)
from hpt_data.sources.base import VideoRecord
from hpt_data.sources.synthetic import SyntheticOptions
from hpt_data.stages.base import StageContext
from hpt_data.stages.outputs import Crops
from hpt_data.stages.outputs.people import People
from hpt_data.stages.pose2d import Pose2D, Pose2DSettings
from hpt_data.stages.remove_bg import RemoveBackground, RemoveBgSettings
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings

pytest.importorskip("ai_edge_litert")

CROWD = SyntheticOptions(
    persons=1, clips_per_person=1, seconds=2.0, fps=6, width=480, height=640, seed=202,
    actions=["walk"], people_per_clip=3,
)  # fmt: skip


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> tuple[VideoRecord, dict]:
    return rendered_clip(tmp_path_factory.mktemp("crowd"), CROWD)


def _truth_observations(gt: dict, k: int, i: int) -> Observation:
    lms = np.zeros((33, 5))
    box = gt["people_boxes"][k, i].astype(np.float64)
    # the truth's landmark subset stands in for the 33 points: their box corners and centre
    pts = [box[:2], box[2:], (box[:2] + box[2:]) / 2, [box[0], box[3]], [box[2], box[1]]]
    lms[: len(pts), :2], lms[: len(pts), 3] = pts, 1.0
    return Observation(box, lms)


def _switches(ids: list[int | None]) -> int:
    seen = [i for i in ids if i is not None]
    return sum(a != b for a, b in itertools.pairwise(seen))


def test_truth_boxes_give_one_track_per_person_through_gaps(crowd: tuple) -> None:
    """Each true person one id for the whole clip, in shuffled order and with the crosser
    unseen for three frames (bridged: max_gap 5); the main track is the performer."""
    _, gt = crowd
    t = gt["people_boxes"].shape[1]
    rng = np.random.default_rng(0)
    frames, who = [], []
    for i in range(t):
        people = [k for k in range(3) if not (k == 1 and 4 <= i < 7)]
        rng.shuffle(people)
        frames.append([_truth_observations(gt, k, i) for k in people])
        who.append(people)
    tracks = track_people(frames)
    ids = {k: [] for k in range(3)}
    for tr in tracks:
        for f, m in zip(tr.frames, tr.members, strict=True):
            ids[who[f][m]].append(tr.id)
    for k in range(3):
        assert len(set(ids[k])) == 1, (k, ids[k])
    assert len(tracks) == 3
    assert main_track(tracks, 480, 640).frames == list(range(t))
    performer = main_track(tracks, 480, 640)
    assert {who[f][m] for f, m in zip(performer.frames, performer.members, strict=True)} == {0}
    # without bridging the crosser's return is a new track
    assert len(track_people(frames, TrackOptions(max_gap=1))) == 4


def _walker(x: float, y: float, height: float, arm: float) -> Observation:
    """A stick person: 33 landmarks spread over a box, the wrists ``arm`` px out."""
    lms = np.zeros((33, 5))
    lms[:, 3] = 1.0
    lms[:, 0] = x + np.linspace(-0.15, 0.15, 33) * height
    lms[:, 1] = y + np.linspace(-0.5, 0.5, 33) * height
    lms[15, 0], lms[16, 0] = x - arm, x + arm
    box = np.concatenate([lms[:, :2].min(axis=0), lms[:, :2].max(axis=0)])
    return Observation(box, lms)


def test_two_people_crossing_keep_their_ids() -> None:
    """Two people of the same size walk through each other in opposite directions: at the
    crossing their boxes coincide; their velocities carry them apart under their ids."""
    frames = []
    for t in range(21):
        a = _walker(100 + 15 * t, 300, 300, 60)
        b = _walker(400 - 15 * t, 310, 300, 30)
        frames.append([b, a] if t % 2 else [a, b])
    tracks = track_people(frames)
    assert len(tracks) == 2
    for tr in tracks:
        xs = [(b[0] + b[2]) / 2 for b in tr.boxes]
        steps = np.diff(xs)
        assert (steps > 0).all() or (steps < 0).all(), xs  # each track goes one way only


def test_restore_links_as_recorded_and_matches_afresh_when_ids_do_not_continue() -> None:
    """A reused frame joins the tracks its recorded ids name, even against what matching
    would do (two walkers swapped); ids that skip a track number are matched instead."""
    a, b = _walker(100, 300, 300, 60), _walker(400, 300, 300, 30)
    recorded, skipping = Tracker(), Tracker()
    for tracker in (recorded, skipping):
        tracker.restore(0, [a, b], [1, 2])
    recorded.restore(1, [a, b], [2, 1])  # recorded the other way round: kept so
    assert [t.members for t in recorded.tracks] == [[0, 1], [1, 0]]
    skipping.restore(1, [a, b], [1, 4])  # no track 3 yet: matched by similarity
    assert [t.members for t in skipping.tracks] == [[0, 0], [1, 1]]


def test_oks_is_one_for_the_same_points_and_falls_with_distance() -> None:
    a = _walker(100, 100, 200, 40).landmarks
    assert oks(a, a, 200) == pytest.approx(1.0)
    far = a.copy()
    far[:, 0] += 50
    assert oks(a, far, 200) < 0.1
    hidden = a.copy()
    hidden[:, 3] = 0.0
    assert oks(a, hidden, 200) == 0.0


def test_remove_bg_keeps_the_performer_among_three(crowd: tuple, tmp_path: Path) -> None:
    """remove-bg on the clip of three: the performer kept in every frame with a crop,
    one track for them, mask IoU against their true mask, the others excluded; pose2d
    takes the kept person's landmarks from remove-bg."""
    video, gt = crowd
    rb_dir = sample_and_remove_bg(video, tmp_path, RemoveBgSettings())
    record = VideoRecord(video.video_id, video.person_id, "test", video.path)
    pose_dir = tmp_path / "p"
    pose_dir.mkdir()
    crops = Crops.read(rb_dir)
    people = People.read(rb_dir)
    assert len(crops.frames) == gt["people_boxes"].shape[1]
    kept_ids, ious, intruders = [], [], []
    for pos, entry in enumerate(crops.frames):
        row = int(people.kept[pos])
        kept_ids.append(int(people.track[row]) if row >= 0 else None)
        if row < 0:
            continue
        truth = gt["people_boxes"][0, entry.index].astype(np.float64)
        assert box_iou(people.boxes[row].astype(np.float64), truth[None])[0] >= 0.5
        if not entry.mask:
            continue
        window = entry.window
        true_mask = window.cut(gt["mask"][entry.index].astype(np.float32), 0.0, cv2.INTER_AREA)
        mask = crops.mask(entry)
        ious.append(((true_mask >= 0.5) & mask).sum() / ((true_mask >= 0.5) | mask).sum())
        # the other people's pixels inside the kept mask: a few at the outline, more where
        # the crosser (walking in profile behind the performer) is found neither by the
        # detector nor where their track says (its mask then cannot exclude them)
        others = window.cut((gt["people_instance"][entry.index] > 1).astype(np.float32), 0.0)
        intruders.append((mask & (others >= 0.5)).sum() / mask.sum())
    assert sum(i is not None for i in kept_ids) >= 0.9 * len(kept_ids)
    assert _switches(kept_ids) == 0
    assert np.median(ious) >= 0.9, ious
    assert np.median(intruders) <= 0.03 and max(intruders) <= 0.08, intruders
    index = json.loads((rb_dir / "frames.json").read_text())
    assert {e.get("track") for e in index["frames"]} == {kept_ids[0]}

    Pose2D(Pose2DSettings(landmarks="remove-bg")).run(
        StageContext(record, {"remove-bg": rb_dir}, pose_dir)
    )
    with np.load(pose_dir / "pose2d.npz") as data:
        raw, found = data["landmarks_crop_raw"], data["found"]
        # the kept person's world landmarks come from remove-bg's landmark model on the
        # crop (fit-smpl's 3D terms): metric, about the hips
        world = data["world_landmarks"]
        assert np.isfinite(world).all()
        assert np.all(np.abs(world[:, [23, 24], :3].mean(axis=1)) < 0.05)
        assert np.all(np.linalg.norm(world[:, 11, :3] - world[:, 12, :3], axis=-1) > 0.2)
    with_crop = [e for e in crops.frames if e.has_crop]
    assert found.all() and len(raw) == len(with_crop)
    pos = {int(i): k for k, i in enumerate(people.frame_index)}
    for row, entry in enumerate(with_crop):
        # the kept person's landmarks found again on the crop, not their row's (the frame's)
        source = people.crop_landmarks[pos[entry.index], :, :2]
        assert source.any()
        assert np.allclose(raw[row, :, :2], entry.window.to_crop(source), atol=1e-3)


def test_remove_bg_person_setting() -> None:
    assert RemoveBgSettings(person="all").min_track_frames == 8
    with pytest.raises(ValueError, match="min_track_frames"):
        RemoveBgSettings(person="all", min_track_frames=0)
    with pytest.raises(ValueError, match="main, all or a track id"):
        RemoveBgSettings(person="someone")
    assert RemoveBgSettings(person=2).person == 2


def test_remove_bg_names_the_tracks_when_the_chosen_one_does_not_exist(
    crowd: tuple, tmp_path: Path
) -> None:
    from hpt_data.errors import StageError

    video, _ = crowd
    with pytest.raises(StageError) as err:
        sample_and_remove_bg(video, tmp_path, RemoveBgSettings(person=9))
    text = str(err.value)
    assert "no person track 9; tracks: 1 (12 frames)" in text and "\n" not in text
    assert not (tmp_path / "rb" / "frames.json").exists()


def test_remove_bg_person_all_writes_what_a_track_id_writes(crowd: tuple, tmp_path: Path) -> None:
    """person: all writes each clip's crop set as person: <its track> (with the rescans
    person: all runs) writes its output, byte for byte; a video none of whose tracks is
    long enough fails in one line."""
    from hpt_data.errors import StageError
    from hpt_data.stages._remove_bg_parts import rescans
    from hpt_data.stages.outputs.person_clips import PersonClips

    video, _ = crowd
    record = VideoRecord(video.video_id, video.person_id, "test", video.path)
    dirs = {k: tmp_path / k for k in ("f", "all", "one", "none")}
    for d in dirs.values():
        d.mkdir()
    SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(record, {}, dirs["f"]))
    inputs = {"sample-frames": dirs["f"]}
    RemoveBackground(RemoveBgSettings(person="all")).run(StageContext(record, inputs, dirs["all"]))
    listed = PersonClips.read(dirs["all"])
    assert [c.name for c in listed.clips] == [f"p{k + 1}" for k in range(len(listed.clips))]
    first = listed.clips[0]
    every = rescans(None, "all")  # the rescans person: all runs by default
    RemoveBackground(RemoveBgSettings(person=first.track, rescan_every=every)).run(
        StageContext(record, inputs, dirs["one"])
    )
    clip = dirs["all"] / first.folder
    ours = sorted(str(p.relative_to(clip)) for p in clip.rglob("*") if p.is_file())
    theirs = sorted(str(p.relative_to(dirs["one"])) for p in dirs["one"].rglob("*") if p.is_file())
    assert ours == theirs
    for rel in ours:
        assert (clip / rel).read_bytes() == (dirs["one"] / rel).read_bytes(), rel
    people = People.read(dirs["all"])
    assert (people.kept == -1).all() and len(people.track) > 0
    stage = RemoveBackground(RemoveBgSettings(person="all", min_track_frames=99))
    with pytest.raises(StageError) as err:
        stage.run(StageContext(record, inputs, dirs["none"]))
    text = str(err.value)
    assert "no person clip (min_track_frames 99" in text and "seen in 12 frames" in text
    assert "\n" not in text and not any(dirs["none"].iterdir())


def test_a_person_hidden_behind_another_keeps_their_track_twice_as_long() -> None:
    """A crosser passes behind the performer, out of sight for 9 frames (more than
    max_gap 5): while the looks where their track says they are find the performer in
    front (the bridge marks the track ``hidden``), the track lives twice as long, and the
    crosser comes out under their id; unmarked, they come back as a new track."""
    from hpt_data.perception.tracking import Tracker

    def run(mark_hidden: bool) -> list:
        tracker = Tracker(TrackOptions(max_gap=5))
        for t in range(24):
            performer = _walker(240, 320, 300, 40)
            crosser = _walker(60 + 15 * t, 300, 260, 20)
            hidden = 8 <= t < 17
            tracker.step(t, [performer] if hidden else [performer, crosser])
            for track in tracker.missing(t):
                track.hidden = mark_hidden
        return tracker.tracks

    tracks = run(True)
    assert len(tracks) == 2
    crosser = tracks[1]
    assert crosser.frames == [t for t in range(24) if not 8 <= t < 17]
    assert len(run(False)) == 3


def _clip_roles(rb_dir: Path, gt: dict, min_iou: float) -> list[tuple[str | None, int]]:
    """Per person clip of a ``person: all`` remove-bg output: the true role that most of
    its frames' boxes match (IoU at least ``min_iou``; None without a majority) and how
    many of its frames vote for the most voted role."""
    from hpt_data.stages.outputs.person_clips import PersonClips

    people = People.read(rb_dir)
    frame_of_row = np.repeat(people.frame_index, people.count)
    roles = [str(r) for r in gt["people_roles"]]
    out: list[tuple[str | None, int]] = []
    for clip in PersonClips.read(rb_dir).clips:
        votes = []
        for row in np.nonzero(people.track == clip.track)[0]:
            truth = gt["people_boxes"][:, int(frame_of_row[row])].astype(np.float64)
            iou = box_iou(people.boxes[row].astype(np.float64), truth)
            votes.append(roles[int(np.argmax(iou))] if iou.max() >= min_iou else None)
        best = max(set(votes), key=votes.count)
        out.append((best if votes.count(best) * 2 > len(votes) else None, votes.count(best)))
    return out


def test_remove_bg_person_all_finds_the_small_bystander(crowd: tuple, tmp_path: Path) -> None:
    """The bystander far behind (about 190 px of 640), whom the whole-frame detector never
    finds, is found by a zoomed rescan and followed by their track to the clip's end: with
    person: all their clip matches their true box in most of its frames (before the rescans:
    no clip of them at all)."""

    video, gt = crowd
    record = VideoRecord(video.video_id, video.person_id, "test", video.path)
    frames_dir, rb_dir = tmp_path / "f", tmp_path / "rb"
    frames_dir.mkdir()
    rb_dir.mkdir()
    SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(record, {}, frames_dir))
    RemoveBackground(RemoveBgSettings(person="all", min_track_frames=3)).run(
        StageContext(record, {"sample-frames": frames_dir}, rb_dir)
    )
    found: dict[str, int] = {}  # per role: the most frames one clip matched them
    for who, frames in _clip_roles(rb_dir, gt, 0.4):
        if who is not None:
            found[who] = max(found.get(who, 0), frames)
    assert found.get("performer", 0) >= 11, found
    assert found.get("bystander", 0) >= 6, found


def test_zoomed_rescans_come_periodically_and_after_a_track_went_unseen() -> None:
    from hpt_data.perception.follow import wants_rescan
    from hpt_data.perception.tracking import Tracker

    tracker = Tracker(TrackOptions(max_gap=5))
    someone = _walker(100, 300, 200, 20)
    asked = []
    for t in range(20):
        asked.append(wants_rescan(tracker, t, 16))
        tracker.step(t, [] if t in (6, 7) else [someone])
    # frame 0 and 16; frame 7, the first after the person went unseen (frame 6), once
    assert [t for t, a in enumerate(asked) if a] == [0, 7, 16]
    assert not any(wants_rescan(tracker, t, 0) for t in range(20))


def _looks(same: bool):
    """``looks`` for :func:`stitch`: one colour histogram for every track, or a different
    one for each track (other clothes)."""

    def looks(track, end: bool) -> np.ndarray:
        hist = np.zeros(48)
        hist[0 if same else track.id % 48] = 1.0
        return hist

    return looks


def test_a_crosser_split_by_a_long_occlusion_is_stitched_into_one_track() -> None:
    """A crosser walks behind the performer and is out of sight for 9 frames, longer than
    a track lives (unmarked): the tracker gives them two tracks. Stitching joins them (the
    second starts where the first one's motion leads, at the same size, in the same
    clothes), keeps the performer's track apart, and numbers the tracks by first sight;
    not in other clothes, nor when the second one starts elsewhere."""
    from hpt_data.perception.relink import renumber, stitch

    def run(shift: float = 0.0) -> Tracker:
        tracker = Tracker(TrackOptions(max_gap=5))
        for t in range(24):
            performer = _walker(240, 320, 300, 40)
            x = 60 + 15 * t + (shift if t >= 17 else 0.0)
            crosser = _walker(x, 300, 260, 20)
            tracker.step(t, [performer] if 8 <= t < 17 else [performer, crosser])
        return tracker

    tracker = run()
    assert [len(t) for t in tracker.tracks] == [24, 8, 7]  # split in two
    tracker.tracks = stitch(tracker.tracks, 5, _looks(same=True))
    renumber(tracker)
    assert [t.id for t in tracker.tracks] == [1, 2]
    performer, crosser = tracker.tracks
    assert performer.frames == list(range(24))
    assert crosser.frames == [t for t in range(24) if not 8 <= t < 17]
    xs = [(b[0] + b[2]) / 2 for b in crosser.boxes]
    assert (np.diff(xs) > 0).all()  # one person, one way
    other = run()
    assert len(stitch(other.tracks, 5, _looks(same=False))) == 3  # other clothes
    elsewhere = run(shift=200.0)  # comes out 200 px (0.8 of their height) off their path
    assert len(stitch(elsewhere.tracks, 5, _looks(same=True))) == 3


def test_renumber_orders_ids_by_first_sight() -> None:
    """A track followed back to an earlier frame than older tracks takes its place in the
    numbering, as a rerun restoring frames by their recorded ids needs."""
    from hpt_data.perception.relink import _prepend, renumber

    tracker = Tracker()
    a, b = _walker(100, 300, 300, 20), _walker(400, 300, 300, 20)
    tracker.step(0, [])
    tracker.step(1, [a])  # a's track: id 1, first seen at frame 1
    tracker.step(2, [a, b])  # b's track: id 2, first seen at frame 2
    _prepend(tracker.tracks[1], 0, 0, b)  # ... then followed back to frame 0
    renumber(tracker)
    assert [(t.id, t.frames) for t in tracker.tracks] == [(1, [0, 2]), (2, [1, 2])]
    assert tracker.tracks[0].boxes[0][0] > 300  # b, first seen, now 1


def test_others_painted_out_and_a_mask_on_them_measured() -> None:
    """``without_others`` paints the people found (their masks) inside the looked-at region
    grey and says where; a person whose mask lies on those pixels is the painted one drawn
    again (``on_painted`` 1), one beside them is not (0)."""
    from hpt_data.perception.masks import OTHERS_FILL, on_painted, without_others
    from hpt_data.perception.people import PersonDetection

    rgb = np.full((200, 300, 3), 30, np.uint8)

    def person(cx: float) -> PersonDetection:
        roi = np.array([cx, 100.0, 80.0, 0.0, 32.0])
        seg = np.zeros((256, 256), np.float32)
        seg[64:192, 96:160] = 1.0  # a block in the middle of the region
        box = np.array([cx - 10, 80, cx + 10, 120], np.float64)
        return PersonDetection(box, 0.9, 1.0, np.zeros((33, 5)), roi, seg)

    front = person(100.0)
    img, painted = without_others(rgb, np.array([110.0, 100.0, 120.0, 0.0, 48.0]), [front])
    assert painted is not None and painted.sum() > 0
    assert (img[painted] == OTHERS_FILL).all() and (img[~painted] == 30).all()
    assert (rgb == 30).all()  # the frame itself untouched
    assert on_painted(front, painted) > 0.9
    assert on_painted(person(220.0), painted) == 0.0
    far = without_others(rgb, np.array([260.0, 100.0, 40.0, 0.0, 16.0]), [front])
    assert far[0] is rgb and far[1] is None  # no one there: nothing painted, no copy


DEV_CROWD = SyntheticOptions(
    persons=2, clips_per_person=1, seconds=2.0, fps=8, seed=101, people_per_clip=3
)  # the dev seed of benchmarks/people_tracking.py's thresholds (its test seeds: 202, 203)


@pytest.mark.slow
def test_remove_bg_person_all_makes_a_clip_of_a_crosser_behind_the_performer(
    tmp_path: Path,
) -> None:
    """The crosser of the dev seed's second clip (16 frames at 8 fps) passes behind the
    performer's raised arms: with person: all they are one clip of at least
    ``min_track_frames`` (8) frames matching their true box (before: the looks at the
    region where their track said they were found the performer's arms, the track broke
    after 6 frames and no clip was made); performer and bystander are clips too, and no
    clip is of no one."""

    video, gt = rendered_clip(tmp_path / "src", DEV_CROWD, "p001-wave")
    rb_dir = sample_and_remove_bg(video, tmp_path)
    clips: dict[str | None, int] = {}  # per role: frames of their clip matching them
    for who, frames in _clip_roles(rb_dir, gt, 0.5):
        assert who not in clips, (who, clips)  # one clip per person, none of no one
        clips[who] = frames
    assert set(clips) == {"performer", "crosser", "bystander"}, clips
    assert clips["crosser"] >= 8, clips


def test_a_track_is_followed_back_to_where_its_person_was_first_in_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A walker first found at frame 5 (10 px a frame to the right) is looked for by the
    landmark model backwards, where their motion says they were: found in frames 4, 3 and
    2 (the model, faked here, sees them from frame 2 on), each appended to that frame's
    people; not into a frame a rerun restored."""
    from hpt_data.perception import relink
    from hpt_data.perception.people import PeopleOptions, PersonDetection, RoiLandmarks

    def walker(t: int) -> Observation:
        obs = _walker(100 + 10 * t, 300, 200, 20)
        roi = np.array([100 + 10 * t, 300, 260, 0.0, 80.0])
        return Observation(obs.box, obs.landmarks, roi)

    def fake(img: np.ndarray, roi: np.ndarray, model: object, mask: bool = False, bgr=False):
        lms = _walker(roi[0], roi[1], 200, 20).landmarks
        seen = roi[0] >= 100 + 10 * 2 - 1  # in view from frame 2
        return RoiLandmarks(lms, 1.0 if seen else 0.0, None, roi.copy(), np.zeros((33, 4)))

    monkeypatch.setattr(relink, "landmarks_in_roi", fake)
    monkeypatch.setattr(relink, "landmark_model", lambda: None)

    def run(fresh: set[int]) -> tuple[Tracker, list]:
        tracker = Tracker(TrackOptions(max_gap=2))
        found: list[list[PersonDetection]] = [[] for _ in range(10)]
        for t in range(10):
            people = [walker(t)] if t >= 5 else []
            tracker.step(t, people)
            found[t] = [PersonDetection(o.box, 0.9, 1.0, o.landmarks, o.roi) for o in people]
        rgb = np.zeros((480, 640, 3), np.uint8)
        relink.extend_back(tracker, found, lambda t: rgb, fresh, PeopleOptions())
        return tracker, found

    tracker, found = run(set(range(10)))
    (track,) = tracker.tracks
    assert track.frames == list(range(2, 10))
    assert [len(found[t]) for t in range(10)] == [0, 0] + [1] * 8
    for t in (2, 3, 4):
        centre = (found[t][0].box[0] + found[t][0].box[2]) / 2
        assert centre == pytest.approx(100 + 10 * t, abs=1.0)
        assert track.member_at(t) == 0
    restored, _ = run(set(range(10)) - {3})  # frame 3 restored: the look stops there
    assert restored.tracks[0].frames == list(range(4, 10))
