"""Benign vs malignant on CBIS-DDSM mass crops: patient-level k-fold CV with feature models.

A CPU-light grader study (no CNN): each mass box gives square crops centred on the box
(:func:`classifier.crops.crop_square`, side ``max(w, h)`` times each ``context``), described
by the GLCM/intensity/size features of :func:`classifier.baselines.texture_features`, a
uniform-LBP histogram and the box's log width, height and aspect (``--margin`` adds 12
margin descriptors, :func:`margin_features`). Models, all reported (none is chosen on the
held-out folds): a standardised logistic regression
(:func:`classifier.baselines.fit_logistic`), sklearn's histogram gradient boosting, their
mean (``ensemble``, added after the first two had been measured: see docs/cbis.md), and a
baseline that sees only the box geometry (a shortcut check). Paired AUC differences of the
ensemble against its two parts are in ``summary.json`` (``model_differences``).

Protocol: :func:`converters.splits.kfold_patients` (patients stratified by their worst
pathology) assigns each patient to one fold; every fold's model is fit on the other folds'
crops and scores its own, so the pooled held-out scores give one AUC with a bootstrap 95%
CI over patients; per-fold AUCs are reported beside it. Boxes without a pathology (films
whose rows disagree, the film without a row) are counted and left out. BI-RADS
assessment and the other case-table fields are NOT features (they encode the reading).

``unstretch`` divides film widths by a factor before cropping (1.0 = the films as stored,
see ``benchmarks/cbis_stretch.py``). With ``--mias-dir`` a model fit on all CBIS crops is
also applied to mini-MIAS mass lesions (another domain: none of them seen in training).

Usage:
    python benchmarks/cbis_cv.py --cbis-dir $CBIS_DIR --out work/cbis_cv --mias-dir $MIAS_DIR
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from evaluation.bootstrap import Estimate, format_estimate

MODELS = ("logistic", "boosting", "ensemble", "box_geometry")
N_GEOMETRY = 3  # the last features: log width, log height, log aspect


@dataclass
class CbisCvConfig:
    """Everything one CV run depends on (saved as ``OUT/config.yaml``)."""

    cbis_dir: str = ""
    mias_dir: str = ""
    k: int = 5
    seed: int = 0
    out_px: int = 64
    contexts: tuple = (1.0, 2.0)
    unstretch: float = 1.0
    margin: bool = False
    logistic_c: float = 1.0
    n_bootstrap: int = 1000
    compare_with: str = ""
    models: tuple = field(default_factory=lambda: MODELS)


def lbp_histogram(crop_u8: np.ndarray) -> np.ndarray:
    """Normalised histogram of uniform LBP codes (P=8, R=1): 10 bins."""
    from skimage.feature import local_binary_pattern

    codes = local_binary_pattern(crop_u8, 8, 1, method="uniform")
    hist = np.bincount(codes.astype(int).ravel(), minlength=10)[:10].astype(np.float64)
    return hist / max(hist.sum(), 1.0)


MARGIN_PX = 96  # margin features: a crop of twice the box side at this size (box half-side 24 px)
ANNULI = ((0.5, 0.8), (0.8, 1.2), (1.2, 1.6))  # in units of the box half-side
N_RAYS = 36


def margin_features(crop_u8: np.ndarray) -> np.ndarray:
    """Margin descriptors of a lesion centred in a crop twice its side (12 features).

    Malignant masses tend to have ill-defined, spiculated, irregular margins; benign ones
    circumscribed, round ones. Per annulus around the centre (:data:`ANNULI`): gradient
    strength relative to the crop's contrast, how much of it points inwards (a bright
    mass on darker tissue: a sharp, convex edge) and how much runs across the radius
    (edges along spokes: spiculation). Along :data:`N_RAYS` rays: the radius where the
    profile first falls below the mean of centre and surround (the edge), whose
    coefficient of variation measures outline irregularity, the fraction of rays with
    no such fall (an ill-defined edge), and the mean edge radius.
    """
    import cv2

    f = cv2.GaussianBlur(crop_u8.astype(np.float32), (0, 0), 1.0)
    n = f.shape[0]
    c = (n - 1) / 2
    half = n / 4
    gy, gx = np.gradient(f)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - c
    r = np.hypot(xx, yy) + 1e-6
    mag = np.hypot(gx, gy) + 1e-6
    radial = (gx * xx + gy * yy) / r
    across = np.abs(-gx * yy + gy * xx) / r
    contrast = float(f.std()) + 1e-6
    feats = []
    for lo, hi in ANNULI:
        ring = (r >= lo * half) & (r < hi * half)
        feats += [mag[ring].mean() / contrast, float((-radial[ring]).mean() / mag[ring].mean()),
                  float(across[ring].mean() / mag[ring].mean())]
    centre = float(f[r < 0.3 * half].mean())
    surround = float(f[(r >= 1.6 * half) & (r < 2 * half)].mean())
    level = (centre + surround) / 2
    steps = np.arange(1, int(2 * half))
    edges = []
    for a in np.linspace(0, 2 * np.pi, N_RAYS, endpoint=False):
        px = np.clip(np.round(c + steps * np.cos(a)).astype(int), 0, n - 1)
        py = np.clip(np.round(c + steps * np.sin(a)).astype(int), 0, n - 1)
        below = np.nonzero((f[py, px] < level) if centre >= surround else (f[py, px] > level))[0]
        edges.append(steps[below[0]] / half if len(below) else np.nan)
    edges = np.asarray(edges)
    found = edges[np.isfinite(edges)]
    cv = float(found.std() / found.mean()) if len(found) > 1 else 1.0
    feats += [cv, float(np.mean(~np.isfinite(edges))), float(found.mean()) if len(found) else 2.0]
    return np.asarray(feats, np.float64)


def lesion_features(image_u8: np.ndarray, xyxy, cfg: CbisCvConfig) -> np.ndarray:
    """Feature vector of one lesion box on one (already unstretched) film."""
    from classifier.baselines import texture_features
    from classifier.crops import crop_square

    x1, y1, x2, y2 = xyxy
    w, h = x2 - x1, y2 - y1
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(w, h)
    feats = []
    for ctx in cfg.contexts:
        crop = crop_square(image_u8, cx, cy, side * ctx, cfg.out_px)
        feats.append(texture_features(crop[None], np.array([side * ctx]))[0])
        feats.append(lbp_histogram(crop))
    if cfg.margin:
        feats.append(margin_features(crop_square(image_u8, cx, cy, side * 2, MARGIN_PX)))
    feats.append(np.log([w, h, w / h]))
    return np.concatenate(feats)


def unstretch_film(image_u8: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """Divide the film's width by ``factor``; returns the image and the x scale applied."""
    import cv2

    if factor == 1.0:
        return image_u8, 1.0
    h, w = image_u8.shape
    new_w = max(1, round(w / factor))
    return cv2.resize(image_u8, (new_w, h), interpolation=cv2.INTER_AREA), new_w / w


