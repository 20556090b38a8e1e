"""onnxruntime against PyTorch on the shipped weights and the sample films.

Stated tolerance: every detection scoring at least 0.02 on one runtime has a detection on the
other whose box is within 0.5 px (each coordinate, film pixels) and whose score is within 1e-3;
grader probabilities agree within 1e-4. (Detections near the 0.01 cut-off may fall on either
side of it through rounding, so the comparison starts at 0.02.)
"""

import json
from pathlib import Path

import numpy as np

import pytest

from converters.errors import InputError
from converters.images import read_gray8
from detector.api import DEFAULT_WEIGHTS_NAME

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
FILMS = ["mdb028.pgm", "mdb181.pgm", "mdb231.pgm"]
BOX_TOL_PX, SCORE_TOL, PROB_TOL, COMPARE_FROM = 0.5, 1e-3, 1e-4, 0.02


@pytest.fixture(scope="module")
def torch_one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def detectors(tmp_path_factory, torch_one_thread):
    from detector.api import load_detector
    from detector.onnx_runtime import export_onnx, load_onnx_detector

    path = export_onnx(None, tmp_path_factory.mktemp("onnx") / "det.onnx")
    return load_detector(conf=0.01), load_onnx_detector(path, conf=0.01), path


def unmatched(a, b) -> list[tuple]:
    """Detections of ``a`` (score >= COMPARE_FROM) with no partner in ``b`` within tolerance."""
    missing = []
    for box, score in zip(a.xyxy, a.scores):
        if score < COMPARE_FROM:
            continue
        close = (np.abs(b.xyxy - box).max(axis=1) <= BOX_TOL_PX) & (np.abs(b.scores - score) <= SCORE_TOL)
        if not close.any():
            missing.append((box.round(2).tolist(), round(float(score), 4)))
    return missing


@pytest.mark.parametrize("name", FILMS)
def test_detections_equal_pytorch(detectors, name):
    pt, ox, _ = detectors
    img = read_gray8(SAMPLE / name)
    a, b = pt.predict(img), ox.predict(img)
    assert (a.scores >= COMPARE_FROM).any(), "the film should give the comparison some detections"
    assert unmatched(a, b) == [] and unmatched(b, a) == []


def test_onnx_file_and_sidecar(detectors):
    import onnx

    _, ox, path = detectors
    meta = json.loads(path.with_suffix(".json").read_text())
    shipped = json.loads((Path(__file__).resolve().parents[1] / "detector" / "weights" / DEFAULT_WEIGHTS_NAME).with_suffix(".json").read_text())
    assert meta["runtime"] == "onnxruntime" and meta["backend"] == "yolo"
    assert meta["preprocess"] == shipped["preprocess"] and meta["imgsz"] == shipped["imgsz"]
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]  # any letterbox size
    assert ox.backend == "yolo" and ox.net.session.get_providers() == ["CPUExecutionProvider"]


def test_non_square_frame_runs_at_its_own_size(detectors):
    import cv2
    import torch

    pt, ox, _ = detectors
    w = pt.net.imgsz  # the shipped detector's prediction size
    h = (w * 7 // 10) // 32 * 32
    frame = cv2.resize(read_gray8(SAMPLE / "mdb181.pgm"), (w, h))  # wide: letterboxed to w x h, not a square
    img, _, _ = pt.net.letterbox(frame)
    assert img.shape == (h, w)
    batch = torch.from_numpy(img).float().div(255)[None, None].expand(1, 3, *img.shape).contiguous()
    with torch.inference_mode():
        a = pt.net.forward_raw(batch)
        a = (a[0] if isinstance(a, (tuple, list)) else a).numpy()
    b = ox.net.forward_raw(batch).numpy()
    assert a.shape == b.shape == (1, 5, (h * w) // 64 + (h * w) // 256 + (h * w) // 1024)
    assert np.abs(a[:, :4] - b[:, :4]).max() <= BOX_TOL_PX and np.abs(a[:, 4] - b[:, 4]).max() <= SCORE_TOL


def test_grader_equals_pytorch(tmp_path, torch_one_thread):
    from classifier.grade import load_grader
    from classifier.onnx_export import export_grader_onnx, load_onnx_grader

    path = export_grader_onnx(None, tmp_path / "grader.onnx")
    assert json.loads(path.with_suffix(".json").read_text())["runtime"] == "onnxruntime"
    img = read_gray8(SAMPLE / "mdb028.pgm")
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 900, size=(40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 120, size=(40, 2))], axis=1)
    a = load_grader().grade(img, boxes)
    b = load_onnx_grader(path).grade(img, boxes)
    assert a.shape == b.shape == (40, 3)
    assert np.abs(a - b).max() <= PROB_TOL
    assert load_onnx_grader(path).grade(img, np.zeros((0, 4))).shape == (0, 3)


def test_screener_on_onnxruntime_gives_the_same_report(detectors):
    from classifier.grade import load_grader
    from classifier.onnx_export import load_onnx_grader
    from screening.pipeline import Screener, ScreenConfig

    pt, ox, _ = detectors
    cfg = ScreenConfig(calcifications=False, film_model="none", bilateral=False, overlays=False)
    a = Screener(cfg, detector=pt, grader=load_grader()).screen_file(SAMPLE / "mdb028.pgm").to_json()
    b = Screener(cfg, detector=ox, grader=load_onnx_grader()).screen_file(SAMPLE / "mdb028.pgm").to_json()
    assert a["verdict"] == b["verdict"] and len(a["detections"]) == len(b["detections"]) > 0
    for da, db in zip(a["detections"], b["detections"]):
        assert da["grade"] == db["grade"]
        assert np.abs(np.subtract(da["xyxy"], db["xyxy"])).max() <= BOX_TOL_PX


def test_bad_onnx_inputs_are_one_clear_error(tmp_path):
    from classifier.onnx_export import export_grader_onnx, load_onnx_grader
    from detector.onnx_runtime import export_onnx, load_onnx_detector

    with pytest.raises(InputError, match="must end in .onnx"):
        export_onnx(None, tmp_path / "det.safetensors")
    with pytest.raises(InputError, match="must end in .onnx"):
        export_grader_onnx(None, tmp_path / "g.pt")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="sidecar"):
        load_onnx_detector(tmp_path / "junk.onnx")
    (tmp_path / "junk.json").write_text(json.dumps({"backend": "yolo", "imgsz": 640, "preprocess": {}, "runtime": "onnxruntime",
                                                    "input_px": 48, "class_names": ["normal", "benign", "malignant"]}))
    with pytest.raises(InputError, match="not a loadable ONNX model"):
        load_onnx_detector(tmp_path / "junk.onnx")
    with pytest.raises(InputError, match="not a loadable ONNX model"):
        load_onnx_grader(tmp_path / "junk.onnx")


def test_speed_benchmark_groups_films_by_patient():
    from benchmark_scripts import load_benchmark_script

    bench = load_benchmark_script("onnx_speed")
    names = ["mdb009.pgm", "mdb010.pgm", "mdb028.pgm", "scan.png"]
    ids = bench.patient_ids(names)
    assert ids[0] == ids[1] != ids[2] and ids[3] == "scan"
    est = bench.ratio_estimate(np.array([1.0, 2.0, 3.0, 5.0]), np.array([2.0, 4.0, 6.0, 10.0]), names)
    assert est.value == pytest.approx(0.5) and est.n_patients == 3 and est.ci_low == pytest.approx(0.5)
