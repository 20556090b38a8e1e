"""Calcification clusters: specks grouped by the clinical rule and scored by a small model.

Pipeline on one 200 micron film:

1. :func:`detector.specks.find_specks` gives speck candidates with features.
2. Every candidate with ``z >= seed_z_min`` is a *seed*. A seed is described by its own
   speck features and by its neighbourhood: how many candidates of each strength lie
   within 12, 25 and 50 px (2.4, 5 and 10 mm), how round they are, and how collinear the
   candidates within 25 px lie (a chain along a straight step edge is a line; a cluster is
   not) (:data:`SEED_FEATURES`). The clinical rule (3 or more calcifications within about
   1 cm^2) is a neighbourhood count, so the model sees it directly.
3. A logistic model (:class:`LogisticScorer`, a few dozen numbers stored as JSON) scores
   each seed: the probability that it belongs to a cluster.
4. Seeds are grouped greedily, best first: a kept seed's members are the candidates
   with ``z >= member_z_min`` within ``link_px`` of it, and seeds among them are absorbed
   (no chaining, so a cluster stays where its best seed is). A cluster's box encloses
   its members, its score is its seed's, and clusters with fewer than ``min_specks``
   members are dropped.

Boxes are ``xyxy`` in the film's pixels (origin top-left, right/bottom edges exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.specks import SPECK_FEATURES, SpeckConfig, Specks, find_specks

NEIGHBOUR_RADII_PX = (12, 25, 50)
NEIGHBOUR_Z = (2.5, 3.5, 5.0)
SEED_FEATURES = tuple(
    [f"log_count_r{r}_z{z}" for r in NEIGHBOUR_RADII_PX for z in NEIGHBOUR_Z]
    + [f"mean_blob_r{r}" for r in NEIGHBOUR_RADII_PX]
    + ["log_z", "log_contrast", "blob", "scale_ratio", "background", "log_texture", "log_edge", "line_r25"]
)
_Z, _C, _B = (SPECK_FEATURES.index(n) for n in ("z", "contrast", "blob"))


@dataclass(frozen=True)
class ClusterConfig:
    """Seed and grouping settings (pixels of a 200 micron film).

    Attributes:
        seed_z_min: candidates at least this strong are scored as seeds.
        member_z_min: candidates at least this strong count as a cluster's specks.
        link_px: seeds and specks closer than this belong to one cluster (25 px = 5 mm).
        min_specks: the clinical rule's minimum number of specks.
        max_clusters: at most this many clusters per film (best first).
    """

    seed_z_min: float = 3.0
    member_z_min: float = 2.5
    link_px: float = 25.0
    min_specks: int = 3
    max_clusters: int = 20

    def __post_init__(self) -> None:
        if self.link_px <= 0 or self.min_specks < 1 or self.max_clusters < 1:
            raise ValueError(f"bad cluster config: link_px={self.link_px}, min_specks={self.min_specks}, "
                             f"max_clusters={self.max_clusters}")


@dataclass(frozen=True)
class CalcCluster:
    """One calcification cluster: enclosing box, score, member specks."""

    xyxy: tuple[float, float, float, float]
    score: float
    specks_xy: np.ndarray = field(repr=False)

    @property
    def n_specks(self) -> int:
        return len(self.specks_xy)

    @property
    def center_xy(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.xyxy
        return (x1 + x2) / 2, (y1 + y2) / 2


@dataclass
class LogisticScorer:
    """``sigmoid(((x - mean) / scale) @ coef + intercept)``: a standardised logistic model."""

    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def __post_init__(self) -> None:
        n = len(self.feature_names)
        self.mean, self.scale, self.coef = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (self.mean, self.scale, self.coef))
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError(f"logistic scorer needs {n} means, scales and coefficients")
        if not np.all(np.isfinite(np.concatenate([self.mean, self.scale, self.coef, [self.intercept]]))):
            raise ValueError("logistic scorer has non-finite parameters")
        if np.any(self.scale <= 0):
            raise ValueError("logistic scorer scales must be > 0")

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1, len(self.feature_names))
        logit = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, feature_names, c: float = 0.1, sample_weight=None) -> "LogisticScorer":
        """L2 logistic regression on standardised features (classes balanced)."""
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(x, dtype=np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        model.fit((x - mean) / scale, np.asarray(y, dtype=int), sample_weight=sample_weight)
        return cls(tuple(feature_names), mean, scale, model.coef_[0], float(model.intercept_[0]))

    def to_dict(self) -> dict:
        return {"feature_names": list(self.feature_names), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict) -> "LogisticScorer":
        return cls(tuple(d["feature_names"]), d["mean"], d["scale"], d["coef"], float(d["intercept"]))


def _neighbours(xy: np.ndarray, seeds: np.ndarray, radius_px: float) -> list[np.ndarray]:
    from scipy.spatial import cKDTree

    return [np.asarray(n, dtype=int) for n in cKDTree(xy).query_ball_point(xy[seeds], radius_px)]


def seed_features(specks: Specks, config: ClusterConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(seed indices into specks, features (n_seeds, len(SEED_FEATURES)))``."""
    config = config or ClusterConfig()
    seeds = np.flatnonzero(specks.features[:, _Z] >= config.seed_z_min) if len(specks) else np.zeros(0, int)
    if seeds.size == 0:
        return seeds, np.zeros((0, len(SEED_FEATURES)))
    f = specks.features
    counts, blobs = [], []
    for r in NEIGHBOUR_RADII_PX:
        nb = _neighbours(specks.xy, seeds, r)
        z_nb = [f[n, _Z] for n in nb]
        for zt in NEIGHBOUR_Z:
            counts.append(np.log1p([np.count_nonzero(z >= zt) for z in z_nb]))
        blobs.append([f[n, _B].mean() for n in nb])
        if r == 25:
            line = [_line_ratio(specks.xy[n]) for n in nb]
    s = f[seeds]
    own = [np.log(s[:, _Z]), np.log(np.maximum(s[:, _C], 0.1)), s[:, _B], s[:, SPECK_FEATURES.index("scale_ratio")],
           s[:, SPECK_FEATURES.index("background")], np.log(s[:, SPECK_FEATURES.index("texture")]),
           np.log(s[:, SPECK_FEATURES.index("edge")] + 0.01), line]
    return seeds, np.column_stack(counts + blobs + own)