def cbis_lesion_table(cbis_dir: Path, cfg: CbisCvConfig, progress: bool = True) -> dict:
    """Features, labels (1 = malignant), patient and film of every CBIS box with a pathology."""
    from tqdm import tqdm

    from converters.cbis import load_coco_set
    from converters.images import read_gray8

    s = load_coco_set(cbis_dir / "train" / "_annotations.coco.json", cbis_dir / "train", verbose=False)
    feats, labels, patients, films = [], [], [], []
    skipped = 0
    for f in tqdm(s.films, desc="CBIS crops", unit="film", disable=not progress):
        known = [l for l in f.lesions if l.severity is not None]
        skipped += len(f.lesions) - len(known)
        if not known:
            continue
        img, sx = unstretch_film(read_gray8(s.source_dir / f.image_path, expected_wh=(f.width, f.height)), cfg.unstretch)
        for l in known:
            x1, y1, x2, y2 = l.xyxy
            feats.append(lesion_features(img, (x1 * sx, y1, x2 * sx, y2), cfg))
            labels.append(int(l.severity == "malignant"))
            patients.append(f.patient_id)
            films.append(f.film_id)
    return {"X": np.asarray(feats), "y": np.asarray(labels), "patients": np.asarray(patients),
            "films": np.asarray(films), "skipped_without_pathology": skipped, "source": s}


