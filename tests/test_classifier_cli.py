"""CLI end to end on a tiny synthetic MIAS-like folder: train a few steps, resume, evaluate, grade."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from classifier.cli import app
from classifier.grade import load_grader
from phantoms import write_phantom_mias
from converters.errors import InputError
from converters.mias import load_mias
from converters.splits import split_patients, splits_document, write_splits

runner = CliRunner()

TINY = """\
steps: 4
batch_size: 8
n_bootstrap: 20
normals_per_normal_film: 1
checkpoint_minutes: 0.0
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_phantom_mias(tmp_path_factory.mktemp("mias"), n_patients=9, seed=1)


@pytest.mark.slow
def test_train_resume_evaluate_grade(folder, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "--mias-dir", str(folder), "--out", str(run), "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "trained bcdcnn" in res.output
    for name in ("config.yaml", "counts.json", "checkpoint.pt", "model.safetensors", "model.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "eval_test" / "metrics.json").read_text())
    assert metrics["leaky"] is False and metrics["split"] == "test"
    assert (run / "eval_test" / "confusion.png").stat().st_size > 1000
    assert "| class | TP | TN | FP | FN | FPR | FNR |" in (run / "eval_test" / "table.md").read_text()

    res = runner.invoke(app, ["train", "--mias-dir", str(folder), "--out", str(run), "--resume", "--steps", "6"])
    assert res.exit_code == 0, res.output
    meta = json.loads((run / "model.json").read_text())
    assert meta["resumed_from_step"] == 4 and meta["steps"] == 6

    films = load_mias(folder).films
    splits = tmp_path / "splits.json"
    write_splits(splits, splits_document(films, split_patients(films), 0, 0.1, 0.2))
    out = tmp_path / "eval"
    res = runner.invoke(app, ["evaluate", "--weights", str(run / "model.safetensors"), "--mias-dir", str(folder),
                              "--splits", str(splits), "--split", "test", "--out", str(out), "--n-bootstrap", "20"])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "metrics.json").read_text())
    test_patients = {f.patient_id for f in films if split_patients(films)[f.film_id] == "test"}
    assert rep["n_patients"] <= len(test_patients) and rep["n_crops"] > 0

    res = runner.invoke(app, ["evaluate", "--weights", str(run / "model.safetensors"), "--mias-dir", str(folder),
                              "--out", str(out)])
    assert isinstance(res.exception, InputError)  # neither --splits nor --all

    grader = load_grader(run / "model.safetensors")
    film = films[2]
    from converters.images import read_gray8

    img = read_gray8(folder / film.image_path)
    boxes = np.array([l.xyxy for l in film.lesions] + [[0, 0, 30, 30]], float)
    probs = grader.grade(img, boxes)
    assert probs.shape == (len(boxes), 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert grader.grade(img, np.zeros((0, 4))).shape == (0, 3)


def test_train_rejects_unknown_protocol(folder, tmp_path):
    res = runner.invoke(app, ["train", "--mias-dir", str(folder), "--out", str(tmp_path / "r"), "--protocol", "papr"])
    assert isinstance(res.exception, InputError)
    assert "paper" in str(res.exception)
