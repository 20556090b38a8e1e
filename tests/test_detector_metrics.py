"""Detection metrics on hand-built cases: FROC, COCO mAP, film AUC, bootstrap, outputs."""

from __future__ import annotations

import json
import math
from collections import namedtuple

import numpy as np
import pytest

from converters.atomic import finite_json
from converters.errors import InputError
from converters.records import Film, ImageLabel, Lesion
from benchmark_scripts import load_benchmark_script
from evaluation.bootstrap import Estimate
from evaluation.coco_map import ap_on_films, evaluate_coco, pr_curve
from evaluation.detection import evaluate_predictions, metrics_markdown
from evaluation.froc import (
    FP_RATES_PER_FILM,
    FrocEvents,
    evaluate_froc,
    film_level_scores,
    match_film,
    match_predictions,
    roc_auc,
)

Pred = namedtuple("Pred", "xyxy scores")
WH = (256, 256)


def circle(cx, cy, r, cls="CIRC", sev="benign"):
    return Lesion.from_circle((cx, cy), r, WH, cls, sev)


def film(fid, pid, lesions=(), image_labels=()):
    return Film(fid, f"{fid}.png", WH[0], WH[1], pid, tuple(lesions), tuple(image_labels))


def pred(boxes, scores):
    return Pred(np.asarray(boxes, dtype=float).reshape(-1, 4), np.asarray(scores, dtype=float))


def centred_box(cx, cy, half):
    return [cx - half, cy - half, cx + half, cy + half]


def frocs(films, preds, **kw):
    return FrocEvents(match_predictions(films, preds, **kw), "all").sensitivity_at()


@pytest.fixture
def small_set():
    """Four patients, eight films: masses, a calcification, normal films."""
    films = [
        film("f1", "p1", [circle(60, 60, 20, "CIRC")]),
        film("f2", "p1"),
        film("f3", "p2", [circle(100, 120, 15, "SPIC", "malignant"), circle(200, 40, 8, "CALC")]),
        film("f4", "p2"),
        film("f5", "p3", [circle(150, 150, 25, "MISC")]),
        film("f6", "p3"),
        film("f7", "p4", [circle(40, 200, 10, "CALC", "malignant")]),
        film("f8", "p4"),
    ]
    return films


def perfect_predictions(films, score=0.9):
    return {f.film_id: pred([les.xyxy for les in f.lesions], [score] * len(f.lesions)) for f in films if f.lesions}


# ---------------------------------------------------------------- perfect predictions


def test_perfect_predictions_give_map_one_and_full_sensitivity(small_set):
    preds = perfect_predictions(small_set)
    m = evaluate_predictions(small_set, preds, n_resamples=50, seed=1)
    assert m["coco"]["all"]["map50"].value == pytest.approx(1.0)
    assert m["coco"]["all"]["map50_95"].value == pytest.approx(1.0)
    assert (m["coco"]["all"]["map50"].ci_low, m["coco"]["all"]["map50"].ci_high) == (pytest.approx(1.0), pytest.approx(1.0))
    # Subset mAP keeps every box, so the (perfect) boxes of the other class are its false positives...
    assert m["coco"]["mass"]["map50"].value < 1.0 and m["coco"]["calc"]["map50"].value < 1.0
    for subset, keep in (("mass", Lesion.is_mass.fget), ("calc", Lesion.is_calc.fget)):
        only = [f.with_lesions([les for les in f.lesions if keep(les)]) for f in small_set]
        # ...and with only that class's boxes it is perfect.
        assert evaluate_coco(small_set, perfect_predictions(only), subset).map50 == pytest.approx(1.0)
        assert evaluate_coco(small_set, perfect_predictions(only), subset).map50_95 == pytest.approx(1.0)
    for subset in ("all", "mass", "calc"):
        assert [e.value for e in m["froc"][subset]["sensitivity"]] == [1.0] * len(FP_RATES_PER_FILM)
        assert m["froc"][subset]["mean_sensitivity"].value == 1.0
    assert m["froc"]["all"]["mean_sensitivity"].to_json()["ci95"] == [1.0, 1.0]
    assert m["film_level"]["roc_auc"].value == 1.0
    assert m["matching"]["false_positives"] == 0
    assert m["counts"]["lesions"] == 5 and m["counts"]["masses"] == 3 and m["counts"]["calcifications"] == 2


