"""Protocols on a synthetic MIAS-like folder: `patient` never splits a patient, `paper` does."""

import numpy as np
import pytest

from classifier.config import ClassifierConfig
from classifier.data import FilmCache, build_dataset
from phantoms import write_phantom_mias
from converters.errors import InputError
from converters.mias import load_mias


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory):
    return write_phantom_mias(tmp_path_factory.mktemp("mias"), n_patients=12, seed=3)


@pytest.fixture(scope="module")
def films_cache(phantom_folder):
    return load_mias(phantom_folder).films, FilmCache(phantom_folder)


def patients(crops):
    return set(crops.patient_ids.tolist())


def test_patient_protocol_keeps_patients_on_one_side(films_cache):
    films, cache = films_cache
    ds = build_dataset(films, cache, ClassifierConfig(protocol="patient", n_bootstrap=10))
    tr, va, te = ds.sides["train"], ds.sides["val"], ds.sides["test"]
    assert len(tr) and len(te)
    assert not patients(tr) & patients(te)
    assert not patients(tr) & patients(va)
    assert not patients(va) & patients(te)
    # Only the training side is augmented: 8 orientations per source crop there, 1 elsewhere.
    assert set(np.unique(tr.orientation)) == set(range(8))
    assert set(np.unique(te.orientation)) == {0}
    assert len(tr) == 8 * len(np.unique(tr.source_ids))
    # Lesion crops of the phantom are bright in the middle, normal crops are not.
    les = tr.images[(tr.kinds == "lesion") & (tr.orientation == 0)]
    nor = tr.images[(tr.kinds == "normal") & (tr.orientation == 0)]
    assert les[:, 20:28, 20:28].mean() > nor[:, 20:28, 20:28].mean() + 50


def test_paper_protocol_mixes_patients_so_it_is_leaky(films_cache):
    films, cache = films_cache
    cfg = ClassifierConfig(protocol="paper", normal_size="fixed")
    assert cfg.leaky
    ds = build_dataset(films, cache, cfg)
    both = patients(ds.sides["train"]) & patients(ds.sides["test"])
    assert both, "paper protocol should put crops of one patient on both sides"
    # and even rotated copies of the very same crop
    assert set(ds.sides["train"].source_ids) & set(ds.sides["test"].source_ids)
    assert set(np.unique(ds.sides["train"].side_px[ds.sides["train"].kinds == "normal"])) == {48.0}


def test_cv_folds_partition_development_patients(films_cache):
    films, cache = films_cache
    held = []
    for fold in range(3):
        ds = build_dataset(films, cache, ClassifierConfig(fold=fold, kfold=3))
        assert not patients(ds.sides["train"]) & patients(ds.sides["test"])
        held.append(patients(ds.sides["test"]))
    assert not (held[0] & held[1]) and not (held[1] & held[2])


def test_mass_subset_is_two_class_without_normals(films_cache):
    films, cache = films_cache
    ds = build_dataset(films, cache, ClassifierConfig(subset="mass"))
    allc = ds.sides["train"]
    assert set(np.unique(allc.kinds)) <= {"lesion"}
    assert set(np.unique(allc.labels)) <= {0, 1}
    assert allc.class_names == ("benign", "malignant")


def test_background_rule_drops_and_counts(films_cache):
    from classifier.data import cut_crops
    from converters.records import Lesion

    films, cache = films_cache
    film = next(f for f in films if f.side == "left" and not f.lesions)
    # The phantom breast is an ellipse from x=0 with semi-axis 0.6 * 1024: (614, 512) is its edge.
    edge = Lesion.from_circle((614, 512), 40, (1024, 1024), "CIRC", "benign")
    inside = Lesion.from_circle((300, 512), 40, (1024, 1024), "CIRC", "malignant")
    counts: dict = {}
    cfg = ClassifierConfig(max_background_frac=0.3, normals_per_abnormal_film=0)
    crops = cut_crops([film.with_lesions([edge, inside])], cache, cfg, np.array([80.0]), counts)
    assert counts["lesions_dropped_background"] == 1 and counts["lesions_kept"] == 1
    assert crops.labels.tolist() == [2]
    counts = {}
    cut_crops([film.with_lesions([edge, inside])], cache, ClassifierConfig(max_background_frac=0.6), np.array([80.0]), counts)
    assert counts["lesions_dropped_background"] == 0 and counts["lesions_kept"] == 2


def test_bad_option_is_input_error():
    with pytest.raises(InputError, match="patient"):
        ClassifierConfig(protocol="patients")
