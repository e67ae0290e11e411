"""The camera convention (weak perspective, and perspective about the pelvis), by hand."""

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


# ------------------------------------------------------------------ perspective about the pelvis


def test_distance_zero_is_the_weak_perspective_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    points = rng.normal(0, 0.5, (3, 7, 3))
    camera = np.array([[0.9, 0.1, -0.2], [1.1, 0.0, 0.3], [0.7, -0.4, 0.0]])
    by_hand = camera[:, None, :1] * points[..., :2] + camera[:, None, 1:]
    for got in (
        project(points, camera),
        project(points, camera, 0.0, ref_z=np.array([0.1, 0.2, 0.3])),
        project(points, camera, np.zeros(3)),  # no ref_z needed without a distance
    ):
        assert np.array_equal(got, by_hand)


def test_perspective_is_a_pinhole_camera_by_hand() -> None:
    """A pinhole of focal length f (normalised crop units) looking at the body shifted by
    ``T = (tx, ty) / s`` sideways and by ``Z - z_pelvis`` along the axis, Z per frame."""
    rng = np.random.default_rng(2)
    points = rng.normal(0, 0.4, (2, 9, 3))
    pelvis_z = np.array([0.05, -0.3])
    focal = np.array([2.7, 3.3])
    distance = np.array([3.0, 2.2])
    shift = np.array([[0.2, -0.1], [-0.05, 0.15]])  # metres
    s = focal / distance
    camera = np.column_stack([s, s[:, None] * shift])
    depth = points[..., 2] + (distance - pelvis_z)[:, None]  # camera-to-point distance
    pinhole = focal[:, None, None] * (points[..., :2] + shift[:, None]) / depth[..., None]
    got = project(points, camera, distance, pelvis_z)
    np.testing.assert_allclose(got, pinhole, rtol=1e-12, atol=1e-12)
    # a frame with distance 0 in the same batch stays weak
    mixed = project(points, camera, np.array([3.0, 0.0]), pelvis_z)
    np.testing.assert_allclose(mixed[0], pinhole[0], rtol=1e-12)
    np.testing.assert_array_equal(mixed[1], project(points[1], camera[1]))


def test_a_hand_in_front_of_the_pelvis_projects_larger_by_the_pinhole_ratio() -> None:
    camera = np.array([0.9, 0.0, 0.0])  # the principal point at the crop's centre
    pelvis = np.array([0.0, 0.0, 0.1])
    hand = np.array([0.3, -0.2, 0.1 - 0.4])  # 40 cm nearer the camera than the pelvis
    pts = np.stack([pelvis, hand])
    weak = project(pts, camera)
    persp = project(pts, camera, 3.0, pelvis[2])
    np.testing.assert_array_equal(persp[0], weak[0])  # the pelvis's plane: unchanged
    np.testing.assert_allclose(persp[1] / weak[1], [3.0 / 2.6, 3.0 / 2.6], rtol=1e-12)
    # and pixel distances from the crop's centre scale the same way
    centre = to_pixels(np.zeros(2), 1024)
    ratio = np.linalg.norm(to_pixels(persp[1], 1024) - centre) / np.linalg.norm(
        to_pixels(weak[1], 1024) - centre
    )
    assert ratio == pytest.approx(3.0 / 2.6, rel=1e-12)


def test_numpy_and_torch_share_the_perspective_divide() -> None:
    torch = pytest.importorskip("torch")
    from hpt_data.body.weak_perspective import MIN_DIVISOR, perspective_divide

    rng = np.random.default_rng(3)
    uv, z = rng.normal(0, 0.5, (2, 6, 2)), rng.normal(0, 0.5, (2, 6))
    ref, inv = np.array([[0.1], [-0.2]]), np.array([[1 / 3.0], [1 / 2.0]])
    z[0, 0] = 0.1 - 3.0  # at the camera's plane: clipped, finite
    got_np = perspective_divide(uv, z, ref, inv)
    got_t = perspective_divide(*(torch.as_tensor(a) for a in (uv, z, ref, inv)))
    np.testing.assert_allclose(got_t.numpy(), got_np, rtol=1e-15)
    np.testing.assert_allclose(got_np[0, 0], uv[0, 0] / MIN_DIVISOR)


def test_unproject_inverts_project_at_a_known_depth() -> None:
    from hpt_data.body.weak_perspective import unproject

    rng = np.random.default_rng(4)
    points = rng.normal(0, 0.5, (20, 3))
    camera = np.array([0.8, 0.1, -0.05])
    for distance in (0.0, 3.0):
        uv = project(points, camera, distance, 0.2)
        np.testing.assert_allclose(
            unproject(uv, points[:, 2], camera, distance, 0.2), points, atol=1e-12
        )


def test_bad_distances_are_refused() -> None:
    pts, cam = np.zeros((1, 4, 3)), np.array([[1.0, 0, 0]])
    with pytest.raises(ValueError, match="ref_z"):
        project(pts, cam, 3.0)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="distance"):
            project(pts, cam, bad, 0.0)
