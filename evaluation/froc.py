"""FROC analysis: lesion sensitivity against false positives per film.

Coordinates follow :mod:`converters.records`: film pixels, top-left origin, ``xyxy`` with
exclusive right/bottom edges. Predictions are duck-typed: any object with ``.xyxy``
(``(N, 4)`` float, film pixels) and ``.scores`` (``(N,)``) per film id.

Matching rules (threshold independent, so the whole curve comes from one pass):

* **Hit rules.** ``"center"`` (default): a prediction hits a lesion when the centre of its
  box lies inside the labelled circle (:meth:`Lesion.contains_point`; for box-only lesions,
  inside the box). ``"iou"``: when the IoU of the predicted box and the lesion box is at
  least ``iou_threshold`` (default 0.3).
* **Each lesion is counted once**: it is found at threshold ``t`` when any prediction of
  score ``>= t`` on its film hits it (its *hit score* is the best such score). A prediction
  whose centre lies in two overlapping circles finds both.
* **False positives**: a prediction that hits no located lesion of its film. A prediction
  that hits an already-found lesion (a duplicate box) is *not* a false positive; it is
  ignored (and counted in ``n_duplicate_hits``).
* **Denominators**: sensitivity over located lesions; false positives per film over ALL
  films, normal films included. Image-level-only labels (abnormalities without a location)
  cannot be hit: they are left out of sensitivity and reported as a count; their films still
  count in the false-positive denominator and predictions on them that hit no located lesion
  are false positives (the conservative reading).
* **Subsets** (``"mass"``, ``"calc"``): sensitivity over the lesions of the subset, false
  positives exactly as for ``"all"`` (a box on a lesion of another class is neither a hit
  nor a false positive).
* **Sensitivity at a rate r** is that of the lowest score threshold whose false positives
  per film do not exceed ``r`` (a step curve, no interpolation). If all predictions together
  give fewer than ``r`` false positives per film, it is the sensitivity with all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.bootstrap import Estimate, bootstrap_over_patients
from evaluation.roc import roc_auc
from converters.errors import InputError, look_up_option
from converters.records import Film, Lesion

FP_RATES_PER_FILM = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
HIT_RULES = ("center", "iou")
SUBSETS = ("all", "mass", "calc")

HIT_RULE_TEXT = {
    "center": "a predicted box finds a lesion when its centre lies inside the labelled circle "
    "(inside the box for box-only labels)",
    "iou": "a predicted box finds a lesion when its IoU with the lesion box is >= {iou:g}",
}


def in_subset(lesion: Lesion, subset: str) -> bool:
    """Whether ``lesion`` belongs to ``subset`` (``all``, ``mass`` or ``calc``)."""
    if subset == "all":
        return True
    if subset == "mass":
        return lesion.is_mass
    if subset == "calc":
        return lesion.is_calc
    look_up_option(subset, SUBSETS, "lesion subset")
    raise AssertionError("unreachable")


def as_arrays(pred, film_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(xyxy (N,4) float64, scores (N,) float64)`` of one film's predictions.

    Raises:
        InputError: wrong shapes or non-finite values.
    """
    if pred is None:
        return np.zeros((0, 4)), np.zeros(0)
    xyxy = np.asarray(pred.xyxy, dtype=np.float64)
    scores = np.asarray(pred.scores, dtype=np.float64)
    if xyxy.size == 0 and scores.size == 0:
        return np.zeros((0, 4)), np.zeros(0)
    if xyxy.ndim != 2 or xyxy.shape[1] != 4:
        raise InputError(f"predictions for film {film_id!r}: xyxy must have shape (N, 4), got {xyxy.shape}")
    if scores.shape != (xyxy.shape[0],):
        raise InputError(
            f"predictions for film {film_id!r}: scores must have shape ({xyxy.shape[0]},), got {scores.shape}"
        )
    if not (np.isfinite(xyxy).all() and np.isfinite(scores).all()):
        raise InputError(f"predictions for film {film_id!r}: boxes and scores must be finite")
    return xyxy, scores


def check_predictions(films: Sequence[Film], predictions: Mapping) -> None:
    """Raise InputError on duplicate film ids or predictions for films not in ``films``."""
    ids = [f.film_id for f in films]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise InputError(f"ground truth: film ids must be unique, repeated: {dup[:5]}")
    unknown = sorted(set(predictions) - set(ids))
    if unknown:
        raise InputError(
            f"predictions for {len(unknown)} film(s) not in the ground truth, e.g. {unknown[:3]}; "
            "expected film ids of the evaluated films"
        )


def box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``(len(a), len(b))`` of continuous xyxy boxes."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass(frozen=True)
class FilmMatches:
    """Outcome of matching one film's predictions to its lesions (no threshold applied).

    Attributes:
        fp_scores: scores of the predictions that hit no lesion (false positives).
        lesion_hit_scores: per located lesion, the best score of a prediction hitting it
            (``-inf`` when none does).
        lesion_is_mass, lesion_is_calc: per located lesion, its subset.
        n_predictions: predictions on the film.
        n_duplicate_hits: predictions that hit a lesion some higher-scored prediction
            already hit (not false positives).
        max_score: highest prediction score on the film (``nan`` when there is none).
    """

    fp_scores: np.ndarray
    lesion_hit_scores: np.ndarray
    lesion_is_mass: np.ndarray
    lesion_is_calc: np.ndarray
    n_predictions: int
    n_duplicate_hits: int
    max_score: float


