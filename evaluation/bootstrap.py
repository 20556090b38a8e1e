"""Bootstrap 95% confidence intervals over patients (the unit that was sampled).

Every figure the project prints comes with one: resample patients with replacement,
recompute the figure on all of the resampled patients' films/lesions/crops, take the
2.5th and 97.5th percentiles. Seeded, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A figure and its bootstrap 95% CI (``nan`` bounds when it cannot be resampled)."""

    value: float
    ci_low: float
    ci_high: float
    n_patients: int

    def as_dict(self) -> dict:
        return {"value": self.value, "ci95": [self.ci_low, self.ci_high], "n_patients": self.n_patients}

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.value:{spec}} [{self.ci_low:{spec}}, {self.ci_high:{spec}}]"


def bootstrap_over_patients(
    patient_ids: Sequence[str],
    statistic: Callable[[np.ndarray], float],
    n_resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Figure and 95% CI of ``statistic`` resampling patients.

    Args:
        patient_ids: one entry per item (film, lesion or crop): the patient it belongs to.
        statistic: called with an integer index array into the items; returns a float
            (``nan`` allowed, e.g. an AUC on a resample with one class: those are skipped).
        n_resamples: bootstrap resamples.
        seed: random seed.
    """
    pids = np.asarray(patient_ids)
    if pids.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    uniq, inverse = np.unique(pids, return_inverse=True)
    groups = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    value = float(statistic(np.arange(pids.size)))
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_resamples):
        pick = rng.integers(0, len(groups), size=len(groups))
        idx = np.concatenate([groups[g] for g in pick])
        s = float(statistic(idx))
        if np.isfinite(s):
            stats.append(s)
    if len(stats) < max(10, n_resamples // 10):
        return Estimate(value, float("nan"), float("nan"), len(uniq))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return Estimate(value, float(lo), float(hi), len(uniq))


def format_estimate(est, digits: int = 3, pct: bool = False) -> str:
    """``0.812 [0.700, 0.900]`` from an :class:`Estimate` or its dict (``as_dict``, or JSON
    with ``null`` bounds); ``n/a`` for an undefined figure, ``[CI n/a]`` for undefined bounds.
    ``pct`` shows percentages."""
    if est is None:
        return "n/a"
    if isinstance(est, Estimate):
        est = est.as_dict()
    v = est.get("value") if isinstance(est, dict) else None
    lo, hi = (est.get("ci95") or [None, None])[:2] if isinstance(est, dict) else (None, None)
    k = 100.0 if pct else 1.0
    finite = lambda x: x is not None and x == x and abs(x) != float("inf")  # noqa: E731
    if not finite(v):
        return "n/a"
    if not (finite(lo) and finite(hi)):
        return f"{v * k:.{digits}f} [CI n/a]"
    return f"{v * k:.{digits}f} [{lo * k:.{digits}f}, {hi * k:.{digits}f}]"

