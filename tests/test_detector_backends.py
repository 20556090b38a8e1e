"""Detector backends on tiny synthetic phantoms: records, coordinate mapping, training, weights.

Every backend trains a few steps with a falling loss and predicts boxes in ORIGINAL film
pixels. A few steps from scratch cannot be relied on to find anything, so the mapping
from the model frame back to the film is checked with networks whose raw output is
known (a stub detector that boxes the brightest blob, and YOLO with a patched head
output); the real trained networks are then checked to return valid film-frame boxes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from contextlib import nullcontext as does_not_raise
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from converters.errors import InputError
from converters.preprocess import PreprocessConfig, preprocess
from detector.api import Detector, inverse_masks, load_detector
from detector.detections import Detections
from detector_phantoms import make_converted
from phantoms import make_phantom, phantom_film

# ---------------------------------------------------------------- Detections record


@pytest.mark.parametrize(
    "xyxy, scores, masks, expectation",
    [
        (np.zeros((0, 4)), np.zeros(0), None, does_not_raise()),
        ([[1, 2, 3, 4]], [0.5], None, does_not_raise()),
        ([[1, 2, 3, 4]], [0.5], np.ones((1, 8, 8)), does_not_raise()),
        ([[1, 2, 3]], [0.5], None, pytest.raises(ValueError, match=r"\(N, 4\)")),
        ([[1, 2, 3, 4]], [0.5, 0.1], None, pytest.raises(ValueError, match="one per box")),
        ([[3, 2, 1, 4]], [0.5], None, pytest.raises(ValueError, match="x2 >= x1")),
        ([[1, 2, 3, np.nan]], [0.5], None, pytest.raises(ValueError, match="finite")),
        ([[1, 2, 3, 4]], [0.5], np.ones((2, 8, 8)), pytest.raises(ValueError, match="masks")),
    ],
)
def test_detections_validation(xyxy, scores, masks, expectation):
    with expectation:
        d = Detections(xyxy, scores, masks)
        assert d.xyxy.shape == (len(d), 4)


def test_detections_empty_select_and_sort():
    e = Detections.empty((16, 8))
    assert len(e) == 0 and e.masks.shape == (0, 8, 16)
    d = Detections([[0, 0, 2, 2], [1, 1, 5, 5], [2, 2, 3, 3]], [0.1, 0.9, 0.5])
    s = d.sorted()
    assert s.scores.tolist() == [0.9, 0.5, 0.1]
    assert s.xyxy[0].tolist() == [1, 1, 5, 5]
    assert len(d.above(0.5)) == 2
    assert d.centers_xy[1].tolist() == [3.0, 3.0]


# ------------------------------------------------ film <-> model-frame mapping (Detector)


class BrightestBlobNet:
    """Stub backend: boxes the pixels brighter than ``thresh`` in the frame it is given."""

    def __init__(self, thresh: int = 160, with_mask: bool = False):
        self.thresh, self.with_mask, self.frames = thresh, with_mask, []

    def predict_frame(self, frame):
        self.frames.append(frame.shape)
        ys, xs = np.nonzero(frame > self.thresh)
        if xs.size == 0:
            return np.zeros((0, 4)), np.zeros(0), None
        box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=float)
        mask = (frame > self.thresh)[None] if self.with_mask else None
        return box, np.array([0.9]), mask


@pytest.mark.parametrize("mirror", [False, True])
def test_detector_maps_boxes_and_masks_back_to_the_film(mirror):
    size, (cx, cy, r) = 256, (70, 150, 14)
    if mirror:  # breast on the right: preprocessing flips it, the mapping must flip back
        cx = size - 1 - cx
    film = phantom_film(size, [(cx, cy, r)], seed=3, side="right" if mirror else "left")
    net = BrightestBlobNet(with_mask=True)
    det = Detector(net, PreprocessConfig(imgsz=96), "stub")
    found = det.predict(film)
    assert net.frames and max(net.frames[0]) == 96  # the net saw the preprocessed frame, not the film
    assert len(found) == 1
    x1, y1, x2, y2 = found.xyxy[0]
    # the drawn disc spans [c - r, c + r + 1) in film pixels; one model pixel is 256/96 ~ 2.7 film pixels
    tol = 2 * size / 96
    assert abs(x1 - (cx - r)) <= tol and abs(x2 - (cx + r + 1)) <= tol
    assert abs(y1 - (cy - r)) <= tol and abs(y2 - (cy + r + 1)) <= tol
    assert found.masks.shape == (1, size, size)
    assert found.masks[0, cy, cx]  # mask covers the disc centre in film pixels
    assert not found.masks[0, cy, (size - 1 - cx) if not mirror else 10]


def test_detector_on_a_normal_film_returns_empty():
    film = phantom_film(128, [], seed=1)
    found = Detector(BrightestBlobNet(thresh=250), PreprocessConfig(imgsz=64), "stub").predict(film)
    assert len(found) == 0 and found.xyxy.shape == (0, 4)


def test_detector_rejects_non_uint8_films():
    det = Detector(BrightestBlobNet(), PreprocessConfig(), "stub")
    with pytest.raises(InputError, match="8-bit"):
        det.predict(np.zeros((32, 32), dtype=np.float32))


def test_inverse_masks_round_trip_with_the_forward_transform():
    phantom = make_phantom(200, [(60, 90, 12)], seed=5)
    film, (disc,) = phantom.image, phantom.mass_masks()
    frame, tf = preprocess(film, PreprocessConfig(imgsz=100))
    back = inverse_masks(tf.forward_image(disc)[None], tf)[0]
    # nearest-neighbour down and up again: agreement up to the edge pixels
    assert (back & disc).sum() / (back | disc).sum() > 0.8


# ---------------------------------------------------------------- YOLO mapping (patched head)


def _yolo_net(imgsz=128):
    from detector.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    from detector.yolo_backend import YoloNet

    state = DetectionModel("yolo11n.yaml", ch=3, nc=1, verbose=False).state_dict()
    return YoloNet(state, "yolo11n.yaml", imgsz, conf=0.25)


def test_yolo_predict_frame_undoes_the_letterbox(monkeypatch):
    import torch

    net = _yolo_net(imgsz=128)
    frame = np.full((100, 60), 80, dtype=np.uint8)  # resized to 128 x 77, padded to 128 x 96
    seen = {}

    def fake_raw(batch):
        seen["shape"] = tuple(batch.shape)
        raw = torch.zeros(1, 5, 10)  # (B, 4 box cxcywh + 1 class, anchors) in letterboxed pixels
        raw[0, :4, 0] = torch.tensor([48.0, 64.0, 20.0, 40.0])
        raw[0, 4, 0] = 0.9
        return raw

    monkeypatch.setattr(net, "forward_raw", fake_raw)
    xyxy, scores = net.predict_frame(frame)
    assert seen["shape"] == (1, 3, 128, 96)
    nw = 77  # ceil(60 * 1.28)
    left = (96 - nw) // 2
    rx, ry = nw / 60, 128 / 100
    expected = [(38 - left) / rx, 44 / ry, (58 - left) / rx, 84 / ry]
    assert scores.tolist() == pytest.approx([0.9])
    assert xyxy[0] == pytest.approx(expected, abs=1e-3)


# ---------------------------------------------------------------- training on phantoms


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return make_converted(tmp_path_factory.mktemp("phantoms"), n_films=24, size=192, imgsz=128)


def _rcnn_losses(run: Path) -> list[float]:
    with open(run / "losses.csv") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def _check_film_frame(found: Detections, size: int):
    assert len(found) > 0
    assert (found.xyxy >= 0).all() and (found.xyxy[:, [0, 2]] <= size).all() and (found.xyxy[:, [1, 3]] <= size).all()
    assert (np.diff(found.scores) <= 0).all()  # best first


@pytest.mark.slow
def test_faster_rcnn_trains_resumes_and_finds_phantom_discs_where_drawn(converted, tmp_path):
    """~160 steps (1.5-6 min on 2 shared cores): falling loss, resume, top box inside most drawn discs."""
    from converters.images import read_gray8
    from detector.config import RcnnConfig
    from detector.rcnn_train import train_rcnn

    mias, conv, rows = converted
    # 16 training films, batch 4: 4 steps per epoch. From scratch it needs ~160 steps to localise
    # (60 steps found 0 of 18 discs in a trial run).
    cfg = RcnnConfig(imgsz=128, epochs=39, batch=4, lr=0.02, warmup_steps=10, seed=0, max_steps=160)
    run = tmp_path / "frcnn"
    train_rcnn(conv, "faster-rcnn", cfg, run, progress=False)
    losses = _rcnn_losses(run)
    assert len(losses) == 39 * 4
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])
    assert (run / "config.yaml").is_file() and (run / "checkpoint.safetensors").is_file()
    with pytest.raises(InputError, match="already holds"):
        train_rcnn(conv, "faster-rcnn", cfg, run, progress=False)
    # resume: one more epoch continues from the checkpoint (the step count carries on)
    result = train_rcnn(conv, "faster-rcnn", dataclasses.replace(cfg, epochs=40), run, resume=True, progress=False)
    assert len(_rcnn_losses(run)) == 40 * 4
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 160
    det = load_detector(result["last"], backend="faster-rcnn")
    assert det.preprocess_config.imgsz == 128 and det.preprocess_config.segment
    hits, discs = 0, 0
    for ref, film_rows in rows.items():
        if film_rows[0][1] == "NORM":
            continue
        _, _, _, col, row, radius = film_rows[0]
        found = det.predict(read_gray8(mias / f"{ref}.png"))
        discs += 1
        if len(found) == 0:  # nothing above the score floor: a miss
            continue
        _check_film_frame(found, 192)
        assert found.masks is None
        cx, cy = found.centers_xy[0]
        hits += (cx - col) ** 2 + (cy - row) ** 2 <= radius**2
    assert discs == 18
    assert hits >= discs // 2, f"top box inside the drawn disc on only {hits} of {discs} films"


@pytest.mark.slow
def test_mask_rcnn_trains_on_circle_masks_and_predicts_film_masks(converted, tmp_path):
    from converters.images import read_gray8
    from detector.config import RcnnConfig
    from detector.rcnn_train import train_rcnn

    mias, conv, _ = converted
    cfg = RcnnConfig(imgsz=96, epochs=1, batch=2, lr=0.01, warmup_steps=1, max_steps=5, seed=0)
    run = tmp_path / "mrcnn"
    result = train_rcnn(conv, "mask-rcnn", cfg, run, progress=False)
    rows = list(csv.DictReader(open(run / "losses.csv")))
    assert len(rows) == 5 and "loss_mask" in rows[0]["components"]
    mask_losses = [float(c.split("=")[1]) for r in rows for c in r["components"].split(";") if c.startswith("loss_mask")]
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < losses[0] and mask_losses[-1] < mask_losses[0]
    det = load_detector(result["last"])
    assert det.backend == "mask-rcnn"
    found = det.predict(read_gray8(mias / "mdb001.png"))
    _check_film_frame(found, 192)
    assert found.masks is not None and found.masks.shape[1:] == (192, 192)


@pytest.mark.slow
def test_init_weights_sidecar_without_a_newer_preprocess_field_means_its_default(tmp_path):
    import torch

    from detector.weights_io import write_weights
    from detector.yolo_backend import _start_from

    old = {"backend": "yolo", "model_yaml": "yolo11n.yaml", "imgsz": 128,
           "preprocess": {k: v for k, v in PreprocessConfig(imgsz=640).__dict__.items() if k != "x_scale"}}
    weights = write_weights(tmp_path / "old.safetensors", {"w": torch.zeros(2)}, old)
    run = {**old, "preprocess": PreprocessConfig(imgsz=640).__dict__}
    assert callable(_start_from(str(weights), run))
    other = {**old, "preprocess": PreprocessConfig(imgsz=640, x_scale=0.5).__dict__}
    with pytest.raises(InputError, match="differently preprocessed"):
        _start_from(str(weights), other)


def test_yolo_trains_from_yaml_exports_safetensors_and_predicts(converted, tmp_path):
    from converters.images import read_gray8
    from detector.config import YoloConfig
    from detector.yolo_backend import train_yolo

    mias, conv, _ = converted
    cfg = YoloConfig(imgsz=128, epochs=3, batch=8, mosaic=0.0, warmup_epochs=0.0, plots=False, cache=False,
                     optimizer="AdamW", lr0=0.002, close_mosaic=0)
    run = tmp_path / "yolo"
    result = train_yolo(conv, cfg, run)
    with open(run / "ultralytics" / "results.csv") as fh:
        rows = [{k.strip(): float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    total = [r["train/box_loss"] + r["train/cls_loss"] + r["train/dfl_loss"] for r in rows]
    assert len(total) == 3 and total[-1] < total[0]
    assert (run / "config.yaml").is_file() and (run / "ultralytics" / "weights" / "last.pt").is_file()
    weights = Path(result["last"])
    assert weights.suffix == ".safetensors"
    assert b"/tmp" not in weights.read_bytes()[:4096] and str(tmp_path) not in weights.with_suffix(".json").read_text()
    with pytest.raises(InputError, match="already holds"):
        train_yolo(conv, cfg, run)
    with pytest.raises(InputError, match="nothing to resume"):  # a finished run keeps no optimiser state
        train_yolo(conv, cfg, run, resume=True)
    # a second stage starts from these weights: with lr 0 its (EMA) conv weights stay exactly them
    from converters.safetensors_io import read_safetensors

    stage2 = train_yolo(conv, dataclasses.replace(cfg, epochs=1, lr0=0.0, init_weights=str(weights)), tmp_path / "yolo2")
    before, after = read_safetensors(weights), read_safetensors(stage2["last"])
    convs = [k for k in before if k.endswith("conv.weight")]
    assert len(convs) > 50 and all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in convs)
    with pytest.raises(InputError, match="trained as yolo yolo11n.yaml; this recipe is yolo yolo11s.yaml"):
        train_yolo(conv, dataclasses.replace(cfg, model="yolo11s.yaml", init_weights=str(weights)), tmp_path / "yolo3")
    # another image size is allowed: the same tensors fine-tune at a new resolution
    from detector.yolo_backend import _start_from

    meta = json.loads(weights.with_suffix(".json").read_text())
    assert callable(_start_from(str(weights), {**meta, "imgsz": 160}))
    det = load_detector(weights, backend="yolo", conf=0.0)
    assert det.meta["imgsz"] == 128 and det.preprocess_config.imgsz == 128
    found = det.predict(read_gray8(mias / "mdb001.png"))
    _check_film_frame(found, 192)
    # the commands, end to end: predict two films, evaluate the test split of the phantom set
    from detector.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["predict", str(mias / "mdb001.png"), str(mias / "mdb002.png"), "--weights", str(weights),
                              "--min-score", "0", "--out", str(tmp_path / "pred.json")])
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "pred.json").read_text())["films"]
    assert len(saved) == 2 and all(0 <= v <= 192 for d in saved.values() for b in d for v in b["xyxy"])
    res = runner.invoke(app, ["evaluate", "--weights", str(weights), "--mias-dir", str(mias), "--splits",
                              str(conv / "splits.json"), "--split", "test", "--film-size", "192", "--n-bootstrap", "20",
                              "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["counts"]["films"] == len(json.loads(
        (tmp_path / "ev" / "predictions.json").read_text())["films"])
    assert (tmp_path / "ev" / "froc.png").stat().st_size > 1000 and "sensitivity@1FP/film" in res.output
    # the same test films as a COCO set (mammo convert's coco/test.json): the same figures
    res = runner.invoke(app, ["evaluate", "--weights", str(weights), "--coco-json", str(conv / "coco" / "test.json"),
                              "--images", str(mias), "--all", "--n-bootstrap", "20", "--out", str(tmp_path / "ev-coco")])
    assert res.exit_code == 0, res.output
    via_coco = json.loads((tmp_path / "ev-coco" / "metrics.json").read_text())
    assert via_coco["counts"]["films"] == metrics["counts"]["films"]
    assert via_coco["froc"]["all"]["mean_sensitivity"]["value"] == metrics["froc"]["all"]["mean_sensitivity"]["value"]
    # export at another prediction size: same tensors, the sidecar says 160 px, the training size is kept
    res = runner.invoke(app, ["export", "--run", str(run), "--which", "last", "--imgsz", "160",
                              "--out", str(tmp_path / "at160.safetensors")])
    assert res.exit_code == 0, res.output
    at160 = load_detector(tmp_path / "at160.safetensors", conf=0.0)
    assert at160.meta["imgsz"] == 160 and at160.net.imgsz == 160 and at160.meta["train_config"]["imgsz"] == 128
    same = read_safetensors(tmp_path / "at160.safetensors")
    assert set(same) == set(before) and all(np.array_equal(same[k].numpy(), before[k].numpy()) for k in before)
    _check_film_frame(at160.predict(read_gray8(mias / "mdb001.png")), 192)
    res = runner.invoke(app, ["export", "--run", str(run), "--imgsz", "150", "--out", str(tmp_path / "bad.safetensors")])
    assert isinstance(res.exception, InputError) and "multiple of 32" in str(res.exception)
    assert not (tmp_path / "bad.safetensors").exists()


def test_yolo_resume_without_a_checkpoint_is_an_input_error(converted, tmp_path):
    from detector.config import YoloConfig
    from detector.yolo_backend import train_yolo

    with pytest.raises(InputError, match="no checkpoint"):
        train_yolo(converted[1], YoloConfig(imgsz=128), tmp_path / "nothing", resume=True)


# ---------------------------------------------------------------- weights, config, offline, CLI


def test_weights_round_trip_and_sidecar_errors(tmp_path):
    import torch

    from detector.weights_io import read_weights, write_weights

    state = {"a": torch.arange(6.0).reshape(2, 3)}
    meta = {"backend": "faster-rcnn", "imgsz": 64, "preprocess": dataclasses.asdict(PreprocessConfig())}
    path = write_weights(tmp_path / "w.safetensors", state, meta)
    back, meta2 = read_weights(path)
    assert torch.equal(back["a"], state["a"]) and meta2 == meta
    (tmp_path / "w.json").unlink()
    with pytest.raises(InputError, match="sidecar"):
        read_weights(path)
    with pytest.raises(InputError, match="not found"):
        read_weights(tmp_path / "missing.safetensors")


def test_sidecar_backend_mismatch_is_reported(tmp_path):
    import torch

    from detector.weights_io import write_weights

    meta = {"backend": "yolo", "imgsz": 64, "preprocess": {}, "model_yaml": "yolo11n.yaml"}
    path = write_weights(tmp_path / "w.safetensors", {"x": torch.zeros(1)}, meta)
    with pytest.raises(InputError, match="not 'mask-rcnn'"):
        load_detector(path, backend="mask-rcnn")


@pytest.mark.parametrize(
    "overrides, expectation",
    [
        ({}, does_not_raise()),
        ({"hsv_s": 0.5}, pytest.raises(ValueError, match="grayscale")),
        ({"imgsz": 100}, pytest.raises(ValueError, match="multiple of 32")),
        ({"time_hours": 0}, pytest.raises(ValueError, match="time_hours")),
    ],
)
def test_yolo_config_rejects_colour_jitter_and_bad_sizes(overrides, expectation):
    from detector.config import YoloConfig

    with expectation:
        YoloConfig(**overrides)


def test_shipped_recipes_load(tmp_path):
    from converters.config import load_config
    from detector.config import RcnnConfig, YoloConfig

    root = Path(__file__).resolve().parents[1] / "configs"
    y = load_config(YoloConfig, root / "yolo11n.yaml")
    assert y.hsv_h == 0 and y.hsv_s == 0 and y.time_hours is not None
    for name in ("faster_rcnn.yaml", "mask_rcnn.yaml"):
        assert load_config(RcnnConfig, root / name).imgsz >= 256
    bad = tmp_path / "bad.yaml"
    bad.write_text("imgsz: 640\nepocs: 3\n")
    with pytest.raises(InputError, match="did you mean 'epochs'"):
        load_config(YoloConfig, bad)


def test_offline_environment_and_fonts(tmp_path, monkeypatch):
    from detector.offline import FONT_NAMES, ultralytics_offline

    for var in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    settings = ultralytics_offline(tmp_path / "ucfg")
    import os

    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "0"
    for folder in {tmp_path / "ucfg" / "Ultralytics", settings}:
        for name in FONT_NAMES:
            assert (folder / name).stat().st_size > 100_000  # a real TrueType file, not a stub


def test_pil_open_is_pil_own_after_importing_ultralytics(tmp_path, capsys):
    import PIL.Image

    from converters.images import read_gray8
    from detector.offline import import_ultralytics

    import_ultralytics()
    assert PIL.Image.open.__module__ == "PIL.Image"  # not ultralytics' pi-heif installing wrapper
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="broken.png"):
        read_gray8(bad)
    assert "pi-heif" not in capsys.readouterr().err


def test_cli_rejects_unknown_backend_and_ambiguous_selection(tmp_path):
    from detector.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--backend", "yolov9"])
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    assert "did you mean 'yolo'" in str(res.exception)
    res = runner.invoke(app, ["evaluate", "--mias-dir", str(tmp_path), "--out", str(tmp_path / "e"), "--all",
                              "--splits", "s.json", "--split", "test"])
    assert isinstance(res.exception, InputError) and "exactly one" in str(res.exception)
    res = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert isinstance(res.exception, InputError) and "yolo/dataset.yaml" in str(res.exception)


def test_epoch_times_survive_a_resumed_run(tmp_path):
    from benchmark_scripts import load_benchmark_script

    epoch_times = load_benchmark_script("detector_model_card").epoch_times

    csv_path = tmp_path / "results.csv"
    # ultralytics' cumulative clock; the run was resumed after epoch 2, so the clock restarts
    csv_path.write_text("epoch, time,train/box_loss\n1,10.0,3\n2,25.0,2\n3,12.0,2\n4,20.0,1\n")
    assert epoch_times(csv_path) == [10.0, 15.0, 12.0, 8.0]


def test_pooled_sources_must_share_preprocessing_except_their_x_scale(tmp_path):
    """x_scale undoes one source's stretch, so it may differ; any other preprocessing field may not."""
    import yaml

    from converters.preprocess import PreprocessConfig
    from detector.converted import combined_dataset_yaml

    def converted_folder(name, **pre):
        d = tmp_path / name
        (d / "yolo").mkdir(parents=True)
        (d / "yolo" / "dataset.yaml").write_text("train: images/train\nval: images/val\nnames:\n  0: lesion\n")
        cfg = {"preprocess": True, "preprocessing": PreprocessConfig(**{"imgsz": 640, **pre}).__dict__}
        (d / "convert.yaml").write_text(yaml.safe_dump(cfg))
        return d

    mias, cbis = converted_folder("mias"), converted_folder("cbis", x_scale=0.625)
    path, pre = combined_dataset_yaml([mias, cbis], tmp_path / "pooled.yaml")
    assert pre == PreprocessConfig(imgsz=640)  # the first source's frame is the prediction default
    doc = yaml.safe_load(path.read_text())
    assert doc["train"] == [str((mias / "yolo" / "images" / "train").resolve()), str((cbis / "yolo" / "images" / "train").resolve())]
    _, pre = combined_dataset_yaml([cbis, mias], tmp_path / "pooled2.yaml")
    assert pre.x_scale == 0.625
    other = converted_folder("other", imgsz=512)
    with pytest.raises(InputError, match="other preprocessing") as exc:
        combined_dataset_yaml([mias, other], tmp_path / "pooled3.yaml")
    assert "other" in str(exc.value) and not (tmp_path / "pooled3.yaml").exists()
