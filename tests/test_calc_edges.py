"""Calcification candidates at straight edges and at the image border (seeded phantoms)."""

from __future__ import annotations

import numpy as np

from detector.calc_clusters import SEED_FEATURES, seed_features
from detector.calc_train import load_calc_detector
from detector.specks import SpeckConfig, find_specks
from phantoms import add_specks, tissue_phantom


def test_no_candidate_near_the_image_border_where_the_breast_runs_off_the_film():
    img = add_specks(tissue_phantom(256, 0), [(128, 4), (128, 128)], amplitude=30)
    breast = np.ones(img.shape, bool)  # the breast touches all four borders
    specks = find_specks(img, breast, SpeckConfig(mask_erode_px=15))
    assert len(specks) and specks.xy.min() >= 15 and specks.xy.max() <= 255 - 15
    near_centre = np.hypot(*(specks.xy - 128).T).min()
    assert near_centre <= 1.5  # the speck inside is kept


def _step_edge_film(seed: int) -> np.ndarray:
    img = tissue_phantom(256, seed).astype(np.float64)
    img[:100] -= 40  # a film-wide straight step edge at row 100 (a digitisation boundary)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_step_edge_candidates_carry_a_large_edge_ratio_and_line_up():
    img = add_specks(_step_edge_film(1), [(60, 190), (68, 196), (64, 184), (56, 194)], amplitude=30)
    specks = find_specks(img, None, SpeckConfig(mask_erode_px=0))
    on_edge = np.abs(specks.xy[:, 1] - 100) <= 2
    in_cluster = np.hypot(specks.xy[:, 0] - 62, specks.xy[:, 1] - 190) <= 10
    assert on_edge.sum() >= 5 and in_cluster.sum() >= 4
    edge = specks.feature("edge")
    assert np.median(edge[on_edge]) > 2 * np.median(edge[in_cluster])
    seeds, feats = seed_features(specks)
    line = feats[:, SEED_FEATURES.index("line_r25")]
    seed_on_edge = on_edge[seeds]
    seed_in_cluster = in_cluster[seeds]
    assert seed_on_edge.any() and seed_in_cluster.any()
    assert np.median(line[seed_on_edge]) < 0.1 < np.median(line[seed_in_cluster])


def test_shipped_scorer_ranks_a_cluster_above_a_straight_edge():
    img = add_specks(_step_edge_film(2), [(60, 190), (68, 196), (64, 184), (56, 194), (62, 200)], amplitude=30)
    clusters, _ = load_calc_detector().detect(img, np.ones(img.shape, bool))
    assert clusters, "the cluster was not found"
    best = clusters[0]
    assert best.xyxy[1] > 150, f"best cluster {best.xyxy} is not the inserted one"
    on_edge = [c.score for c in clusters if c.xyxy[1] <= 102 <= c.xyxy[3] + 4]
    assert all(s < best.score for s in on_edge)
