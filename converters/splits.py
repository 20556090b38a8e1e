"""Patient-level splits: a patient's films always land on one side.

Patients are stratified by their worst label (normal < benign < malignant) so each
split gets its share of malignant patients. Seeded; the result is written to
``splits.json`` and every export (COCO, YOLO, classifier crops) follows it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic
from converters.errors import InputError
from converters.records import Film

SPLIT_NAMES = ("train", "val", "test")
_RANK = {"normal": 0, "benign": 1, "malignant": 2}


def patient_strata(films: list[Film]) -> dict[str, str]:
    """``patient_id -> worst verdict`` over the patient's films."""
    worst: dict[str, str] = {}
    for f in films:
        v = f.verdict
        if f.patient_id not in worst or _RANK[v] > _RANK[worst[f.patient_id]]:
            worst[f.patient_id] = v
    return worst


def _stratified_patient_order(films: list[Film], seed: int) -> dict[str, list[str]]:
    strata = patient_strata(films)
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for pid in sorted(strata):
        by_stratum[strata[pid]].append(pid)
    rng = np.random.default_rng(seed)
    for key in sorted(by_stratum):
        rng.shuffle(by_stratum[key])
    return by_stratum


def split_patients(films: list[Film], val_frac: float = 0.1, test_frac: float = 0.2, seed: int = 0) -> dict[str, str]:
    """Assign every film to ``train``/``val``/``test`` by patient.

    Args:
        films: all films (pairs share ``patient_id``).
        val_frac, test_frac: fractions of patients, per stratum (rounded).
        seed: random seed.

    Returns:
        ``film_id -> split``.
    """
    for name, frac in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not 0 <= frac < 1:
            raise InputError(f"{name} must be in [0, 1), got {frac}")
    if val_frac + test_frac >= 1:
        raise InputError(f"val_frac + test_frac must be < 1, got {val_frac + test_frac}")
    patient_split: dict[str, str] = {}
    for _, pids in sorted(_stratified_patient_order(films, seed).items()):
        n = len(pids)
        n_test = int(round(n * test_frac))
        n_val = int(round(n * val_frac))
        if n_test + n_val >= n and n > 1:
            n_val = max(0, n - n_test - 1)
        for i, pid in enumerate(pids):
            patient_split[pid] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return {f.film_id: patient_split[f.patient_id] for f in films}


def kfold_patients(films: list[Film], k: int = 5, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Patient-level stratified k-fold: list of ``(train_film_ids, test_film_ids)``."""
    if k < 2:
        raise InputError(f"k must be >= 2, got {k}")
    fold_of: dict[str, int] = {}
    offset = 0
    for _, pids in sorted(_stratified_patient_order(films, seed).items()):
        for i, pid in enumerate(pids):
            fold_of[pid] = (i + offset) % k
        offset += len(pids)
    folds = []
    for fold in range(k):
        test = [f.film_id for f in films if fold_of[f.patient_id] == fold]
        train = [f.film_id for f in films if fold_of[f.patient_id] != fold]
        folds.append((train, test))
    return folds


def splits_document(films: list[Film], film_split: dict[str, str], seed: int, val_frac: float, test_frac: float) -> dict:
    patients = {f.patient_id: film_split[f.film_id] for f in films}
    counts = {s: {"patients": 0, "films": 0} for s in SPLIT_NAMES}
    for s in patients.values():
        counts[s]["patients"] += 1
    for s in film_split.values():
        counts[s]["films"] += 1
    return {
        "seed": seed,
        "fractions": {"val": val_frac, "test": test_frac},
        "unit": "patient",
        "counts": counts,
        "films": dict(sorted(film_split.items())),
        "patients": dict(sorted(patients.items())),
    }


def write_splits(path, document: dict) -> None:
    write_json_atomic(path, document)


def load_splits(path: str | Path) -> dict[str, str]:
    """``film_id -> split`` from a ``splits.json``."""
    from converters.atomic import read_json

    doc = read_json(path, "a splits.json from mammo convert")
    films = doc.get("films") if isinstance(doc, dict) else None
    if not isinstance(films, dict) or not all(v in SPLIT_NAMES for v in films.values()):
        raise InputError("expected a 'films' mapping of film id -> train|val|test", path)
    return films


def select_split(films: list[Film], film_split: dict[str, str], split: str) -> list[Film]:
    """Films of one split; raises if a film has no assignment (a folder you did not split)."""
    if split not in SPLIT_NAMES:
        raise InputError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_NAMES)}")
    missing = [f.film_id for f in films if f.film_id not in film_split]
    if missing:
        raise InputError(
            f"{len(missing)} films are not in the splits file (first: {missing[0]}); "
            "use --all for a folder the splits do not cover"
        )
    return [f for f in films if film_split[f.film_id] == split]
