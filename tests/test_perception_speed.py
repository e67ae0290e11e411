"""The pieces that make remove-bg a one-pass perception stage: MediaPipe's heatmap
refinement of the landmarks, the detector skipped on frames where everyone is followed,
and masks written as PNG without libpng's filter search."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from frames_for_tests import portrait

from hpt_data.perception.people import LANDMARK_SIZE, refine_from_heatmap
from hpt_data.stages._frames_io import fast_png, read_image, write_image


def _heatmap_with_blob(col: int, row: int, channel: int) -> np.ndarray:
    """(64, 64, 39) logits: sure (sigmoid ~1) on a 3×3 blob centred at (col, row) of one
    channel, sure of nothing elsewhere."""
    hm = np.full((64, 64, 39), -20.0, np.float32)
    hm[row - 1 : row + 2, col - 1 : col + 2, channel] = 20.0
    return hm


def test_heatmap_refinement_moves_a_point_to_a_confident_blob() -> None:
    cell = LANDMARK_SIZE / 64
    hm = _heatmap_with_blob(20, 30, channel=3)
    xy = np.full((39, 2), 100.0)
    xy[3] = (20 * cell + 9, 30 * cell - 7)  # within the 7×7 window of the blob's centre
    out = refine_from_heatmap(xy, hm)
    # the blob's weighted centre in cell indices, times the cell size (as Pose's graph)
    assert np.allclose(out[3], (20 * cell, 30 * cell), atol=1e-3)
    others = np.arange(39) != 3
    assert np.array_equal(out[others], xy[others])  # no confident blob: left alone


def test_heatmap_refinement_leaves_far_and_outside_points() -> None:
    hm = _heatmap_with_blob(20, 30, channel=0)
    for point in ((20 * 4 + 40, 30 * 4), (-5.0, 10.0), (300.0, 10.0)):  # far, left, right
        xy = np.zeros((39, 2))
        xy[0] = point
        assert np.array_equal(refine_from_heatmap(xy, hm)[0], point)


def _refine_point_by_point(xy: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The calculator as written: each point's 7×7 window, clipped at the heatmap's edge,
    moved to its confidence-weighted cell index where the window's peak is at least 0.5."""
    out = xy.astype(np.float64).copy()
    cell = LANDMARK_SIZE / heatmap.shape[1]
    for k, (x, y) in enumerate(xy):
        c, r = int(x / cell), int(y / cell)  # truncation toward zero, as C's cast
        if not (0 <= c < heatmap.shape[1] and 0 <= r < heatmap.shape[0]):
            continue
        r0, r1, c0, c1 = max(0, r - 3), min(64, r + 4), max(0, c - 3), min(64, c + 4)
        conf = 1 / (1 + np.exp(-heatmap[r0:r1, c0:c1, k].astype(np.float64)))
        if conf.max() < 0.5:
            continue
        out[k] = (conf.sum(0) @ np.arange(c0, c1), conf.sum(1) @ np.arange(r0, r1))
        out[k] *= cell / conf.sum()
    return out