class _Columns:
    """A fitted model that sees only the last ``n`` feature columns."""

    def __init__(self, clf, n: int):
        self.clf, self.n, self.classes_ = clf, n, clf.classes_

    def predict_proba(self, X):
        return self.clf.predict_proba(X[:, -self.n :])


class _Mean:
    """Fitted models whose positive-class probabilities are averaged (classes ``[0, 1]``)."""

    def __init__(self, models):
        self.models, self.classes_ = models, np.array([0, 1])

    def predict_proba(self, X):
        p = np.mean([m.predict_proba(X)[:, list(m.classes_).index(1)] for m in self.models], axis=0)
        return np.stack([1 - p, p], axis=1)


def make_model(name: str, cfg: CbisCvConfig):
    """``fit(X, y) -> fitted model with predict_proba``: one of :data:`MODELS`.

    ``ensemble`` is the mean of the ``logistic`` and ``boosting`` probabilities, each
    fitted on the same rows (no weights to tune).
    """
    from converters.errors import look_up_option

    look_up_option(name, MODELS, "model")
    if name == "ensemble":
        parts = [make_model("logistic", cfg), make_model("boosting", cfg)]
        return lambda X, y: _Mean([fit(X, y) for fit in parts])
    if name in ("logistic", "box_geometry"):
        from classifier.baselines import fit_logistic

        if name == "box_geometry":  # a baseline: how far does the box's size and shape alone go?
            return lambda X, y: _Columns(fit_logistic(X[:, -N_GEOMETRY:], y, seed=cfg.seed, c=cfg.logistic_c), N_GEOMETRY)
        return lambda X, y: fit_logistic(X, y, seed=cfg.seed, c=cfg.logistic_c)
    from sklearn.ensemble import HistGradientBoostingClassifier

    def fit(X, y):
        clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                             l2_regularization=1.0, random_state=cfg.seed)
        return clf.fit(X, y)

    return fit


def _auc_estimate(y, score, patients, cfg: CbisCvConfig) -> Estimate:
    """AUC with its patient CI, an Estimate that also counts lesions and malignant lesions."""
    from evaluation.roc import roc_auc as auc
    from evaluation.bootstrap import bootstrap_over_patients

    est = bootstrap_over_patients(patients, lambda idx: auc(y[idx], score[idx]), cfg.n_bootstrap, cfg.seed)
    return replace(est, counts={"n_lesions": int(len(y)), "n_malignant": int(y.sum())})


def cross_validate(table: dict, cfg: CbisCvConfig) -> dict:
    """Pooled held-out AUC (bootstrap CI over patients) and per-fold AUCs, per model."""
    from evaluation.roc import roc_auc as auc
    from converters.splits import kfold_patients

    films = [f for f in table["source"].films if any(l.severity for l in f.lesions)]
    folds = kfold_patients(films, cfg.k, cfg.seed)
    fold_of_film = {fid: i for i, (_, test) in enumerate(folds) for fid in test}
    fold = np.array([fold_of_film[f] for f in table["films"]])
    X, y, pats = table["X"], table["y"], table["patients"]
    for i in range(cfg.k):
        if set(pats[fold == i]) & set(pats[fold != i]):
            raise RuntimeError(f"fold {i} shares patients with the other folds (kfold_patients broke its contract)")
    out = {}
    for name in cfg.models:
        fit = make_model(name, cfg)
        score = np.full(len(y), np.nan)
        per_fold = []
        for i in range(cfg.k):
            clf = fit(X[fold != i], y[fold != i])
            score[fold == i] = clf.predict_proba(X[fold == i])[:, list(clf.classes_).index(1)]
            per_fold.append(auc(y[fold == i], score[fold == i]))
        out[name] = {"pooled_auc": _auc_estimate(y, score, pats, cfg), "per_fold_auc": per_fold,
                     "per_fold_mean_sd": [float(np.mean(per_fold)), float(np.std(per_fold, ddof=1))]}
        out[name]["_scores"] = score
    out["fold_sizes"] = [int((fold == i).sum()) for i in range(cfg.k)]
    return out


