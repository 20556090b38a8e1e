"""The shipped grader: loads without pickle, (N, 3) probabilities, batched and fast."""

import json
import time

import numpy as np
import pytest

from classifier.grade import GRADE_ORDER, load_grader, shipped_weights_path
from converters.errors import InputError


def test_shipped_weights_have_their_json():
    path = shipped_weights_path()
    assert path.is_file(), f"shipped weights missing: {path}"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert tuple(meta["class_names"]) == GRADE_ORDER
    assert meta["arch"] == "bcdcnn" and meta["input_px"] == 48
    assert meta["protocol"] == "patient"


def test_shipped_grader_grades_boxes():
    grader = load_grader()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (1024, 1024), dtype=np.uint8)
    boxes = np.array([[100, 100, 160, 150], [500, 500, 520, 520], [1000, 1000, 1100, 1100]], float)
    t = time.perf_counter()
    probs = grader.grade(img, boxes)
    elapsed = time.perf_counter() - t
    assert probs.shape == (3, 3) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert elapsed < 0.5  # the pipeline's whole per-film budget
    with pytest.raises(InputError, match=r"\(N, 4\)"):
        grader.grade(img, np.zeros((2, 3)))
    with pytest.raises(InputError, match="uint8"):
        grader.grade(img.astype(np.float32), boxes)


def test_missing_weights_is_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_grader(tmp_path / "nope.safetensors")
