"""Markdown and plots of ``mammo evaluate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.bootstrap import format_estimate


def metrics_to_markdown(m: dict) -> str:
    det, gr, fl = m["detection"], m["grading"], m["film_level"]
    lines = [
        f"# mammo evaluate: {m['split']}",
        "",
        f"{m['films']} films of {m['patients']} patients; {m['failures']} unreadable; "
        f"score threshold {m['score_threshold']} (mass detections). Every figure: value [bootstrap 95% CI over patients].",
        "",
        "| stage | figure | value [95% CI] |",
        "| --- | --- | --- |",
    ]
    coco = det.get("coco", {})
    for subset in ("all", "mass", "calc"):
        c = coco.get(subset)
        if c:
            lines.append(f"| mass detector | mAP@0.5 ({subset}) | {format_estimate(c.get('map50'))} |")
            lines.append(f"| mass detector | mAP@0.5:0.95 ({subset}) | {format_estimate(c.get('map50_95'))} |")
    froc = det.get("froc", {})
    for subset in ("all", "mass", "calc"):
        fr = froc.get(subset)
        if not fr:
            continue
        rates = fr.get("fp_per_film", [])
        sens = fr.get("sensitivity", [])
        for r, s in zip(rates, sens):
            if r in (0.5, 1, 1.0, 2, 2.0, 4, 8):
                lines.append(f"| mass detector | sensitivity at {r:g} FP/film ({subset}) | {format_estimate(s)} |")
        lines.append(f"| mass detector | FROC mean sensitivity ({subset}) | {format_estimate(fr.get('mean_sensitivity'))} |")
    cc = m.get("calcification_clusters")
    if cc:
        for r, sv in zip(cc.get("fp_per_film", []), cc.get("sensitivity", [])):
            if r in (0.5, 1, 2, 4):
                lines.append(f"| calcification clusters | sensitivity at {r:g} FP/film ({cc['n_lesions']} clusters; centre in circle) | {format_estimate(sv)} |")
        lines.append(f"| calcification clusters | FROC mean sensitivity | {format_estimate(cc.get('mean_sensitivity'))} |")
    lines.append(f"| grading | grade accuracy on found lesions ({gr['found_lesions']} of {gr['located_lesions']} found) | {format_estimate(gr['found_lesions_grade_accuracy'])} |")
    lines.append(f"| grading | classifier accuracy on true lesion crops | {format_estimate(gr['true_crop_grade_accuracy'])} |")
    lines.append(f"| film | normal vs abnormal ROC AUC ({fl.get('scores', 'abnormal_score')}) | {format_estimate(fl.get('normal_vs_abnormal_auc'))} |")
    op = fl.get("operating_point")
    if op:
        lines.append(f"| film | sensitivity at threshold {op['abnormal_threshold']:.3f} ({op['chosen_on']}) | {format_estimate(op['sensitivity'])} |")
        lines.append(f"| film | specificity at that threshold | {format_estimate(op['specificity'])} |")
    vp = fl.get("verdict_point")
    if vp:
        when = f": {vp['flagged_from']}" if vp.get("flagged_from") else ""
        lines.append(f"| film | sensitivity of the verdict (not normal{when}) | {format_estimate(vp['sensitivity'])} |")
        lines.append(f"| film | specificity of the verdict | {format_estimate(vp['specificity'])} |")
    vt = fl.get("verdict_threshold_from_validation")
    if vt:
        lines.append(f"| film | sensitivity of the verdict at score threshold {vt['score_threshold']:.3f} ({vt['chosen_on']}) | {format_estimate(vt['sensitivity'])} |")
        lines.append(f"| film | specificity of the verdict at that threshold | {format_estimate(vt['specificity'])} |")
    lines.append(f"| film | benign vs malignant ROC AUC (abnormal films) | {format_estimate(fl.get('benign_vs_malignant_auc_abnormal_films'))} |")
    for t, v in fl.get("by_finding_type", {}).items():
        lines.append(f"| film | {t} films ({v['n_films']}) vs normal films ({v['n_normal_films']}), ROC AUC | {format_estimate(v['auc'])} |")
    ref = fl["reference"]
    lines += [
        "",
        f"Reference: {ref['source']}: sensitivity {ref['sensitivity']}, specificity {ref['specificity']}.",
        f"Hit rule: {det.get('hit_rule', {}).get('description', 'centre inside circle')}.",
        f"Median seconds per film (read the film and its partner, find masses and clusters, compare, grade, score): {m['seconds_per_film_median']:.3f}" if m.get("seconds_per_film_median") else "",
    ]
    return "\n".join(lines) + "\n"


def plot_film_roc(films, by_film: dict, path: Path, split_name: str) -> None:
    """ROC of the film abnormal score, with the BCSC radiologist point (PNG)."""
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    from evaluation.plots import save_figure_atomic

    labels = np.array([f.is_abnormal for f in films])
    scores = np.array([by_film[f.film_id].abnormal_score if f.film_id in by_film else 0.0 for f in films])
    fig = Figure(figsize=(5, 5), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    if labels.min() != labels.max():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label="mammoscreen (film abnormal score)")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.scatter([1 - 0.889], [0.869], marker="*", s=120, color="red", label="BCSC radiologists")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"Film level, normal vs abnormal: {split_name}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    save_figure_atomic(fig, path)