# ---------------------------------------------------------------- hit rules


def test_prediction_shifted_off_its_circle_is_a_miss_and_a_false_positive():
    les = circle(100, 100, 10)
    f = film("a", "p")
    f = f.with_lesions([les])
    inside = match_film(f, pred([centred_box(105, 103, 10)], [0.8]))  # centre 5.8 px from 100,100
    outside = match_film(f, pred([centred_box(125, 100, 10)], [0.8]))  # centre 25 px away, r=10
    assert inside.lesion_hit_scores.tolist() == [0.8] and inside.fp_scores.size == 0
    assert outside.lesion_hit_scores.tolist() == [-np.inf] and outside.fp_scores.tolist() == [0.8]
    sens = frocs([f], {"a": pred([centred_box(125, 100, 10)], [0.8])})
    assert np.all(sens == 0.0)


def test_center_rule_and_iou_rule_differ_on_a_constructed_case():
    f = film("a", "p", [circle(100, 100, 6)])  # box 13x13
    big = pred([centred_box(100.5, 100.5, 40)], [0.9])  # centre on the lesion, IoU 169/6400
    assert frocs([f], {"a": big}, hit_rule="center")[0] == 1.0
    assert frocs([f], {"a": big}, hit_rule="iou", iou_threshold=0.3)[0] == 0.0
    # Same-size box shifted diagonally: centre outside the circle, IoU 0.25.
    g = film("b", "p", [circle(100, 100, 20)])  # box (80,80,121,121)
    shifted = pred([[95, 95, 136, 136]], [0.9])  # centre (115.5,115.5): 21.9 px from (100.5,100.5)
    iou = (26 * 26) / (2 * 41 * 41 - 26 * 26)
    assert 0.2 < iou < 0.3
    assert frocs([g], {"b": shifted}, hit_rule="center")[0] == 0.0
    assert frocs([g], {"b": shifted}, hit_rule="iou", iou_threshold=0.2)[0] == 1.0
    assert frocs([g], {"b": shifted}, hit_rule="iou", iou_threshold=0.3)[0] == 0.0


def test_box_only_lesion_uses_centre_inside_box():
    les = Lesion((10.0, 10.0, 50.0, 30.0), "MASS")
    f = film("a", "p", [les])
    assert match_film(f, pred([[40, 20, 58, 36]], [0.5])).lesion_hit_scores.tolist() == [0.5]  # centre (49,28)
    assert match_film(f, pred([[45, 20, 60, 36]], [0.5])).fp_scores.tolist() == [0.5]  # centre (52.5,28)


# ---------------------------------------------------------------- FROC by hand


