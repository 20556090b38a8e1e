"""Detection metrics of one split: COCO mAP, FROC and film-level AUC, with bootstrap CIs.

:func:`evaluate_predictions` is what ``mammo detector evaluate`` and ``mammo evaluate``
call: ground-truth Films plus predictions in film pixels in, a dict of figures out, each an
:class:`evaluation.bootstrap.Estimate` (and, with ``out_dir``, ``metrics.json``,
``metrics.md``, ``froc.png``, ``pr.png``).
:func:`metrics_markdown` renders that dict as a table. Matching rules live in
:mod:`evaluation.froc` (FROC) and :mod:`evaluation.coco_map` (mAP). Every figure carries a
95% CI from resampling patients (:func:`evaluation.bootstrap.bootstrap_over_patients`);
all figures share the same resamples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic, write_text_atomic
from evaluation.bootstrap import Estimate, bootstrap_over_patients, format_estimate
from converters.errors import InputError, look_up_option
from converters.records import Film
from evaluation.coco_map import ap_on_films, evaluate_coco_subsets, pr_curve
from evaluation.froc import (
    FP_RATES_PER_FILM,
    HIT_RULE_TEXT,
    HIT_RULES,
    SUBSETS,
    evaluate_froc,
    match_predictions,
    memo_by_index,
)
from evaluation.plots import plot_froc, plot_pr

DEFAULT_N_RESAMPLES = 300


def dataset_counts(films: Sequence[Film], predictions: Mapping) -> dict:
    """Counts stated with every report: films, patients, lesions by class, exclusions."""
    lesions = [les for f in films for les in f.lesions]
    image_level_only = [f for f in films if f.image_labels and not f.lesions]
    n_pred = 0
    for f in films:
        p = predictions.get(f.film_id)
        if p is not None:
            n_pred += int(np.asarray(p.scores).size)
    return {
        "films": len(films),
        "patients": len({f.patient_id for f in films}),
        "normal_films": sum(not f.is_abnormal for f in films),
        "abnormal_films": sum(f.is_abnormal for f in films),
        "films_with_located_lesions": sum(bool(f.lesions) for f in films),
        "lesions": len(lesions),
        "masses": sum(les.is_mass for les in lesions),
        "calcifications": sum(les.is_calc for les in lesions),
        "other_lesions": sum(not (les.is_mass or les.is_calc) for les in lesions),
        "image_level_labels_excluded": sum(len(f.image_labels) for f in films),
        "image_level_only_films": len(image_level_only),
        "predictions": n_pred,
        "films_with_predictions": sum(
            1 for f in films if f.film_id in predictions and np.asarray(predictions[f.film_id].scores).size
        ),
    }


def evaluate_predictions(
    films: Sequence[Film],
    predictions: Mapping,
    out_dir: str | Path | None = None,
    hit_rule: str = "center",
    iou_threshold: float = 0.3,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    seed: int = 0,
    split_name: str = "test",
    max_dets: int = 100,
) -> dict:
    """All detection figures of one split, each with a bootstrap 95% CI over patients.

    Args:
        films: ground truth of the evaluated films (normal films included).
        predictions: film_id -> object with ``.xyxy`` (N, 4, film pixels) and ``.scores``
            (N,); a film missing from the mapping has no detections.
        out_dir: if given, writes ``metrics.json``, ``metrics.md``, ``froc.png``, ``pr.png``.
        hit_rule: FROC hit rule, ``center`` or ``iou``.
        iou_threshold: IoU of the ``iou`` rule.
        n_resamples: bootstrap resamples of patients.
        seed: bootstrap seed.
        split_name: the split the films come from (stated in every output).
        max_dets: boxes per film scored by COCO mAP (FROC uses all boxes).

    Returns:
        Dict (JSON once written): ``split``, ``hit_rule``, ``counts``, ``bootstrap``, ``coco``
        (per subset ``map50``, ``map50_95``, ``n_gt``, ``reason``), ``froc`` (per subset
        ``fp_per_film``, ``sensitivity``, ``mean_sensitivity``, ``n_lesions``),
        ``film_level`` (``roc_auc`` of normal vs abnormal by max detection score),
        ``matching`` (false positives, duplicate hits). Figures are :class:`Estimate`
        records, written as ``{"value", "ci95": [low, high], "n_patients"}``, ``null`` where undefined.

    Raises:
        InputError: bad hit rule or threshold, unknown film ids, malformed predictions.
    """
    look_up_option(hit_rule, HIT_RULES, "hit rule")
    if n_resamples < 0:
        raise InputError(f"n_resamples must be >= 0, got {n_resamples}")
    if max_dets < 1:
        raise InputError(f"max_dets must be >= 1 (boxes scored per film by COCO mAP), got {max_dets}")
    if not films:
        raise InputError("no films to evaluate (expected at least one ground-truth film)")
    matches = match_predictions(films, predictions, hit_rule, iou_threshold)
    froc = evaluate_froc(films, matches, FP_RATES_PER_FILM, n_resamples, seed)
    coco = evaluate_coco_subsets(films, predictions, max_dets=max_dets)
    pids = [f.patient_id for f in films]

    metrics: dict = {
        "split": split_name,
        "hit_rule": {
            "name": hit_rule,
            "iou_threshold": iou_threshold if hit_rule == "iou" else None,
            "description": HIT_RULE_TEXT[hit_rule].format(iou=iou_threshold)
            + "; each lesion counts once; a box hitting an already-found lesion is not a false positive"
            "; boxes hitting no located lesion are false positives on every film, normal ones included",
        },
        "counts": dataset_counts(films, predictions),
        "bootstrap": {"unit": "patient", "n_resamples": n_resamples, "seed": seed, "ci": 0.95},
        "coco": {},
        "froc": {},
    }
    for subset in SUBSETS:
        c = coco[subset]
        if c.reason is None:
            aps = memo_by_index(lambda idx, c=c: ap_on_films(c, idx))
            m50 = bootstrap_over_patients(pids, lambda idx, aps=aps: aps(idx)[0], n_resamples, seed)
            m5095 = bootstrap_over_patients(pids, lambda idx, aps=aps: aps(idx)[1], n_resamples, seed)
            m50 = Estimate(c.map50, m50.ci_low, m50.ci_high, m50.n_patients)  # pycocotools' own value
            m5095 = Estimate(c.map50_95, m5095.ci_low, m5095.ci_high, m5095.n_patients)
        else:
            n_p = len(set(pids))
            m50 = Estimate(c.map50, float("nan"), float("nan"), n_p)
            m5095 = Estimate(c.map50_95, float("nan"), float("nan"), n_p)
        metrics["coco"][subset] = {
            "map50": m50,
            "map50_95": m5095,
            "n_gt": c.n_gt,
            "n_dt_scored": c.n_dt,
            "max_dets_per_film": max_dets,
            "reason": c.reason,
        }
        f = froc["subsets"][subset]
        metrics["froc"][subset] = {
            "n_lesions": f["n_lesions"],
            "fp_per_film": list(f["fp_per_film"]),
            "sensitivity": list(f["sensitivity"]),
            "mean_sensitivity": f["mean_sensitivity"],
            "reason": None if f["n_lesions"] else f"no located {subset} lesions in the ground truth",
        }
    labels = froc["film_labels"]
    metrics["film_level"] = {
        "score": "max detection score per film (no detection: lowest score)",
        "roc_auc": froc["film_auc"],
        "n_normal": int((~labels).sum()),
        "n_abnormal": int(labels.sum()),
    }
    metrics["matching"] = {
        "false_positives": int(sum(len(m.fp_scores) for m in matches)),
        "duplicate_hits_not_counted": int(sum(m.n_duplicate_hits for m in matches)),
        "lesions_found_at_any_score": int(sum(np.isfinite(m.lesion_hit_scores).sum() for m in matches)),
    }

    if out_dir is not None:
        out = Path(out_dir)
        write_json_atomic(out / "metrics.json", metrics)
        write_text_atomic(out / "metrics.md", metrics_markdown(metrics))
        _write_plots(out, metrics, froc, coco)
    return metrics


def _write_plots(out: Path, metrics: dict, froc: dict, coco: dict) -> None:
    curves, points = {}, {}
    for subset in SUBSETS:
        f = froc["subsets"][subset]
        if not f["n_lesions"]:
            continue
        _, fppf, sens = f["events"].curve()
        curves[subset] = (fppf, sens)
        ests = f["sensitivity"]
        points[subset] = (
            f["fp_per_film"],
            [e.value for e in ests],
            [e.ci_low for e in ests],
            [e.ci_high for e in ests],
        )
    rule = metrics["hit_rule"]["name"] + (
        f" IoU>={metrics['hit_rule']['iou_threshold']:g}" if metrics["hit_rule"]["iou_threshold"] else ""
    )
    n = metrics["counts"]
    plot_froc(
        curves, points, out / "froc.png",
        title=f"FROC, split {metrics['split']} ({n['films']} films, {n['lesions']} lesions), hit rule: {rule}",
    )
    pr = {s: pr_curve(coco[s]) for s in SUBSETS if coco[s].reason is None}
    plot_pr(
        pr, {s: coco[s].map50 for s in SUBSETS}, out / "pr.png",
        title=f"Precision-recall at IoU 0.5, split {metrics['split']}",
    )


def metrics_markdown(metrics: dict) -> str:
    """Markdown report of :func:`evaluate_predictions`' dict: every figure with its 95% CI."""
    c = metrics["counts"]
    b = metrics["bootstrap"]
    cols = [s for s in SUBSETS]
    head = {"all": "All lesions", "mass": "Masses", "calc": "Calcifications"}
    lines = [
        f"### Detection metrics, split `{metrics['split']}`",
        "",
        f"- Hit rule: **{metrics['hit_rule']['name']}**: {metrics['hit_rule']['description']}.",
        f"- Films: {c['films']} ({c['normal_films']} normal, {c['abnormal_films']} abnormal) from "
        f"{c['patients']} patients; {c['predictions']} predicted boxes.",
        f"- Located lesions: {c['lesions']} ({c['masses']} masses, {c['calcifications']} calcifications, "
        f"{c['other_lesions']} other).",
        f"- Excluded from sensitivity (not locatable): {c['image_level_labels_excluded']} image-level-only "
        f"label(s); {c['image_level_only_films']} film(s) carry only such labels "
        "(they still count for false positives).",
        f"- 95% CIs: bootstrap over patients, {b['n_resamples']} resamples, seed {b['seed']}.",
        "",
        "| Figure | " + " | ".join(f"{head[s]} (n={metrics['froc'][s]['n_lesions']})" for s in cols) + " |",
        "|---|" + "---|" * len(cols),
        "| mAP@0.5 | " + " | ".join(format_estimate(metrics["coco"][s]["map50"]) for s in cols) + " |",
        "| mAP@0.5:0.95 | " + " | ".join(format_estimate(metrics["coco"][s]["map50_95"]) for s in cols) + " |",
    ]
    rates = metrics["froc"]["all"]["fp_per_film"]
    for j, r in enumerate(rates):
        lines.append(
            f"| Sensitivity @ {r:g} FP/film | "
            + " | ".join(format_estimate(metrics["froc"][s]["sensitivity"][j]) for s in cols)
            + " |"
        )
    lines.append(
        f"| Mean sensitivity ({len(rates)} FP rates) | "
        + " | ".join(format_estimate(metrics["froc"][s]["mean_sensitivity"]) for s in cols)
        + " |"
    )
    fl = metrics["film_level"]
    lines.append(
        f"| Film ROC AUC, normal ({fl['n_normal']}) vs abnormal ({fl['n_abnormal']}), max score | "
        + format_estimate(fl["roc_auc"]) + " |" + " — |" * (len(cols) - 1)
    )
    notes = [
        f"- {head[s]}: {metrics['coco'][s]['reason']}." for s in cols if metrics["coco"][s]["reason"]
    ]
    m = metrics["matching"]
    lines += [
        "",
        f"False positives: {m['false_positives']}; boxes on already-found lesions (not counted): "
        f"{m['duplicate_hits_not_counted']}. mAP uses COCO matching (a duplicate box is a false positive there; "
        "subset mAP keeps all boxes against that subset's lesions).",
    ]
    if notes:
        lines += ["", "Undefined or trivial figures:", *notes]
    return "\n".join(lines) + "\n"


__all__ = ["DEFAULT_N_RESAMPLES", "dataset_counts", "evaluate_predictions", "metrics_markdown"]
