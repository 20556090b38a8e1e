"""Train and cross-validate the calcification cluster scorer on training patients.

Training rows are seeds (:func:`detector.calc_clusters.seed_features`) of

* every training film with a located calcification (seeds inside a labelled circle,
  radius at least ``min_label_radius_px``, are positives);
* every normal training film (all seeds negative);
* copies of normal training films with ``synth_per_film`` simulated clusters
  (:mod:`detector.calc_synth`), weighted by ``synth_weight``.

Films with other abnormalities only (masses, distortions) are left out: their seeds are
neither clusters nor known normal tissue. Cross-validation is by patient (``folds``);
its out-of-fold cluster scores on real films judge the recipe (FROC with the centre
rule, calcification films against normal films) and feed the film-level model, so no
film is scored by a scorer that saw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic
from converters.errors import InputError
from converters.preprocess import breast_mask
from converters.records import Film
from detector.calc_clusters import SEED_FEATURES, CalcDetector, ClusterConfig, LogisticScorer, group_clusters, seed_features
from detector.calc_synth import SynthConfig, insert_cluster, random_breast_point
from detector.specks import SpeckConfig, find_specks

FORMAT = "mammoscreen-calc-clusters"


@dataclass
class CalcTrainConfig:
    """Recipe of the cluster scorer (``configs/calc_clusters.yaml`` restates it).

    Attributes:
        c: inverse L2 strength of the logistic scorer.
        synth_per_film: simulated clusters inserted into each normal training film (one copy each).
        synth_weight: sample weight of simulated seeds (real seeds weigh 1).
        min_label_radius_px: labelled circles smaller than this count as this radius for seed labels.
        folds: patient folds of the cross-validation.
        seed: random seed (folds and simulation).
        speck, cluster, synth: the filter, grouping and simulation settings.
    """

    c: float = 0.01
    synth_per_film: int = 2
    synth_weight: float = 0.1
    min_label_radius_px: float = 10.0
    folds: int = 5
    seed: int = 0
    speck: SpeckConfig = field(default_factory=SpeckConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)

    def __post_init__(self) -> None:
        if not self.c > 0 or self.synth_per_film < 0 or self.synth_weight < 0 or self.folds < 2:
            raise ValueError(f"bad calcification recipe: c={self.c}, synth_per_film={self.synth_per_film}, "
                             f"synth_weight={self.synth_weight}, folds={self.folds}")


@dataclass
class FilmRows:
    """Seeds of one (possibly simulated) film with their labels."""

    film_id: str
    patient_id: str
    real: bool
    circles: list[tuple[tuple[float, float], float]]
    specks: object
    seeds: np.ndarray
    x: np.ndarray
    y: np.ndarray


def calc_circles(film: Film) -> list[tuple[tuple[float, float], float]]:
    return [(lesion.center, lesion.radius_px) for lesion in film.lesions if lesion.is_calc and lesion.radius_px]


def usable_for_training(film: Film) -> bool:
    """Normal films and films with located calcifications (see the module docstring)."""
    return (not film.is_abnormal) or bool(calc_circles(film))


def _rows(film_id, patient_id, real, image, breast, circles, cfg: CalcTrainConfig) -> FilmRows:
    specks = find_specks(image, breast, cfg.speck)
    seeds, x = seed_features(specks, cfg.cluster)
    y = np.zeros(len(seeds), dtype=bool)
    for (cx, cy), r in circles:
        y |= np.hypot(specks.xy[seeds, 0] - cx, specks.xy[seeds, 1] - cy) <= max(r, cfg.min_label_radius_px)
    return FilmRows(film_id, patient_id, real, circles, specks, seeds, x, y)


def build_rows(films: list[Film], load_image, cfg: CalcTrainConfig, progress: bool = True) -> list[FilmRows]:
    """Seed rows of the usable films, plus simulated copies of the normal ones."""
    from tqdm import tqdm

    rng = np.random.default_rng(cfg.seed)
    rows = []
    for film in tqdm([f for f in films if usable_for_training(f)], desc="calcification seeds", unit="film", disable=not progress):
        image = load_image(film)
        breast = breast_mask(image)
        circles = calc_circles(film)
        rows.append(_rows(film.film_id, film.patient_id, True, image, breast, circles, cfg))
        if circles:
            continue
        for k in range(cfg.synth_per_film):
            centre = random_breast_point(breast, rng)
            if centre is None:
                break
            simulated, cluster = insert_cluster(image, centre, rng, cfg.synth)
            rows.append(_rows(f"{film.film_id}#synthetic{k}", film.patient_id, False, simulated, breast,
                              [(cluster.center_xy, cluster.radius_px)], cfg))
    return rows


def fit_scorer(rows: list[FilmRows], cfg: CalcTrainConfig) -> LogisticScorer:
    rows = [r for r in rows if len(r.x)]
    if not rows:
        raise InputError("no calcification seeds to train on (no usable training films?)")
    x = np.concatenate([r.x for r in rows])
    y = np.concatenate([r.y for r in rows])
    if y.all() or not y.any():
        raise InputError("the calcification scorer needs seeds inside and outside labelled clusters")
    w = np.concatenate([np.full(len(r.x), 1.0 if r.real else cfg.synth_weight) for r in rows])
    keep = w > 0
    return LogisticScorer.fit(x[keep], y[keep], SEED_FEATURES, c=cfg.c, sample_weight=w[keep])


def patient_folds(patient_ids, k: int, seed: int) -> dict[str, int]:
    ids = np.array(sorted(set(patient_ids)))
    np.random.default_rng(seed).shuffle(ids)
    return {str(p): i % k for i, p in enumerate(ids)}


def cross_validate(rows: list[FilmRows], cfg: CalcTrainConfig) -> dict[str, list[dict]]:
    """Out-of-fold clusters of every REAL film: ``film_id -> [{xyxy, score, n_specks}]``."""
    fold = patient_folds([r.patient_id for r in rows], cfg.folds, cfg.seed)
    out: dict[str, list[dict]] = {}
    for k in range(cfg.folds):
        scorer = fit_scorer([r for r in rows if fold[r.patient_id] != k], cfg)
        for r in rows:
            if fold[r.patient_id] != k or not r.real:
                continue
            scores = scorer.predict(r.x) if len(r.x) else np.zeros(0)
            clusters = group_clusters(r.specks, r.seeds, scores, cfg.cluster)
            out[r.film_id] = [{"xyxy": list(c.xyxy), "score": c.score, "n_specks": c.n_specks} for c in clusters]
    return out


def save_calc_detector(path: str | Path, detector: CalcDetector, meta: dict) -> Path:
    from converters.config import config_to_dict

    path = Path(path)
    doc = {"format": FORMAT, "version": 1, "scorer": detector.scorer.to_dict(),
           "speck": config_to_dict(detector.speck_config), "cluster": config_to_dict(detector.cluster_config), **meta}
    write_json_atomic(path, doc)
    return path


def shipped_calc_path() -> Path:
    return Path(__file__).parent / "weights" / "calc-clusters.json"


def load_calc_detector(path: str | Path | None = None) -> CalcDetector:
    """The cluster detector from its JSON file (``None``: the shipped one). Plain JSON: nothing is executed."""
    from converters.atomic import read_model_json
    from converters.config import from_dict

    path = Path(path) if path else shipped_calc_path()
    doc = read_model_json(path, FORMAT, "calcification model", "mammo calcifications train")
    try:
        scorer = LogisticScorer.from_dict(doc["scorer"])
        if scorer.feature_names != SEED_FEATURES:
            raise ValueError(f"features {scorer.feature_names} differ from this version's {SEED_FEATURES}")
        return CalcDetector(scorer, from_dict(SpeckConfig, doc["speck"], path), from_dict(ClusterConfig, doc["cluster"], path))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"calcification model is malformed ({err})", path) from None
