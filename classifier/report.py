"""Summaries across run folders: the paper-vs-patient comparison table in Markdown."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.bootstrap import Estimate, format_estimate


def load_eval(run_dir: Path, side: str = "test", model: str = "") -> dict | None:
    path = Path(run_dir) / f"eval_{side}" / model / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def balanced_accuracy_of(run_dir: Path, side: str, metrics: dict, n_bootstrap: int = 1000) -> Estimate:
    """From metrics.json, or recomputed from the run's saved predictions (older runs)."""
    if "balanced_accuracy" in metrics:
        return Estimate.from_json(metrics["balanced_accuracy"])
    import numpy as np

    from evaluation.bootstrap import bootstrap_over_patients

    from evaluation.classification import balanced_accuracy

    z = np.load(Path(run_dir) / f"predictions_{side}.npz")
    y, pred, n = z["labels"], z["probs"].argmax(1), z["probs"].shape[1]
    return bootstrap_over_patients(z["patient_ids"], lambda i: balanced_accuracy(y[i], pred[i], n),
                                   n_resamples=n_bootstrap, seed=0)


def comparison_markdown(run_dirs: list[Path], side: str = "test") -> str:
    """One row per run: protocol, subset, crops/patients, accuracy, AUCs, shortcut baseline (all with CIs)."""
    lines = ["| run | protocol | subset | split | crops / patients | accuracy | balanced accuracy | AUC normal vs abnormal | "
             "AUC benign vs malignant | shortcut AUC normal vs abnormal | texture AUC benign vs malignant | "
             "fused AUC benign vs malignant |", "| --- " * 12 + "|"]
    for rd in run_dirs:
        m = load_eval(rd, side)
        if m is None:
            continue
        cfg = json.loads((Path(rd) / "model.json").read_text())
        tex, fus = load_eval(rd, side, "texture"), load_eval(rd, side, "fused")

        def a(r, k):
            return format_estimate(r["auc"][k]) if r and k in r.get("auc", {}) else "-"

        base = m.get("baseline_auc", {}).get("shortcut_normal_vs_abnormal")
        proto = cfg["protocol"] + (" (LEAKY)" if cfg.get("leaky") else "")
        lines.append(f"| {Path(rd).name} | {proto} | {cfg['subset']} | {side} | {m['n_crops']} / {m['n_patients']} | "
                     f"{format_estimate(m['accuracy'])} | {format_estimate(balanced_accuracy_of(rd, side, m))} | {a(m, 'normal_vs_abnormal')} | {a(m, 'benign_vs_malignant')} | "
                     f"{format_estimate(base) if base else '-'} | {a(tex, 'benign_vs_malignant')} | {a(fus, 'benign_vs_malignant')} |")
    return "\n".join(lines) + "\n"
