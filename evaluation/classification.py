"""Classification figures with bootstrap 95% CIs over patients.

Table I (the paper's form) is one-vs-rest per class: TP, TN, FP, FN, FPR, FNR,
sensitivity, specificity, accuracy. Beside it: per-class precision/recall, macro-F1,
3-class accuracy and one-vs-rest AUCs (normal vs abnormal; benign vs malignant among the
lesion crops). Counts are reported as counted; every rate is an
:class:`evaluation.bootstrap.Estimate` with a CI from
:func:`evaluation.bootstrap.bootstrap_over_patients`.
"""

from __future__ import annotations

import numpy as np

from evaluation.bootstrap import Estimate, bootstrap_over_patients, format_estimate
from evaluation.roc import roc_auc


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(np.asarray(y_true) * n + np.asarray(y_pred), minlength=n * n).reshape(n, n)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def one_vs_rest(y_true, y_pred, c: int) -> dict:
    t, p = np.asarray(y_true) == c, np.asarray(y_pred) == c
    tp, tn = int((t & p).sum()), int((~t & ~p).sum())
    fp, fn = int((~t & p).sum()), int((t & ~p).sum())
    return {"TP": tp, "TN": tn, "FP": fp, "FN": fn, "FPR": _ratio(fp, fp + tn), "FNR": _ratio(fn, fn + tp),
            "sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
            "accuracy": _ratio(tp + tn, tp + tn + fp + fn), "precision": _ratio(tp, tp + fp)}


def _f1(y_true, y_pred, c: int) -> float:
    r = one_vs_rest(y_true, y_pred, c)
    p, s = r["precision"], r["sensitivity"]
    if not np.isfinite(p) or not np.isfinite(s):
        return float("nan") if not np.isfinite(s) else 0.0
    return 0.0 if p + s == 0 else 2 * p * s / (p + s)


def balanced_accuracy(y_true, y_pred, n: int) -> float:
    """Mean per-class recall over the classes present (chance = 1 / classes present)."""
    rec = [one_vs_rest(y_true, y_pred, c)["sensitivity"] for c in range(n)]
    rec = [r for r in rec if np.isfinite(r)]
    return float(np.mean(rec)) if rec else float("nan")


