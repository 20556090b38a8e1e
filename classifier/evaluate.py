"""Predict on crops and write an evaluation folder: metrics.json, table.md, confusion.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from classifier.baselines import shortcut_score
from classifier.data import Crops
from evaluation.classification import classification_report, confusion_png, markdown_report
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


def evaluate_films(weights: Path, labelled, out_dir: Path, splits: Path | None, split: str,
                   all_films: bool, n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Cut the films' crops with the weights' own crop settings, predict, write the report.

    Normal crops take their sides from the training lesions' pool stored in the weights'
    JSON (or the fixed size the weights were trained with). ``labelled``: a
    :class:`converters.labelled.LabelledSet` (a mini-MIAS folder or a COCO set).
    """
    from classifier.config import ClassifierConfig
    from classifier.data import FilmCache, cut_crops
    from classifier.grade import load_model
    from converters.splits import load_splits, select_split

    model, meta = load_model(weights)
    films = list(labelled.films)
    if not all_films:
        films = select_split(films, load_splits(splits), split)
    cfg = ClassifierConfig(arch=meta["arch"], input_px=int(meta["input_px"]), subset=meta.get("subset", "all"),
                           seed=seed, max_background_frac=float(meta.get("max_background_frac", 0.5)),
                           normal_size=meta.get("normal_size", "lesion"),
                           normal_fixed_px=int(meta.get("normal_fixed_px", 48)),
                           normals_per_normal_film=int(meta.get("normals_per_normal_film", 2)))
    if tuple(meta["class_names"]) != cfg.class_names:
        from converters.errors import InputError

        raise InputError(f"class names {meta['class_names']} do not match subset {cfg.subset!r}", meta_path(weights))
    pool = np.asarray(meta.get("normal_side_pool_px") or [48.0], float)
    counts: dict = {}
    crops = cut_crops(films, FilmCache(labelled.root), cfg, pool, counts)
    probs = predict(model, crops.images)
    where = "all films" if all_films else f"split {split} of {splits}"
    return evaluate_probs(probs, crops, Path(out_dir), f"{meta['arch']} ({Path(weights).name}) on {where}",
                          bool(meta.get("leaky", False)), n_bootstrap, seed,
                          extra={"weights": str(weights), "labelled": labelled.where, "split": "all" if all_films else split,
                                 "cut": counts, "trained_protocol": meta.get("protocol")})


def meta_path(weights: Path) -> Path:
    from classifier.grade import meta_path_for

    return meta_path_for(Path(weights))
