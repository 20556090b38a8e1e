"""``mammo evaluate``: screen labelled films and measure every stage, with patient CIs.

Three questions, kept apart so detection misses and grading mistakes are told apart:

* detection: COCO mAP and FROC of the pipeline's boxes (:mod:`evaluation.detection`);
* grading: accuracy of the grade on labelled lesions the pipeline FOUND (a detection at or
  above the score threshold hits it under the hit rule), and of the classifier on the TRUE
  lesion crops (the labelled circle's box);
* film level: normal vs abnormal and benign vs malignant ROC AUC of the film scores, and
  sensitivity/specificity at an operating point chosen on the VALIDATION patients (never
  on the evaluated ones), beside the BCSC screening radiologist reference.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from evaluation.bootstrap import Estimate, bootstrap_over_patients
from evaluation.roc import roc_auc, sens_spec, youden_threshold  # noqa: F401  (re-exported for the commands)
from converters.records import GRADES, Film

BCSC_REFERENCE = {"sensitivity": 0.869, "specificity": 0.889, "source": "BCSC screening radiologists (Lehman et al., Radiology 2017)"}


class _Pred:
    def __init__(self, xyxy, scores):
        self.xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        self.scores = np.asarray(scores, dtype=np.float64).reshape(-1)


def predictions_of(results_by_film: dict, finding: str = "mass") -> dict:
    """``film_id -> boxes/scores`` of one finding type, from :class:`screening.report.FilmResult` records."""
    preds = {}
    for fid, r in results_by_film.items():
        dets = [d for d in r.findings if d.finding == finding]
        preds[fid] = _Pred([d.xyxy for d in dets], [d.score for d in dets])
    return preds


# Finding types of the labelled films, for the per-type film AUC (mini-MIAS classes).
FILM_TYPES = {"mass": ("CIRC", "SPIC", "MISC"), "calcification": ("CALC",), "distortion": ("ARCH",), "asymmetry": ("ASYM",)}


def film_types(film: Film) -> set[str]:
    """The finding types a labelled film holds (located or image-level)."""
    classes = {les.lesion_class for les in film.lesions} | {lab.lesion_class for lab in film.image_labels}
    return {t for t, cls in FILM_TYPES.items() if classes & set(cls)}


def per_type_auc(films: list[Film], doc_by_film: dict, n_resamples: int, seed: int) -> dict:
    """ROC AUC of ``abnormal_score`` for each finding type: its films against the normal films."""
    out = {}
    score = {f.film_id: doc_by_film[f.film_id].abnormal_score if f.film_id in doc_by_film else 0.0 for f in films}
    normal = [f for f in films if not f.is_abnormal]
    for t in FILM_TYPES:
        pos = [f for f in films if t in film_types(f)]
        sub = pos + normal
        y = np.array([1] * len(pos) + [0] * len(normal))
        s = np.array([score[f.film_id] for f in sub])
        est = bootstrap_over_patients([f.patient_id for f in sub], lambda i, y=y, s=s: roc_auc(y[i], s[i]), n_resamples, seed)
        out[t] = {"auc": est, "n_films": len(pos), "n_normal_films": len(normal)}
    return out


def verdict_score(film) -> float:
    """Highest detection score graded benign or malignant (0 if none): the verdict is not
    ``normal`` exactly when this reaches ``score_threshold``, so a threshold on it is a
    threshold on the verdict."""
    return max((d.score for d in film.findings if d.finding == "mass" and d.grade != "normal"), default=0.0)


def grading_metrics(films: list[Film], doc_by_film: dict, grader, images: dict, score_threshold: float, n_resamples: int, seed: int) -> dict:
    """Grade accuracy on found lesions and classifier accuracy on true lesion crops, each an
    :class:`Estimate` that also counts its lesions (``counts["n"]``)."""
    from evaluation.froc import hit_matrix

    found_true, found_pred, found_pid = [], [], []
    crop_true, crop_pred, crop_pid = [], [], []
    for film in films:
        located = [l for l in film.lesions if l.severity]
        if not located:
            continue
        fj = doc_by_film.get(film.film_id)
        dets = [d for d in (fj.findings if fj else []) if d.finding == "mass" and d.score >= score_threshold]
        if dets:
            hits = hit_matrix(located, np.array([d.xyxy for d in dets], dtype=float), "center", 0.3)
            for j, lesion in enumerate(located):
                idx = np.flatnonzero(hits[:, j])
                if idx.size:
                    best = idx[np.argmax([dets[i].score for i in idx])]
                    found_true.append(GRADES.index(lesion.severity))
                    found_pred.append(GRADES.index(dets[best].grade))
                    found_pid.append(film.patient_id)
        if grader is not None and film.film_id in images:
            probs = grader.grade(images[film.film_id], np.array([l.xyxy for l in located], dtype=float))
            for lesion, p in zip(located, probs):
                crop_true.append(GRADES.index(lesion.severity))
                crop_pred.append(int(np.argmax(p)))
                crop_pid.append(film.patient_id)

    def acc(t, p, pid) -> Estimate:
        t, p = np.asarray(t), np.asarray(p)
        est = bootstrap_over_patients(pid, lambda i: float((t[i] == p[i]).mean()), n_resamples, seed)
        return replace(est, counts={"n": int(t.size)})

    n_located = sum(1 for f in films for l in f.lesions if l.severity)
    return {
        "found_lesions_grade_accuracy": acc(found_true, found_pred, found_pid),
        "found_lesions": len(found_true),
        "located_lesions": n_located,
        "true_crop_grade_accuracy": acc(crop_true, crop_pred, crop_pid),
        "definition": "grade correct = predicted grade equals the lesion's severity (benign/malignant); "
        "'normal' on a lesion is wrong. Found = hit (box centre inside the circle) by a detection >= score threshold.",
    }


def film_level_metrics(films: list[Film], doc_by_film: dict, thresholds: dict, n_resamples: int, seed: int) -> dict:
    """Film ROC AUCs and sensitivity/specificity at the chosen operating points, each an :class:`Estimate`."""
    pids = [f.patient_id for f in films]
    abn = np.array([f.is_abnormal for f in films])
    s_abn = np.array([doc_by_film[f.film_id].abnormal_score if f.film_id in doc_by_film else 0.0 for f in films])
    s_mal = np.array([doc_by_film[f.film_id].malignant_score if f.film_id in doc_by_film else 0.0 for f in films])
    mal = np.array([f.verdict == "malignant" for f in films])
    out: dict = {}
    est = bootstrap_over_patients(pids, lambda i: roc_auc(abn[i], s_abn[i]), n_resamples, seed)
    out["normal_vs_abnormal_auc"] = est
    thr = thresholds.get("abnormal")
    if thr is not None and np.isfinite(thr):
        se = bootstrap_over_patients(pids, lambda i: sens_spec(abn[i], s_abn[i], thr)[0], n_resamples, seed)
        sp = bootstrap_over_patients(pids, lambda i: sens_spec(abn[i], s_abn[i], thr)[1], n_resamples, seed)
        out["operating_point"] = {
            "abnormal_threshold": thr,
            "chosen_on": thresholds.get("chosen_on"),
            "sensitivity": se,
            "specificity": sp,
        }
    vthr = thresholds.get("verdict")
    if vthr is not None and np.isfinite(vthr):
        s_ver = np.array([verdict_score(doc_by_film[f.film_id]) if f.film_id in doc_by_film else 0.0 for f in films])
        se = bootstrap_over_patients(pids, lambda i: sens_spec(abn[i], s_ver[i], vthr)[0], n_resamples, seed)
        sp = bootstrap_over_patients(pids, lambda i: sens_spec(abn[i], s_ver[i], vthr)[1], n_resamples, seed)
        out["verdict_threshold_from_validation"] = {
            "score_threshold": vthr,
            "chosen_on": thresholds.get("chosen_on"),
            "rule": "score_threshold maximising Youden J of the verdict (not normal) on validation patients",
            "sensitivity": se,
            "specificity": sp,
        }
    flagged = np.array([f.film_id in doc_by_film and doc_by_film[f.film_id].verdict != "normal" for f in films])
    se = bootstrap_over_patients(pids, lambda i: sens_spec(abn[i], flagged[i], 0.5)[0], n_resamples, seed)
    sp = bootstrap_over_patients(pids, lambda i: sens_spec(abn[i], flagged[i], 0.5)[1], n_resamples, seed)
    out["verdict_point"] = {
        "rule": "film flagged when its verdict is not normal",
        # the film model's verdict is not normal from its abnormal threshold on: said here, once
        **({"flagged_from": thresholds["verdict_rule"]} if thresholds.get("verdict_rule") else {}),
        "sensitivity": se,
        "specificity": sp,
    }
    ab_idx = np.flatnonzero(abn)
    if ab_idx.size:
        sub_p = [pids[i] for i in ab_idx]
        est = bootstrap_over_patients(sub_p, lambda i: roc_auc(mal[ab_idx][i], s_mal[ab_idx][i]), n_resamples, seed)
        out["benign_vs_malignant_auc_abnormal_films"] = est
    out["by_finding_type"] = per_type_auc(films, doc_by_film, n_resamples, seed)
    out["reference"] = BCSC_REFERENCE
    out["scores"] = thresholds.get("scores", "abnormal_score and malignant_score of report.json")
    return out