def test_heatmap_refinement_matches_the_point_by_point_calculator() -> None:
    """All points at once (the windows cut by the heatmap's edge included) give what the
    calculator's point-by-point loop gives, on random logits and points anywhere."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        hm = rng.normal(0.0, 3.0, (64, 64, 39)).astype(np.float32)
        hm[..., rng.random(39) < 0.5] -= 8.0  # about half the points unsure: left alone
        xy = rng.uniform(-20.0, LANDMARK_SIZE + 20.0, (39, 2))
        xy[:4] = rng.uniform(0.0, 12.0, (4, 2))  # windows cut by the top-left corner
        expected = _refine_point_by_point(xy, hm)
        inside = ((xy >= 0) & (xy < LANDMARK_SIZE)).all(axis=1)
        moved = (expected != xy).any(axis=1)
        assert moved.any() and (inside & ~moved).any()  # some move, some inside stay
        assert np.allclose(refine_from_heatmap(xy, hm), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (256, 200)])
def test_gray_png_decodes_to_the_same_pixels(shape: tuple[int, int], tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(sum(shape))
    noise = rng.integers(0, 256, shape, dtype=np.uint8)
    mask = np.where(rng.random(shape) > 0.7, 255, 0).astype(np.uint8)
    for image in (noise, mask):
        data = fast_png(image)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), image)  # libpng aside
        write_image(tmp_path / "m.png", image)
        assert np.array_equal(read_image(tmp_path / "m.png", gray=True), image)


@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (120, 96)])
def test_fast_colour_png_decodes_to_the_same_pixels(shape: tuple[int, int], tmp_path: Path) -> None:
    """The frames' fast encoder (every row Up-filtered) is lossless, read by Pillow (as
    RGB) and by OpenCV (as BGR, what the stages read), whatever the size."""
    from PIL import Image

    rng = np.random.default_rng(sum(shape))
    noise = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    flat = np.zeros((*shape, 3), np.uint8)
    flat[:] = (12, 200, 255)
    for image in (noise, flat, portrait()[: shape[0], : shape[1]]):
        data = fast_png(image)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)))[..., ::-1], image)
        write_image(tmp_path / "f.png", image, png="fast")
        assert np.array_equal(read_image(tmp_path / "f.png"), image)
    with pytest.raises(ValueError, match="3-channel"):
        fast_png(np.zeros((4, 4, 4), np.uint8))


@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (64, 1021), (1024, 1024)])
def test_a_bool_mask_png_reads_as_the_0_255_mask(shape: tuple[int, int], tmp_path: Path) -> None:
    """remove-bg's masks go 1 bit a pixel (rows not a multiple of 8 wide padded): OpenCV
    (what the stages read with) and Pillow read the pixels of the 8-bit 0/255 file."""
    from PIL import Image

    rng = np.random.default_rng(shape[1])
    mask = rng.random(shape) > 0.6
    want = np.where(mask, 255, 0).astype(np.uint8)
    write_image(tmp_path / "m.png", mask)
    data = (tmp_path / "m.png").read_bytes()
    assert data[24] == 1  # IHDR bit depth
    assert np.array_equal(read_image(tmp_path / "m.png", gray=True), want)
    assert np.array_equal(cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED), want)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("L")), want)
    if shape[0] >= 64:  # an eighth of the pixels' bytes: smaller than the 8-bit file
        assert len(data) < len(fast_png(want))


def test_gray_png_of_a_mask_is_small() -> None:
    mask = np.zeros((1024, 1024), np.uint8)
    cv2.ellipse(mask, (512, 512), (200, 450), 0, 0, 360, 255, -1)
    assert len(fast_png(mask)) < 20_000  # 1 MB of pixels


def test_detector_runs_every_few_frames_while_everyone_is_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A still photograph (Grace Hopper's portrait) seen 7 times: the detector on frames
    0 and 5 only (detect_every 5), the landmark model following the person between, one
    track throughout."""
    pytest.importorskip("ai_edge_litert")
    import hpt_data.perception.follow as follow
    from hpt_data.perception.people import PeopleOptions
    from hpt_data.perception.tracking import Tracker

    rgb = cv2.cvtColor(portrait(), cv2.COLOR_BGR2RGB)
    calls: list[int] = []
    real = follow.find_people

    def counted(*args: object, **kwargs: object) -> list:
        calls.append(len(calls))
        return real(*args, **kwargs)

    monkeypatch.setattr(follow, "find_people", counted)
    tracker, detected = Tracker(), []
    for pos in range(7):
        before = len(calls)
        people = follow.follow_frame(rgb, tracker, pos, 5, PeopleOptions())
        detected.append(len(calls) > before)
        assert len(people) == 1 and people[0].segmentation is not None
    assert detected == [True, False, False, False, False, True, False]
    assert len(tracker.tracks) == 1 and len(tracker.tracks[0]) == 7
    boxes = np.array(tracker.tracks[0].boxes)
    assert np.abs(boxes - boxes[0]).max() < 0.05 * (boxes[0, 3] - boxes[0, 1])  # still


