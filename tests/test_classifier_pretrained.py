"""The ``yolov5n_stem`` grader: its contract, and starting weights loaded by name and shape.

The starting-weights files here are written by the tests themselves (an RGB "detector"
with the stem's names plus a neck tensor the grader lacks), so nothing depends on the
COCO file; one test also reads that file when it is present (``YOLOV5N_COCO``, else
``pretrained/`` in the repository: the ``yolov5n_coco`` fixture).
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from classifier.config import ClassifierConfig
from classifier.data import Crops
from classifier.model import (
    YOLOv5nStem,
    build_model,
    load_start_weights,
    start_tensor_matches,
)
from converters.config import load_config
from converters.errors import InputError
from phantoms import phantom_film

ROOT = Path(__file__).resolve().parents[1]


def _detector_file(tmp_path: Path, seed: int = 1) -> tuple[Path, dict]:
    """A 3-channel stem's tensors (random, not the init) plus one neck tensor, as safetensors."""
    torch.manual_seed(seed)
    rgb = YOLOv5nStem(num_classes=80, in_chans=3)
    state = {k: v.clone() for k, v in rgb.state_dict().items() if k.startswith("model.")}
    for k, v in state.items():
        if v.is_floating_point():
            v.copy_(torch.randn_like(v) * 0.1)
            if "running_var" in k:
                v.abs_().add_(0.5)
    state["model.9.cv1.conv.weight"] = torch.randn(128, 256, 1, 1)  # the neck: not in the grader
    path = tmp_path / "yolo" / "stem.safetensors"
    path.parent.mkdir()
    save_file(state, str(path))
    return path, state


@pytest.mark.parametrize("px,n_cls", [(64, 3), (96, 2)])
def test_stem_output_shape_and_finite(px, n_cls):
    torch.manual_seed(0)
    model = build_model("yolov5n_stem", num_classes=n_cls, in_chans=1, drop_rate=0.2, input_px=px).eval()
    x = torch.rand(4, 1, px, px)
    feats = model.forward_features(x)
    logits = model.forward_head(feats)
    assert feats.shape == (4, model.num_features) == (4, 128)
    assert logits.shape == (4, n_cls)
    assert torch.isfinite(logits).all()
    assert torch.allclose(model(x), logits)
    assert (model.num_classes, model.in_chans, model.input_px) == (n_cls, 1, px)


def test_stem_refuses_input_px_not_multiple_of_16():
    with pytest.raises(ValueError, match="multiple of 16"):
        YOLOv5nStem(input_px=72)


def test_partial_load_reports_and_copies_tensors(tmp_path):
    path, state = _detector_file(tmp_path)
    model = YOLOv5nStem(num_classes=3, in_chans=1)
    report = load_start_weights(model, path)
    own = model.state_dict()
    n_stem = sum(k.startswith("model.") for k in own)
    assert report["loaded"] == n_stem and report["model_tensors"] == n_stem + 2
    assert report["left_at_init"] == ["head.bias", "head.weight"]
    assert report["channel_summed"] == ["model.0.conv.weight"]
    assert report["unused_in_file"] == 1
    assert report["file"] == "yolo/stem.safetensors"  # folder and name, never the machine's path
    assert len(report["sha256"]) == 64
    assert torch.equal(own["model.0.conv.weight"], state["model.0.conv.weight"].sum(dim=1, keepdim=True))
    for k in ("model.4.m.1.cv2.conv.weight", "model.6.cv3.bn.running_var", "model.2.cv1.bn.bias"):
        assert torch.equal(own[k], state[k])


def test_grey_first_conv_gives_the_rgb_activations_of_a_grey_film(tmp_path):
    path, _ = _detector_file(tmp_path)
    grey, rgb = YOLOv5nStem(in_chans=1).eval(), YOLOv5nStem(in_chans=3).eval()
    load_start_weights(grey, path)
    load_start_weights(rgb, path)
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(grey.model(x), rgb.model(x.repeat(1, 3, 1, 1)), atol=1e-5)


def _tiny_crops(px: int, n: int = 12) -> Crops:
    rng = np.random.default_rng(0)
    return Crops(images=rng.integers(0, 256, (n, px, px), dtype=np.uint8), labels=np.arange(n) % 3,
                 patient_ids=np.array([f"p{i}" for i in range(n)]), film_ids=np.array([f"f{i}" for i in range(n)]),
                 kinds=np.array(["lesion"] * n), side_px=np.full(n, 40.0), source_ids=np.array([f"f{i}:0" for i in range(n)]),
                 orientation=np.zeros(n, np.int64), class_names=("normal", "benign", "malignant"))


