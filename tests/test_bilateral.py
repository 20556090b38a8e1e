"""The other breast: pairing rules and the asymmetry candidate on mirrored phantoms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phantoms import make_phantom
from screening.bilateral import Bilateral, FilmKey, compare_breasts, film_key, pair_films


# Smooth tissue without white noise, and soft masses (Gaussian bumps, sigma 18 px): the
# look the asymmetry search is tested on.
BREAST_LOOK = {"outline_axes": (0.7, 0.46), "tissue_level": 110.0, "noise_sd": 0.0, "smooth_amplitude": 60.0,
               "smooth_sigma_px": 6.0, "mass_profile": "soft", "soft_amplitude": 45.0}


def breast_film(size: int = 512, seed: int = 0, side: str = "left", blob_xy=None) -> np.ndarray:
    """A phantom breast against the ``side`` edge; ``blob_xy`` adds a soft mass there (same tissue for one seed)."""
    masses = [(*blob_xy, 18.0)] if blob_xy is not None else []
    return make_phantom(size, masses, seed=seed, side=side, **BREAST_LOOK).image


@pytest.mark.parametrize("cx,cy", [(150, 250), (250, 180), (120, 340)])
def test_mirrored_pair_with_one_blob_gives_the_asymmetry_at_the_right_place(cx, cy):
    right = breast_film(512, 1)
    left = right[:, ::-1].copy()  # the other breast: the same tissue, mirrored
    right_blob = breast_film(512, 1, blob_xy=(cx, cy))
    res = compare_breasts(right_blob, left)
    x1, y1, x2, y2 = res.candidate_xyxy
    assert x1 <= cx < x2 and y1 <= cy < y2, (res.candidate_xyxy, (cx, cy))
    # and the film without the blob has a far weaker peak than the one with it
    assert compare_breasts(left, right_blob).features["asym_peak"] < 0.5 * res.features["asym_peak"]
    assert compare_breasts(right, left).features["asym_peak"] < 0.3 * res.features["asym_peak"]


def test_blob_on_a_film_whose_chest_wall_is_on_the_right_maps_back():
    left_film = breast_film(512, 2, side="right")  # chest wall on the right
    right_film = left_film[:, ::-1].copy()
    cx, cy = 512 - 160, 260
    res = compare_breasts(breast_film(512, 2, side="right", blob_xy=(cx, cy)), right_film)
    x1, y1, x2, y2 = res.candidate_xyxy
    assert x1 <= cx < x2 and y1 <= cy < y2


def test_empty_films_are_unpaired():
    blank = np.zeros((256, 256), np.uint8)
    assert compare_breasts(blank, breast_film(256)) == Bilateral.unpaired()


def test_keys_from_names_and_dicom_tags():
    assert film_key("mdb001.pgm") == FilmKey("mias-001", "RIGHT", "MLO")
    assert film_key("sub/mdb002.png") == FilmKey("mias-001", "LEFT", "MLO")
    assert film_key("Mass-Training_P_00001_LEFT_CC.jpg") == FilmKey("P_00001", "LEFT", "CC")
    assert film_key("00001_RIGHT_MLO.jpg") == FilmKey("P_00001", "RIGHT", "MLO")
    assert film_key("x.dcm", {"PatientID": "A", "Laterality": "R", "ViewPosition": "mlo"}) == FilmKey("A", "RIGHT", "MLO")
    assert film_key("scan.png") is None


def test_pairs_mias_and_cbis_and_refuses_ambiguity():
    names = ["mdb001.pgm", "mdb002.pgm", "mdb003.pgm", "P_00001_LEFT_CC.jpg", "P_00001_RIGHT_CC.jpg",
             "P_00001_RIGHT_MLO.jpg", "P_00002_LEFT_MLO.jpg", "P_00002_LEFT_MLO_copy.jpg", "P_00002_RIGHT_MLO.jpg"]
    p = pair_films(names)
    assert p[0] == 1 and p[1] == 0 and 2 not in p  # mdb003's partner mdb004 is not in the batch
    assert p[3] == 4 and p[4] == 3 and 5 not in p  # no LEFT MLO for P_00001
    assert not {6, 7, 8} & set(p)  # two LEFT MLO films of P_00002: ambiguous, screened alone


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.integers(1, 40).map(lambda n: f"mdb{n:03d}.pgm"),
    st.tuples(st.integers(1, 6), st.sampled_from(["LEFT", "RIGHT"]), st.sampled_from(["CC", "MLO"]))
      .map(lambda t: f"Calc-Test_P_{t[0]:05d}_{t[1]}_{t[2]}.png"),
    st.text(alphabet="abcxyz_0123456789", min_size=1, max_size=12).map(lambda s: s + ".png"),
), max_size=40))
def test_pairing_never_pairs_films_of_two_patients(names):
    partners = pair_films(names)
    for i, j in partners.items():
        a, b = film_key(names[i]), film_key(names[j])
        assert a.patient == b.patient and a.view == b.view and a.side != b.side
        assert partners[j] == i


def test_dicom_films_pair_by_their_header_tags(tmp_path):
    from test_screening import write_dicom
    from screening.bilateral import key_of_file

    paths = []
    for name, pid, side in (("a.dcm", "P1", "L"), ("b", "P1", "R"), ("c.dcm", "P2", "R")):
        write_dicom(tmp_path / name, np.zeros((16, 16), np.uint16))
        import pydicom

        ds = pydicom.dcmread(tmp_path / name)
        ds.PatientID, ds.ImageLaterality, ds.ViewPosition = pid, side, "CC"
        ds.save_as(tmp_path / name)
        paths.append(tmp_path / name)
    keys = [key_of_file(p, p.name) for p in paths]
    assert keys[0] == FilmKey("P1", "LEFT", "CC") and keys[1] == FilmKey("P1", "RIGHT", "CC")  # "b": no extension
    assert pair_films([p.name for p in paths], keys) == {0: 1, 1: 0}