def test_a_person_matte_in_a_window_is_that_part_of_the_frame_matte() -> None:
    """remove-bg works in the kept person's region window: the matte there is the frame's,
    and the frame's is 0 outside it."""
    pytest.importorskip("ai_edge_litert")
    from hpt_data.perception.people import find_people, person_matte, region_window

    rgb = cv2.cvtColor(portrait(), cv2.COLOR_BGR2RGB)
    (person,) = find_people(rgb, masks=True)
    h, w = rgb.shape[:2]
    full = person_matte(person, w, h)
    x0, y0, x1, y1 = region_window(person, w, h)
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and full.max() > 0.9
    assert np.array_equal(person_matte(person, w, h, (x0, y0, x1, y1)), full[y0:y1, x0:x1])
    outside = full.copy()
    outside[y0:y1, x0:x1] = 0
    assert not outside.any()
    part = (x0 + 10, y0 + 20, x1 - 5, y1)  # a window cutting the region: the same matte,
    got = person_matte(person, w, h, part)  # up to OpenCV's interpolation steps (1/32)
    assert np.abs(got - full[part[1] : part[3], part[0] : part[2]]).max() <= 1 / 16


def test_a_part_of_a_warp_is_the_whole_warp_there_to_the_bit() -> None:
    """``warp_part`` gives, on a part of the output, the values of OpenCV's whole warp to
    the bit (a warp of the smaller window moves the fixed-point grid: values off by up to
    1/32 on a steep edge): rotated, scaled and flipped maps, parts anywhere, outside too."""
    from hpt_data.perception.warp import warp_part

    rng = np.random.default_rng(7)
    mask = (rng.random((256, 256)) ** 3).astype(np.float32)
    mask[60:200, 90:160] = 1.0  # steep edges, where a moved grid shows
    shifted = 0
    for _ in range(40):
        angle, scale = rng.uniform(-np.pi, np.pi), rng.uniform(0.7, 4.0)
        c, s = np.cos(angle) * scale, np.sin(angle) * scale
        flip = rng.choice([-1.0, 1.0])
        fwd = np.array(
            [[c * flip, -s, rng.uniform(-50, 400)], [s * flip, c, rng.uniform(-50, 400)]]
        )
        size = (int(rng.integers(300, 800)), int(rng.integers(300, 800)))
        whole = cv2.warpAffine(mask, fwd, size, flags=cv2.INTER_LINEAR)
        x0, y0 = (int(rng.integers(-20, v)) for v in size)
        part = (x0, y0, x0 + int(rng.integers(1, 300)), y0 + int(rng.integers(1, 300)))
        got = warp_part(mask, fwd, part)
        inside = (max(part[0], 0), max(part[1], 0), min(part[2], size[0]), min(part[3], size[1]))
        if inside[0] < inside[2] and inside[1] < inside[3]:
            want = whole[inside[1] : inside[3], inside[0] : inside[2]]
            at = got[
                inside[1] - part[1] : inside[3] - part[1], inside[0] - part[0] : inside[2] - part[0]
            ]
            assert np.array_equal(at, want)
            moved = fwd.copy()
            moved[:, 2] -= inside[:2]
            small = (inside[2] - inside[0], inside[3] - inside[1])
            shifted += not np.array_equal(
                cv2.warpAffine(mask, moved, small, flags=cv2.INTER_LINEAR), want
            )
    assert shifted > 0  # the plain warp of the smaller window does differ: the test can fail
    for empty in ((5, 5, 5, 9), (5, 5, 9, 5), (9, 9, 5, 5)):  # nothing to warp: no pixels
        assert warp_part(mask, fwd, empty).size == 0