def mias_check(table: dict, mias_dir: Path, cfg: CbisCvConfig) -> dict:
    """Fit on all CBIS crops; AUC on mini-MIAS mass lesions (all, and the default test patients)."""
    from converters.images import read_gray8
    from converters.mias import load_mias
    from converters.splits import split_patients

    films = load_mias(mias_dir).films
    split = split_patients(films, 0.1, 0.2, 0)  # the default split of `mammo convert`
    feats, labels, pats, sides = [], [], [], []
    for f in films:
        masses = [l for l in f.lesions if l.is_mass and l.severity]
        if not masses:
            continue
        img = read_gray8(Path(mias_dir) / f.image_path, expected_wh=(f.width, f.height))
        for l in masses:
            cx, cy = l.center
            r = l.radius_px
            feats.append(lesion_features(img, (cx - r, cy - r, cx + r, cy + r), cfg))
            labels.append(int(l.severity == "malignant"))
            pats.append(f.patient_id)
            sides.append(split[f.film_id])
    X, y, pats, sides = np.asarray(feats), np.asarray(labels), np.asarray(pats), np.asarray(sides)
    out = {}
    for name in cfg.models:
        clf = make_model(name, cfg)(table["X"], table["y"])
        score = clf.predict_proba(X)[:, list(clf.classes_).index(1)]
        test = sides == "test"
        out[name] = {"all_mias_masses": _auc_estimate(y, score, pats, cfg),
                     "mias_test_patients": _auc_estimate(y[test], score[test], pats[test], cfg)}
    return out


def _paired(y, patients, score_a, score_b, cfg: CbisCvConfig) -> Estimate:
    """AUC(a) - AUC(b) on the same lesions, an Estimate with its bootstrap CI over patients."""
    from evaluation.roc import roc_auc as auc
    from evaluation.bootstrap import bootstrap_over_patients

    return bootstrap_over_patients(patients, lambda i: auc(y[i], score_a[i]) - auc(y[i], score_b[i]),
                                   cfg.n_bootstrap, cfg.seed)


def paired_auc_difference(this_dir: Path, other_dir: Path, cfg: CbisCvConfig) -> dict:
    """AUC(this run) - AUC(other run) per model on the same held-out lesions; models the
    other run lacks are listed under ``not_in_other_run``."""
    from converters.errors import InputError

    a, b = np.load(this_dir / "cv_scores.npz"), np.load(other_dir / "cv_scores.npz")
    if not all(np.array_equal(a[k], b[k]) for k in ("y", "patients", "films")):
        raise InputError("the two runs did not score the same lesions (different data or k?)", other_dir / "cv_scores.npz")
    out = {m: _paired(a["y"], a["patients"], a[m], b[m], cfg) for m in cfg.models if m in a and m in b}
    out["not_in_other_run"] = [m for m in cfg.models if m in a and m not in b]
    return out


def model_differences(scores_npz: Path, cfg: CbisCvConfig) -> dict:
    """``ensemble`` minus each of its two parts, paired on one run's held-out lesions."""
    d = np.load(scores_npz)
    return {f"ensemble_minus_{m}": _paired(d["y"], d["patients"], d["ensemble"], d[m], cfg)
            for m in ("logistic", "boosting") if "ensemble" in d and m in d}


def run(cfg: CbisCvConfig, out_dir: Path, progress: bool = True) -> dict:
    """Build the table, cross-validate, optionally check on mini-MIAS; write ``OUT/*``."""
    from converters.atomic import write_json_atomic
    from converters.config import save_config

    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.yaml")
    table = cbis_lesion_table(Path(cfg.cbis_dir), cfg, progress)
    res = cross_validate(table, cfg)
    scores = {m: res[m].pop("_scores") for m in cfg.models}
    np.savez(out_dir / "cv_scores.npz", y=table["y"], patients=table["patients"], films=table["films"], **scores)
    summary = {
        "protocol": f"{cfg.k}-fold patient-level CV (kfold_patients, seed {cfg.seed}) of the CBIS-DDSM mass training cases",
        "n_lesions": int(len(table["y"])), "n_malignant": int(table["y"].sum()),
        "n_patients": int(len(set(table["patients"]))), "n_features": int(table["X"].shape[1]),
        "boxes_left_out_without_pathology": table["skipped_without_pathology"],
        "unstretch": cfg.unstretch, "cv": res,
    }
    summary["model_differences"] = model_differences(out_dir / "cv_scores.npz", cfg)
    if cfg.compare_with:
        summary["auc_minus_compare_with"] = {"other_run": cfg.compare_with,
                                             **paired_auc_difference(out_dir, Path(cfg.compare_with), cfg)}
    if cfg.mias_dir:
        summary["mias_cross_dataset"] = mias_check(table, Path(cfg.mias_dir), cfg)
    write_json_atomic(out_dir / "summary.json", summary)
    return summary


