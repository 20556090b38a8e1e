"""Training the grader on mini-MIAS plus a COCO source (CBIS-DDSM-like), on tiny synthetic sets."""

import json

import numpy as np
import pytest

from classifier.config import ClassifierConfig
from classifier.data import FilmCache, lesion_square
from classifier.run import run_training
from phantoms import write_phantom_mias
from converters.cbis import load_coco_set
from converters.errors import InputError
from converters.records import Lesion
from converters.splits import split_patients
from test_cbis import write_cbis_set


def test_box_lesion_square_is_the_grader_rule():
    # a box: its centre and its longer side, exactly what the grader cuts around a detection
    assert lesion_square(Lesion(xyxy=(10, 20, 30, 60), severity="benign")) == (20.0, 40.0, 40.0)
    circle = Lesion.from_circle((50, 60), 7, (128, 128), severity="malignant")
    assert lesion_square(circle) == (50.0, 60.0, 14.0)  # a circle: its square of side 2r


def test_film_ids_from_two_folders_must_differ(tmp_path):
    coco, images = write_cbis_set(tmp_path / "cbis")
    films = load_coco_set(coco, images, verbose=False).films
    cache = FilmCache(tmp_path)
    cache.add_source(films, images)
    cache.add_source(films, images)  # same folder again: fine
    with pytest.raises(InputError, match="two sources"):
        cache.add_source(films[:1], tmp_path / "elsewhere")


@pytest.mark.slow
def test_coco_source_joins_training_side_only(tmp_path):
    mias = write_phantom_mias(tmp_path / "mias", n_patients=9, seed=1)
    coco, images = write_cbis_set(tmp_path / "cbis", extra_patients=16)
    cfg = ClassifierConfig(steps=3, batch_size=8, n_bootstrap=20, normals_per_normal_film=1, checkpoint_minutes=0.0)
    run = tmp_path / "run"
    summary = run_training(cfg, mias, run, progress=False, baselines=False, coco_source=(coco, images))

    counts = json.loads((run / "counts.json").read_text())
    coco_counts = counts["cut"]["coco"]
    assert coco_counts["train"]["lesions_kept"] > 0 and coco_counts["test"]["lesions_kept"] > 0
    assert coco_counts["train"]["normal_crops"] > 0  # normal tissue away from the boxes
    assert "test_coco" in summary["eval"]
    assert json.loads((run / "model.json").read_text())["train_sources"] == ["mini-MIAS", f"COCO cbis/train/{coco.name}"]

    # the COCO source's held-out sides hold only its own val/test patients; val/test stay mini-MIAS
    films = load_coco_set(coco, images, verbose=False).films
    split = split_patients(films, val_frac=cfg.val_frac, test_frac=cfg.test_frac, seed=cfg.split_seed)
    for side in ("val", "test"):
        held = np.load(run / f"predictions_{side}_coco.npz")
        assert len(held["film_ids"]) > 0
        assert {split[str(i)] for i in held["film_ids"]} == {side}
    held_sides = [p.name for p in run.glob("predictions_*.npz") if "_coco" not in p.name]
    assert "predictions_test.npz" in held_sides
    for name in held_sides:
        ids = set(np.load(run / name)["film_ids"])
        assert ids and all(i.startswith("mdb") for i in ids), name


def test_coco_source_needs_patient_protocol(tmp_path):
    mias = write_phantom_mias(tmp_path / "mias", n_patients=9, seed=1)
    coco, images = write_cbis_set(tmp_path / "cbis", extra_patients=4)
    cfg = ClassifierConfig(protocol="paper", steps=1, batch_size=4, n_bootstrap=5)
    with pytest.raises(InputError, match="patient"):
        run_training(cfg, mias, tmp_path / "run", progress=False, baselines=False, coco_source=(coco, images))


@pytest.mark.slow
def test_classifier_evaluate_reads_a_coco_set_as_well_as_a_mias_folder(tmp_path, capsys):
    """`mammo classifier evaluate --coco-json F --images D --all`: the same report as for a MIAS folder."""
    from screening.cli import main

    mias = write_phantom_mias(tmp_path / "mias", n_patients=9, seed=1)
    coco, images = write_cbis_set(tmp_path / "cbis", extra_patients=4)
    cfg = ClassifierConfig(steps=3, batch_size=8, n_bootstrap=20, normals_per_normal_film=1, checkpoint_minutes=0.0)
    run_training(cfg, mias, tmp_path / "run", progress=False, baselines=False)
    weights = tmp_path / "run" / "model.safetensors"
    for args, out in ((["--mias-dir", str(mias)], "m"), (["--coco-json", str(coco), "--images", str(images)], "c")):
        with pytest.raises(SystemExit) as exc:
            main(["classifier", "evaluate", "--weights", str(weights), *args, "--all", "--n-bootstrap", "20",
                  "--out", str(tmp_path / out)])
        assert exc.value.code in (0, None)
        metrics = json.loads((tmp_path / out / "metrics.json").read_text())
        assert metrics["n_crops"] > 0 and "/" not in metrics["labelled"].split(" ", 2)[-1]
    with pytest.raises(SystemExit) as exc:
        main(["classifier", "evaluate", "--weights", str(weights), "--all", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "exactly one of --mias-dir" in capsys.readouterr().err