def test_extra_boxes_on_a_normal_film_move_the_froc_curve_as_computed_by_hand():
    films = [
        film("a1", "p1", [circle(60, 60, 15)]),
        film("a2", "p2", [circle(150, 150, 15)]),
        film("n1", "p3"),
        film("n2", "p4"),
    ]
    hits = {"a1": pred([centred_box(60, 60, 12)], [0.9]), "a2": pred([centred_box(150, 150, 12)], [0.4])}
    assert frocs(films, hits).tolist() == [1.0] * 7  # no false positive anywhere
    extra = dict(hits, n1=pred([centred_box(50, 50, 10), centred_box(120, 60, 10), centred_box(200, 200, 10)],
                               [0.8, 0.6, 0.3]))
    # By hand, 4 films. Thresholds (score >= t):  0.9: 1 lesion, 0 FP  -> 0.00 FP/film, sens .5
    # 0.8: 1 FP -> .25, sens .5 | 0.6: 2 FP -> .5, sens .5 | 0.4: 2 FP -> .5, sens 1 | 0.3: 3 FP -> .75, sens 1
    # so at 0.125 -> .5 (t=.9), 0.25 -> .5 (t=.8), 0.5 -> 1 (t=.4), >= 1 -> 1.
    assert frocs(films, extra).tolist() == [0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    # A higher-scored false positive pushes the low-FP end down to 0.
    worse = dict(extra, n2=pred([centred_box(100, 100, 10)], [0.95]))
    # 0.95: 1 FP (.25) sens 0 | .9: .25, .5 | .8: .5, .5 | .6: .75, .5 | .4: .75, 1 | .3: 1.0, 1
    assert frocs(films, worse).tolist() == [0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]
    ev = FrocEvents(match_predictions(films, worse), "all")
    _, fppf, sens = ev.curve()
    assert fppf.tolist() == [0.0, 0.25, 0.25, 0.5, 0.75, 0.75, 1.0]
    assert sens.tolist() == [0.0, 0.0, 0.5, 0.5, 0.5, 1.0, 1.0]
    out = evaluate_froc(films, match_predictions(films, worse), n_resamples=0)
    assert out["subsets"]["all"]["mean_sensitivity"].value == pytest.approx((0 + 0.5 + 0.5 + 4) / 7)


def test_duplicate_box_on_a_hit_lesion_is_not_a_false_positive():
    f = film("a", "p", [circle(100, 100, 20)])
    dup = pred([centred_box(100, 100, 18), centred_box(103, 98, 15)], [0.9, 0.7])
    m = match_film(f, dup)
    assert m.fp_scores.size == 0 and m.n_duplicate_hits == 1 and m.lesion_hit_scores.tolist() == [0.9]
    assert frocs([f, film("n", "q")], {"a": dup}).tolist() == [1.0] * 7


def test_a_box_finding_two_new_lesions_is_not_a_duplicate():
    f = film("a", "p", [circle(100, 100, 20), circle(110, 100, 20, "CALC")])
    m = match_film(f, pred([centred_box(105, 100, 10), centred_box(100, 100, 5)], [0.9, 0.5]))
    assert m.lesion_hit_scores.tolist() == [0.9, 0.9] and m.n_duplicate_hits == 1 and m.fp_scores.size == 0


def test_subset_sensitivity_keeps_false_positives_of_all_lesions():
    films = [film("a", "p1", [circle(60, 60, 15, "CIRC"), circle(180, 180, 8, "CALC")]), film("n", "p2")]
    preds = {"a": pred([centred_box(180, 180, 6)], [0.9]), "n": pred([centred_box(50, 50, 10)], [0.95])}
    matches = match_predictions(films, preds)
    calc = FrocEvents(matches, "calc").sensitivity_at()
    mass = FrocEvents(matches, "mass").sensitivity_at()
    # 2 films; the 0.95 FP alone is 0.5 FP/film: the calc (0.9) is found from 0.5 FP/film on.
    assert calc.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert mass.tolist() == [0.0] * 7
    assert FrocEvents(matches, "mass").n_lesions == 1


def test_image_level_only_labels_are_excluded_from_sensitivity_and_counted():
    films = [
        film("a", "p1", [circle(60, 60, 15)]),
        film("b", "p2", image_labels=[ImageLabel("CALC", "malignant")]),
        film("c", "p3"),
    ]
    preds = {"a": pred([centred_box(60, 60, 10)], [0.9]), "b": pred([centred_box(100, 100, 10)], [0.8])}
    m = evaluate_predictions(films, preds, n_resamples=0)
    assert m["counts"]["image_level_labels_excluded"] == 1 and m["counts"]["image_level_only_films"] == 1
    assert m["froc"]["all"]["n_lesions"] == 1
    assert m["matching"]["false_positives"] == 1  # the box on film b
    assert m["froc"]["all"]["sensitivity"][0].value == 1.0  # 0 FP/film at t=0.9
    assert m["film_level"]["n_abnormal"] == 2
    assert "1 image-level-only label(s)" in metrics_markdown(m)


# ---------------------------------------------------------------- empty cases


def test_empty_predictions_do_not_crash(tmp_path, small_set):
    m = evaluate_predictions(small_set, {}, out_dir=tmp_path, n_resamples=20)
    assert m["coco"]["all"]["map50"].value == 0.0 and m["coco"]["all"]["reason"] == "no predictions"
    assert all(e.value == 0.0 for e in m["froc"]["all"]["sensitivity"])
    assert m["film_level"]["roc_auc"].value == 0.5  # every film ties at the floor score
    assert (tmp_path / "froc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty_arrays = {f.film_id: pred(np.zeros((0, 4)), np.zeros(0)) for f in small_set}
    assert evaluate_predictions(small_set, empty_arrays, n_resamples=0)["counts"]["predictions"] == 0


def test_no_ground_truth_lesions_gives_nan_with_reason(tmp_path):
    films = [film("n1", "p1"), film("n2", "p2")]
    m = evaluate_predictions(films, {"n1": pred([centred_box(50, 50, 10)], [0.5])}, out_dir=tmp_path, n_resamples=10)
    assert math.isnan(m["coco"]["all"]["map50"].value) and "no located" in m["coco"]["all"]["reason"]
    assert m["froc"]["all"]["n_lesions"] == 0 and math.isnan(m["froc"]["all"]["sensitivity"][3].value)
    assert math.isnan(m["film_level"]["roc_auc"].value)
    on_disk = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert on_disk["coco"]["all"]["map50"]["value"] is None and on_disk["film_level"]["roc_auc"]["value"] is None
    assert "n/a" in metrics_markdown(m)


def test_coco_calc_subset_is_undefined_when_there_are_no_calcifications():
    films = [film("a", "p1", [circle(60, 60, 15)])]
    res = evaluate_coco(films, {"a": pred([centred_box(60, 60, 10)], [0.5])}, subset="calc")
    assert np.isnan(res.map50) and res.n_gt == 0 and res.reason


# ---------------------------------------------------------------- COCO mAP


def test_subset_map_keeps_all_predictions_as_computed_by_hand():
    mass, calc = circle(60, 60, 15, "CIRC"), circle(180, 180, 8, "CALC")
    films = [film("a", "p1", [mass, calc])]
    preds = {"a": pred([mass.xyxy, calc.xyxy], [0.5, 0.9])}
    assert evaluate_coco(films, preds, "all").map50 == pytest.approx(1.0)
    assert evaluate_coco(films, preds, "calc").map50 == pytest.approx(1.0)
    # Masses: the calc box (0.9) is a false positive ranked first, then the mass: precision 1/2
    # at every recall level.
    assert evaluate_coco(films, preds, "mass").map50 == pytest.approx(0.5)


def random_case(n_patients=20, seed=3):
    rng = np.random.default_rng(seed)
    films, preds = [], {}
    for p in range(n_patients):
        for side in range(2):
            fid = f"f{p}_{side}"
            lesions = []
            if rng.random() < 0.5:
                cx, cy, r = rng.integers(30, 220), rng.integers(30, 220), rng.integers(5, 25)
                lesions.append(circle(cx, cy, r, "CALC" if rng.random() < 0.3 else "CIRC"))
            films.append(film(fid, f"p{p}", lesions))
            boxes, scores = [], []
            for les in lesions:
                if rng.random() < 0.7:
                    jitter = rng.normal(0, 3, 4)
                    boxes.append(np.asarray(les.xyxy) + jitter)
                    scores.append(rng.uniform(0.3, 1.0))
            for _ in range(rng.integers(0, 4)):
                x, y = rng.uniform(20, 230, 2)
                boxes.append(centred_box(x, y, rng.uniform(5, 20)))
                scores.append(rng.uniform(0.0, 0.8))
            if boxes:
                preds[fid] = pred(boxes, scores)
    return films, preds


def test_resampled_ap_reproduces_pycocotools_and_is_quiet(capsys):
    films, preds = random_case()
    res = evaluate_coco(films, preds, "all")
    assert capsys.readouterr().out == ""
    assert 0 < res.map50 < 1
    ap50, ap5095 = ap_on_films(res, range(len(films)))
    assert ap50 == pytest.approx(res.map50, abs=1e-12) and ap5095 == pytest.approx(res.map50_95, abs=1e-12)
    # Duplicating every film leaves AP unchanged (precision and recall scale together).
    twice = np.concatenate([np.arange(len(films))] * 2)
    assert ap_on_films(res, twice)[0] == pytest.approx(res.map50, abs=1e-9)
    rc, pr = pr_curve(res)
    assert rc.size and np.all(np.diff(rc) >= 0) and rc.max() <= 1.0 and 0 <= pr.min() <= pr.max() <= 1.0
    evaluate_coco(films, preds, "all", verbose=True)
    assert "Average Precision" in capsys.readouterr().out


# ---------------------------------------------------------------- film level + bootstrap


def test_film_level_auc_by_hand():
    films = [film("a1", "p1", [circle(60, 60, 15)]), film("a2", "p2", [circle(60, 60, 15)]),
             film("n1", "p3"), film("n2", "p4")]
    preds = {"a1": pred([centred_box(10, 10, 5)], [0.9]), "a2": pred([centred_box(60, 60, 5)], [0.4]),
             "n1": pred([centred_box(10, 10, 5)], [0.8])}
    scores = film_level_scores(match_predictions(films, preds))
    assert scores.tolist() == [0.9, 0.4, 0.8, pytest.approx(-0.6)]
    # pairs (abnormal, normal): (.9,.8) 1, (.9,floor) 1, (.4,.8) 0, (.4,floor) 1 -> 3/4
    assert roc_auc(np.array([1, 1, 0, 0]), scores) == pytest.approx(0.75)
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y, s = rng.random(50) < 0.4, np.round(rng.random(50), 1)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_bootstrap_ci_brackets_every_value():
    films, preds = random_case(n_patients=24, seed=5)
    m = evaluate_predictions(films, preds, n_resamples=200, seed=0)
    figures = [m["froc"]["all"]["mean_sensitivity"], m["coco"]["all"]["map50"], m["coco"]["all"]["map50_95"],
               m["film_level"]["roc_auc"], *m["froc"]["all"]["sensitivity"]]
    for est in figures:
        assert isinstance(est, Estimate)
        assert est.ci_low <= est.value <= est.ci_high, est
        assert est.n_patients == 24
    for est in figures[:4]:
        assert est.ci_low < est.ci_high  # real spread on a noisy case
    again = evaluate_predictions(films, preds, n_resamples=200, seed=0)
    assert again["froc"]["all"]["mean_sensitivity"] == m["froc"]["all"]["mean_sensitivity"]


# ---------------------------------------------------------------- outputs and errors


def test_outputs_written_and_markdown_states_everything(tmp_path):
    films, preds = random_case(n_patients=8, seed=7)
    m = evaluate_predictions(films, preds, out_dir=tmp_path, n_resamples=30, split_name="val",
                             hit_rule="iou", iou_threshold=0.25)
    on_disk = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert on_disk == json.loads(json.dumps(finite_json(m)))
    assert on_disk["froc"]["all"]["mean_sensitivity"] == m["froc"]["all"]["mean_sensitivity"].to_json()
    assert on_disk["split"] == "val" and on_disk["hit_rule"]["iou_threshold"] == 0.25
    for name in ("froc.png", "pr.png"):
        assert (tmp_path / name).stat().st_size > 5000
    md = (tmp_path / "metrics.md").read_text()
    assert md == metrics_markdown(m)
    assert "split `val`" in md and "**iou**" in md and "IoU with the lesion box is >= 0.25" in md
    assert f"from {m['counts']['patients']} patients" in md
    assert md.count("Sensitivity @") == 7 and "mAP@0.5:0.95" in md
    est = m["froc"]["all"]["mean_sensitivity"]
    assert f"{est.value:.3f} [{est.ci_low:.3f}, {est.ci_high:.3f}]" in md
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize(
    "kwargs, preds, match",
    [
        ({"hit_rule": "centre"}, {}, "did you mean 'center'"),
        ({"iou_threshold": 0.0}, {}, "iou_threshold"),
        ({"max_dets": 0}, {}, "max_dets"),
        ({"n_resamples": -1}, {}, "n_resamples"),
        ({}, {"nope": Pred(np.zeros((1, 4)), np.ones(1))}, "not in the ground truth"),
        ({}, {"a": Pred(np.zeros((2, 3)), np.ones(2))}, r"shape \(N, 4\)"),
        ({}, {"a": Pred(np.zeros((2, 4)), np.ones(3))}, r"scores must have shape \(2,\)"),
        ({}, {"a": Pred(np.full((1, 4), np.nan), np.ones(1))}, "finite"),
    ],
)
def test_bad_input_raises_input_error(kwargs, preds, match):
    films = [film("a", "p1", [circle(60, 60, 15)])]
    with pytest.raises(InputError, match=match):
        evaluate_predictions(films, preds, **{"n_resamples": 0, **kwargs})


def test_duplicate_film_ids_raise():
    with pytest.raises(InputError, match="unique"):
        evaluate_predictions([film("a", "p1"), film("a", "p2")], {}, n_resamples=0)


def test_detector_comparisons_are_paired_per_patient(small_set):
    bench = load_benchmark_script("detector_compare")

    def events(preds):
        return {"_events": FrocEvents(match_predictions(small_set, preds, "center", 0.3))}

    perfect = events(perfect_predictions(small_set))
    # the second condition finds only patient p1's lesion (1 of 5)
    only_f1 = events({"f1": perfect_predictions(small_set)["f1"]})
    d = bench.paired_differences(small_set, perfect, only_f1, n_boot=200, seed=0)
    assert d["sensitivity_at_1fp"].value == pytest.approx(1 / 5 - 1)
    lo, hi = d["sensitivity_at_1fp"].ci_low, d["sensitivity_at_1fp"].ci_high
    assert lo <= -0.8 + 1e-9 and hi < 0 and d["sensitivity_at_1fp"].n_patients == 4
    same = bench.paired_differences(small_set, perfect, perfect, n_boot=50, seed=0)
    assert same["mean_froc_sensitivity"] == Estimate(0.0, 0.0, 0.0, 4)


def test_compare_detectors_benchmark_pairs_two_weights_on_the_sample_films(tmp_path):
    """The shipped weights against themselves and against a copy predicting at 512 px: figures, B - A, JSON."""
    import shutil
    from pathlib import Path

    from benchmark_scripts import load_benchmark_script
    from typer.testing import CliRunner

    from detector.api import default_weights_path

    root = Path(__file__).resolve().parents[1]
    bench = load_benchmark_script("compare_detectors")
    shipped = default_weights_path()
    other = tmp_path / "at512.safetensors"
    shutil.copy(shipped, other)
    meta = json.loads(shipped.with_suffix(".json").read_text())
    other.with_suffix(".json").write_text(json.dumps({**meta, "imgsz": 512}))
    runner = CliRunner()
    args = ["--mias-dir", str(root / "data" / "sample"), "--n-bootstrap", "30"]
    res = runner.invoke(bench.app, ["--weights-a", str(shipped), "--weights-b", str(shipped),
                                    "--out", str(tmp_path / "same.json"), *args])
    assert res.exit_code == 0, res.output
    same = json.loads((tmp_path / "same.json").read_text())
    assert same["films"] == 6 and same["lesions"] >= 1
    assert same["b_minus_a"]["mean_froc_sensitivity"]["value"] == 0.0
    assert same["b_minus_a"]["mean_froc_sensitivity"]["ci95"] == [0.0, 0.0]
    res = runner.invoke(bench.app, ["--weights-a", str(shipped), "--weights-b", str(other),
                                    "--out", str(tmp_path / "sizes.json"), *args])
    assert res.exit_code == 0, res.output
    sizes = json.loads((tmp_path / "sizes.json").read_text())
    d = sizes["b_minus_a"]["mean_froc_sensitivity"]
    assert d["value"] == pytest.approx(sizes["b"]["mean_froc_sensitivity"]["value"]
                                       - sizes["a"]["mean_froc_sensitivity"]["value"])
    assert d["ci95"][0] <= d["value"] <= d["ci95"][1]
    res = runner.invoke(bench.app, ["--weights-a", str(shipped), "--weights-b", str(other), "--split", "val",
                                    "--out", str(tmp_path / "bad.json"), *args])
    assert res.exit_code == 2 and not (tmp_path / "bad.json").exists()
    res = runner.invoke(bench.app, ["--weights-a", str(shipped), "--weights-b", str(tmp_path / "missing.safetensors"),
                                    "--out", str(tmp_path / "bad.json"), *args])
    assert res.exit_code == 2 and not (tmp_path / "bad.json").exists()
