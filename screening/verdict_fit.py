"""Fit the calcification scorer and the film-level model on training patients.

``mammo calcifications train`` (:func:`train_calcifications`): seed rows of training films
and simulated clusters, patient cross-validation (out-of-fold clusters of every real
training film, figures with patient CIs), then the final scorer on all of them.

``mammo verdict fit`` (:func:`fit_verdict`): features of every training and validation
film (mass detector + grader, calcification clusters, the other breast). Training films
get their OUT-OF-FOLD clusters from the calcification run, so no film is scored by a
scorer that saw it. The film model is fitted on training patients, calibrated on its
out-of-fold predictions, and its verdict thresholds are chosen on validation patients.
Test patients are never read here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic
from evaluation.bootstrap import bootstrap_over_patients
from converters.errors import InputError
from converters.images import read_gray8
from converters.splits import load_splits


class _Pred:
    def __init__(self, clusters: list[dict]):
        self.xyxy = np.array([c["xyxy"] for c in clusters], dtype=np.float64).reshape(-1, 4)
        self.scores = np.array([c["score"] for c in clusters], dtype=np.float64)


def _films_of(mias_dir, splits, wanted: tuple[str, ...]):
    from converters.mias import load_mias

    films = load_mias(mias_dir).films
    film_split = load_splits(splits)
    missing = [f.film_id for f in films if f.film_id not in film_split]
    if missing:
        raise InputError(f"{len(missing)} films have no split (e.g. {missing[0]}); expected the splits.json of this folder", splits)
    return [f for f in films if film_split[f.film_id] in wanted], film_split


def calc_cv_figures(films, oof: dict[str, list[dict]], n_resamples: int, seed: int) -> dict:
    """Out-of-fold calcification figures on real films: cluster FROC (centre rule) and
    calcification films against normal films, each with a patient CI."""
    from evaluation.froc import FP_RATES_PER_FILM, evaluate_froc, match_predictions, roc_auc

    scored = [f for f in films if f.film_id in oof]
    preds = {f.film_id: _Pred(oof[f.film_id]) for f in scored}
    froc = evaluate_froc(scored, match_predictions(scored, preds, "center"), n_resamples=n_resamples, seed=seed)
    calc = froc["subsets"]["calc"]
    is_calc = np.array([any(les.is_calc for les in f.lesions) for f in scored])
    best = np.array([max((c["score"] for c in oof[f.film_id]), default=0.0) for f in scored])
    pids = [f.patient_id for f in scored]
    auc = bootstrap_over_patients(pids, lambda i: roc_auc(is_calc[i], best[i]), n_resamples, seed)
    return {
        "films": len(scored), "calcification_films": int(is_calc.sum()), "clusters_labelled": calc["n_lesions"],
        "fp_per_film": list(FP_RATES_PER_FILM),
        "cluster_sensitivity": list(calc["sensitivity"]),
        "cluster_mean_sensitivity": calc["mean_sensitivity"],
        "calc_films_vs_normal_auc": auc,
    }


def train_calcifications(mias_dir, splits, cfg, out: Path, n_resamples: int = 1000, progress: bool = True,
                         config_name: str | None = None) -> dict:
    from converters.config import save_config
    from detector.calc_clusters import CalcDetector
    from detector.calc_train import build_rows, cross_validate, fit_scorer, save_calc_detector

    t0 = time.perf_counter()
    films, _ = _films_of(mias_dir, splits, ("train",))
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    rows = build_rows(films, lambda f: read_gray8(Path(mias_dir) / f.image_path), cfg, progress)
    oof = cross_validate(rows, cfg)
    write_json_atomic(out / "oof_clusters.json", {"split": "train", "folds": cfg.folds, "films": oof})
    figures = calc_cv_figures(films, oof, n_resamples, cfg.seed)
    detector = CalcDetector(fit_scorer(rows, cfg), cfg.speck, cfg.cluster)
    minutes = (time.perf_counter() - t0) / 60
    meta = {"trained_on": f"mini-MIAS training patients of {Path(splits).name} ({len({f.patient_id for f in films})} patients) "
                          f"+ {cfg.synth_per_film} simulated clusters per normal training film",
            "command": f"mammo calcifications train --mias-dir $MIAS_DIR --splits {Path(splits).name} "
                       f"--config {config_name or 'defaults'} --seed {cfg.seed}", "minutes": round(minutes, 2),
            "cross_validation": {"protocol": f"{cfg.folds} patient folds of the training patients, out-of-fold", **figures}}
    save_calc_detector(out / "calc-clusters.json", detector, meta)
    write_json_atomic(out / "cv_metrics.json", figures)
    return {"figures": figures, "minutes": minutes, "weights": str(out / "calc-clusters.json")}


def film_feature_rows(films, mias_dir, screener, calc, oof: dict | None, progress: bool = True) -> list[dict]:
    """Film-model features of each film (pairs found among ``films``)."""
    from tqdm import tqdm

    from converters.preprocess import breast_mask
    from screening.bilateral import compare_breasts, pair_films
    from screening.film_model import film_features

    names = [f.image_path for f in films]
    partners = pair_films([str(n) for n in names])
    images = {}

    def image(i):
        if i not in images:
            images[i] = read_gray8(Path(mias_dir) / films[i].image_path)
        return images[i]

    seen = []  # per film: what film_features needs, before the other breast is known
    for i, film in enumerate(tqdm(films, desc="film features", unit="film", disable=not progress)):
        img = image(i)
        found = screener.detector.predict(img)
        keep = found.scores >= screener.config.report_min_score
        xyxy, scores = found.xyxy[keep][: screener.config.max_detections], found.scores[keep][: screener.config.max_detections]
        probs = screener.grader.grade(img, xyxy) if len(scores) else np.zeros((0, 3))
        if oof is not None and film.film_id in oof:
            clusters = oof[film.film_id]
            c_scores, c_specks = [c["score"] for c in clusters], [c["n_specks"] for c in clusters]
        else:
            cl, _ = calc.detect(img, breast_mask(img))
            c_scores, c_specks = [c.score for c in cl], [c.n_specks for c in cl]
        bil = compare_breasts(img, image(partners[i])).features if i in partners else None
        seen.append((scores, probs, np.array(c_scores), c_specks, bil))
        images.pop(i - 2, None)
    alone = [film_features(*s[:4], None) for s in seen]
    return [film_features(*s, alone[partners[i]] if i in partners else None) for i, s in enumerate(seen)]


def specificity_threshold(normal_scores, target_specificity: float) -> float:
    """The lowest threshold that keeps at least ``target_specificity`` of these normal films below it."""
    s = np.sort(np.asarray(normal_scores, dtype=np.float64))
    if s.size == 0:
        return float("nan")
    k = int(np.ceil(target_specificity * s.size))  # films allowed below the threshold
    # Scores are on the report's 5-decimal grid (FilmModel.scores rounds), so one step up
    # is the smallest threshold above a film.
    if k >= s.size:
        return round(float(s[-1]) + 1e-5, 5)
    return round(float(s[k - 1]) + 1e-5, 5) if k > 0 else float(s[0])


def fit_verdict(mias_dir, splits, calc_run: Path, out: Path, c: float = 0.1, folds: int = 5, seed: int = 0,
                target_specificity: float = 0.85,
                detector_weights=None, classifier_weights=None, n_resamples: int = 1000, progress: bool = True) -> dict:
    from detector.calc_train import load_calc_detector
    from detector.calc_clusters import LogisticScorer
    from screening.evaluate import roc_auc, youden_threshold
    from screening.film_model import (FEATURE_SETS, FilmModel, Platt, calibration_figures, features_matrix, fit_abnormal_model,
                                      oof_predictions, save_film_model)
    from screening.pipeline import Screener, ScreenConfig

    t0 = time.perf_counter()
    films, _ = _films_of(mias_dir, splits, ("train", "val"))
    film_split = load_splits(splits)
    calc_run = Path(calc_run)
    try:
        oof = json.loads((calc_run / "oof_clusters.json").read_text())["films"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as err:
        raise InputError(f"expected the out-of-fold clusters of `mammo calcifications train` ({err.__class__.__name__})",
                         calc_run / "oof_clusters.json") from None
    calc = load_calc_detector(calc_run / "calc-clusters.json")
    screener = Screener(ScreenConfig(detector_weights=detector_weights, classifier_weights=classifier_weights,
                                     calcifications=False, film_model="none"))
    # Features of every train + val film; pairs are looked up within the same split only.
    rows, kept = [], []
    for split in ("train", "val"):
        part = [f for f in films if film_split[f.film_id] == split]
        rows += film_feature_rows(part, mias_dir, screener, calc, oof if split == "train" else None, progress)
        kept += part
    y_abn = np.array([f.is_abnormal for f in kept], dtype=int)
    y_mal = np.array([f.verdict == "malignant" for f in kept], dtype=int)
    pids = np.array([f.patient_id for f in kept])
    tr = np.array([film_split[f.film_id] == "train" for f in kept])
    va = ~tr
    # The feature set: best out-of-fold AUC on training patients (three fold seeds).
    set_auc = {}
    for set_name, (kind, names) in FEATURE_SETS.items():
        xs = features_matrix(rows, names)[tr]
        set_auc[set_name] = float(np.mean([roc_auc(y_abn[tr], oof_predictions(xs, y_abn[tr], pids[tr], folds, seed + k, c, names, kind))
                                           for k in range(3)]))
    chosen = max(set_auc, key=lambda k: (set_auc[k], -len(FEATURE_SETS[k][1])))
    kind, names = FEATURE_SETS[chosen]
    x = features_matrix(rows, names)
    oof_abn = oof_predictions(x[tr], y_abn[tr], pids[tr], folds, seed, c, names, kind)
    oof_mal = oof_predictions(x[tr], y_mal[tr], pids[tr], folds, seed, c, names)
    platt_abn, platt_mal = Platt.fit(oof_abn, y_abn[tr]), Platt.fit(oof_mal, y_mal[tr])
    abn = fit_abnormal_model(kind, x[tr], y_abn[tr], names, c)
    mal = LogisticScorer.fit(x[tr], y_mal[tr], names, c=c)
    val_abn = np.round(platt_abn.apply(abn.predict(x[va])), 5)
    val_mal = np.minimum(np.round(platt_mal.apply(mal.predict(x[va])), 5), val_abn)
    # Verdict threshold: the operating point is a specificity (target_specificity on normal
    # films), read off the normal films of validation patients pooled with the out-of-fold
    # scores of training patients (14 validation normals alone give a step of 0.07).
    pooled_normal = np.concatenate([val_abn[y_abn[va] == 0], np.round(platt_abn.apply(oof_abn), 5)[y_abn[tr] == 0]])
    thr_abn = specificity_threshold(pooled_normal, target_specificity)
    ab_va = y_abn[va] == 1
    thr_mal = youden_threshold(y_mal[va][ab_va], val_mal[ab_va]) if ab_va.any() else float("nan")
    if not np.isfinite(thr_abn):
        raise InputError("training and validation patients need normal films to choose the verdict threshold", splits)
    if not np.isfinite(thr_mal):
        thr_mal = 0.5
    model = FilmModel(abn, mal, platt_abn, platt_mal, thr_abn, thr_mal)
    cal_train = calibration_figures(platt_abn.apply(oof_abn), y_abn[tr])
    cal_val = calibration_figures(val_abn, y_abn[va])
    pv = pids[va]
    figures = {
        "train_out_of_fold_auc": bootstrap_over_patients(pids[tr], lambda i: roc_auc(y_abn[tr][i], oof_abn[i]), n_resamples, seed),
        "val_auc": bootstrap_over_patients(pv, lambda i: roc_auc(y_abn[va][i], val_abn[i]), n_resamples, seed),
        "calibration": {"train_out_of_fold": cal_train, "val": cal_val},
        "abnormal_threshold": float(thr_abn), "malignant_threshold": float(thr_mal),
        "threshold_rule": f"abnormal: specificity {target_specificity} on the normal films of validation patients and "
                          "of training patients (out of fold); malignant: Youden J on validation patients' abnormal films",
        "feature_sets_out_of_fold_auc": set_auc, "feature_set": chosen,
        "abnormal_model": kind,
        "coefficients_abnormal": dict(zip(names, np.round(abn.coef, 4).tolist())) if kind == "logistic" else None,
        "films": {"train": int(tr.sum()), "val": int(va.sum())},
    }
    out.mkdir(parents=True, exist_ok=True)
    _reliability_png(out / "reliability.png", [("training patients, out of fold", platt_abn.apply(oof_abn), y_abn[tr]),
                                               ("validation patients", val_abn, y_abn[va])])
    meta = {"trained_on": f"mini-MIAS training patients of {Path(splits).name}; thresholds on its validation patients",
            "command": f"mammo verdict fit --mias-dir $MIAS_DIR --splits {Path(splits).name} --calc-run RUN --c {c} --seed {seed}"
                       + (f" --detector {Path(detector_weights).name}" if detector_weights else "")
                       + (f" --classifier {Path(classifier_weights).name}" if classifier_weights else ""),
            "detector": Path(detector_weights).name if detector_weights else "shipped default",
            "minutes": round((time.perf_counter() - t0) / 60, 2), "figures": figures}
    save_film_model(out / "film-model.json", model, meta)
    write_json_atomic(out / "fit_metrics.json", figures)
    write_json_atomic(out / "features.json", {"films": {f.film_id: r for f, r in zip(kept, rows)}})
    return figures


def _reliability_png(path: Path, series) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from converters.images import write_png_atomic
    from screening.film_model import calibration_figures

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    for label, p, y in series:
        cal = calibration_figures(p, y)
        pts = cal["curve"]
        ax.plot([c["mean_predicted"] for c in pts], [c["fraction_positive"] for c in pts], marker="o",
                label=f"{label} (Brier {cal['brier']:.3f}, ECE {cal['ece']:.3f}, n={cal['n']})")
    ax.set_xlabel("predicted abnormal_score (bin mean)")
    ax.set_ylabel("fraction of abnormal films")
    ax.set_title("Film model: reliability (mini-MIAS)")
    ax.legend(fontsize=7, loc="upper left")
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    write_png_atomic(path, img)
