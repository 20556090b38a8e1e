"""Pool the held-out predictions of k patient-fold runs into one cross-validated report.

Each fold run (``mammo classifier train --fold F``) saved ``predictions_test.npz`` (and the
feature baselines' ``predictions_test_{texture,fused}.npy``). The folds' held-out patients
partition the development films, so pooling them gives one prediction per development
crop: figures are computed on the pool with a bootstrap CI over patients, and the mean and
standard deviation of the per-fold figures are reported beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from classifier.config import ClassifierConfig
from classifier.data import Crops, FilmCache, build_dataset
from classifier.evaluate import evaluate_probs
from classifier.report import balanced_accuracy_of
from converters.atomic import write_json_atomic, write_text_atomic
from converters.config import load_config
from converters.errors import InputError
from evaluation.bootstrap import format_estimate

MODELS = ("cnn", "texture", "fused")


def _fold_crops(run_dir: Path, films, cache) -> tuple[ClassifierConfig, Crops, dict[str, np.ndarray]]:
    cfg = load_config(ClassifierConfig, run_dir / "config.yaml")
    if cfg.fold < 0:
        raise InputError("not a CV fold run (config fold < 0)", run_dir / "config.yaml")
    npz = run_dir / "predictions_test.npz"
    held = build_dataset(films, cache, cfg).sides["test"]
    if not len(held):
        return cfg, held, {}  # a fold with no held-out crop of this subset (e.g. no calcification)
    if not npz.is_file():
        raise InputError("fold run has no predictions_test.npz (unfinished?)", run_dir)
    saved = np.load(npz)
    if not (np.array_equal(saved["labels"], held.labels) and np.array_equal(saved["film_ids"], held.film_ids)):
        raise InputError("re-cut crops do not match the fold's saved predictions", npz)
    probs = {"cnn": saved["probs"]}
    for name in MODELS[1:]:
        f = run_dir / f"predictions_test_{name}.npy"
        if f.is_file():
            probs[name] = np.load(f)
    return cfg, held, probs


def aggregate_cv(run_dirs: list[Path], labelled, out_dir: Path, n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Write ``out_dir/{cnn,texture,fused}/`` reports on the pooled folds and ``cv_summary.json``.

    ``labelled``: the :class:`converters.labelled.LabelledSet` the folds were trained on.
    """
    films = list(labelled.films)
    cache = FilmCache(labelled.root)
    parts, per_model = [], {m: [] for m in MODELS}
    fold_figs: dict[str, list] = {}
    folds, empty_folds = [], []
    for rd in sorted(Path(r) for r in run_dirs):
        cfg, held, probs = _fold_crops(rd, films, cache)
        folds.append(cfg.fold)
        if not len(held):
            empty_folds.append(cfg.fold)
            continue
        parts.append(held)
        for m in MODELS:
            per_model[m].append(probs.get(m))
        metrics = json.loads((rd / "eval_test" / "metrics.json").read_text())
        fold_figs.setdefault("accuracy", []).append(metrics["accuracy"]["value"])
        fold_figs.setdefault("balanced_accuracy", []).append(balanced_accuracy_of(rd, "test", metrics, 10).value)
        for k, v in metrics["auc"].items():
            fold_figs.setdefault(f"auc_{k}", []).append(v["value"])
        for k, v in metrics.get("baseline_auc", {}).items():
            fold_figs.setdefault(f"baseline_auc_{k}", []).append(v["value"])
    if sorted(folds) != list(range(len(folds))) or len(set(folds)) != len(folds):
        raise InputError(f"expected folds 0..k-1 once each, got {sorted(folds)}")
    pooled = Crops.concat(parts)
    summary = {"folds": folds, "k": len(folds), "n_crops": len(pooled), "folds_without_held_out_crops": empty_folds,
               "per_fold": fold_figs,
               "per_fold_mean_sd": {k: [float(np.nanmean(v)), float(np.nanstd(v, ddof=1))] for k, v in fold_figs.items()},
               "pooled": {}}
    for m in MODELS:
        if any(p is None for p in per_model[m]):
            continue
        rep = evaluate_probs(np.concatenate(per_model[m]), pooled, out_dir / m,
                             f"{m}, {len(folds)}-fold patient CV (pooled held-out folds)", False, n_bootstrap, seed,
                             extra={"protocol": "patient", "split": f"{len(folds)}-fold CV of development films"})
        summary["pooled"][m] = {"accuracy": rep["accuracy"], "balanced_accuracy": rep["balanced_accuracy"], "macro_f1": rep["macro_f1"], "auc": rep["auc"],
                                "baseline_auc": rep.get("baseline_auc", {})}
    write_json_atomic(out_dir / "cv_summary.json", summary)
    lines = [f"# {len(folds)}-fold patient cross-validation (pooled held-out folds)", ""]
    for m, r in summary["pooled"].items():
        lines.append(f"- {m}: accuracy {format_estimate(r['accuracy'])}; balanced accuracy {format_estimate(r['balanced_accuracy'])}; "
                     + "; ".join(f"AUC {k} {format_estimate(v)}" for k, v in r["auc"].items()))
    for k, (mu, sd) in summary["per_fold_mean_sd"].items():
        lines.append(f"- per-fold {k}: mean {mu:.3f}, SD {sd:.3f}")
    write_text_atomic(out_dir / "cv_summary.md", "\n".join(lines) + "\n")
    return summary
