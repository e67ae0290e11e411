"""pose2d's keypoint prior (DeepFashion's annotation points, ``meta["openpose18"]``): it stands
in where Pose finds nobody, replaces a detection of someone elsewhere, fills points Pose
misses, and changes nothing where a record carries none or it is switched off.

One fixture photo (``fashionWOMENDressesid0000000301_1front``) goes through sample-frames and
remove-bg once; pose2d then runs on copies of that crop, intact or altered. The prior is the
annotation CSV's line for the photo, read here with plain string operations.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from hpt_data.errors import StageError
from hpt_data.sources.deepfashion import DeepFashionSource
from hpt_data.stages.base import StageContext
from hpt_data.stages.pose2d import Pose2D, Pose2DSettings
from hpt_data.stages.pose_prior import apply_prior, prior_points
from hpt_data.stages.remove_bg import RemoveBackground, RemoveBgSettings
from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings

DATA = Path(__file__).parent / "data" / "deepfashion"
PHOTO = "fashionWOMENDressesid0000000301_1front"
#: MediaPipe index of each COCO-18 point but the neck (nose, shoulders, elbows, wrists,
#: hips, knees, ankles, eyes, ears: MediaPipe's landmark list and OpenPose's COCO order)
MP = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 8: 24, 9: 26, 10: 28, 11: 23, 12: 25,
      13: 27, 14: 5, 15: 2, 16: 8, 17: 7}  # fmt: skip


def annotation(name: str) -> np.ndarray:
    """(18, 2) x, y of ``name`` in the test annotation CSV (``name: [y...]: [x...]``)."""
    for line in (DATA / "fasion-resize-annotation-test.csv").read_text().splitlines()[1:]:
        cells = line.split(":")
        if cells[0] == f"{name}.jpg":
            ys, xs = ([int(v) for v in c.strip(" []").split(",")] for c in cells[1:])
            return np.array([xs, ys], float).T
    raise AssertionError(f"{name} not in the CSV")


@pytest.fixture(scope="module")
def crop(tmp_path_factory: pytest.TempPathFactory):
    """The photo's record (from the deepfashion source, prior included) and its remove-bg
    output folder."""
    tmp = tmp_path_factory.mktemp("prior")
    videos = {v.video_id: v for v in DeepFashionSource(DATA).scan().videos}
    record = videos[PHOTO]
    frames, rb = tmp / "sample-frames", tmp / "remove-bg"
    frames.mkdir(), rb.mkdir()
    SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(record, {}, frames))
    settings = RemoveBgSettings(crop_file="image")  # a crop file the tests can replace
    RemoveBackground(settings).run(StageContext(record, {"sample-frames": frames}, rb))
    return record, rb


def pose2d(tmp: Path, crop, image=None, prior: bool = True, record=None):
    """pose2d on a copy of the crop (its image replaced by ``image`` when given; Pose run
    on it, ``landmarks: detect``): the stage's metrics and the frame's (33, 5) crop
    landmarks."""
    rec, rb = crop
    copy = tmp / f"rb{len(list(tmp.iterdir()))}"
    shutil.copytree(rb, copy / "remove-bg")
    if image is not None:
        assert cv2.imwrite(str(copy / "remove-bg" / "image" / "000000.png"), image)
    out = copy / "pose2d"
    out.mkdir()
    settings = Pose2DSettings(landmarks="detect", keypoint_prior=prior)
    result = Pose2D(settings).run(
        StageContext(record or rec, {"remove-bg": copy / "remove-bg"}, out)
    )
    with np.load(out / "pose2d.npz") as data:
        return result.metrics, data["landmarks_crop"][0].astype(float)


def prior_in_crop(rb: Path) -> np.ndarray:
    """The annotation's points in the crop's pixels, through the crop matrix remove-bg
    recorded (the photo is the 176x256 image the points were measured on)."""
    entry = json.loads((rb / "frames.json").read_text())["frames"][0]
    m = np.array(entry["crop"]["source_to_crop"])
    xy = annotation(PHOTO)
    return xy @ m[:, :2].T + m[:, 2]


def gaps(landmarks: np.ndarray, prior: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(landmarks[m, :2] - prior[k]) for k, m in MP.items()])


def test_prior_points_scale_to_the_photo_and_mark_missing_points() -> None:
    xy = [[10, 20]] * 17 + [[-1, -1]]
    meta = {"openpose18": {"xy": xy, "image_size": [176, 256], "file": "x.csv"}}
    got = prior_points(meta, 0, (352, 512))  # a photo twice the annotated size
    assert got is not None
    np.testing.assert_allclose(got[:17], [[20, 40, 1]] * 17)
    np.testing.assert_allclose(got[17], [0, 0, 0])
    assert prior_points(meta, 1, (352, 512)) is None  # a photo's prior is for frame 0
    assert prior_points({}, 0, (352, 512)) is None
    few = np.zeros((18, 3))
    few[:3] = [5, 5, 1]
    lm = np.ones((33, 5))
    assert apply_prior(lm, few, 1024, 0.1, 6) == (lm, None)  # under prior_min_points


def test_where_pose_finds_nobody_the_prior_stands_in(crop, tmp_path: Path) -> None:
    blank = np.full((1024, 1024, 3), 255, np.uint8)  # the crop with the person painted out
    metrics, lm = pose2d(tmp_path, crop, blank)
    assert metrics["prior_from_prior"] == 1 and metrics["usable"] == 1
    assert gaps(lm, prior_in_crop(crop[1])).max() < 0.01
    assert lm[[1, 9, 17, 29], 3].tolist() == [0, 0, 0, 0]  # points the prior lacks: unseen
    for off in ({"prior": False}, {"record": dataclasses.replace(crop[0], meta={})}):
        with pytest.raises(StageError, match="no usable frame"):
            pose2d(tmp_path, crop, blank, **off)


def test_a_detection_away_from_the_annotated_person_is_replaced(crop, tmp_path: Path) -> None:
    """The person moved 350 px sideways in the crop: Pose finds them there, where the
    annotation says nobody is (as when it picks a bystander); the prior wins."""
    image = cv2.imread(str(crop[1] / "image" / "000000.png"))
    shifted = np.roll(image, 350, axis=1)
    prior = prior_in_crop(crop[1])
    _, alone = pose2d(tmp_path, crop, shifted, prior=False)
    assert np.median(gaps(alone, prior)) > 300  # Pose alone: the moved person
    metrics, lm = pose2d(tmp_path, crop, shifted)
    assert metrics["prior_replaced"] == 1
    assert gaps(lm, prior).max() < 0.01


def test_on_the_intact_photo_pose_is_kept_and_a_record_without_prior_is_untouched(
    crop, tmp_path: Path
) -> None:
    prior = prior_in_crop(crop[1])
    metrics, lm = pose2d(tmp_path, crop)
    assert metrics.get("prior_kept", 0) + metrics.get("prior_filled", 0) == 1
    _, alone = pose2d(tmp_path, crop, prior=False)
    seen = [m for m in MP.values() if alone[m, 3] >= 0.5]
    assert len(seen) >= 12
    np.testing.assert_array_equal(lm[seen], alone[seen])  # Pose's own points stay Pose's
    assert np.median(gaps(lm, prior)) < 0.05 * 1024  # and they agree with the annotation
    _, bare = pose2d(tmp_path, crop, record=dataclasses.replace(crop[0], meta={}))
    np.testing.assert_array_equal(bare, alone)


def test_the_prior_settings_change_the_fingerprint_only_off_their_defaults() -> None:
    """At the defaults pose2d's fingerprint is the one recorded before the prior existed
    (tests/test_orchestrator.py), so no existing output is redone; another value counts."""
    base = Pose2D().fingerprint()
    assert Pose2D(Pose2DSettings(keypoint_prior=True, prior_min_points=6)).fingerprint() == base
    for changed in ({"keypoint_prior": False}, {"prior_max_error": 0.2}, {"prior_min_points": 9}):
        assert Pose2D(Pose2DSettings(**changed)).fingerprint() != base