def hit_matrix(lesions: Sequence[Lesion], xyxy: np.ndarray, hit_rule: str, iou_threshold: float) -> np.ndarray:
    """Bool ``(n_predictions, n_lesions)``: does prediction i hit lesion j under the rule."""
    n, m = len(xyxy), len(lesions)
    if n == 0 or m == 0:
        return np.zeros((n, m), dtype=bool)
    if hit_rule == "center":
        cx = (xyxy[:, 0] + xyxy[:, 2]) / 2
        cy = (xyxy[:, 1] + xyxy[:, 3]) / 2
        return np.array([[les.contains_point(float(x), float(y)) for les in lesions] for x, y in zip(cx, cy)])
    gt = np.array([les.xyxy for les in lesions], dtype=np.float64)
    return box_iou(xyxy, gt) >= iou_threshold


def match_film(film: Film, pred, hit_rule: str = "center", iou_threshold: float = 0.3) -> FilmMatches:
    """Match one film's predictions to its located lesions (see module docstring)."""
    xyxy, scores = as_arrays(pred, film.film_id)
    hits = hit_matrix(film.lesions, xyxy, hit_rule, iou_threshold)
    any_hit = hits.any(axis=1)
    if len(scores):
        hit_scores = np.where(hits, scores[:, None], -np.inf).max(axis=0)
    else:
        hit_scores = np.full(len(film.lesions), -np.inf)
    # Duplicates: predictions hitting only lesions that a higher-scored prediction hit first.
    order = np.argsort(-scores, kind="stable")
    found = np.zeros(len(film.lesions), dtype=bool)
    n_dup = 0
    for i in order:
        if any_hit[i]:
            if not (hits[i] & ~found).any():
                n_dup += 1
            found |= hits[i]
    return FilmMatches(
        fp_scores=scores[~any_hit],
        lesion_hit_scores=np.asarray(hit_scores, dtype=np.float64).reshape(-1),
        lesion_is_mass=np.array([les.is_mass for les in film.lesions], dtype=bool),
        lesion_is_calc=np.array([les.is_calc for les in film.lesions], dtype=bool),
        n_predictions=int(len(scores)),
        n_duplicate_hits=n_dup,
        max_score=float(scores.max()) if len(scores) else float("nan"),
    )


def match_predictions(
    films: Sequence[Film], predictions: Mapping, hit_rule: str = "center", iou_threshold: float = 0.3
) -> list[FilmMatches]:
    """Match every film (a film missing from ``predictions`` has no detections).

    Raises:
        InputError: unknown hit rule, IoU threshold outside (0, 1], or bad predictions.
    """
    look_up_option(hit_rule, HIT_RULES, "hit rule")
    if not 0 < iou_threshold <= 1:
        raise InputError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    check_predictions(films, predictions)
    return [match_film(f, predictions.get(f.film_id), hit_rule, iou_threshold) for f in films]