def _line_ratio(xy: np.ndarray) -> float:
    """Smaller over larger eigenvalue of the points' spread: 0 on a line, 1 when round
    (1 for fewer than 3 points, which make no line)."""
    if len(xy) < 3:
        return 1.0
    ev = np.linalg.eigvalsh(np.cov(xy, rowvar=False))
    return float(ev[0] / ev[1]) if ev[1] > 1e-9 else 1.0


def group_clusters(specks: Specks, seeds: np.ndarray, seed_scores: np.ndarray, config: ClusterConfig | None = None) -> list[CalcCluster]:
    """Greedy grouping of scored seeds into clusters (see the module docstring)."""
    config = config or ClusterConfig()
    if seeds.size == 0:
        return []
    from scipy.spatial import cKDTree

    members_ok = specks.features[:, _Z] >= config.member_z_min
    tree = cKDTree(specks.xy)
    suppressed = np.zeros(len(specks), dtype=bool)
    clusters: list[CalcCluster] = []
    for i in np.argsort(-seed_scores, kind="stable"):
        seed = seeds[i]
        if suppressed[seed]:
            continue
        # Members: candidates within link_px of the seed; seeds among them are absorbed.
        near = np.asarray(tree.query_ball_point(specks.xy[seed], config.link_px), dtype=int)
        suppressed[near] = True
        idx = near[members_ok[near]]
        if idx.size < config.min_specks:
            continue
        pts = specks.xy[idx]
        x1, y1 = pts.min(axis=0) - 2
        x2, y2 = pts.max(axis=0) + 3
        clusters.append(CalcCluster((float(x1), float(y1), float(x2), float(y2)), float(seed_scores[i]), pts))
        if len(clusters) == config.max_clusters:
            break
    return clusters


@dataclass
class CalcDetector:
    """Speck filter + seed scorer + grouping: ``detect(film, breast) -> clusters, specks``."""

    scorer: LogisticScorer
    speck_config: SpeckConfig = field(default_factory=SpeckConfig)
    cluster_config: ClusterConfig = field(default_factory=ClusterConfig)

    def detect(self, image_u8: np.ndarray, breast: np.ndarray | None = None) -> tuple[list[CalcCluster], Specks]:
        specks = find_specks(image_u8, breast, self.speck_config)
        seeds, feats = seed_features(specks, self.cluster_config)
        scores = self.scorer.predict(feats) if len(seeds) else np.zeros(0)
        return group_clusters(specks, seeds, scores, self.cluster_config), specks
