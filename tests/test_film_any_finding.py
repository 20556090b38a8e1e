"""The `any-finding` film models: each finding judged against normal films (alone, or by its
excess over the same finding on the other breast), the film as unusual as its most unusual
finding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converters.errors import InputError
from detector.calc_clusters import LogisticScorer
from screening.film_model import (
    ANY_FINDING, ANY_FINDING_PAIRED, FEATURE_SETS, FilmModel, NormalQuantileMax, PairedQuantileMax, Platt, load_film_model,
    oof_predictions, save_film_model,
)

NAMES = ("mass_abnormal", "calc_score")


def test_quantiles_against_normal_films():
    m = NormalQuantileMax(NAMES, [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
    q = m.quantiles([[0.0, 0.9], [0.2, 0.6], [0.25, 0.5]])
    assert q[0].tolist() == [0.0, 1.0]  # below every normal film; above every normal film
    assert q[1].tolist() == pytest.approx([0.5, 0.5])
    assert q[2].tolist() == pytest.approx([0.625, 0.25])


def test_one_unusual_finding_makes_an_unusual_film():
    rng = np.random.default_rng(0)
    normal = rng.uniform(0, 0.5, size=(200, 2))
    m = NormalQuantileMax.fit(np.vstack([normal, [[0.9, 0.9]]]), np.r_[np.zeros(200), 1], NAMES)
    assert all(v.size == 200 for v in m.normal_values)  # only normal films set the scale
    mass_only, calc_only, both_usual = m.predict([[0.9, 0.1], [0.1, 0.9], [0.3, 0.3]])
    assert mass_only > 0.99 and calc_only > 0.99 and both_usual < 0.7
    # a sum of the two would rank a film with two middling findings above one with a single
    # strong one; the OR does not
    assert m.predict([[0.45, 0.45]])[0] < m.predict([[0.9, 0.0]])[0]


def test_oof_any_finding_separates_an_or_of_two_signals():
    rng = np.random.default_rng(2)
    n = 200
    y = (rng.random(n) < 0.4).astype(int)
    kind = rng.integers(0, 2, n)  # which of the two findings an abnormal film shows
    x = rng.normal(0, 1, size=(n, 2))
    x[np.arange(n), kind] += 3 * y
    patients = np.arange(n).astype(str)
    p = oof_predictions(x, y, patients, folds=5, seed=0, c=1.0, names=NAMES, kind=ANY_FINDING)
    from evaluation.roc import roc_auc

    assert roc_auc(y, p) > 0.9


def test_film_model_with_any_finding_round_trips(tmp_path):
    q = NormalQuantileMax(NAMES, [[0.1, 0.2, 0.3], [0.2, 0.4, 0.6]])
    mal = LogisticScorer(NAMES, np.zeros(2), np.ones(2), np.array([1.0, 0.5]), -1.0)
    model = FilmModel(q, mal, Platt(2.0, -1.0), Platt(), 0.4, 0.3)
    path = save_film_model(tmp_path / "m.json", model, {"trained_on": "synthetic"})
    doc = json.loads(path.read_text())
    assert doc["version"] == 3 and doc["abnormal"]["kind"] == ANY_FINDING
    back = load_film_model(path)
    feats = {"mass_abnormal": 0.25, "calc_score": 0.5}
    assert back.scores(feats) == model.scores(feats)
    doc["abnormal"]["kind"] = "forest"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="unknown abnormal model kind"):
        load_film_model(path)
    doc["abnormal"]["kind"], doc["version"] = ANY_FINDING, 4
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="newer than this version reads"):
        load_film_model(path)


def test_any_finding_needs_normal_values():
    with pytest.raises(ValueError, match="at least 2 normal values"):
        NormalQuantileMax(NAMES, [[0.1], [0.2, 0.3]])
    with pytest.raises(ValueError, match="finite"):
        NormalQuantileMax(NAMES, [[0.1, np.nan], [0.2, 0.3]])


PAIRED_NAMES = FEATURE_SETS["any-finding-paired"][1]


def _dense_breasts(rng, n_patients: int):
    """Patients whose two films share a background level (breast density) that raises every
    finding's score; one film of each abnormal patient has a lesion on top."""
    x, y, pid = [], [], []
    for p in range(n_patients):
        level = rng.uniform(0, 0.6)
        sick = p % 3 == 0
        for side in range(2):
            own = level + rng.normal(0, 0.05, 2)
            y.append(int(sick and side == 0))
            if y[-1]:
                own[rng.integers(0, 2)] += 0.3
            x.append(own)
            pid.append(str(p))
    x = np.array(x)
    other = x.reshape(-1, 2, 2)[:, ::-1].reshape(-1, 2)  # each film's partner: the other row of its patient
    return np.c_[x, other, np.ones(len(x))], np.array(y), np.array(pid)


def test_paired_model_discounts_what_both_breasts_show():
    from evaluation.roc import roc_auc

    x, y, pid = _dense_breasts(np.random.default_rng(0), 300)
    paired = oof_predictions(x, y, pid, folds=5, seed=0, c=1.0, names=PAIRED_NAMES, kind=ANY_FINDING_PAIRED)
    alone = oof_predictions(x[:, :2], y, pid, folds=5, seed=0, c=1.0, names=PAIRED_NAMES[:2], kind=ANY_FINDING)
    assert roc_auc(y, paired) > 0.9 and roc_auc(y, paired) > roc_auc(y, alone) + 0.1


def test_paired_model_judges_a_film_screened_alone_by_its_own_scores():
    x, y, _ = _dense_breasts(np.random.default_rng(1), 60)
    m = PairedQuantileMax.fit(x, y, PAIRED_NAMES)
    assert m.pair_weight == 0.5 and m.feature_names == PAIRED_NAMES
    film = x[:1].copy()
    film_alone = film.copy()
    film_alone[:, 2:] = 0.0  # no partner: twins and `paired` are 0
    assert m.predict(film_alone)[0] == pytest.approx(m.alone.predict(film[:, :2])[0])
    assert m.predict(film)[0] == pytest.approx(m.excess.predict(film[:, :2] - 0.5 * film[:, 2:4])[0])
    with pytest.raises(ValueError, match="twins"):
        PairedQuantileMax.fit(x, y, ("mass_abnormal", "calc_score", "calc_score_other", "mass_abnormal_other", "paired"))


def test_film_model_with_paired_any_finding_round_trips(tmp_path):
    x, y, _ = _dense_breasts(np.random.default_rng(2), 30)
    q = PairedQuantileMax.fit(x, y, PAIRED_NAMES)
    mal = LogisticScorer.fit(x, y, PAIRED_NAMES, c=1.0)
    model = FilmModel(q, mal, Platt(1.5, -0.5), Platt(), 0.4, 0.3)
    path = save_film_model(tmp_path / "m.json", model, {"trained_on": "synthetic"})
    doc = json.loads(path.read_text())
    assert doc["version"] == 3 and doc["abnormal"]["kind"] == ANY_FINDING_PAIRED
    back = load_film_model(path)
    for row in x[:5]:
        feats = dict(zip(PAIRED_NAMES, row.tolist()))
        assert back.scores(feats) == model.scores(feats)
    doc["abnormal"]["excess"]["feature_names"] = ["calc_score", "mass_abnormal"]
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="do not match"):
        load_film_model(path)