def auc_scores(probs: np.ndarray, y_true: np.ndarray, class_names) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The AUC questions this class set asks: ``name -> (binary truth, score, mask)``."""
    out = {}
    if tuple(class_names) == ("normal", "benign", "malignant"):
        out["normal_vs_abnormal"] = (y_true > 0, 1.0 - probs[:, 0], np.ones(y_true.size, bool))
        lesion = y_true > 0
        denom = np.maximum(probs[:, 1] + probs[:, 2], 1e-12)
        out["benign_vs_malignant"] = (y_true == 2, probs[:, 2] / denom, lesion)
    else:
        out["benign_vs_malignant"] = (y_true == 1, probs[:, 1], np.ones(y_true.size, bool))
    return out


def classification_report(
    probs: np.ndarray, y_true: np.ndarray, patient_ids, class_names, n_bootstrap: int = 1000, seed: int = 0,
    extra_scores: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict:
    """All figures of one evaluation, each rate an :class:`Estimate` (JSON ``{"value", "ci95", "n_patients"}``).

    Args:
        probs: ``(N, C)`` class probabilities.
        y_true: ``(N,)`` true class index.
        patient_ids: ``(N,)`` patient of each crop (the bootstrap unit).
        class_names: names of the ``C`` classes.
        extra_scores: ``name -> (binary truth, score)`` AUCs of other scorers (baselines).
    """
    probs = np.asarray(probs, np.float64)
    y_true = np.asarray(y_true, np.int64)
    pids = np.asarray(patient_ids)
    n = len(class_names)
    y_pred = probs.argmax(1) if len(probs) else np.zeros(0, np.int64)

    def est(fn) -> Estimate:
        return bootstrap_over_patients(pids, fn, n_resamples=n_bootstrap, seed=seed)

    report: dict = {"n_crops": int(y_true.size), "n_patients": int(np.unique(pids).size),
                    "class_counts": dict(zip(class_names, np.bincount(y_true, minlength=n).tolist()))}
    report["accuracy"] = est(lambda i: float((y_pred[i] == y_true[i]).mean()))
    report["balanced_accuracy"] = est(lambda i: balanced_accuracy(y_true[i], y_pred[i], n))
    report["macro_f1"] = est(lambda i: float(np.nanmean([_f1(y_true[i], y_pred[i], c) for c in range(n)])))
    report["confusion"] = confusion(y_true, y_pred, n).tolist()
    table = {}
    for c, name in enumerate(class_names):
        row = one_vs_rest(y_true, y_pred, c)
        for key in ("FPR", "FNR", "sensitivity", "specificity", "accuracy", "precision"):
            row[key] = est(lambda i, c=c, key=key: one_vs_rest(y_true[i], y_pred[i], c)[key])
        row["f1"] = est(lambda i, c=c: _f1(y_true[i], y_pred[i], c))
        table[name] = row
    report["table1"] = table
    aucs = {}
    for name, (truth, score, mask) in auc_scores(probs, y_true, class_names).items():
        m = np.flatnonzero(mask)
        aucs[name] = bootstrap_over_patients(pids[m], lambda i, t=truth[m], s=score[m]: roc_auc(t[i], s[i]),
                                             n_resamples=n_bootstrap, seed=seed)
    report["auc"] = aucs
    for name, (truth, score) in (extra_scores or {}).items():
        truth = np.asarray(truth)
        ok = np.flatnonzero(truth >= 0)  # -1 marks crops outside that question
        report.setdefault("baseline_auc", {})[name] = bootstrap_over_patients(
            pids[ok], lambda i, t=truth[ok], s=np.asarray(score)[ok]: roc_auc(t[i], s[i]),
            n_resamples=n_bootstrap, seed=seed)
    return report


def markdown_report(report: dict, title: str, leaky: bool) -> str:
    """Table I (paper form) + per-class metrics + AUCs as Markdown."""
    lines = [f"## {title}" + (" (LEAKY: paper protocol, augmented copies on both sides)" if leaky else ""), ""]
    lines.append(f"{report['n_crops']} crops from {report['n_patients']} patients; class counts {report['class_counts']}. "
                 "Rates: value [bootstrap 95% CI over patients].")
    lines += ["", "| class | TP | TN | FP | FN | FPR | FNR | sensitivity | specificity | accuracy |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in report["table1"].items():
        lines.append(f"| {name} | {r['TP']} | {r['TN']} | {r['FP']} | {r['FN']} | {format_estimate(r['FPR'])} | {format_estimate(r['FNR'])} | "
                     f"{format_estimate(r['sensitivity'])} | {format_estimate(r['specificity'])} | {format_estimate(r['accuracy'])} |")
    lines += ["", "| class | precision | recall | F1 |", "| --- | --- | --- | --- |"]
    for name, r in report["table1"].items():
        lines.append(f"| {name} | {format_estimate(r['precision'])} | {format_estimate(r['sensitivity'])} | {format_estimate(r['f1'])} |")
    lines += ["", f"- accuracy ({len(report['table1'])}-class): {format_estimate(report['accuracy'])}",
              f"- balanced accuracy (mean per-class recall): {format_estimate(report['balanced_accuracy'])}"
              if "balanced_accuracy" in report else "- balanced accuracy: n/a",
              f"- macro-F1: {format_estimate(report['macro_f1'])}"]
    for name, e in report["auc"].items():
        lines.append(f"- AUC {name}: {format_estimate(e)}")
    for name, e in report.get("baseline_auc", {}).items():
        lines.append(f"- baseline AUC {name}: {format_estimate(e)}")
    lines.append(f"- confusion (rows true, cols predicted, order {list(report['class_counts'])}): {report['confusion']}")
    return "\n".join(lines) + "\n"


def confusion_png(report: dict, path, title: str) -> None:
    """Confusion matrix PNG (matplotlib Agg), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from converters.images import write_png_atomic

    names = list(report["class_counts"])
    cm = np.asarray(report["confusion"])
    fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=100)
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    write_png_atomic(path, rgb)
