"""Predict on crops and write an evaluation folder: metrics.json, table.md, confusion.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from classifier.baselines import shortcut_score
from classifier.data import Crops
from classifier.metrics import classification_report, confusion_png, markdown_report
from classifier.train import images_to_tensor
from converters.atomic import write_json_atomic, write_text_atomic


@torch.no_grad()
def predict(model, images_u8: np.ndarray, batch_size: int = 256, features: bool = False):
    """Softmax probabilities ``(N, C)`` (and ``forward_features`` rows if ``features``)."""
    model.eval()
    probs, feats = [], []
    for i in range(0, len(images_u8), batch_size):
        x = images_to_tensor(images_u8[i : i + batch_size])
        f = model.forward_features(x)
        probs.append(torch.softmax(model.forward_head(f), dim=1).numpy())
        if features:
            feats.append(f.numpy())
    n_cls = model.num_classes
    p = np.concatenate(probs) if probs else np.zeros((0, n_cls), np.float32)
    if features:
        return p, (np.concatenate(feats) if feats else np.zeros((0, model.num_features), np.float32))
    return p


def shortcut_truths(crops: Crops) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The intensity-shortcut scorer on the same crops (normal vs abnormal, benign vs malignant)."""
    s = shortcut_score(crops.images)
    out = {}
    if crops.class_names == ("normal", "benign", "malignant"):
        out["shortcut_normal_vs_abnormal"] = ((crops.labels > 0).astype(int), s)
        out["shortcut_benign_vs_malignant"] = (np.where(crops.labels > 0, (crops.labels == 2).astype(int), -1), s)
    else:
        out["shortcut_benign_vs_malignant"] = ((crops.labels == 1).astype(int), s)
    return out


def evaluate_probs(probs, crops: Crops, out_dir: Path, title: str, leaky: bool, n_bootstrap: int = 1000,
                   seed: int = 0, extra: dict | None = None, extra_scores: dict | None = None) -> dict:
    """Write ``metrics.json``, ``table.md`` and ``confusion.png`` for predictions on ``crops``."""
    scores = shortcut_truths(crops)
    scores.update(extra_scores or {})
    report = classification_report(probs, crops.labels, crops.patient_ids, crops.class_names,
                                   n_bootstrap=n_bootstrap, seed=seed, extra_scores=scores)
    report["title"] = title
    report["leaky"] = bool(leaky)
    report["ci_method"] = f"bootstrap over patients, {n_bootstrap} resamples, seed {seed}"
    report.update(extra or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "metrics.json", report)
    write_text_atomic(out_dir / "table.md", markdown_report(report, title, leaky))
    confusion_png(report, out_dir / "confusion.png", title + (" (LEAKY)" if leaky else ""))
    return report
