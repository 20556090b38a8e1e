"""Binary ROC figures shared by every evaluation: AUC, the Youden point, sensitivity and specificity."""

from __future__ import annotations

import numpy as np


def roc_auc(labels, scores) -> float:
    """ROC AUC (Mann-Whitney, ties count half); ``nan`` when one class is missing."""
    labels = np.asarray(labels).astype(bool).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def youden_threshold(labels, scores) -> float:
    """Score threshold maximising sensitivity + specificity - 1 (ties: the higher threshold)."""
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels)
    if labels.size == 0 or labels.min() == labels.max():
        return float("nan")
    fpr, tpr, thr = roc_curve(labels, scores)
    j = tpr - fpr
    best = np.flatnonzero(j == j.max())[0]
    return float(min(thr[best], 1.0))


def sens_spec(labels, scores, threshold) -> tuple[float, float]:
    """Sensitivity and specificity of ``scores >= threshold`` (``nan`` where a class is missing)."""
    labels = np.asarray(labels, bool)
    pred = np.asarray(scores) >= threshold
    sens = float(pred[labels].mean()) if labels.any() else float("nan")
    spec = float((~pred[~labels]).mean()) if (~labels).any() else float("nan")
    return sens, spec
