"""Calcification specks and clusters on seeded synthetic phantoms, and the model file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converters.errors import InputError
from detector.calc_clusters import SEED_FEATURES, CalcDetector, ClusterConfig, LogisticScorer, group_clusters, seed_features
from detector.calc_synth import SynthConfig, insert_cluster
from detector.calc_train import load_calc_detector, save_calc_detector
from detector.specks import SpeckConfig, find_specks
from phantoms import add_specks, tissue_phantom


def _always(score: float) -> LogisticScorer:
    """A scorer that gives every seed ``score`` (zero weights, chosen intercept)."""
    n = len(SEED_FEATURES)
    return LogisticScorer(SEED_FEATURES, np.zeros(n), np.ones(n), np.zeros(n), float(np.log(score / (1 - score))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_specks_at_known_positions_are_recalled(seed):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(40, 472, size=(12, 2))
    truth = truth[np.all(np.hypot(*(truth[:, None] - truth[None]).transpose(2, 0, 1)) + np.eye(len(truth)) * 99 > 8, axis=1)]
    img = add_specks(tissue_phantom(512, seed), truth, amplitude=25, sigma_px=1.0)
    specks = find_specks(img, np.ones(img.shape, bool), SpeckConfig(mask_erode_px=0))
    strong = specks.subset(specks.feature("z") >= 3.0)
    d = np.hypot(*(truth[:, None] - strong.xy[None]).transpose(2, 0, 1))
    recalled = (d.min(axis=1) <= 1.5).mean()
    assert recalled == 1.0, f"only {recalled:.2f} of the specks recalled"
    # and they are the strongest candidates: the noise gives no speck as strong as the weakest real one
    z_true = strong.feature("z")[d.argmin(axis=1)]
    others = np.delete(strong.feature("z"), d.argmin(axis=1))
    assert (others < z_true.min()).mean() > 0.95


def test_speck_filter_prefers_round_specks_to_lines():
    img = tissue_phantom(256, 5)
    img = add_specks(img, [(60, 60)], amplitude=25)
    line = img.astype(np.float64)
    line[150, 30:220] += 25  # a one-pixel 'vessel'
    specks = find_specks(np.clip(line, 0, 255).astype(np.uint8), None, SpeckConfig(mask_erode_px=0))
    dot = np.argmin(np.hypot(specks.xy[:, 0] - 60, specks.xy[:, 1] - 60))
    on_line = np.abs(specks.xy[:, 1] - 150) <= 1
    assert on_line.any()
    assert specks.feature("blob")[dot] > 0.6 > np.median(specks.feature("blob")[on_line])


def test_clusters_are_grouped_by_the_clinical_rule():
    img = tissue_phantom(512, 3)
    a = [(100, 100), (108, 104), (104, 112), (96, 108), (112, 96)]
    b = [(380, 360), (386, 370), (374, 372), (390, 362)]
    lone = [(100, 400), (300, 120), (450, 60)]
    img = add_specks(img, a + b + lone, amplitude=30)
    specks = find_specks(img, None, SpeckConfig(mask_erode_px=0))
    specks = specks.subset(specks.feature("z") >= 3.0)
    cfg = ClusterConfig(seed_z_min=3.0, member_z_min=3.0)
    seeds, _ = seed_features(specks, cfg)
    clusters = group_clusters(specks, seeds, np.full(len(seeds), 0.9), cfg)
    assert len(clusters) == 2
    for cl, pts in zip(sorted(clusters, key=lambda c: c.center_xy[0]), (a, b)):
        assert cl.n_specks == len(pts)
        x1, y1, x2, y2 = cl.xyxy
        assert all(x1 <= x < x2 and y1 <= y < y2 for x, y in pts)


@pytest.mark.parametrize("seed", range(4))
def test_noise_only_phantoms_give_no_cluster(seed):
    det = load_calc_detector()
    img = tissue_phantom(512, 10 + seed)
    clusters, _ = det.detect(img, np.ones(img.shape, bool))
    assert [c for c in clusters if c.score >= 0.5] == []


@pytest.mark.parametrize("seed", range(3))
def test_simulated_cluster_is_found_where_it_was_inserted(seed):
    det = load_calc_detector()
    rng = np.random.default_rng(seed)
    img, truth = insert_cluster(tissue_phantom(512, 20 + seed), (256, 256), rng, SynthConfig(n_specks=(6, 10), amplitude=(25, 40)))
    clusters, _ = det.detect(img, np.ones(img.shape, bool))
    assert clusters and clusters[0].score >= 0.5
    cx, cy = clusters[0].center_xy
    assert np.hypot(cx - 256, cy - 256) <= truth.radius_px


def test_insert_cluster_is_seeded_and_local():
    base = tissue_phantom(256, 1)
    a, ca = insert_cluster(base, (128, 128), np.random.default_rng(7))
    b, cb = insert_cluster(base, (128, 128), np.random.default_rng(7))
    assert np.array_equal(a, b) and np.array_equal(ca.specks_xy, cb.specks_xy)
    changed = np.argwhere(a != base)
    assert np.hypot(changed[:, 1] - 128, changed[:, 0] - 128).max() <= ca.radius_px + 8


def test_calc_model_round_trip_and_bad_files(tmp_path):
    det = CalcDetector(_always(0.7), SpeckConfig(z_min=2.0), ClusterConfig(link_px=20.0))
    path = save_calc_detector(tmp_path / "calc.json", det, {"trained_on": "phantoms"})
    back = load_calc_detector(path)
    assert back.speck_config == det.speck_config and back.cluster_config == det.cluster_config
    x = np.random.default_rng(0).normal(size=(5, len(SEED_FEATURES)))
    assert np.allclose(back.scorer.predict(x), 0.7)
    doc = json.loads(path.read_text())
    doc["scorer"]["coef"] = doc["scorer"]["coef"][:-1]
    (tmp_path / "short.json").write_text(json.dumps(doc))
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    (tmp_path / "broken.json").write_text("{not json")
    for name in ("short.json", "other.json", "broken.json", "missing.json"):
        with pytest.raises(InputError) as err:
            load_calc_detector(tmp_path / name)
        assert name in str(err.value)


def test_shipped_calc_model_loads_and_is_plain_json():
    from detector.calc_train import shipped_calc_path

    doc = json.loads(shipped_calc_path().read_text())
    assert doc["format"] == "mammoscreen-calc-clusters"
    assert "/work" not in shipped_calc_path().read_text() and "/home" not in shipped_calc_path().read_text()
    det = load_calc_detector()
    assert det.scorer.feature_names == SEED_FEATURES
