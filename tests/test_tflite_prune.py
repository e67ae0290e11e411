"""The landmark model without its person-mask head (``TfliteModel.without``): the looks that
want no mask (the mirror look, the crop pass's plain look) run it. Its other outputs must
be the whole model's to the bit, on a real person, or the stage's outputs would move."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from hpt_data.perception import people as people_module
from hpt_data.perception.people import MASK_OUTPUT, landmark_model, landmarks_in_roi
from hpt_data.perception.tflite import PerceptionModelError, TfliteModel
from hpt_data.perception.tflite_prune import PruneError, without_outputs

PHOTO = Path(__file__).parent / "data" / "real" / "astronaut.jpg"


@pytest.fixture(scope="module")
def photo_and_person() -> tuple[np.ndarray, people_module.PersonDetection]:
    photo = cv2.imread(str(PHOTO))
    image = cv2.copyMakeBorder(photo, 200, 200, 200, 200, cv2.BORDER_CONSTANT, value=(255,) * 3)
    found = people_module.find_people(image, people_module.PeopleOptions(bgr=True))
    assert found, "the astronaut is found"
    return image, found[0]


def test_the_pruned_model_drops_the_mask_and_its_operators() -> None:
    whole = landmark_model()
    pruned = whole.without(MASK_OUTPUT)
    assert MASK_OUTPUT in whole.output_names
    assert pruned.output_names == tuple(n for n in whole.output_names if n != MASK_OUTPUT)
    assert whole.without(MASK_OUTPUT) is pruned  # built once
    raw = whole.path.read_bytes()
    assert len(without_outputs(raw, [MASK_OUTPUT])) < len(raw)  # operators gone


def test_the_kept_outputs_are_the_whole_models_to_the_bit(photo_and_person: tuple) -> None:
    image, person = photo_and_person
    tensor = people_module._crop(image, person.roi, True)
    whole = landmark_model().run_named(tensor)
    pruned = landmark_model().without(MASK_OUTPUT).run_named(tensor)
    for name, value in pruned.items():
        assert np.array_equal(value, whole[name]), name
    # and on other input (noise): not a coincidence of one picture
    noise = np.random.default_rng(3).uniform(-1, 1, tensor.shape).astype(np.float32)
    whole, pruned = landmark_model().run_named(noise), landmark_model().without(MASK_OUTPUT)
    for name, value in pruned.run_named(noise).items():
        assert np.array_equal(value, whole[name]), name


@pytest.mark.parametrize("mirror", [False, True])
def test_a_look_without_mask_is_the_same_as_through_the_whole_model(
    photo_and_person: tuple, monkeypatch: pytest.MonkeyPatch, mirror: bool
) -> None:
    image, person = photo_and_person
    model = landmark_model()
    used = []
    run = TfliteModel.run
    monkeypatch.setattr(TfliteModel, "run", lambda m, *a, **k: used.append(m) or run(m, *a, **k))
    fast = landmarks_in_roi(image, person.roi, model, bgr=True, mirror=mirror)
    assert used == [model.without(MASK_OUTPUT)]  # the model without its mask head
    monkeypatch.setattr(TfliteModel, "without", lambda self, *names: self)
    slow = landmarks_in_roi(image, person.roi, model, bgr=True, mirror=mirror)
    assert used[1:] == [model]  # the whole model this time
    assert fast.mask is None and slow.mask is None
    assert np.array_equal(fast.landmarks, slow.landmarks)
    assert np.array_equal(fast.world, slow.world)
    assert np.array_equal(fast.next_roi, slow.next_roi)
    assert fast.presence == slow.presence


def test_a_look_with_mask_runs_the_whole_model(photo_and_person: tuple) -> None:
    image, person = photo_and_person
    look = landmarks_in_roi(image, person.roi, landmark_model(), mask=True, bgr=True)
    assert look.mask is not None and look.mask.shape == (256, 256)
    assert look.mask.max() > 0.5  # the astronaut


def test_unknown_or_every_output_is_refused(tmp_path: Path) -> None:
    raw = landmark_model().path.read_bytes()
    with pytest.raises(PruneError, match="Identity_9"):
        without_outputs(raw, ["Identity_9"])
    with pytest.raises(PruneError, match="every output"):
        without_outputs(raw, landmark_model().output_names)
    with pytest.raises(PerceptionModelError, match=r"pose_landmark_full\.tflite: no output"):
        landmark_model().without("Identity_9")
