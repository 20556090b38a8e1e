"""``mammo detector evaluate``: predict every selected film, then score it.

Films come from a MIAS folder (all of them with ``--all``, or one split of a
``splits.json``); predictions are made with ONE loaded :class:`detector.api.Detector` and
scored by :func:`evaluation.detection.evaluate_predictions` (COCO mAP, FROC, film
AUC, bootstrap CIs over patients). Writes ``OUT/predictions.json``, ``OUT/timing.json`` and
the metric files (``metrics.json``, ``metrics.md``, ``froc.png``, ``pr.png``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic
from converters.images import read_gray8
from converters.splits import load_splits, select_split
from evaluation.bootstrap import format_estimate


def predict_films(detector, films, root: Path, progress: bool = True) -> tuple[dict, list[float]]:
    """``film_id -> Detections`` for every film, and the per-film prediction seconds (read excluded)."""
    from tqdm import tqdm

    predictions, seconds = {}, []
    for film in tqdm(films, desc="predict", unit="film", disable=not progress):
        image = read_gray8(Path(root) / film.image_path, expected_wh=(film.width, film.height))
        t0 = time.perf_counter()
        predictions[film.film_id] = detector.predict(image)
        seconds.append(time.perf_counter() - t0)
    return predictions, seconds


def summary_lines(metrics: dict, timing: dict) -> list[str]:
    """Human summary of :func:`evaluate_predictions`' dict: the headline figures with 95% CIs."""
    c = metrics["counts"]
    at1 = list(metrics["froc"]["all"]["fp_per_film"]).index(1.0)
    lines = [f"split {metrics['split']}: {c['films']} films, {c['patients']} patients, {c['lesions']} located lesions; "
             f"hit rule {metrics['hit_rule']['name']}; 95% CI bootstrap over patients"]
    for subset in ("all", "mass", "calc"):
        f = metrics["froc"][subset]
        lines.append(f"{subset} (n={f['n_lesions']}): mAP50 {format_estimate(metrics['coco'][subset]['map50'])}, "
                     f"mAP50-95 {format_estimate(metrics['coco'][subset]['map50_95'])}, "
                     f"sensitivity@1FP/film {format_estimate(f['sensitivity'][at1])}, mean FROC sensitivity {format_estimate(f['mean_sensitivity'])}")
    lines.append(f"film-level AUC (max score) {format_estimate(metrics['film_level']['roc_auc'])}")
    lines.append(f"prediction: median {timing['median_s']:.3f} s per film ({timing['backend']}, {timing['films']} films)")
    return lines


def run_evaluate(labelled, out, weights=None, splits=None, split=None, hit_rule="center", n_boot=1000, seed=0,
                 progress: bool = True) -> list[str]:
    """Evaluate a detector on labelled films (a :class:`converters.labelled.LabelledSet`, or a
    mini-MIAS folder); writes the metric files and returns summary lines."""
    from converters.labelled import LabelledSet, load_labelled
    from detector.api import default_weights_path, load_detector
    from evaluation.detection import evaluate_predictions

    if not isinstance(labelled, LabelledSet):
        labelled = load_labelled(mias_dir=labelled)
    out = Path(out)
    films = list(labelled.films)
    if split is not None:
        films = select_split(films, load_splits(splits), split)
    detector = load_detector(weights)
    predictions, seconds = predict_films(detector, films, labelled.root, progress)
    split_name = split or "all"
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "predictions.json", {
        "split": split_name,
        "weights": Path(weights).name if weights else default_weights_path().name,
        "coordinates": "film pixels, top-left origin, xyxy, exclusive right/bottom edges",
        "films": {fid: d.to_json() for fid, d in predictions.items()},
    })
    timing = {"films": len(seconds), "median_s": float(np.median(seconds)), "mean_s": float(np.mean(seconds)),
              "max_s": float(np.max(seconds)), "backend": detector.backend,
              "note": "per film: preprocess + network + NMS + mapping back; image reading excluded"}
    write_json_atomic(out / "timing.json", timing)
    metrics = evaluate_predictions(films, predictions, out, hit_rule=hit_rule, n_resamples=n_boot, seed=seed,
                                   split_name=split_name)
    return summary_lines(metrics, timing) + [f"wrote {out}/metrics.json, metrics.md, froc.png, predictions.json, timing.json"]
