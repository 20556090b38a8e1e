"""The film-level model: features, calibration figures, JSON round trip, report schema."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converters.errors import InputError
from detector.calc_clusters import LogisticScorer
from screening.film_model import (
    FILM_FEATURES, FilmModel, Platt, calibration_figures, film_features, load_film_model, oof_predictions, save_film_model,
)


def test_film_features_of_an_empty_film_are_zero():
    f = film_features([], np.zeros((0, 3)), [], [], None)
    assert set(f) == set(FILM_FEATURES) and all(v == 0.0 for v in f.values())


def test_film_features_take_the_best_finding():
    f = film_features([0.9, 0.2], [[0.1, 0.6, 0.3], [0.0, 0.0, 1.0]], [0.3, 0.8], [4, 9],
                      {"asym_peak": 0.1, "asym_p95": 0.05, "asym_mean": 0.02, "texture_peak": 0.03, "area_ratio": 0.0},
                      {"mass_abnormal": 0.4, "calc_score": 0.7})
    assert f["mass_score"] == 0.9 and f["mass_abnormal"] == pytest.approx(0.81) and f["mass_malignant"] == pytest.approx(0.27)
    assert f["calc_score"] == 0.8 and f["calc_count"] == pytest.approx(np.log(2)) and f["calc_specks"] == pytest.approx(np.log(10))
    assert f["paired"] == 1.0 and f["asym_peak"] == 0.1
    assert f["mass_abnormal_other"] == 0.4 and f["calc_score_other"] == 0.7
    alone = film_features([0.9], [[0.1, 0.6, 0.3]], [], [], None)
    assert alone["paired"] == 0.0 and alone["mass_abnormal_other"] == 0.0 and alone["calc_score_other"] == 0.0
    with pytest.raises(ValueError, match="both"):
        film_features([0.9], [[0.1, 0.6, 0.3]], [], [], {"asym_peak": 0.1}, None)


def test_calibration_figures():
    y = np.array([0, 0, 1, 1] * 25)
    perfect = calibration_figures(y.astype(float), y)
    assert perfect["brier"] == 0 and perfect["ece"] == 0
    flat = calibration_figures(np.full(100, 0.5), y)
    assert flat["brier"] == pytest.approx(0.25) and flat["ece"] == pytest.approx(0.0)
    over = calibration_figures(np.full(100, 0.9), y)
    assert over["ece"] == pytest.approx(0.4)


def test_platt_recovers_a_known_miscalibration():
    rng = np.random.default_rng(0)
    logit = rng.normal(0, 2, 4000)
    y = rng.random(4000) < 1 / (1 + np.exp(-logit))
    p_over = 1 / (1 + np.exp(-(2 * logit)))  # twice too confident
    platt = Platt.fit(p_over, y)
    assert platt.a == pytest.approx(0.5, abs=0.08)
    assert calibration_figures(platt.apply(p_over), y)["ece"] < calibration_figures(p_over, y)["ece"]


def test_oof_predictions_never_see_their_patient():
    rng = np.random.default_rng(1)
    n = 60
    x = rng.normal(size=(n, len(FILM_FEATURES)))
    y = (np.arange(n) % 2).astype(int)
    patients = np.repeat(np.arange(n // 2), 2).astype(str)
    x[:, 0] = y * 10 + np.repeat(rng.normal(size=n // 2), 2)  # separable, but each patient has one of each
    p = oof_predictions(x, y, patients, folds=5, seed=0, c=1.0)
    assert p.shape == (n,) and np.all((p >= 0) & (p <= 1))
    assert np.mean((p > 0.5) == y) > 0.9


def _model():
    n = len(FILM_FEATURES)
    coef = np.zeros(n)
    coef[FILM_FEATURES.index("calc_score")] = 2.0
    s = LogisticScorer(FILM_FEATURES, np.zeros(n), np.ones(n), coef, -1.0)
    return FilmModel(s, s, Platt(), Platt(1.0, -0.5), 0.4, 0.3)


def test_film_model_round_trip_and_verdict(tmp_path):
    m = _model()
    path = save_film_model(tmp_path / "fm.json", m, {"trained_on": "phantoms"})
    back = load_film_model(path)
    f = film_features([], np.zeros((0, 3)), [0.9], [5], None)
    assert back.scores(f) == pytest.approx(m.scores(f))
    a, mal = back.scores(f)
    assert mal <= a
    assert back.verdict(0.1, 0.9) == "normal" and back.verdict(0.5, 0.2) == "benign" and back.verdict(0.5, 0.35) == "malignant"
    doc = json.loads(path.read_text())
    doc["features"][0] = "tumour_size"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="bad.json"):
        load_film_model(tmp_path / "bad.json")


def test_a_feature_subset_model_scores_from_its_own_features():
    names = ("mass_abnormal", "calc_score")
    s = LogisticScorer(names, np.zeros(2), np.ones(2), np.array([1.0, 3.0]), -2.0)
    m = FilmModel(s, s, Platt(), Platt(), 0.5, 0.5)
    lo = film_features([], np.zeros((0, 3)), [0.1], [3], None)
    hi = film_features([], np.zeros((0, 3)), [0.9], [3], None)
    assert m.scores(hi)[0] > m.scores(lo)[0]
    assert FilmModel.from_dict(m.to_dict()).scores(hi) == pytest.approx(m.scores(hi))


def test_shipped_film_model_loads():
    m = load_film_model()
    assert 0 < m.abnormal_threshold < 1 and 0 < m.malignant_threshold < 1


@pytest.mark.parametrize("target", [0.5, 0.85, 0.9, 1.0])
def test_specificity_threshold_keeps_the_target_share_of_normal_films_below(target):
    from screening.verdict_fit import specificity_threshold

    s = np.round(np.random.default_rng(3).random(37), 5)
    t = specificity_threshold(s, target)
    assert (s < t).mean() >= target
    assert (s < round(t - 1e-5, 5)).mean() < target or t <= s.min()  # and it is the lowest such threshold