def test_model_being_trained_holds_the_file_tensors_at_step_0(tmp_path):
    from classifier.train import train_model

    path, state = _detector_file(tmp_path)
    # lr 0: the weights after the one step are the ones the step started from
    cfg = ClassifierConfig(arch="yolov5n_stem", input_px=32, start_weights=str(path), steps=1, batch_size=4,
                           lr=0.0, optimizer="sgd", checkpoint_minutes=100)
    (tmp_path / "run").mkdir()
    model, info = train_model(cfg, _tiny_crops(32), tmp_path / "run", progress=False)
    own = model.state_dict()
    assert info["start_weights"]["loaded"] == sum(k.startswith("model.") for k in own)
    assert info["start_weights"]["matches_at_step_0"] is True
    assert torch.equal(own["model.0.conv.weight"], state["model.0.conv.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(own["model.6.m.2.cv2.conv.weight"], state["model.6.m.2.cv2.conv.weight"])
    assert start_tensor_matches(model, path)
    fresh = YOLOv5nStem(num_classes=3, in_chans=1, input_px=32)
    assert not start_tensor_matches(fresh, path)


def test_file_of_another_width_is_refused_in_one_line(tmp_path):
    wider = YOLOv5nStem(in_chans=3)
    state = {k: v for k, v in wider.state_dict().items() if k.startswith("model.")}
    state["model.0.conv.weight"] = torch.zeros(32, 3, 6, 6)  # yolov5s's first conv: 32 filters, not 16
    path = tmp_path / "yolov5s.safetensors"
    save_file(state, str(path))
    with pytest.raises(InputError) as err:
        load_start_weights(YOLOv5nStem(in_chans=1), path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    assert "model.0.conv.weight (32, 3, 6, 6) vs (16, 1, 6, 6)" in msg


def test_file_without_any_stem_name_is_refused(tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 512)}, str(path))
    with pytest.raises(InputError, match="none of its 2 tensor names"):
        load_start_weights(YOLOv5nStem(in_chans=1), path)
    with pytest.raises(InputError, match="not found"):
        load_start_weights(YOLOv5nStem(in_chans=1), tmp_path / "missing.safetensors")


def test_shipped_config_names_the_coco_stem():
    cfg = load_config(ClassifierConfig, ROOT / "configs" / "yolov5n_stem_crops.yaml")
    assert cfg.arch == "yolov5n_stem" and cfg.input_px % 16 == 0
    # a project folder, where the yolov5n_coco fixture looks too (not a path outside the repository)
    assert cfg.start_weights == "pretrained/yolov5n-coco/backbone_neck.safetensors"


def test_export_and_grader_load_keep_the_start_weights_record(tmp_path):
    from classifier.export import export_weights
    from classifier.grade import load_grader
    from classifier.run import model_meta
    from classifier.train import save_weights, train_model

    path, _ = _detector_file(tmp_path)
    cfg = ClassifierConfig(arch="yolov5n_stem", input_px=32, start_weights=str(path), steps=2, batch_size=4,
                           optimizer="adam", lr=1e-3, checkpoint_minutes=100)
    (tmp_path / "run").mkdir()
    model, info = train_model(cfg, _tiny_crops(32), tmp_path / "run", progress=False)
    save_weights(model, tmp_path / "run", model_meta(cfg, np.array([40.0]), info))
    dst = export_weights(tmp_path / "run" / "model.safetensors", tmp_path / "ship" / "stem.safetensors")
    text = dst.with_suffix(".json").read_text()
    assert str(tmp_path) not in text
    grader = load_grader(dst)
    assert grader.meta["start_weights"]["sha256"] == info["start_weights"]["sha256"]
    film = phantom_film(200, [(70, 75, 20)], seed=0)
    probs = grader.grade(film, np.array([[50, 50, 90, 100], [10, 10, 30, 30]]))
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-5)


def test_coco_file_fills_every_stem_tensor(yolov5n_coco):
    model = YOLOv5nStem(in_chans=1)
    report = load_start_weights(model, yolov5n_coco)
    assert report["left_at_init"] == ["head.bias", "head.weight"]
    assert report["channel_summed"] == ["model.0.conv.weight"]
    assert start_tensor_matches(model, yolov5n_coco)

