"""remove-bg's person finding on real photographs the project ships (``tests/data/real``):
how many people, which one is kept, the others out of the matte, no flag for other people
on a photo or clip of one person, and ``--person N`` on a photo of two.

Every expectation (people counted, the performer's torso, the others' boxes) was written
by looking at the images (``tests/real_material.py``), not taken from the code's output.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from real_material import (
    ASCENT,
    ASCENT_SHIRT,
    ASTRONAUT,
    BESIDE,
    CAMERA,
    REAL,
    SETTINGS,
    TWO,
    TWO_SMALL_TORSO,
    Photo,
    camera_beside_astronaut,
    image,
    in_box,
    pan_through_remove_bg,
    two_astronauts,
)

from hpt_data.crop import CropWindow
from hpt_data.perception.people import PeopleOptions, find_people
from hpt_data.stages.remove_bg import (
    Segmentation,
    segment_person,
)

pytest.importorskip("ai_edge_litert")


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _kept_share(seg: Segmentation, box: tuple[int, int, int, int]) -> float:
    """The share of ``box``'s pixels that the kept person's matte claims (>= 0.5)."""
    assert seg.matte is not None
    x0, y0, x1, y1 = box
    return float((seg.matte[y0:y1, x0:x1] >= 0.5).mean())


def _assert_keeps(seg: Segmentation, photo: Photo) -> None:
    """The kept person is the performer; the others are out of the matte; no flag."""
    assert seg.box is not None and seg.matte is not None, seg.flags
    assert in_box(photo.performer, np.array(seg.box)), (seg.box, photo.performer)
    x, y = photo.performer
    assert seg.matte[y, x] >= 0.5
    for other in photo.others:
        assert _kept_share(seg, other) <= 0.02, other
    assert "several_people" not in seg.flags, seg.facts


def test_every_shipped_file_has_its_source_and_licence_written_down() -> None:
    readme = (REAL / "README.md").read_text()
    files = sorted(p for p in REAL.iterdir() if p.name != "README.md")
    assert {p.name for p in files} == {"ascent.png", "astronaut.jpg", "camera.png"}
    assert sum(p.stat().st_size for p in files) < 2_000_000
    for p in files:
        row = next((line for line in readme.splitlines() if f"`{p.name}`" in line), "")
        assert re.search(r"public domain|CC0", row, re.I), f"{p.name}: no licence in README"
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        assert digest in readme, f"{p.name}: README's sha256 is not this file's"


@pytest.mark.parametrize("photo", [CAMERA, ASTRONAUT], ids=lambda p: p.file)
def test_one_person_photo_one_found_kept_and_not_flagged(photo: Photo) -> None:
    img = image(photo.file)
    found = find_people(_rgb(img))
    assert len(found) == photo.people == 1
    assert in_box(photo.performer, found[0].box)
    seg = segment_person(img, SETTINGS)
    assert seg.facts["people"] == 1 and seg.facts["other_person"] == 0.0
    _assert_keeps(seg, photo)


def test_stairs_photo_keeps_the_man_with_the_backpack() -> None:
    """Two people by eye (a third at the edge may be one). The climber on the left is seen
    only between the railing's bars: a miss there is allowed (see the next test), a fourth
    person is not."""
    img = image(ASCENT.file)
    found = find_people(_rgb(img))
    assert 1 <= len(found) <= ASCENT.people + 1
    assert any(in_box(ASCENT.performer, p.box) for p in found)
    _assert_keeps(segment_person(img, SETTINGS), ASCENT)


@pytest.mark.xfail(
    reason="the climber behind the railing: no detector score >= 0.05 on the frame; on tiles "
    "of zoom 1.5-5 at most 0.45, on the railing at his legs, none on his head; the rescans and "
    "the peel find no one (docs/perception.md, Limits)"
)
def test_stairs_photo_finds_the_climber_behind_the_railing() -> None:
    found = find_people(_rgb(image(ASCENT.file)))
    (x0, y0, x1, y1) = ASCENT.others[0]
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    assert any(in_box(centre, p.box) for p in found)


@pytest.mark.xfail(
    reason="the man seen from behind: the detector's region is turned 57 degrees from upright "
    "and the landmark model draws his whole body (hips included) in head and backpack: no "
    "landmark lies below the backpack to complete the matte from (docs/perception.md, Limits)"
)
def test_stairs_photo_matte_covers_the_shirt_below_the_backpack() -> None:
    seg = segment_person(image(ASCENT.file), SETTINGS)
    assert seg.matte is not None and seg.matte[ASCENT_SHIRT[1], ASCENT_SHIRT[0]] >= 0.5


@pytest.fixture(scope="module")
def two() -> np.ndarray:
    return two_astronauts()


def test_two_people_side_by_side_both_found_and_the_large_one_kept(two: np.ndarray) -> None:
    found = find_people(_rgb(two))
    assert len(found) == TWO.people
    assert sum(in_box(TWO.performer, p.box) for p in found) == 1
    assert sum(in_box(TWO_SMALL_TORSO, p.box) for p in found) == 1
    seg = segment_person(two, SETTINGS)
    assert seg.facts["people"] == 2 and seg.facts["person"] == 1
    _assert_keeps(seg, TWO)


def test_person_n_picks_the_one_asked_for(two: np.ndarray) -> None:
    """``hpt transfer --person N`` goes through ``segment_person(person=N)``: people
    numbered from the left."""
    seg = segment_person(two, SETTINGS, person=2)
    assert seg.facts["person"] == 2 and seg.box is not None and seg.matte is not None
    assert in_box(TWO_SMALL_TORSO, np.array(seg.box))
    x, y = TWO.performer
    assert seg.matte[y, x] < 0.5
    assert _kept_share(seg, (256, 0, 768, 512)) <= 0.02
    first = segment_person(two, SETTINGS, person=1)
    assert first.box is not None and in_box(TWO.performer, np.array(first.box))
    with pytest.raises(ValueError, match="person 3 asked for, 2 found"):
        segment_person(two, SETTINGS, person=3)


def test_cameraman_beside_the_astronaut_both_found() -> None:
    """The detector's scores compete: on the whole frame the astronaut scores 0.94 and the
    cameraman below 0.02 (0.57 on his photo alone); the square of the frame that holds no
    one found (``free_squares``) is looked at again, and there he is. Without that look
    he is missed."""
    scene = _rgb(camera_beside_astronaut())
    astronaut = BESIDE.performer
    found = find_people(scene)
    assert sum(in_box(CAMERA.performer, p.box) for p in found) == 1
    assert sum(in_box(astronaut, p.box) for p in found) == 1
    # the control: the pinned detector's own scores, why the free squares exist
    (alone,) = find_people(scene, PeopleOptions(free_views=False))
    assert in_box(astronaut, alone.box)


@pytest.mark.parametrize("cap", [1, 2])
def test_the_landmark_model_runs_at_most_max_people_times(
    cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``PeopleOptions.max_people`` bounds the landmark looks of a frame, the free squares'
    included (on the scene, one look on the whole frame and one on the free square), and
    once it is reached the free squares are not even searched."""
    import hpt_data.perception.people as people_module

    calls: dict[str, int] = {"landmarks_in_roi": 0, "_detect": 0}
    for name in calls:
        real = getattr(people_module, name)

        def counted(*args: object, _real: object = real, _name: str = name) -> object:
            calls[_name] += 1
            return _real(*args)  # type: ignore[operator]

        monkeypatch.setattr(people_module, name, counted)
    found = find_people(_rgb(camera_beside_astronaut()), PeopleOptions(max_people=cap))
    assert calls["landmarks_in_roi"] == cap and len(found) == cap
    assert calls["_detect"] == cap  # the whole frame, then the free square only below the cap


