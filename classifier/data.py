"""Crop datasets for the classifier, built from films with the rule in :mod:`classifier.crops`.

Protocols:

* ``patient``: films are split by patient (:func:`converters.splits.split_patients`, or a
  patient fold of :func:`converters.splits.kfold_patients`), then crops are cut and only
  the training side is augmented 8x.
* ``paper``: every crop is cut and augmented 8x first, then crops are split at random.
  Rotated copies of one lesion land on both sides, so its figures are LEAKY.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifier.config import ClassifierConfig
from classifier.crops import augment8, background_fraction, box_squares, circle_square, crop_square, sample_normal_squares
from converters.records import Film

_SEVERITY_TO_GRADE = {"benign": 1, "malignant": 2}


@dataclass
class Crops:
    """A set of crops with one row per crop in every array."""

    images: np.ndarray  # (N, S, S) uint8
    labels: np.ndarray  # (N,) int64 index into class_names
    patient_ids: np.ndarray  # (N,) str
    film_ids: np.ndarray  # (N,) str
    kinds: np.ndarray  # (N,) 'lesion' | 'normal'
    side_px: np.ndarray  # (N,) crop side on the film before resizing
    source_ids: np.ndarray  # (N,) id of the un-augmented crop (film:index)
    orientation: np.ndarray  # (N,) 0..7 (0 = as cut)
    class_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.labels.size)

    def take(self, idx) -> "Crops":
        idx = np.asarray(idx, dtype=np.int64)
        return Crops(
            **{k: getattr(self, k)[idx] for k in _ARRAYS},
            class_names=self.class_names,
        )

    @classmethod
    def empty(cls, out_px: int, class_names) -> "Crops":
        return cls(
            images=np.zeros((0, out_px, out_px), np.uint8), labels=np.zeros(0, np.int64),
            patient_ids=np.zeros(0, str), film_ids=np.zeros(0, str), kinds=np.zeros(0, str),
            side_px=np.zeros(0, np.float64), source_ids=np.zeros(0, str), orientation=np.zeros(0, np.int64),
            class_names=tuple(class_names),
        )

    @classmethod
    def concat(cls, parts: list["Crops"]) -> "Crops":
        parts = [p for p in parts if len(p)] or parts[:1]
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in _ARRAYS}, class_names=parts[0].class_names)

    def augmented(self) -> "Crops":
        """Each crop in its 8 orientations (rotations x flip)."""
        if not len(self):
            return self
        imgs = np.concatenate([augment8(im) for im in self.images])
        rep = {k: np.repeat(getattr(self, k), 8) for k in _ARRAYS if k not in ("images", "orientation")}
        return Crops(images=imgs, orientation=np.tile(np.arange(8), len(self)), **rep, class_names=self.class_names)


_ARRAYS = ("images", "labels", "patient_ids", "film_ids", "kinds", "side_px", "source_ids", "orientation")


class FilmCache:
    """Reads each film once and computes its breast mask once.

    Films are read from ``mias_dir`` unless :meth:`add_source` named another folder for them
    (a COCO set's image folder).
    """

    def __init__(self, mias_dir: str | Path):
        self.mias_dir = Path(mias_dir)
        self._dirs: dict[str, Path] = {}
        self._images: dict[str, np.ndarray] = {}
        self._masks: dict[str, np.ndarray] = {}

    def add_source(self, films: list[Film], folder: str | Path) -> None:
        """Read ``films`` from ``folder``; a film id already known from another folder is an error."""
        from converters.errors import InputError

        for film in films:
            if self._dirs.get(film.film_id, Path(folder)) != Path(folder):
                raise InputError(f"film id {film.film_id!r} appears in two sources", folder)
            self._dirs[film.film_id] = Path(folder)

    def image(self, film: Film) -> np.ndarray:
        from converters.images import read_gray8

        if film.film_id not in self._images:
            folder = self._dirs.get(film.film_id, self.mias_dir)
            self._images[film.film_id] = read_gray8(folder / film.image_path, expected_wh=(film.width, film.height))
        return self._images[film.film_id]

    def breast(self, film: Film) -> np.ndarray:
        from converters.preprocess import breast_mask

        if film.film_id not in self._masks:
            self._masks[film.film_id] = breast_mask(self.image(film))
        return self._masks[film.film_id]


def lesion_in_subset(lesion, subset: str) -> bool:
    """Lesions with a severity: circles (MIAS) and boxes (COCO sources, e.g. CBIS-DDSM masses)."""
    if lesion.severity is None:
        return False
    if subset == "mass":
        return lesion.is_mass
    if subset == "calc":
        return lesion.is_calc
    return True


def lesion_label(lesion, subset: str) -> int:
    g = _SEVERITY_TO_GRADE[lesion.severity]
    return g if subset == "all" else g - 1


def film_rng(seed: int, film_id: str) -> np.random.Generator:
    """A generator per (seed, film): a film's normal crops do not depend on the other films."""
    return np.random.default_rng([seed, zlib.crc32(film_id.encode())])


def lesion_sides(films: list[Film]) -> np.ndarray:
    """Crop sides of every graded lesion of ``films`` (the normal-size pool).

    ``2 * radius_px`` for circles, the box's longer side for boxes: the side
    :func:`lesion_square` cuts.
    """
    return np.array([2.0 * l.size_px for f in films for l in f.lesions if l.severity])


def lesion_square(lesion) -> tuple[float, float, float]:
    """``(cx, cy, side_px)`` of a labelled lesion's crop: the circle's square, or for a box
    its centre and longer side (the rule the grader applies to detection boxes)."""
    if lesion.radius_px is not None:
        return circle_square(lesion.center_xy, lesion.radius_px)
    return tuple(float(v) for v in box_squares(np.array([lesion.xyxy]))[0])


def cut_crops(
    films: list[Film], cache: FilmCache, cfg: ClassifierConfig, side_pool_px: np.ndarray, counts: dict | None = None
) -> Crops:
    """Lesion crops (and, for subset ``all``, normal crops) of ``films``, un-augmented.

    ``counts`` (if given) is updated with ``lesions_kept``, ``lesions_dropped_background``,
    ``lesions_out_of_subset``, ``image_level_labels_skipped``, ``normal_crops``,
    ``normal_crops_short`` (a film whose breast was too small for all its normal crops).
    """
    counts = counts if counts is not None else {}
    for key in ("lesions_kept", "lesions_dropped_background", "lesions_out_of_subset",
                "image_level_labels_skipped", "normal_crops", "normal_crops_short"):
        counts.setdefault(key, 0)
    px = cfg.input_px
    rows: list[tuple] = []
    pool = np.array([float(cfg.normal_fixed_px)]) if cfg.normal_size == "fixed" else np.asarray(side_pool_px, float)
    for film in films:
        counts["image_level_labels_skipped"] += len(film.image_labels)
        n_normal = 0
        if cfg.subset == "all":
            n_normal = cfg.normals_per_abnormal_film if film.is_abnormal else cfg.normals_per_normal_film
        wanted = [l for l in film.lesions if lesion_in_subset(l, cfg.subset)]
        counts["lesions_out_of_subset"] += len(film.lesions) - len(wanted)
        if not wanted and n_normal == 0:
            continue
        image, breast = cache.image(film), cache.breast(film)
        k = 0
        for lesion in wanted:
            cx, cy, side = lesion_square(lesion)
            if background_fraction(breast, cx, cy, side) > cfg.max_background_frac:
                counts["lesions_dropped_background"] += 1
                continue
            counts["lesions_kept"] += 1
            rows.append((crop_square(image, cx, cy, side, px), lesion_label(lesion, cfg.subset), film, "lesion", side, k))
            k += 1
        if n_normal:
            avoid = [(l.center[0], l.center[1], l.size_px) for l in film.lesions]
            squares = sample_normal_squares(breast, n_normal, pool, film_rng(cfg.seed, film.film_id),
                                            cfg.max_background_frac, avoid)
            counts["normal_crops"] += len(squares)
            counts["normal_crops_short"] += n_normal - len(squares)
            for cx, cy, side in squares:
                rows.append((crop_square(image, cx, cy, side, px), 0, film, "normal", side, k))
                k += 1
    if not rows:
        return Crops.empty(px, cfg.class_names)
    return Crops(
        images=np.stack([r[0] for r in rows]),
        labels=np.array([r[1] for r in rows], np.int64),
        patient_ids=np.array([r[2].patient_id for r in rows]),
        film_ids=np.array([r[2].film_id for r in rows]),
        kinds=np.array([r[3] for r in rows]),
        side_px=np.array([r[4] for r in rows], np.float64),
        source_ids=np.array([f"{r[2].film_id}:{r[5]}" for r in rows]),
        orientation=np.zeros(len(rows), np.int64),
        class_names=cfg.class_names,
    )


def patient_film_split(films: list[Film], cfg: ClassifierConfig) -> dict[str, str]:
    """``film_id -> train|val|test`` for the patient protocol (fixed split or a CV fold).

    With ``cfg.fold >= 0`` the development films (not ``test`` in the fixed split) are
    cut into ``cfg.kfold`` patient folds; fold ``cfg.fold`` is returned as ``test`` (the
    held-out fold), the rest as ``train``; the fixed test films are left out entirely.
    """
    from converters.splits import kfold_patients, split_patients

    fixed = split_patients(films, val_frac=cfg.val_frac, test_frac=cfg.test_frac, seed=cfg.split_seed)
    if cfg.fold < 0:
        return fixed
    dev = [f for f in films if fixed[f.film_id] != "test"]
    _, held = kfold_patients(dev, k=cfg.kfold, seed=cfg.split_seed)[cfg.fold]
    held = set(held)
    return {f.film_id: ("test" if f.film_id in held else "train") for f in dev}


@dataclass
class Dataset:
    """Crops per side of the protocol, the counts of what was dropped, and the normal-size pool."""

    sides: dict[str, Crops]
    counts: dict = field(default_factory=dict)
    side_pool_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    film_split: dict[str, str] = field(default_factory=dict)


def build_dataset(films: list[Film], cache: FilmCache, cfg: ClassifierConfig) -> Dataset:
    """Crops for ``train``/``val``/``test`` under ``cfg.protocol`` (training side augmented)."""
    counts: dict = {}
    if cfg.protocol == "patient":
        film_split = patient_film_split(films, cfg)
        by = {s: [f for f in films if film_split.get(f.film_id) == s] for s in ("train", "val", "test")}
        pool = lesion_sides(by["train"])
        sides = {}
        for s, fl in by.items():
            c: dict = {}
            sides[s] = cut_crops(fl, cache, cfg, pool, c)
            counts[s] = c
        if cfg.augment:
            sides["train"] = sides["train"].augmented()
        return Dataset(sides, counts, pool, film_split)
    # paper: crop and augment everything, then split crops at random (leaky by design)
    pool = lesion_sides(films)
    allc = cut_crops(films, cache, cfg, pool, counts)
    if cfg.augment:
        allc = allc.augmented()
    rng = np.random.default_rng(cfg.split_seed)
    order = rng.permutation(len(allc))
    n_test = int(round(len(allc) * cfg.test_frac))
    n_val = int(round(len(allc) * cfg.val_frac))
    sides = {
        "test": allc.take(order[:n_test]),
        "val": allc.take(order[n_test : n_test + n_val]),
        "train": allc.take(order[n_test + n_val :]),
    }
    return Dataset(sides, {"all": counts}, pool, {})
