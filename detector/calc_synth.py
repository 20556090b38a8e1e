"""Synthetic calcification clusters inserted into normal tissue (training data only).

Real located clusters are scarce (about 20 among mini-MIAS training patients), so the
cluster scorer also learns from simulated ones, in the tradition of Monte Carlo clusters
superimposed on normal backgrounds (Chan et al., Med. Phys. 1987). A cluster is
``n_specks`` Gaussian specks (sigma ``0.6``-``1.4`` px: 1 to 4 px wide at 200 microns)
scattered around a centre inside the breast, each added to the film with an amplitude
drawn relative to the local tissue contrast. The ranges are set to those of the specks
found inside labelled circles of training films; synthetic clusters are never used to
judge the scorer (real clusters of held-out patients are).

Everything is seeded through the ``rng`` argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SynthConfig:
    """Ranges of the simulated clusters (uniform draws), 200 micron pixels and grey levels."""

    n_specks: tuple[int, int] = (3, 14)
    spread_px: tuple[float, float] = (4.0, 22.0)
    sigma_px: tuple[float, float] = (0.6, 1.4)
    amplitude: tuple[float, float] = (8.0, 40.0)
    min_gap_px: float = 2.5

    def __post_init__(self) -> None:
        for name in ("n_specks", "spread_px", "sigma_px", "amplitude"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range 0 < low <= high, got {lo}, {hi}")


@dataclass(frozen=True)
class SyntheticCluster:
    """Where a cluster was inserted: centre, speck centres (``xy``, film pixels) and the enclosing radius."""

    center_xy: tuple[float, float]
    specks_xy: np.ndarray
    radius_px: float


def _speck_positions(rng: np.random.Generator, n: int, spread_px: float, min_gap_px: float) -> np.ndarray:
    pts: list[np.ndarray] = []
    for _ in range(20 * n):
        p = rng.normal(0.0, spread_px / 2, size=2)
        if np.hypot(*p) > spread_px:
            continue
        if all(np.hypot(*(p - q)) >= min_gap_px for q in pts):
            pts.append(p)
        if len(pts) == n:
            break
    return np.array(pts, dtype=np.float64).reshape(-1, 2)


def insert_cluster(image_u8: np.ndarray, center_xy, rng: np.random.Generator, config: SynthConfig | None = None) -> tuple[np.ndarray, SyntheticCluster]:
    """Return a copy of ``image_u8`` with one simulated cluster around ``center_xy``.

    Specks are rendered as 2-D Gaussians of peak ``amplitude`` grey levels on a local
    patch (no loop over pixels); the sum is clipped to 0..255.
    """
    config = config or SynthConfig()
    n = int(rng.integers(config.n_specks[0], config.n_specks[1] + 1))
    spread = float(rng.uniform(*config.spread_px))
    offsets = _speck_positions(rng, n, spread, config.min_gap_px)
    centre = np.asarray(center_xy, dtype=np.float64)
    h, w = image_u8.shape
    half = int(np.ceil(spread + 6))
    cx, cy = int(round(centre[0])), int(round(centre[1]))
    x0, x1 = max(0, cx - half), min(w, cx + half + 1)
    y0, y1 = max(0, cy - half), min(h, cy + half + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    patch = np.zeros(yy.shape, dtype=np.float64)
    specks = centre + offsets
    for (sx, sy) in specks:  # a handful of specks, each vectorised over the patch
        sigma = rng.uniform(*config.sigma_px)
        amp = rng.uniform(*config.amplitude)
        patch += amp * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * sigma**2))
    out = image_u8.astype(np.float64)
    out[y0:y1, x0:x1] += patch
    inside = (specks[:, 0] >= 0) & (specks[:, 0] < w) & (specks[:, 1] >= 0) & (specks[:, 1] < h)
    specks = specks[inside]
    radius = float(np.hypot(*(specks - centre).T).max()) + 3.0 if len(specks) else 3.0
    cluster = SyntheticCluster((float(centre[0]), float(centre[1])), specks, radius)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), cluster


def random_breast_point(breast: np.ndarray, rng: np.random.Generator, margin_px: int = 40) -> tuple[float, float] | None:
    """A random pixel of the breast at least ``margin_px`` inside its outline (``None`` if none)."""
    import cv2

    k = 2 * margin_px + 1
    inner = cv2.erode(breast.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    rows, cols = np.nonzero(inner)
    if rows.size == 0:
        return None
    i = int(rng.integers(rows.size))
    return float(cols[i]), float(rows[i])
