"""Metrics: AUC matches scikit-learn, Table I counts add up, CIs bracket the value."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from classifier.baselines import shortcut_score
from evaluation.bootstrap import Estimate
from evaluation.classification import classification_report, one_vs_rest
from evaluation.roc import roc_auc as auc


@pytest.mark.parametrize("seed", range(4))
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    s = rng.integers(0, 5, 60).astype(float)  # many ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert np.isnan(auc(np.ones(5), np.arange(5)))


def test_table1_counts_and_report():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    probs = rng.dirichlet([1, 1, 1], 200)
    probs[np.arange(200), y] += 0.6  # informative
    probs /= probs.sum(1, keepdims=True)
    pids = np.array([f"p{i // 4}" for i in range(200)])
    rep = classification_report(probs, y, pids, ("normal", "benign", "malignant"), n_bootstrap=100)
    for name, row in rep["table1"].items():
        assert row["TP"] + row["TN"] + row["FP"] + row["FN"] == 200
        e = row["sensitivity"]
        assert isinstance(e, Estimate) and e.ci_low <= e.value <= e.ci_high
    acc = rep["accuracy"]
    assert isinstance(acc, Estimate)
    assert acc.value == pytest.approx(float((probs.argmax(1) == y).mean()))
    assert acc.n_patients == 50
    assert rep["auc"]["normal_vs_abnormal"].value > 0.7
    assert one_vs_rest([0, 0, 1], [0, 1, 1], 1)["FP"] == 1


def test_shortcut_score_prefers_bright_centres():
    imgs = np.full((2, 48, 48), 50, np.uint8)
    imgs[0, 16:32, 16:32] = 200
    s = shortcut_score(imgs)
    assert s[0] > 50 and s[1] == pytest.approx(0)
