"""The crop rule: squares land on the circle, zero outside the film, 8 orientations."""

import numpy as np
import pytest

from classifier.crops import (
    augment8,
    background_fraction,
    box_squares,
    crop_boxes,
    crop_square,
    sample_normal_squares,
    square_window,
)
from phantoms import make_phantom


def phantom(seed=0, size=200):
    """A flat dark film (40) with one solid bright disc (230) at a seeded place: crisp edges to crop on."""
    rng = np.random.default_rng(seed)
    cx, cy, r = (int(v) for v in (rng.integers(60, 140), rng.integers(60, 140), rng.integers(10, 30)))
    img = make_phantom(size, [(cx, cy, r)], seed=rng, outline=False, tissue_level=40.0, noise_sd=0.0,
                       mass_level=230.0, mass_noise_sd=0.0).image
    return img, cx, cy, r


@pytest.mark.parametrize("seed", range(5))
def test_circle_crop_lands_on_the_circle(seed):
    img, cx, cy, r = phantom(seed)
    crop = crop_square(img, cx, cy, 2 * r, out_px=48)
    assert crop.shape == (48, 48)
    # The inscribed disc of a 2r square is the circle: the centre is bright, corners dark.
    assert crop[20:28, 20:28].min() > 200
    assert crop[:4, :4].max() < 60 and crop[-4:, -4:].max() < 60
    # Off-target: a crop shifted by 3r sees no lesion at its centre.
    off = crop_square(img, cx + 3 * r, cy, 2 * r, out_px=48)
    assert off[20:28, 20:28].max() < 60


def test_box_crop_uses_box_centre_and_longer_side():
    sq = box_squares(np.array([[10, 20, 30, 60]]))
    np.testing.assert_allclose(sq, [[20, 40, 40]])
    img, cx, cy, r = phantom(1)
    box = np.array([[cx - r, cy - r, cx + r + 1, cy + r + 1]], float)
    crops = crop_boxes(img, box, 48)
    assert crops.shape == (1, 48, 48) and crops[0, 20:28, 20:28].min() > 200


def test_crop_outside_film_is_zero_padded():
    img = np.full((100, 100), 200, np.uint8)
    crop = crop_square(img, 0, 0, 40, out_px=40)  # 3/4 of the window lies off the film
    assert crop[:18, :18].max() == 0
    assert crop[-10:, -10:].min() == 200
    assert square_window(0, 0, 40) == (-20, -20, 20, 20)


def test_background_fraction_counts_off_film_and_dark():
    breast = np.zeros((100, 100), bool)
    breast[:, :50] = True
    assert background_fraction(breast, 25, 50, 20) == 0.0
    assert background_fraction(breast, 50, 50, 20) == pytest.approx(0.5)
    assert background_fraction(breast, 0, 50, 20) == pytest.approx(0.5)  # half off the film


def test_augment8_gives_eight_distinct_orientations():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    aug = augment8(crop)
    assert aug.shape == (8, 48, 48)
    assert len({a.tobytes() for a in aug}) == 8
    np.testing.assert_array_equal(aug[0], crop)


def test_normal_squares_stay_in_breast_and_avoid_lesions():
    breast = np.zeros((300, 300), bool)
    breast[50:250, 50:250] = True
    rng = np.random.default_rng(0)
    sq = sample_normal_squares(breast, 20, np.array([20.0, 40.0]), rng, 0.5, avoid_circles=[(150, 150, 30)])
    assert len(sq) == 20
    for cx, cy, side in sq:
        assert breast[int(cy), int(cx)]
        assert side in (20.0, 40.0)
        assert background_fraction(breast, cx, cy, side) <= 0.5
        assert abs(cx - 150) >= side / 2 + 30 or abs(cy - 150) >= side / 2 + 30


def test_normal_squares_empty_breast_gives_none():
    assert sample_normal_squares(np.zeros((50, 50), bool), 3, np.array([10.0]), np.random.default_rng(0)) == []
