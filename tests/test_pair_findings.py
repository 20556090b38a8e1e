"""A pair of films: each film's findings are weighed against the other breast's, whatever the
order the films are screened in, and the pair's detectors run once per film."""

from __future__ import annotations

import numpy as np
import pytest

from detector.calc_clusters import LogisticScorer
from phantoms import phantom_film
from screening.film_model import FEATURE_SETS, FilmModel, PairedQuantileMax, Platt
from screening.pipeline import Screener, ScreenConfig
from screening.readers import FilmImage
from test_screening import BlobDetector, MalignantIfBigGrader

NAMES = FEATURE_SETS["any-finding-paired"][1]


class CountingDetector(BlobDetector):
    def __init__(self):
        self.calls = 0

    def predict(self, image):
        self.calls += 1
        return super().predict(image)


def _film_model() -> FilmModel:
    """Normal films of the fit score 0.2-0.4 on masses; a paired film's excess over its partner is what counts."""
    rng = np.random.default_rng(0)
    own = rng.uniform(0.2, 0.4, size=(40, 2))
    x = np.c_[own, own[::-1], np.ones(40)]
    y = np.zeros(40, dtype=int)
    x, y = np.vstack([x, [[0.9, 0.1, 0.1, 0.1, 1.0]]]), np.r_[y, 1]
    return FilmModel(PairedQuantileMax.fit(x, y, NAMES), LogisticScorer.fit(x, y, NAMES, c=1.0), Platt(), Platt(), 0.5, 0.5)


def _screener(detector) -> Screener:
    return Screener(ScreenConfig(calcifications=False), detector=detector, grader=MalignantIfBigGrader(),
                    film_model=_film_model())


def _film(circles, seed) -> FilmImage:
    img = phantom_film(256, circles, seed=seed)
    return FilmImage(img, (256, 256), 1.0)


@pytest.fixture
def pair():
    return _film([(90, 120, 20)], seed=1), _film([], seed=2)  # a mass on the left film only


def test_each_film_sees_the_other_breasts_findings(pair):
    left, right = pair
    s = _screener(CountingDetector())
    a = s.screen_image(left, "mdb001.pgm", right, "mdb002.pgm")
    b = s.screen_image(right, "mdb002.pgm", left, "mdb001.pgm")
    assert a.features["paired"] == b.features["paired"] == 1.0
    assert a.features["mass_abnormal"] > 0.5 and b.features["mass_abnormal"] == 0.0
    assert a.features["mass_abnormal_other"] == b.features["mass_abnormal"]
    assert b.features["mass_abnormal_other"] == a.features["mass_abnormal"]
    assert a.contralateral == "mdb002.pgm" and a.abnormal_score > b.abnormal_score
    assert s.detector.calls == 2  # the second film of the pair reuses both looks


def test_order_does_not_change_a_films_scores(pair):
    left, right = pair
    first = _screener(CountingDetector())
    ab = [first.screen_image(left, "l", right, "r"), first.screen_image(right, "r", left, "l")]
    second = _screener(CountingDetector())
    ba = [second.screen_image(right, "r", left, "l"), second.screen_image(left, "l", right, "r")][::-1]
    for x, y in zip(ab, ba):
        assert x.features == y.features and (x.abnormal_score, x.malignant_score) == (y.abnormal_score, y.malignant_score)
        assert [(f.finding, f.xyxy, f.score) for f in x.findings] == [(f.finding, f.xyxy, f.score) for f in y.findings]


def test_a_film_alone_is_judged_by_its_own_findings(pair):
    left, _ = pair
    s = _screener(CountingDetector())
    alone = s.screen_image(left, "mdb001.pgm")
    assert alone.features["paired"] == 0.0 and alone.features["mass_abnormal_other"] == 0.0
    assert alone.contralateral is None
    model = _film_model()
    expected = model.abnormal.alone.predict(np.array([[alone.features["mass_abnormal"], alone.features["calc_score"]]]))[0]
    assert alone.abnormal_score == pytest.approx(expected, abs=1e-5)


def test_a_blank_partner_is_ignored(pair):
    left, _ = pair
    blank = FilmImage(np.zeros((256, 256), np.uint8), (256, 256), 1.0)
    res = _screener(CountingDetector()).screen_image(left, "mdb001.pgm", blank, "mdb002.pgm")
    assert res.contralateral is None and res.features["paired"] == 0.0