def _f(e: Estimate) -> str:
    return f"{format_estimate(e)} ({e.counts['n_lesions']} lesions, {e.n_patients} patients)"


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    cbis_dir: Annotated[Path, typer.Option(help="data/cbis-ddsm-mass (train/ and the case table).")],
    out: Annotated[Path, typer.Option(help="Output folder (config.yaml, summary.json, cv_scores.npz).")] = Path("work/cbis_cv"),
    mias_dir: Annotated[Path | None, typer.Option(help="mini-MIAS folder for the cross-dataset check.")] = None,
    unstretch: Annotated[float | None, typer.Option(help="Divide film widths by this factor before cropping.", show_default="1.0")] = None,
    seed: Annotated[int | None, typer.Option(help="Fold and model seed.", show_default="0")] = None,
    k: Annotated[int | None, typer.Option(help="Number of patient folds.", show_default="5")] = None,
    compare_with: Annotated[Path | None, typer.Option(help="Another run's OUT: paired AUC difference on the same lesions.")] = None,
    margin: Annotated[bool | None, typer.Option("--margin/--no-margin", help="Add margin features (edge sharpness, spiculation, outline irregularity).", show_default="no")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML with CbisCvConfig keys (flags override it).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Benign vs malignant CBIS-DDSM mass crops, patient-level k-fold CV (texture features).

    Example:
        python benchmarks/cbis_cv.py --cbis-dir data/cbis-ddsm-mass --mias-dir data/mias --out work/cbis_cv
    """
    from converters.config import load_config

    cfg = load_config(CbisCvConfig, config, {"cbis_dir": str(cbis_dir), "mias_dir": str(mias_dir) if mias_dir else None,
                                             "unstretch": unstretch, "seed": seed, "k": k, "margin": margin,
                                             "compare_with": str(compare_with) if compare_with else None})
    s = run(cfg, out, progress=not quiet)
    print(f"{s['protocol']}; unstretch {s['unstretch']}")
    print(f"lesions {s['n_lesions']} (malignant {s['n_malignant']}), patients {s['n_patients']}, "
          f"features {s['n_features']}; boxes left out (no pathology): {s['boxes_left_out_without_pathology']}")
    for m in cfg.models:
        r = s["cv"][m]
        mean, sd = r["per_fold_mean_sd"]
        print(f"  {m:9s} pooled held-out AUC {_f(r['pooled_auc'])}; per fold {mean:.3f} +- {sd:.3f} "
              f"({', '.join(f'{a:.3f}' for a in r['per_fold_auc'])})")
    if "auc_minus_compare_with" in s:
        d = s["auc_minus_compare_with"]
        print(f"  AUC minus {d['other_run']} (paired, same lesions): " + "; ".join(
            f"{m} {d[m]:+.3f}" for m in cfg.models if m in d)
            + (f"; not in that run: {', '.join(d['not_in_other_run'])}" if d["not_in_other_run"] else ""))
    for name, d in s["model_differences"].items():
        print(f"  {name.replace('_', ' ')} (paired, same lesions): {d:+.3f}")
    for m, r in s.get("mias_cross_dataset", {}).items():
        print(f"  {m:9s} trained on all CBIS -> mini-MIAS masses: all {_f(r['all_mias_masses'])}; "
              f"test patients {_f(r['mias_test_patients'])}")
    print(f"wrote {out}/summary.json")


if __name__ == "__main__":
    app()
