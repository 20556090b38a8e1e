"""The shared phantom generator: seeded, sided, typed, and its ground truth matches its pixels."""

from __future__ import annotations

from contextlib import nullcontext as does_not_raise

import numpy as np
import pytest

from phantoms import add_specks, make_phantom, phantom_film, tissue_phantom


def test_a_seed_gives_the_same_film_and_another_seed_another():
    a = make_phantom(128, [(40, 60, 10)], [(90, 30)], seed=3)
    b = make_phantom(128, [(40, 60, 10)], [(90, 30)], seed=3)
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, make_phantom(128, [(40, 60, 10)], [(90, 30)], seed=4).image)


@pytest.mark.parametrize("side, wall_col, far_col", [("left", 0, 127), ("right", 127, 0)])
def test_the_breast_lies_against_its_side(side, wall_col, far_col):
    ph = make_phantom(128, seed=0, side=side)
    assert ph.breast[64, wall_col] and not ph.breast[64, far_col]
    assert (ph.image[~ph.breast] == 0).all() and ph.image[ph.breast].mean() == pytest.approx(90, abs=2)


def test_masses_are_drawn_where_their_ground_truth_says():
    ph = make_phantom(256, [(60, 100, 12), (150, 80, 20)], seed=1)
    masks = ph.mass_masks()
    assert masks.shape == (2, 256, 256) and masks[0, 100, 60] and masks[1, 80, 150]
    assert abs(masks[0].sum() - np.pi * 12**2) < 2 * np.pi * 12  # a disc of radius 12, up to its edge pixels
    assert ph.image[masks.any(0)].min() > 180 and ph.image[ph.breast & ~masks.any(0)].max() < 130


def test_soft_masses_add_a_bump_inside_the_breast_only():
    flat = make_phantom(256, seed=2, noise_sd=0.0)
    bump = make_phantom(256, [(60, 128, 18)], seed=2, noise_sd=0.0, mass_profile="soft", soft_amplitude=45.0)
    diff = bump.image.astype(int) - flat.image.astype(int)
    assert diff[128, 60] == pytest.approx(45, abs=1) and diff[128, 60 + 54] <= 1
    assert (diff[~flat.breast] == 0).all()


def test_specks_are_drawn_at_their_positions_on_the_8bit_film():
    base = tissue_phantom(256, 5)
    ph = make_phantom(256, specks_xy=[(60, 60), (200, 180)], seed=5, outline=False, tissue_level=120.0, waves=True,
                      noise_sd=3.0, speck_amplitude=25.0)
    assert ph.specks_xy == ((60.0, 60.0), (200.0, 180.0))
    assert np.array_equal(ph.image, add_specks(base, ph.specks_xy, amplitude=25.0))
    assert int(ph.image[60, 60]) - int(base[60, 60]) == 25


@pytest.mark.parametrize(
    "kwargs, top, expectation",
    [
        ({}, 255, does_not_raise()),
        ({"dtype": np.uint16}, 65535, does_not_raise()),
        ({"dtype": np.uint16, "bits_stored": 12}, 4080, does_not_raise()),
        ({"dtype": np.float32}, None, pytest.raises(ValueError, match="uint8, or uint16")),
        ({"side": "up"}, None, pytest.raises(ValueError, match="side 'up'")),
    ],
)
def test_storage_types_scale_the_same_film(kwargs, top, expectation):
    with expectation:
        img = phantom_film(64, [(30, 30, 8)], seed=1, mass_level=255.0, mass_noise_sd=0.0, **kwargs)
        img8 = phantom_film(64, [(30, 30, 8)], seed=1, mass_level=255.0, mass_noise_sd=0.0)
        assert img.max() == top
        assert np.array_equal(img // (top // 255), img8)