class FrocEvents:
    """All scored events of a film set, flattened once so that bootstrap resamples are cheap.

    A resample is a vector of film multiplicities (``np.bincount`` of film indices).
    """

    def __init__(self, matches: Sequence[FilmMatches], subset: str = "all"):
        look_up_option(subset, SUBSETS, "lesion subset")
        self.n_films = len(matches)
        fp_film = [np.full(len(m.fp_scores), i) for i, m in enumerate(matches)]
        fp_scores = [m.fp_scores for m in matches]
        keep = [self._subset_mask(m, subset) for m in matches]
        les_film = [np.full(int(k.sum()), i) for i, k in enumerate(keep)]
        les_scores = [m.lesion_hit_scores[k] for m, k in zip(matches, keep)]
        self.fp_film = np.concatenate(fp_film).astype(int) if fp_film else np.zeros(0, int)
        self.fp_scores = np.concatenate(fp_scores) if fp_scores else np.zeros(0)
        self.lesion_film = np.concatenate(les_film).astype(int) if les_film else np.zeros(0, int)
        self.lesion_scores = np.concatenate(les_scores) if les_scores else np.zeros(0)
        finite = self.lesion_scores[np.isfinite(self.lesion_scores)]
        # Thresholds, descending; index 0 is +inf (nothing detected).
        self.thresholds = np.concatenate([[np.inf], np.unique(np.concatenate([self.fp_scores, finite]))[::-1]])
        asc = self.thresholds[::-1]
        # Position k of an event: it counts at thresholds[k:] (all thresholds <= its score).
        self.fp_pos = len(asc) - 1 - np.searchsorted(asc, self.fp_scores, side="left")
        self.lesion_pos = np.where(
            np.isfinite(self.lesion_scores),
            len(asc) - 1 - np.searchsorted(asc, np.where(np.isfinite(self.lesion_scores), self.lesion_scores, 0.0)),
            len(asc),  # never found: beyond the last threshold
        )

    @staticmethod
    def _subset_mask(m: FilmMatches, subset: str) -> np.ndarray:
        if subset == "mass":
            return m.lesion_is_mass
        if subset == "calc":
            return m.lesion_is_calc
        return np.ones(len(m.lesion_hit_scores), dtype=bool)

    @property
    def n_lesions(self) -> int:
        return int(len(self.lesion_scores))

    def curve(self, film_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(thresholds, fp_per_film, sensitivity)``, thresholds descending from ``+inf``.

        Args:
            film_weights: multiplicity of each film (a bootstrap resample); default all ones.
        """
        w = np.ones(self.n_films) if film_weights is None else np.asarray(film_weights, dtype=np.float64)
        k = len(self.thresholds)
        fp = np.cumsum(np.bincount(self.fp_pos, weights=w[self.fp_film], minlength=k)[:k])
        tp = np.cumsum(np.bincount(self.lesion_pos, weights=w[self.lesion_film], minlength=k + 1)[:k])
        n_films = w.sum()
        n_les = w[self.lesion_film].sum()
        fppf = fp / n_films if n_films > 0 else np.full(k, np.nan)
        sens = tp / n_les if n_les > 0 else np.full(k, np.nan)
        return self.thresholds, fppf, sens

    def sensitivity_at(self, rates=FP_RATES_PER_FILM, film_weights: np.ndarray | None = None) -> np.ndarray:
        """Sensitivity at each false-positive rate (step rule of the module docstring)."""
        _, fppf, sens = self.curve(film_weights)
        if not np.isfinite(fppf).all():
            return np.full(len(rates), np.nan)
        # fppf is non-decreasing; the last index with fppf <= r (index 0 has fppf 0).
        idx = np.searchsorted(fppf, np.asarray(rates, dtype=np.float64) + 1e-12, side="right") - 1
        return sens[idx]


def film_level_scores(matches: Sequence[FilmMatches]) -> np.ndarray:
    """Film score = its highest detection score; films without detections get the lowest
    score of all (``min - 1``, or 0 when nothing was detected anywhere)."""
    s = np.array([m.max_score for m in matches], dtype=np.float64)
    floor = np.nanmin(s) - 1.0 if np.isfinite(s).any() else 0.0
    return np.where(np.isfinite(s), s, floor)


def memo_by_index(fn):
    """Cache ``fn(idx)`` by the bytes of ``idx``, so several figures computed from one
    resample (all FROC points, AP50 and AP50:95) cost one evaluation per resample."""
    cache: dict = {}

    def get(idx):
        key = np.asarray(idx).tobytes()
        if key not in cache:
            cache[key] = fn(idx)
        return cache[key]

    return get


def evaluate_froc(
    films: Sequence[Film],
    matches: Sequence[FilmMatches],
    rates=FP_RATES_PER_FILM,
    n_resamples: int = 300,
    seed: int = 0,
) -> dict:
    """FROC points, mean sensitivity and film-level AUC, each with a bootstrap CI over patients.

    Every figure uses the same resamples (same patient list and seed), resampling patients
    and recomputing on all of their films, lesions and false positives.

    Returns:
        ``{"subsets": {subset: {"n_lesions", "fp_per_film", "sensitivity": [Estimate],
        "mean_sensitivity": Estimate, "events": FrocEvents}}, "film_auc": Estimate,
        "film_scores": array, "film_labels": array}``
    """
    pids = [f.patient_id for f in films]
    n = len(films)

    def weights(idx: np.ndarray) -> np.ndarray:
        return np.bincount(idx, minlength=n).astype(np.float64)

    out: dict = {"subsets": {}}
    for subset in SUBSETS:
        ev = FrocEvents(matches, subset)
        at = memo_by_index(lambda idx, ev=ev: ev.sensitivity_at(rates, weights(idx)))
        points = [
            bootstrap_over_patients(pids, lambda idx, j=j, at=at: at(idx)[j], n_resamples, seed)
            for j in range(len(rates))
        ]
        mean = bootstrap_over_patients(pids, lambda idx, at=at: float(np.mean(at(idx))), n_resamples, seed)
        out["subsets"][subset] = {
            "n_lesions": ev.n_lesions,
            "fp_per_film": list(rates),
            "sensitivity": points,
            "mean_sensitivity": mean,
            "events": ev,
        }
    labels = np.array([f.is_abnormal for f in films], dtype=bool)
    scores = film_level_scores(matches)
    out["film_auc"] = bootstrap_over_patients(pids, lambda idx: roc_auc(labels[idx], scores[idx]), n_resamples, seed)
    out["film_scores"] = scores
    out["film_labels"] = labels
    return out


__all__ = [
    "FP_RATES_PER_FILM",
    "HIT_RULES",
    "SUBSETS",
    "Estimate",
    "FilmMatches",
    "FrocEvents",
    "box_iou",
    "evaluate_froc",
    "film_level_scores",
    "hit_matrix",
    "match_film",
    "match_predictions",
    "memo_by_index",
    "roc_auc",
]