def _on_a_wide_canvas(image: np.ndarray) -> np.ndarray:
    """``image`` in the middle of a grey canvas twice its size: the person's region then
    lies inside the frame, most of it background."""
    h, w = image.shape[:2]
    canvas = np.full((2 * h, 2 * w, 3), 127, np.uint8)
    canvas[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = image
    return canvas


def test_a_person_alone_is_matted_in_the_reach_of_their_mask_with_the_same_values() -> None:
    """remove-bg warps a lone person's mask only where it can reach 0.5 (``mask_reach``):
    outside that part the matte over the region's window stays below 0.5, the part is
    smaller than the window, and its values are the window's to the bit."""
    pytest.importorskip("ai_edge_litert")
    from hpt_data.perception.people import (
        find_people,
        mask_reach,
        person_matte,
        region_matte_part,
        region_window,
    )

    rgb = _on_a_wide_canvas(cv2.cvtColor(portrait(), cv2.COLOR_BGR2RGB))
    (person,) = find_people(rgb, masks=True)
    h, w = rgb.shape[:2]
    region = region_window(person, w, h)
    whole = person_matte(person, w, h, region)
    x0, y0, x1, y1 = mask_reach(person, w, h, pad=3)
    rx0, ry0, rx1, ry1 = region
    assert (x1 - x0) * (y1 - y0) < 0.8 * (rx1 - rx0) * (ry1 - ry0)
    part = whole[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0]
    assert np.array_equal(region_matte_part(person, w, h, (x0, y0, x1, y1)), part)
    outside = whole.copy()
    outside[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0] = 0
    assert outside.max() < 0.5 and part.max() > 0.9
    ys, xs = np.nonzero(part >= 0.5)  # at least pad pixels from the part's edges
    assert xs.min() >= 3 or x0 == rx0
    assert ys.min() >= 3 or y0 == ry0
    with pytest.raises(ValueError, match="not inside the region"):
        region_matte_part(person, w, h, (rx0 - 1, ry0, rx1, ry1))


def test_segmenting_a_person_alone_equals_segmenting_in_the_whole_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lone person's shortcut changes nothing: ``segment_kept`` with the mask's reach
    gives the matte, box and facts that the whole region's window gives."""
    pytest.importorskip("ai_edge_litert")
    import hpt_data.perception.people as people_module
    from hpt_data.stages.remove_bg import RemoveBgSettings, find_frame_people, segment_kept

    image, settings = _on_a_wide_canvas(portrait()), RemoveBgSettings()
    people = find_frame_people(image, settings)
    assert len(people) == 1
    fast = segment_kept(image, people, 0, settings)
    monkeypatch.setattr(
        people_module, "mask_reach", lambda p, w, h, **_: people_module.region_window(p, w, h)
    )
    slow = segment_kept(image, people, 0, settings)
    assert fast.box == slow.box and fast.flags == slow.flags and fast.facts == slow.facts
    assert np.array_equal(fast.matte, slow.matte) and fast.matte.max() > 0.9
    monkeypatch.undo()
    faint = dataclasses.replace(people[0], segmentation=np.full((256, 256), 0.2, np.float32))
    nobody = segment_kept(image, [faint], 0, settings)  # a mask below 0.5 everywhere
    assert nobody.flags == ["no_person"] and nobody.matte is None


def test_bgr_frames_give_the_people_of_their_rgb_copies() -> None:
    """remove-bg hands its frames over as read, BGR (``PeopleOptions.bgr``): the detector's
    letterbox and each landmark region swap their channels, not the whole frame, and the
    people found (zoomed tiles, painted looks and peels included) are those of the RGB
    copy to the bit."""
    from hpt_data.perception.follow import follow_frame
    from hpt_data.perception.people import PeopleOptions, find_people
    from hpt_data.perception.tracking import Tracker

    bgr = cv2.copyMakeBorder(portrait(), 0, 0, 300, 300, cv2.BORDER_CONSTANT, value=(40, 90, 200))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert not np.array_equal(rgb, bgr)
    a = find_people(rgb, PeopleOptions(), masks=True)
    b = find_people(bgr, PeopleOptions(bgr=True), masks=True)
    runs = [
        follow_frame(img, Tracker(), 0, 5, PeopleOptions(bgr=flag), rescan_every=1)
        for img, flag in ((rgb, False), (bgr, True))
    ]
    assert len(a) >= 1 and len(runs[0]) >= 1
    for got, want in ((b, a), (runs[1], runs[0])):
        assert len(got) == len(want)
        for p, q in zip(got, want, strict=True):
            assert np.array_equal(p.landmarks, q.landmarks) and np.array_equal(p.roi, q.roi)
            assert np.array_equal(p.segmentation, q.segmentation)
            assert np.array_equal(p.world, q.world)
