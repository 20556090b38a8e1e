"""Estimates stay records until a writer makes JSON of them, and have one text form."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from converters.atomic import write_json_atomic
from converters.records import Film, Lesion
from evaluation.bootstrap import Estimate, bootstrap_over_patients, format_estimate
from evaluation.classification import classification_report

NAN = float("nan")


def same(a: Estimate, b: Estimate) -> bool:
    """Field by field, ``nan`` equal to ``nan``."""
    floats = [(a.value, b.value), (a.ci_low, b.ci_low), (a.ci_high, b.ci_high)]
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in floats) and (
        (a.n_patients, dict(a.counts)) == (b.n_patients, dict(b.counts)))


@pytest.mark.parametrize(
    "est, text",
    [
        (Estimate(0.8125, 0.7, 0.9, 12), '{"value": 0.8125, "ci95": [0.7, 0.9], "n_patients": 12}'),
        (Estimate(0.5, NAN, NAN, 3), '{"value": 0.5, "ci95": [null, null], "n_patients": 3}'),
        (Estimate(NAN, NAN, NAN, 0, {"n": 0}), '{"value": null, "ci95": [null, null], "n_patients": 0, "n": 0}'),
        (Estimate(0.25, 0.1, 0.4, 9, {"n_lesions": 20, "n_malignant": 7}),
         '{"value": 0.25, "ci95": [0.1, 0.4], "n_patients": 9, "n_lesions": 20, "n_malignant": 7}'),
    ],
)
def test_estimate_round_trips_through_the_json_writer(tmp_path, est, text):
    path = tmp_path / "m.json"
    write_json_atomic(path, {"figure": est, "list": [est]}, indent=None)
    assert path.read_text() == f'{{"figure": {text}, "list": [{text}]}}\n'
    back = json.loads(path.read_text())
    assert same(Estimate.from_json(back["figure"]), est)
    assert Estimate.from_json(back["list"][0]).to_json() == back["list"][0]


def test_from_json_refuses_keys_that_are_not_counts():
    with pytest.raises(ValueError, match="'median'"):
        Estimate.from_json({"value": 1.0, "ci95": [0.5, 1.5], "median": 0.3})


@pytest.mark.parametrize(
    "est, kwargs, text",
    [
        (Estimate(0.8123, 0.7, 0.9, 5), {}, "0.812 [0.700, 0.900]"),
        (Estimate(0.8123, 0.7, 0.9, 5), {"digits": 1, "pct": True}, "81.2 [70.0, 90.0]"),
        (Estimate(0.05, -0.01, 0.11, 5), {"signed": True}, "+0.050 [-0.010, +0.110]"),
        (Estimate(0.5, NAN, NAN, 5), {}, "0.500 [CI n/a]"),
        (Estimate(NAN, NAN, NAN, 0), {}, "n/a"),
        (None, {}, "n/a"),
    ],
)
def test_one_formatter_for_records_and_their_json(est, kwargs, text):
    assert format_estimate(est, **kwargs) == text
    if est is not None:
        assert format_estimate(json.loads(json.dumps(est.to_json())), **kwargs) == text


def test_format_spec_goes_through_format_estimate():
    est = Estimate(0.05, -0.01, 0.11, 5)
    assert f"{est}" == format_estimate(est)
    assert f"{est:.2f}" == format_estimate(est, digits=2) == "0.05 [-0.01, 0.11]"
    assert f"{est:+.3f}" == format_estimate(est, signed=True)
    with pytest.raises(ValueError, match="format spec"):
        f"{est:.1%}"


def test_classification_report_returns_estimates_written_as_today(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    probs = rng.dirichlet([1, 1, 1], 60)
    pids = np.array([f"p{i // 3}" for i in range(60)])
    rep = classification_report(probs, y, pids, ("normal", "benign", "malignant"), n_bootstrap=30)
    for fig in (rep["accuracy"], rep["macro_f1"], rep["table1"]["benign"]["f1"], rep["auc"]["normal_vs_abnormal"]):
        assert isinstance(fig, Estimate) and fig.n_patients == 20
    assert isinstance(rep["auc"]["benign_vs_malignant"], Estimate)  # lesion crops only: fewer patients
    write_json_atomic(tmp_path / "metrics.json", rep)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["accuracy"] == rep["accuracy"].to_json()
    assert list(on_disk["table1"]["normal"]["sensitivity"]) == ["value", "ci95", "n_patients"]


def test_screening_metric_functions_return_estimates():
    from screening.evaluate import film_level_metrics, grading_metrics

    wh = (256, 256)
    mass = Lesion.from_circle((100, 100), 20, wh, "CIRC", "malignant")
    films = [Film(f"f{i}", f"f{i}.png", *wh, f"p{i}", (mass,) if i % 2 else ()) for i in range(8)]
    doc = {f.film_id: SimpleNamespace(abnormal_score=0.9 if f.lesions else 0.1, malignant_score=0.5,
                                      verdict="malignant" if f.lesions else "normal", findings=[]) for f in films}
    fl = film_level_metrics(films, doc, {}, n_resamples=50, seed=0)
    assert isinstance(fl["normal_vs_abnormal_auc"], Estimate) and fl["normal_vs_abnormal_auc"].value == 1.0
    assert isinstance(fl["verdict_point"]["sensitivity"], Estimate)
    assert isinstance(fl["by_finding_type"]["mass"]["auc"], Estimate)
    gr = grading_metrics(films, doc, None, {}, 0.5, n_resamples=50, seed=0)
    found = gr["found_lesions_grade_accuracy"]  # no detections: nothing found
    assert isinstance(found, Estimate) and found.counts == {"n": 0} and math.isnan(found.value)
    assert found.to_json() == {"value": None, "ci95": [None, None], "n_patients": 0, "n": 0}


def test_bootstrap_returns_an_estimate_with_its_patients():
    est = bootstrap_over_patients(["a", "a", "b", "c"], lambda i: float(np.mean(np.array([1, 0, 1, 1])[i])), 200, 0)
    assert isinstance(est, Estimate) and est.n_patients == 3 and est.value == 0.75
    assert est.ci_low <= est.value <= est.ci_high
