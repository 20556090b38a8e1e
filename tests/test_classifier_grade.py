"""The shipped grader: loads without pickle, (N, 3) probabilities, batched; float16 export round trip."""

import json

import numpy as np
import pytest

from classifier.grade import GRADE_ORDER, load_grader, shipped_weights_path
from converters.errors import InputError
from phantoms import phantom_film


def test_shipped_weights_have_their_json():
    path = shipped_weights_path()
    assert path.is_file(), f"shipped weights missing: {path}"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert tuple(meta["class_names"]) == GRADE_ORDER
    assert meta["arch"] == "bcdcnn" and meta["input_px"] == 48
    assert meta["protocol"] == "patient"


def test_shipped_grader_grades_boxes():
    grader = load_grader()
    img = phantom_film(1024, [(130, 125, 25), (510, 510, 10)], seed=0)
    boxes = np.array([[100, 100, 160, 150], [500, 500, 520, 520], [1000, 1000, 1100, 1100]], float)  # the last runs off the film
    probs = grader.grade(img, boxes)
    assert probs.shape == (3, 3) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    with pytest.raises(InputError, match=r"\(N, 4\)"):
        grader.grade(img, np.zeros((2, 3)))
    with pytest.raises(InputError, match="uint8"):
        grader.grade(img.astype(np.float32), boxes)


def test_missing_weights_is_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_grader(tmp_path / "nope.safetensors")


def test_shipped_weights_fit_the_size_limit():
    path = shipped_weights_path()
    assert path.stat().st_size < 20e6
    assert json.loads(path.with_suffix(".json").read_text()).get("stored_dtype") == "float16"


def test_float16_export_round_trip(tmp_path):
    import torch

    from classifier.export import export_weights
    from classifier.grade import load_model
    from classifier.model import build_model
    from classifier.train import save_weights

    torch.manual_seed(0)
    model = build_model("bcdcnn", num_classes=3, in_chans=1, drop_rate=0.5, input_px=48)
    meta = {"arch": "bcdcnn", "input_px": 48, "in_chans": 1, "drop_rate": 0.5, "class_names": list(GRADE_ORDER)}
    save_weights(model, tmp_path / "run", meta)
    src = tmp_path / "run" / "model.safetensors"
    dst = export_weights(src, tmp_path / "ship" / "small.safetensors")
    assert dst.stat().st_size < 0.55 * src.stat().st_size
    assert json.loads(dst.with_suffix(".json").read_text())["stored_dtype"] == "float16"
    full, _ = load_model(src)
    half, _ = load_model(dst)
    assert next(half.parameters()).dtype == torch.float32  # computed in float32 after loading
    x = torch.rand(8, 1, 48, 48)
    with torch.no_grad():
        a, b = torch.softmax(full(x), 1), torch.softmax(half(x), 1)
    assert not torch.equal(a, b)  # the rounding really happened...
    torch.testing.assert_close(a, b, atol=2e-3, rtol=0)  # ...and changes nothing that matters
    with pytest.raises(InputError, match="dtype"):
        export_weights(src, tmp_path / "x.safetensors", "int8")