def test_cameraman_beside_the_astronaut_kept_or_picked() -> None:
    """``segment_person`` on the scene: the astronaut kept by default, the cameraman out of
    her matte; ``--person 1`` (numbered from the left) the cameraman, the astronaut out."""
    scene = camera_beside_astronaut()
    seg = segment_person(scene, SETTINGS)
    assert seg.facts["people"] == 2
    _assert_keeps(seg, BESIDE)
    cameraman = segment_person(scene, SETTINGS, person=1)
    assert cameraman.box is not None and cameraman.matte is not None
    assert in_box(CAMERA.performer, np.array(cameraman.box))
    assert cameraman.matte[CAMERA.performer[1], CAMERA.performer[0]] >= 0.5
    assert _kept_share(cameraman, (512, 0, 1024, 512)) <= 0.02


@pytest.mark.parametrize("photo", [CAMERA, ASTRONAUT], ids=lambda p: p.file)
def test_one_person_clip_no_frame_flagged_for_other_people(photo: Photo, tmp_path: Path) -> None:
    """remove-bg (``person: main``, tracking) on 12 frames panning over a one-person photo:
    every frame keeps that person, one track, no frame flagged ``several_people``."""
    frames = 12
    crops, people, corners = pan_through_remove_bg(photo, tmp_path, frames)
    assert len(crops.frames) == frames
    assert not [e.index for e in crops.frames if "several_people" in e.flags]
    assert np.bincount(people.frame_index).tolist() == [1] * frames
    assert set(people.track[people.kept].tolist()) == {1}
    for pos, entry in enumerate(crops.frames):
        x, y = (np.array(photo.performer) - corners[entry.index]) * 320 / 448
        assert in_box((x, y), people.boxes[people.kept[pos]]), entry.index


@pytest.mark.slow
def test_hpt_transfer_perception_picks_the_person_asked_for(two: np.ndarray) -> None:
    """What ``hpt transfer --source`` runs (crop, mask, landmarks, fit): without
    ``--person`` the large one with a note; ``--person 2`` the small one at the right."""
    from pipelines.perceive import perceive

    def square(w: CropWindow) -> np.ndarray:
        return np.array([w.x0, w.y0, w.x0 + w.side, w.y0 + w.side])

    main = perceive(two)
    assert main.window is not None
    assert in_box(TWO.performer, square(main.window))
    assert not in_box(TWO_SMALL_TORSO, square(main.window))
    assert any("2 people found" in f and "--person N" in f for f in main.flags), main.flags
    small = perceive(two, person=2)
    assert small.window is not None
    assert in_box(TWO_SMALL_TORSO, square(small.window))
    assert not in_box(TWO.performer, square(small.window))
    assert not any("people found" in f for f in small.flags)
