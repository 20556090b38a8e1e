"""Two detector conditions on the SAME films, with paired differences over patients.

A validation figure that moves by less than its noise decides nothing: this scores each
condition (a weights file, or one detector with another setting) on one list of films,
keeps the FROC events, and bootstraps ``b - a`` with the same resampled patients for both,
so the CI of the difference is much narrower than the two CIs side by side.

Used by ``benchmarks/compare_detectors.py`` (two weights files) and
``benchmarks/cbis_stretch_detector.py`` (one detector, two preprocessings).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np


def set_x_scale(detector, x_scale: float) -> None:
    """Predict with ``detector``'s preprocessing at another width factor (``PreprocessConfig.x_scale``).

    E.g. 0.625 restores CBIS-DDSM's aspect. Raises ValueError for a nonsense factor.
    """
    detector.preprocess_config = dataclasses.replace(detector.preprocess_config, x_scale=x_scale)


def score_condition(detector, films, images_dir: Path, n_boot: int, seed: int, split: str) -> dict:
    """Predict every film with ``detector``: headline detection figures plus the FROC events for pairing."""
    from evaluation.detection import evaluate_predictions
    from detector.evaluate import predict_films
    from evaluation.froc import FrocEvents, match_predictions

    predictions, seconds = predict_films(detector, films, images_dir)
    m = evaluate_predictions(films, predictions, n_resamples=n_boot, seed=seed, split_name=split)
    at1 = list(m["froc"]["all"]["fp_per_film"]).index(1.0)
    return {
        "sensitivity_at_1fp": m["froc"]["all"]["sensitivity"][at1],
        "mean_froc_sensitivity": m["froc"]["all"]["mean_sensitivity"],
        "map50": m["coco"]["all"]["map50"],
        "film_auc": m["film_level"]["roc_auc"],
        "median_predict_s": float(np.median(seconds)),
        "_events": FrocEvents(match_predictions(films, predictions, "center", 0.3)),
    }


def paired_differences(films, a: dict, b: dict, n_boot: int, seed: int) -> dict:
    """``b - a`` for sensitivity at 1 FP/film and mean FROC sensitivity (Estimates), same patient resamples."""
    from evaluation.bootstrap import bootstrap_over_patients
    from evaluation.froc import FP_RATES_PER_FILM

    pids = [f.patient_id for f in films]
    at1 = list(FP_RATES_PER_FILM).index(1.0)

    def sens(ev, idx):
        return ev.sensitivity_at(FP_RATES_PER_FILM, np.bincount(idx, minlength=len(films)).astype(float))

    out = {}
    for name, pick in (("sensitivity_at_1fp", lambda s: s[at1]), ("mean_froc_sensitivity", np.mean)):
        out[name] = bootstrap_over_patients(
            pids, lambda idx: float(pick(sens(b["_events"], idx)) - pick(sens(a["_events"], idx))), n_boot, seed)
    return out


def public(condition: dict) -> dict:
    """A condition without its private entries (FROC events), for JSON."""
    return {k: v for k, v in condition.items() if not k.startswith("_")}

