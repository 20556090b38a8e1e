"""Real mini-MIAS (skipped unless MIAS_DIR is set): crop counts and the shortcut's signal."""

import os

import pytest

from classifier.baselines import shortcut_score
from classifier.config import ClassifierConfig
from classifier.data import FilmCache, cut_crops, lesion_sides
from evaluation.roc import roc_auc as auc
from converters.mias import load_mias

MIAS_DIR = os.environ.get("MIAS_DIR")


@pytest.mark.skipif(not MIAS_DIR, reason="set MIAS_DIR to the mini-MIAS folder")
def test_real_crops_counts_and_lesions_brighter_than_normals():
    films = load_mias(MIAS_DIR).films[:60]
    counts: dict = {}
    crops = cut_crops(films, FilmCache(MIAS_DIR), ClassifierConfig(), lesion_sides(films), counts)
    n_lesions = sum(1 for f in films for l in f.lesions if l.severity and l.radius_px)
    assert counts["lesions_kept"] + counts["lesions_dropped_background"] == n_lesions
    assert counts["lesions_kept"] >= 0.8 * n_lesions
    assert crops.images.shape[1:] == (48, 48)
    assert (crops.kinds == "normal").sum() == counts["normal_crops"] > 0
    a = auc(crops.labels > 0, shortcut_score(crops.images))
    assert a > 0.6  # lesion-centred crops are brighter in the middle than random tissue
