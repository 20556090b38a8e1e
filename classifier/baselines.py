"""Baselines beside the CNN: an intensity shortcut and GLCM/Haralick texture + shape features.

* :func:`shortcut_score`: mean of the central disc (radius S/4) minus the crop mean. A
  lesion-centred crop is brighter in the middle; this one number already separates lesion
  crops from normal tissue, so a CNN's normal-vs-abnormal AUC means something only by its
  margin over it.
* :func:`texture_features`: grey-level co-occurrence (Haralick) properties averaged over 4
  angles at distances 1, 2, 4 px (contrast, dissimilarity, homogeneity, energy,
  correlation, ASM), plus intensity statistics, centre-minus-surround contrast and the
  crop's side on the film (lesion size), fed to a standardised logistic regression.
* Fused: the CNN's ``forward_features`` concatenated with the texture features, same model.
"""

from __future__ import annotations

import numpy as np


def _disc(size: int, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2
    return (yy - c) ** 2 + (xx - c) ** 2 <= radius**2


def shortcut_score(images_u8: np.ndarray) -> np.ndarray:
    """``(N,)`` centre brightness minus crop mean (grey levels)."""
    imgs = np.asarray(images_u8, np.float64)
    if imgs.size == 0:
        return np.zeros(0)
    disc = _disc(imgs.shape[-1], imgs.shape[-1] / 4)
    return imgs[:, disc].mean(1) - imgs.reshape(len(imgs), -1).mean(1)


def texture_features(images_u8: np.ndarray, side_px: np.ndarray) -> np.ndarray:
    """``(N, F)`` GLCM + intensity + contrast + size features of crops."""
    from skimage.feature import graycomatrix, graycoprops

    props = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")
    n = len(images_u8)
    size = images_u8.shape[-1] if n else 48
    disc = _disc(size, size / 4)
    rows = []
    for img, side in zip(images_u8, side_px):
        q = (img // 8).astype(np.uint8)  # 32 grey levels
        glcm = graycomatrix(q, distances=[1, 2, 4], angles=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=32,
                            symmetric=True, normed=True)
        feats = [np.nan_to_num(graycoprops(glcm, p)).mean(axis=1) for p in props]  # per distance
        f = img.astype(np.float64)
        centre, ring = f[disc].mean(), f[~disc].mean()
        stats = [f.mean(), f.std(), centre - ring, centre - f.mean(), np.log(max(float(side), 1.0))]
        rows.append(np.concatenate([np.concatenate(feats), stats]))
    return np.asarray(rows, np.float64).reshape(n, -1)


def fit_logistic(features: np.ndarray, labels: np.ndarray, seed: int = 0, c: float = 1.0):
    """Standardised multinomial logistic regression with balanced class weights."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed))
    clf.fit(features, labels)
    return clf


def proba_all_classes(clf, features: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` expanded to all ``n_classes`` columns (a class absent in training gets 0)."""
    p = clf.predict_proba(features)
    out = np.zeros((len(features), n_classes))
    out[:, clf.classes_] = p
    return out
