"""Weighted boxes fusion, flip inverses and ensemble weights files (detector.fusion, detector.ensemble)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from converters.errors import InputError
from converters.preprocess import PreprocessConfig
from detector.api import Detector, load_detector
from detector.ensemble import FusedNet, write_ensemble
from detector.fusion import flip_image, unflip_xyxy, weighted_boxes_fusion
from phantoms import phantom_film

# ---------------------------------------------------------------- weighted boxes fusion


def test_one_set_of_separate_boxes_comes_back_unchanged_best_first():
    xyxy = np.array([[0, 0, 10, 10], [50, 50, 70, 80], [20, 0, 30, 10]], dtype=float)
    scores = np.array([0.2, 0.9, 0.5])
    out_xyxy, out_scores = weighted_boxes_fusion([(xyxy, scores)])
    assert out_scores.tolist() == [0.9, 0.5, 0.2]
    assert out_xyxy.tolist() == xyxy[[1, 2, 0]].tolist()


def test_agreement_outranks_a_box_only_one_set_saw():
    a = (np.array([[10, 10, 30, 30], [100, 100, 120, 120]], float), np.array([0.8, 0.9]))
    b = (np.array([[12, 10, 32, 30]], float), np.array([0.6]))
    xyxy, scores = weighted_boxes_fusion([a, b], iou_thr=0.55)
    assert len(scores) == 2
    # the pair: score-weighted mean box, mean score; the lone box keeps half its score
    assert scores[0] == pytest.approx(0.7) and scores[1] == pytest.approx(0.45)
    assert xyxy[0] == pytest.approx([(0.8 * 10 + 0.6 * 12) / 1.4, 10, (0.8 * 30 + 0.6 * 32) / 1.4, 30])
    assert xyxy[1].tolist() == [100, 100, 120, 120]


def test_boxes_below_the_iou_threshold_stay_apart():
    a = (np.array([[0, 0, 10, 10]], float), np.array([0.8]))
    b = (np.array([[5, 0, 15, 10]], float), np.array([0.8]))  # IoU 1/3
    _, scores = weighted_boxes_fusion([a, b], iou_thr=0.55)
    assert scores.tolist() == pytest.approx([0.4, 0.4])
    _, merged = weighted_boxes_fusion([a, b], iou_thr=0.3)
    assert merged.tolist() == pytest.approx([0.8])


def test_a_cluster_with_more_boxes_than_sets_keeps_the_mean_score():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 11], [0, 0, 11, 10]], float)
    _, scores = weighted_boxes_fusion([(boxes, np.array([0.9, 0.6, 0.3]))], n_sets=1)
    assert scores.tolist() == pytest.approx([0.6])


def test_fusion_of_nothing_and_bad_arguments():
    xyxy, scores = weighted_boxes_fusion([(np.zeros((0, 4)), np.zeros(0))] * 3)
    assert xyxy.shape == (0, 4) and scores.shape == (0,)
    with pytest.raises(ValueError, match="iou_thr"):
        weighted_boxes_fusion([(np.zeros((0, 4)), np.zeros(0))], iou_thr=0.0)
    with pytest.raises(ValueError, match="2 boxes and 1 scores"):
        weighted_boxes_fusion([(np.zeros((2, 4)), np.zeros(1))])


boxes_st = st.tuples(st.integers(0, 90), st.integers(0, 60), st.integers(1, 40), st.integers(1, 40)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


@settings(max_examples=60, deadline=None)
@given(st.lists(boxes_st, min_size=1, max_size=6), st.sampled_from(["flipud", "fliplr"]))
def test_unflip_is_its_own_inverse_and_matches_the_mirrored_pixels(boxes, flip):
    w, h = 130, 100
    xyxy = np.array(boxes, dtype=float)
    assert unflip_xyxy(unflip_xyxy(xyxy, flip, (w, h)), flip, (w, h)) == pytest.approx(xyxy)
    x1, y1, x2, y2 = (int(v) for v in xyxy[0])
    image = np.zeros((h, w), np.uint8)
    image[y1:min(y2, h), x1:min(x2, w)] = 255
    ys, xs = np.nonzero(flip_image(image, flip))  # the blob as a detector would box it on the flipped view
    seen = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], float)
    assert unflip_xyxy(seen, flip, (w, h))[0].tolist() == [x1, y1, min(x2, w), min(y2, h)]


# ---------------------------------------------------------------- FusedNet behind a Detector


class BlobNet:
    """Stub: boxes the pixels brighter than 160; ``only_upright`` ignores a vertically flipped view."""

    def __init__(self, score=0.8, only_upright=False):
        self.score, self.only_upright, self.views = score, only_upright, []

    def predict_frame(self, frame):
        self.views.append(frame.copy())
        ys, xs = np.nonzero(frame > 160)
        upright = ys.size and ys.mean() < frame.shape[0] / 2  # the disc is drawn in the top half
        if xs.size == 0 or (self.only_upright and not upright):
            return np.zeros((0, 4)), np.zeros(0)
        return np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], float), np.array([self.score])


def test_fused_flips_find_the_disc_where_it_is_drawn():
    film = phantom_film(256, [(80, 60, 14)], seed=2)
    plain = Detector(BlobNet(), PreprocessConfig(imgsz=128), "stub").predict(film)
    net = BlobNet()
    fused = Detector(FusedNet([net], ("none", "flipud", "fliplr")), PreprocessConfig(imgsz=128), "ensemble").predict(film)
    assert len(net.views) == 3 and not np.array_equal(net.views[0], net.views[1])
    assert len(fused) == 1 and fused.scores[0] == pytest.approx(0.8)
    assert fused.xyxy[0] == pytest.approx(plain.xyxy[0], abs=1e-6)  # every view, unflipped, agrees


def test_a_box_one_member_misses_keeps_its_share_of_the_score():
    frame = phantom_film(128, [(40, 30, 8)], seed=4)
    fused = FusedNet([BlobNet(0.8), BlobNet(0.4, only_upright=True)], ("none", "flipud"))
    xyxy, scores = fused.predict_frame(frame)
    assert scores.tolist() == pytest.approx([(0.8 + 0.8 + 0.4) / 4])
    with pytest.raises(ValueError, match="flips"):
        FusedNet([BlobNet()], ("none", "none"))
    with pytest.raises(ValueError, match="flips"):
        FusedNet([BlobNet()], ("rot90",))


# ---------------------------------------------------------------- ensemble weights files


def _yolo_member(path, imgsz=128, seed=0, preprocess=None):
    import torch

    from detector.offline import import_ultralytics
    from detector.weights_io import write_weights

    import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    state = DetectionModel("yolo11n.yaml", ch=3, nc=1, verbose=False).state_dict()
    pre = preprocess or PreprocessConfig(imgsz=imgsz)
    meta = {"backend": "yolo", "model_yaml": "yolo11n.yaml", "nc": 1, "imgsz": imgsz, "preprocess": dataclasses.asdict(pre)}
    return write_weights(path, {k: v.float() for k, v in state.items()}, meta)


@pytest.mark.slow
def test_ensemble_file_round_trip_and_one_member_equals_the_member(tmp_path):
    from converters.safetensors_io import read_safetensors

    a = _yolo_member(tmp_path / "a.safetensors", seed=0)
    b = _yolo_member(tmp_path / "b.safetensors", seed=1)
    film = phantom_film(192, [(60, 70, 12)], seed=7)
    single = write_ensemble([a], tmp_path / "one.safetensors")
    direct, wrapped = load_detector(a, conf=0.0).predict(film), load_detector(single, conf=0.0).predict(film)
    assert len(direct) > 0 and np.allclose(direct.xyxy, wrapped.xyxy) and np.allclose(direct.scores, wrapped.scores)

    runner = CliRunner()
    from detector.cli import app

    res = runner.invoke(app, ["ensemble", "--member", str(a), "--member", str(b), "--flip", "none", "--flip", "flipud",
                              "--imgsz", "160", "--out", str(tmp_path / "ab.safetensors")])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "ab.json").read_text())
    assert meta["backend"] == "ensemble" and meta["flips"] == ["none", "flipud"]
    assert [m["imgsz"] for m in meta["members"]] == [160, 160] and [m["member_file"] for m in meta["members"]] == ["a.safetensors", "b.safetensors"]
    assert str(tmp_path) not in (tmp_path / "ab.json").read_text()
    stored, own_b = read_safetensors(tmp_path / "ab.safetensors"), read_safetensors(b)
    assert all(np.array_equal(stored[f"m1.{k}"].numpy(), v.numpy()) for k, v in own_b.items())
    det = load_detector(tmp_path / "ab.safetensors", backend="ensemble", conf=0.0)
    assert [n.imgsz for n in det.net.nets] == [160, 160]
    found = det.predict(film)
    assert len(found) > 0 and (found.xyxy >= 0).all() and (found.xyxy[:, [2, 3]] <= 192).all()
    assert np.all(np.diff(found.scores) <= 0)


def test_ensemble_refuses_mixed_preprocessing_masks_and_bad_settings(tmp_path):
    import torch

    from detector.weights_io import write_weights

    a = _yolo_member(tmp_path / "a.safetensors")
    other = _yolo_member(tmp_path / "c.safetensors", preprocess=PreprocessConfig(imgsz=128, clahe=True))
    with pytest.raises(InputError, match="share one preprocessing"):
        write_ensemble([a, other], tmp_path / "x.safetensors")
    masks = write_weights(tmp_path / "m.safetensors", {"w": torch.zeros(1)},
                          {"backend": "mask-rcnn", "imgsz": 64, "preprocess": dataclasses.asdict(PreprocessConfig())})
    with pytest.raises(InputError, match="boxes only"):
        write_ensemble([a, masks], tmp_path / "x.safetensors")
    with pytest.raises(InputError, match="--flip"):
        write_ensemble([a], tmp_path / "x.safetensors", flips=("none", "rot90"))
    with pytest.raises(InputError, match="--iou"):
        write_ensemble([a], tmp_path / "x.safetensors", iou_thr=1.5)
    with pytest.raises(InputError, match="multiple of 32"):
        write_ensemble([a], tmp_path / "x.safetensors", imgsz=100)
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "x.json").exists()
