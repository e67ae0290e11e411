"""The weak-perspective camera convention, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hpt_data.body.weak_perspective import from_pixels, project, to_pixels


def test_projection_by_hand() -> None:
    points = np.array([[[0.0, 0.0, 5.0], [0.5, -1.0, 2.0]]])
    uv = project(points, np.array([[0.8, 0.1, -0.2]]))
    np.testing.assert_allclose(uv, [[[0.1, -0.2], [0.5, -1.0]]])


def test_pixels_use_integer_centres_and_round_trip() -> None:
    np.testing.assert_allclose(to_pixels(np.array([-1.0, 1.0]), 1024), [-0.5, 1023.5])
    np.testing.assert_allclose(to_pixels(np.array([0.0, 0.0]), 4), [1.5, 1.5])
    uv = np.random.default_rng(0).uniform(-1, 1, (10, 2))
    np.testing.assert_allclose(from_pixels(to_pixels(uv, 512), 512), uv)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="end in 3"):
        project(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="positive"):
        to_pixels(np.zeros(2), 0)
