"""One film-level model: mass detections + calcification clusters + the other breast -> scores.

Features of a film (:data:`FILM_FEATURES`):

* ``mass_score``, ``mass_abnormal``, ``mass_malignant``: the best mass detection's score,
  and the best ``score x P(benign or malignant)`` / ``score x P(malignant)`` of the grader;
* ``calc_score``: the best calcification cluster's score; ``calc_count``: log(1 + the
  number of clusters scoring at least 0.5); ``calc_specks``: log(1 + specks of the best);
* the bilateral features of :mod:`screening.bilateral`, ``mass_abnormal_other`` and
  ``calc_score_other`` (the same two scores on the contralateral film), and ``paired`` (1 when
  the contralateral film was screened with it; else all of these are 0).

Two models (normal vs abnormal, malignant vs the rest) are fitted on TRAINING patients,
on the candidate of :data:`FEATURE_SETS` with the best out-of-fold AUC on those patients.
A candidate is a feature set and the kind of its abnormal model: a standardised logistic
model (:class:`detector.calc_clusters.LogisticScorer`), or ``any-finding``
(:class:`NormalQuantileMax`: each feature judged only against normal films, the film as
unusual as its most unusual finding), or ``any-finding-paired`` (:class:`PairedQuantileMax`:
the same, on each finding's excess over the same finding on the other breast); the malignant
model is always logistic. Out-of-fold
predictions (patient folds) are calibrated by a Platt fit, which is what the reliability
diagram, the Brier score and the expected calibration error show. The verdict thresholds are chosen on VALIDATION patients.
The model is a JSON file of a few dozen numbers (nothing is unpickled).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic
from converters.errors import InputError
from detector.calc_clusters import LogisticScorer
from screening.bilateral import BILATERAL_FEATURES

# The findings the other breast's film is scored on too (the film's ``<name>_other`` features).
PAIRED_FINDINGS = ("mass_abnormal", "calc_score")
FILM_FEATURES = ("mass_score", "mass_abnormal", "mass_malignant", "calc_score", "calc_count", "calc_specks",
                 *BILATERAL_FEATURES, *(f"{k}_other" for k in PAIRED_FINDINGS), "paired")
FORMAT = "mammoscreen-film-model"
LOGISTIC, ANY_FINDING, ANY_FINDING_PAIRED = "logistic", "max-normal-quantile", "max-normal-quantile-paired"
# The weight of the other breast's finding in a paired film's excess ``x - w * x_other``:
# fixed, not fitted (halfway between the film alone and the plain difference).
PAIR_WEIGHT = 0.5
# Candidates (abnormal model kind, features); `mammo verdict fit` keeps the one with the best
# out-of-fold AUC on training patients (mean over three fold seeds).
FEATURE_SETS = {
    "all": (LOGISTIC, FILM_FEATURES),
    "masses-and-calcifications": (LOGISTIC, FILM_FEATURES[:6]),
    "best-of-each": (LOGISTIC, ("mass_abnormal", "calc_score")),
    "any-finding": (ANY_FINDING, ("mass_abnormal", "calc_score")),
    "any-finding-paired": (ANY_FINDING_PAIRED, (*PAIRED_FINDINGS, *(f"{k}_other" for k in PAIRED_FINDINGS), "paired")),
}


def film_features(mass_scores, mass_probs, cluster_scores, cluster_specks, bilateral: dict | None,
                  other: dict | None = None) -> dict[str, float]:
    """The feature dict of one film (see the module docstring); ``other``: the features of the
    contralateral film (its own, from this function), or ``None`` when it was not screened."""
    mass_scores = np.asarray(mass_scores, dtype=np.float64).reshape(-1)
    mass_probs = np.asarray(mass_probs, dtype=np.float64).reshape(-1, 3)
    cluster_scores = np.asarray(cluster_scores, dtype=np.float64).reshape(-1)
    f = {
        "mass_score": float(mass_scores.max()) if mass_scores.size else 0.0,
        "mass_abnormal": float((mass_scores * (mass_probs[:, 1] + mass_probs[:, 2])).max()) if mass_scores.size else 0.0,
        "mass_malignant": float((mass_scores * mass_probs[:, 2]).max()) if mass_scores.size else 0.0,
        "calc_score": float(cluster_scores.max()) if cluster_scores.size else 0.0,
        "calc_count": float(np.log1p(np.count_nonzero(cluster_scores >= 0.5))),
        "calc_specks": float(np.log1p(cluster_specks[int(np.argmax(cluster_scores))])) if cluster_scores.size else 0.0,
    }
    if (bilateral is None) != (other is None):
        raise ValueError("a paired film needs both the bilateral comparison and the other film's features")
    paired = bilateral is not None
    for k in BILATERAL_FEATURES:
        f[k] = float(bilateral[k]) if paired else 0.0
    for k in PAIRED_FINDINGS:
        f[f"{k}_other"] = float(other[k]) if paired else 0.0
    f["paired"] = 1.0 if paired else 0.0
    return f


def features_matrix(rows: list[dict], names=FILM_FEATURES) -> np.ndarray:
    return np.array([[r[k] for k in names] for r in rows], dtype=np.float64).reshape(-1, len(names))


@dataclass
class NormalQuantileMax:
    """``max_j F_j(x_j) + 0.001 * mean_j F_j(x_j)``, ``F_j`` the distribution of feature ``j``
    over normal training films (empirical, linearly interpolated between them, 0 below the
    lowest and 1 above the highest): a film is as unusual as its most unusual finding."""

    feature_names: tuple[str, ...]
    normal_values: list[np.ndarray]  # per feature, the sorted values of the normal films

    def __post_init__(self) -> None:
        # Kept on the 6-decimal grid of the saved file, so a loaded model scores exactly as the fitted one.
        self.normal_values = [np.sort(np.round(np.asarray(v, dtype=np.float64).reshape(-1), 6)) for v in self.normal_values]
        if len(self.normal_values) != len(self.feature_names) or any(v.size < 2 for v in self.normal_values):
            raise ValueError(f"need at least 2 normal values for each of {len(self.feature_names)} features")
        if not all(np.all(np.isfinite(v)) for v in self.normal_values):
            raise ValueError("normal values must be finite")

    def quantiles(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1, len(self.feature_names))
        out = np.empty_like(x)
        for j, v in enumerate(self.normal_values):
            grid = np.arange(1, v.size + 1) / v.size
            out[:, j] = np.interp(x[:, j], v, grid, left=0.0, right=1.0)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        q = self.quantiles(x)
        return (q.max(axis=1) + 0.001 * q.mean(axis=1)) / 1.001

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, feature_names) -> "NormalQuantileMax":
        x = np.asarray(x, dtype=np.float64).reshape(-1, len(feature_names))
        return cls(tuple(feature_names), [x[np.asarray(y) == 0, j] for j in range(x.shape[1])])

    def to_dict(self) -> dict:
        return {"kind": ANY_FINDING, "feature_names": list(self.feature_names),
                "normal_values": [v.tolist() for v in self.normal_values]}

    @classmethod
    def from_dict(cls, d: dict) -> "NormalQuantileMax":
        return cls(tuple(d["feature_names"]), d["normal_values"])


def _own_other_paired(x, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns of a :class:`PairedQuantileMax` input: ``k`` findings, their ``k`` twins, ``paired``."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, 2 * k + 1)
    return x[:, :k], x[:, k:2 * k], x[:, 2 * k] > 0.5


@dataclass
class PairedQuantileMax:
    """:class:`NormalQuantileMax` on each finding's excess over the other breast.

    Input columns: the findings ``x_j``, then their ``x_j_other`` on the contralateral film,
    then ``paired``. A paired film is judged by ``x_j - pair_weight * x_j_other`` against the
    same excess of the paired normal training films (``excess``); a film screened alone by
    ``x_j`` against all normal training films (``alone``): a dense breast that gives false
    findings on both sides is told from a lesion on one side.
    """

    findings: tuple[str, ...]
    pair_weight: float
    excess: NormalQuantileMax
    alone: NormalQuantileMax

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (*self.findings, *(f"{k}_other" for k in self.findings), "paired")

    def predict(self, x: np.ndarray) -> np.ndarray:
        own, other, paired = _own_other_paired(x, len(self.findings))
        out = self.alone.predict(own)
        if paired.any():
            out[paired] = self.excess.predict(own[paired] - self.pair_weight * other[paired])
        return out

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, feature_names, pair_weight: float = PAIR_WEIGHT) -> "PairedQuantileMax":
        k = (len(feature_names) - 1) // 2
        findings = tuple(feature_names[:k])
        if tuple(feature_names) != (*findings, *(f"{n}_other" for n in findings), "paired"):
            raise ValueError(f"expected findings, their '_other' twins and 'paired', got {list(feature_names)}")
        own, other, paired = _own_other_paired(x, k)
        y = np.asarray(y)
        return cls(findings, float(pair_weight), NormalQuantileMax.fit(own[paired] - pair_weight * other[paired], y[paired], findings),
                   NormalQuantileMax.fit(own, y, findings))

    def to_dict(self) -> dict:
        return {"kind": ANY_FINDING_PAIRED, "feature_names": list(self.feature_names), "pair_weight": self.pair_weight,
                "excess": self.excess.to_dict(), "alone": self.alone.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "PairedQuantileMax":
        excess, alone = NormalQuantileMax.from_dict(d["excess"]), NormalQuantileMax.from_dict(d["alone"])
        model = cls(tuple(excess.feature_names), float(d["pair_weight"]), excess, alone)
        if list(model.feature_names) != list(d["feature_names"]) or alone.feature_names != excess.feature_names:
            raise ValueError("the paired model's feature names do not match its parts")
        return model


def abnormal_model_from_dict(d: dict):
    """A logistic scorer, or the quantile model ``d["kind"]`` names."""
    kind = d.get("kind", LOGISTIC)
    if kind == ANY_FINDING:
        return NormalQuantileMax.from_dict(d)
    if kind == ANY_FINDING_PAIRED:
        return PairedQuantileMax.from_dict(d)
    if kind != LOGISTIC:
        raise ValueError(f"unknown abnormal model kind {kind!r} (expected {LOGISTIC!r}, {ANY_FINDING!r} or {ANY_FINDING_PAIRED!r})")
    return LogisticScorer.from_dict(d)


def fit_abnormal_model(kind: str, x, y, names, c: float):
    if kind == ANY_FINDING:
        return NormalQuantileMax.fit(x, y, names)
    if kind == ANY_FINDING_PAIRED:
        return PairedQuantileMax.fit(x, y, names)
    return LogisticScorer.fit(x, y, names, c=c)


@dataclass
class Platt:
    """``sigmoid(a * logit(p) + b)``."""

    a: float = 1.0
    b: float = 0.0

    def apply(self, p) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
        return 1.0 / (1.0 + np.exp(-(self.a * np.log(p / (1 - p)) + self.b)))

    @classmethod
    def fit(cls, p, y) -> "Platt":
        from sklearn.linear_model import LogisticRegression

        p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
        y = np.asarray(y, dtype=int)
        if y.min() == y.max():
            return cls()
        m = LogisticRegression(C=1e6, max_iter=1000).fit(np.log(p / (1 - p)).reshape(-1, 1), y)
        return cls(float(m.coef_[0, 0]), float(m.intercept_[0]))


@dataclass
class FilmModel:
    """Calibrated film-level scores and the verdict rule."""

    abnormal: LogisticScorer | NormalQuantileMax | PairedQuantileMax
    malignant: LogisticScorer
    abnormal_platt: Platt
    malignant_platt: Platt
    abnormal_threshold: float
    malignant_threshold: float

    def scores(self, features: dict[str, float]) -> tuple[float, float]:
        a = float(self.abnormal_platt.apply(self.abnormal.predict(features_matrix([features], self.abnormal.feature_names)))[0])
        m = float(self.malignant_platt.apply(self.malignant.predict(features_matrix([features], self.malignant.feature_names)))[0])
        # On the report's 5-decimal grid, so thresholds compare with exactly what report.json says.
        return round(a, 5), round(min(m, a), 5)

    def verdict(self, abnormal_score: float, malignant_score: float) -> str:
        if abnormal_score < self.abnormal_threshold:
            return "normal"
        return "malignant" if malignant_score >= self.malignant_threshold else "benign"

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": 3, "features": list(self.abnormal.feature_names),
                "abnormal": self.abnormal.to_dict(), "malignant": self.malignant.to_dict(),
                "abnormal_platt": [self.abnormal_platt.a, self.abnormal_platt.b],
                "malignant_platt": [self.malignant_platt.a, self.malignant_platt.b],
                "abnormal_threshold": self.abnormal_threshold, "malignant_threshold": self.malignant_threshold}

    @classmethod
    def from_dict(cls, d: dict) -> "FilmModel":
        # 1: logistic abnormal model only; 2: adds any-finding; 3: adds any-finding-paired
        if d.get("version", 1) not in (1, 2, 3):
            raise ValueError(f"film model version {d.get('version')!r} is newer than this version reads (1 to 3)")
        unknown = set(d["features"]) - set(FILM_FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; this version computes {list(FILM_FEATURES)}")
        for part in ("abnormal", "malignant"):
            if list(d[part]["feature_names"]) != list(d["features"]):
                raise ValueError(f"the {part} model's features differ from the file's 'features'")
        return cls(abnormal_model_from_dict(d["abnormal"]), LogisticScorer.from_dict(d["malignant"]),
                   Platt(*d["abnormal_platt"]), Platt(*d["malignant_platt"]),
                   float(d["abnormal_threshold"]), float(d["malignant_threshold"]))


def shipped_film_model_path() -> Path:
    return Path(__file__).parent / "weights" / "film-model.json"


def save_film_model(path: str | Path, model: FilmModel, meta: dict) -> Path:
    write_json_atomic(Path(path), {**model.to_dict(), **meta})
    return Path(path)


def load_film_model(path: str | Path | None = None) -> FilmModel:
    from converters.atomic import read_model_json

    path = Path(path) if path else shipped_film_model_path()
    doc = read_model_json(path, FORMAT, "film model", "mammo verdict fit")
    try:
        return FilmModel.from_dict(doc)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"film model is malformed ({err})", path) from None


def oof_predictions(x, y, patients, folds: int, seed: int, c: float, names=FILM_FEATURES, kind: str = LOGISTIC) -> np.ndarray:
    """Out-of-fold scores of a model of ``kind`` (logistic by default), folds by patient."""
    from detector.calc_train import patient_folds

    fold = patient_folds(patients, folds, seed)
    f = np.array([fold[str(p)] for p in patients])
    out = np.zeros(len(y))
    for k in range(folds):
        tr, te = f != k, f == k
        if not te.any():
            continue
        ytr = y[tr]
        if ytr.min() == ytr.max():
            out[te] = ytr.mean()
            continue
        out[te] = fit_abnormal_model(kind, x[tr], ytr, names, c).predict(x[te])
    return out


def calibration_figures(p, y, n_bins: int = 10) -> dict:
    """Brier score, expected calibration error (equal-width bins) and the reliability curve."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    curve, ece = [], 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            curve.append({"bin": b, "mean_predicted": float(p[m].mean()), "fraction_positive": float(y[m].mean()), "n": int(m.sum())})
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return {"brier": float(np.mean((p - y) ** 2)), "ece": float(ece), "n": int(len(p)), "curve": curve}
