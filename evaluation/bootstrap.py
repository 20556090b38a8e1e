"""Bootstrap 95% confidence intervals over patients (the unit that was sampled).

Every figure the project prints comes with one: resample patients with replacement,
recompute the figure on all of the resampled patients' films/lesions/crops, take the
2.5th and 97.5th percentiles. Seeded, so a report is reproducible.

A figure travels as an :class:`Estimate` record until a writer turns it into JSON
(``{"value", "ci95": [low, high], "n_patients"}``, ``null`` where undefined); text shows it
through :func:`format_estimate` only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

_JSON_KEYS = ("value", "ci95", "n_patients")
_FORMAT_SPEC = re.compile(r"(?P<sign>\+)?(?:\.(?P<digits>\d+))?f?")


def _finite(x) -> bool:
    if x is None or isinstance(x, (bool, str)):
        return False
    try:
        return math.isfinite(x)
    except TypeError:
        return False


def _none_if_nan(x: float) -> float | None:
    return float(x) if _finite(x) else None


def _nan_if_none(x) -> float:
    return float("nan") if x is None else float(x)


@dataclass(frozen=True)
class Estimate:
    """A figure and its bootstrap 95% CI (``nan`` bounds when it cannot be resampled).

    Metric functions return these records inside their result dicts; only a writer turns
    them into JSON, through :meth:`to_json` (``converters.atomic.write_json_atomic`` calls
    it), and every text goes through :func:`format_estimate`.

    Attributes:
        value: the figure on all items.
        ci_low: lower bound of the 95% CI (``nan`` if undefined).
        ci_high: upper bound of the 95% CI (``nan`` if undefined).
        n_patients: patients resampled (the bootstrap unit).
        counts: other counts the figure was computed on (``{"n_lesions": 20}``), written
            after ``n_patients``.
    """

    value: float
    ci_low: float
    ci_high: float
    n_patients: int
    counts: Mapping[str, int] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict:
        """``{"value", "ci95": [low, high], "n_patients", **counts}``, ``nan`` as ``None`` (JSON ``null``).

        Example:
            >>> Estimate(0.8, 0.7, float("nan"), 12).to_json()
            {'value': 0.8, 'ci95': [0.7, None], 'n_patients': 12}
        """
        return {"value": _none_if_nan(self.value), "ci95": [_none_if_nan(self.ci_low), _none_if_nan(self.ci_high)],
                "n_patients": int(self.n_patients), **{k: int(v) for k, v in self.counts.items()}}

    @classmethod
    def from_json(cls, doc: Mapping) -> Estimate:
        """The record back from its JSON form (``null`` as ``nan``; a missing ``n_patients`` as 0).

        Raises:
            ValueError: a key other than ``value``, ``ci95``, ``n_patients`` whose value is
                not an integer count.
        """
        lo, hi = (list(doc.get("ci95") or ()) + [None, None])[:2]
        counts = {k: v for k, v in doc.items() if k not in _JSON_KEYS}
        bad = sorted(k for k, v in counts.items() if isinstance(v, bool) or not isinstance(v, int))
        if bad:
            raise ValueError(f"estimate keys {bad} are not integer counts; expected {list(_JSON_KEYS)} and integer counts")
        return cls(_nan_if_none(doc.get("value")), _nan_if_none(lo), _nan_if_none(hi), int(doc.get("n_patients") or 0),
                   counts)

    def __format__(self, spec: str) -> str:
        """``f"{est}"``, ``f"{est:.2f}"`` or ``f"{est:+.3f}"``: :func:`format_estimate` with those digits and sign."""
        m = _FORMAT_SPEC.fullmatch(spec)
        if m is None:
            raise ValueError(f"format spec {spec!r} for an Estimate: expected '', '.3f' or '+.3f' (digits, optional sign)")
        return format_estimate(self, digits=int(m["digits"] or 3), signed=bool(m["sign"]))


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


def format_estimate(est: Estimate | Mapping | None, digits: int = 3, pct: bool = False, signed: bool = False) -> str:
    """The one text form of an estimate: ``0.812 [0.700, 0.900]``.

    Args:
        est: an :class:`Estimate`, or its JSON form (``null`` bounds allowed).
        digits: decimals.
        pct: show percentages (``81.2 [70.0, 90.0]`` with ``digits=1``).
        signed: always show the sign (differences: ``+0.050 [-0.010, +0.110]``).

    Returns:
        ``n/a`` for an undefined figure, ``0.812 [CI n/a]`` for undefined bounds.
    """
    if isinstance(est, Mapping):
        est = Estimate.from_json({k: est[k] for k in _JSON_KEYS if k in est})
    if not isinstance(est, Estimate) or not _finite(est.value):
        return "n/a"
    k = 100.0 if pct else 1.0
    spec = f"{'+' if signed else ''}.{digits}f"
    head = format(est.value * k, spec)
    if not (_finite(est.ci_low) and _finite(est.ci_high)):
        return f"{head} [CI n/a]"
    return f"{head} [{format(est.ci_low * k, spec)}, {format(est.ci_high * k, spec)}]"
