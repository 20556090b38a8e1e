"""Starting weights (by name and shape) and the safe import of ``.pt`` checkpoints.

Synthetic throughout: tensors come from freshly built ultralytics networks or small torch
modules, checkpoints are written by the tests themselves; one tiny training run on phantoms
checks that the model being trained starts from the file's tensors.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from converters.errors import InputError


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _net(model_yaml: str = "yolov5n.yaml"):
    from detector.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    return DetectionModel(model_yaml, nc=1, verbose=False)


def _random_like(state: dict, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone()) for k, v in state.items()}


def _save(path: Path, tensors: dict) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


# ---------------------------------------------------------------- loading by name and shape


def test_partial_load_copies_what_fits_and_reports_the_rest():
    from detector.start_weights import backbone_prefixes, load_by_name_and_shape

    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    src = _random_like(before, seed=1)
    backbone = backbone_prefixes("yolov5n.yaml")
    assert backbone[0] == "model.0." and len(backbone) == 10  # yolov5n: 10 backbone layers
    # backbone+neck only (like the COCO file), plus a head tensor of another shape and a foreign name
    partial = {k: v for k, v in src.items() if not k.startswith("model.24.")}
    head_key = next(k for k in src if k.startswith("model.24.") and k.endswith("weight") and src[k].ndim == 4)
    partial[head_key] = torch.zeros(3, *src[head_key].shape[1:])
    partial["extra.tensor"] = torch.zeros(2)
    report = load_by_name_and_shape(model, partial, backbone, "f.safetensors")

    after = model.state_dict()
    n_head = sum(k.startswith("model.24.") for k in before)
    assert report["loaded"] == len(before) - n_head
    assert report["backbone_loaded"] == report["backbone_tensors"] == sum(k.startswith(backbone) for k in before)
    assert report["shape_mismatch"] == [head_key] and report["unexpected"] == ["extra.tensor"]
    assert set(report["left_at_init"]) == {k for k in before if k.startswith("model.24.")}
    for k in before:
        expected = before[k] if k.startswith("model.24.") else src[k]
        assert torch.equal(after[k], expected.to(after[k].dtype)), k


@pytest.mark.parametrize("source", ["another_net", "unrelated_names"])
def test_a_backbone_that_does_not_fit_is_refused(source):
    from detector.start_weights import backbone_prefixes, load_by_name_and_shape

    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    if source == "another_net":  # yolo11n: some layers fit by chance, others share a name but not the shape
        state = _net("yolo11n.yaml").state_dict()
    else:
        state = {"features.0.weight": torch.zeros(8, 3, 3, 3), "classifier.bias": torch.zeros(2)}
    with pytest.raises(InputError, match="do not fit this model's backbone") as err:
        load_by_name_and_shape(model, state, backbone_prefixes("yolov5n.yaml"), "wrong.safetensors")
    assert "\n" not in str(err.value) and "wrong.safetensors" in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing copied


def test_train_start_check_fails_when_the_trained_model_lost_the_tensors(tmp_path):
    """The callbacks on a stand-in trainer: load, then a model rebuilt behind our back is caught."""
    from detector.start_weights import start_weights_callbacks

    file_state = {k: v for k, v in _random_like(_net().state_dict(), seed=2).items() if not k.startswith("model.24.")}
    path = _save(tmp_path / "bb.safetensors", file_state)
    meta = {"model_yaml": "yolov5n.yaml", "train_config": {"start_weights": str(path)}}
    cbs = start_weights_callbacks(path, meta, tmp_path, tmp_path / "detector_meta.json")
    trainer = SimpleNamespace(model=_net(), ema=SimpleNamespace(ema=_net()))
    cbs["on_pretrain_routine_end"](trainer)
    cbs["on_train_start"](trainer)  # passes: both the model and its EMA hold the file's tensors
    record = json.loads((tmp_path / "start_weights.json").read_text())
    assert record["loaded"] == len(file_state) and record["train_start_check"]["equal"] is True
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and record["name"] == "bb.safetensors"
    saved = json.loads((tmp_path / "detector_meta.json").read_text())
    assert saved["train_config"]["start_weights"] == "bb.safetensors" and str(tmp_path) not in json.dumps(saved)
    trainer.model = _net()  # e.g. a trainer that rebuilds its model after the load
    with pytest.raises(InputError, match="check failed"):
        cbs["on_train_start"](trainer)


def test_the_model_being_trained_starts_from_the_file(tmp_path):
    """A 1-epoch run at lr 0: the trained model's exported tensors are the file's, bit for bit."""
    from converters.safetensors_io import read_safetensors
    from detector.config import YoloConfig
    from detector.yolo_backend import train_yolo
    from detector_phantoms import make_converted

    _, conv, _ = make_converted(tmp_path / "data", n_films=8, size=128, imgsz=64)
    file_state = {k: v for k, v in _random_like(_net().state_dict(), seed=3).items() if not k.startswith("model.24.")}
    for k in file_state:  # BatchNorm variances positive; values fp16-exact (checkpoints store fp16)
        if k.endswith("running_var"):
            file_state[k] = file_state[k].abs() + 0.5
        if file_state[k].is_floating_point():
            file_state[k] = file_state[k].half().float()
    path = _save(tmp_path / "start.safetensors", file_state)
    cfg = YoloConfig(model="yolov5n.yaml", imgsz=64, epochs=1, batch=4, mosaic=0.0, warmup_epochs=0.0, plots=False,
                     cache=False, close_mosaic=0, optimizer="SGD", lr0=0.0, warmup_bias_lr=0.0, start_weights=str(path))
    result = train_yolo(conv, cfg, tmp_path / "run")
    record = json.loads((tmp_path / "run" / "start_weights.json").read_text())
    assert record["loaded"] == len(file_state) and record["left_at_init_layers"] == ["model.24"]
    assert record["train_start_check"]["loaded_tensors_equal"] == len(file_state)
    exported = read_safetensors(result["last"])
    convs = [k for k in file_state if k.endswith("conv.weight")]
    assert len(convs) > 50 and all(torch.equal(exported[k], file_state[k]) for k in convs)
    side = json.loads(Path(result["last"]).with_suffix(".json").read_text())
    assert side["start_weights"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert str(tmp_path) not in json.dumps(side)
    with pytest.raises(ValueError, match="exclusive"):
        YoloConfig(start_weights=str(path), init_weights=str(path))


# ---------------------------------------------------------------- importing .pt without executing it


class _Tiny(torch.nn.Module):
    """Stands for an ultralytics model; its pickle names this test module's class."""


def _tiny_sequential() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.SiLU())


def test_import_a_dict_of_tensors_and_an_ultralytics_style_checkpoint(tmp_path):
    from detector.import_weights import import_weights

    tensors = {"a.weight": torch.randn(3, 4), "a.steps": torch.arange(3)}
    torch.save(tensors, tmp_path / "plain.pt")
    meta = import_weights(tmp_path / "plain.pt", tmp_path / "plain.safetensors")
    from converters.safetensors_io import read_safetensors

    got = read_safetensors(tmp_path / "plain.safetensors")
    assert meta["tensors"] == 2 and all(torch.equal(got[k], tensors[k]) for k in tensors)
    assert meta["source_sha256"] == hashlib.sha256((tmp_path / "plain.pt").read_bytes()).hexdigest()

    net = _tiny_sequential()
    ema = _tiny_sequential()
    with torch.no_grad():
        ema[0].weight.add_(1.0)
    ckpt = {"epoch": 2, "model": net.half(), "ema": ema.half(), "optimizer": None,
            "train_args": {"imgsz": 64}, "train_metrics": {"fitness": np.float64(0.5)}}
    torch.save(ckpt, tmp_path / "ultra.pt")
    meta = import_weights(tmp_path / "ultra.pt", tmp_path / "ultra.safetensors")
    got = read_safetensors(tmp_path / "ultra.safetensors")
    assert meta["entry"] == "ema" and set(got) == set(ema.state_dict())  # the EMA, as ultralytics exports it
    assert all(torch.equal(got[k], v.float() if v.is_floating_point() else v) for k, v in ema.state_dict().items())
    assert got["0.weight"].dtype == torch.float32 and "torch.nn.modules.conv.Conv2d" in meta["stubbed_globals"]
    side = json.loads((tmp_path / "ultra.json").read_text())
    assert side["pickle_globals"] == meta["pickle_globals"] and str(tmp_path) not in json.dumps(side)


def _os_system_payload(marker: Path):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return Payload()


def _numpy_save_payload(marker: Path):
    class Payload:
        def __reduce__(self):
            return (np.save, (str(marker), np.zeros(2)))

    return Payload()


def test_a_malicious_pickle_is_refused_by_the_cli_and_never_runs(tmp_path, capsys):
    from screening.cli import main

    marker = tmp_path / "ran"
    torch.save({"model": {"w": torch.ones(2)}, "x": _os_system_payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(SystemExit) as ex:
        main(["detector", "import-weights", str(tmp_path / "evil.pt"), "--out", str(tmp_path / "evil.safetensors")])
    err = capsys.readouterr().err.strip()
    assert ex.value.code == 2 and "\n" not in err and "refused" in err and "system" in err
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


def test_a_payload_under_an_allowed_namespace_is_neutralised(tmp_path):
    from converters.safetensors_io import read_safetensors
    from detector.import_weights import import_weights

    marker = tmp_path / "ran.npy"
    torch.save({"model": {"w": torch.ones(2)}, "x": _numpy_save_payload(marker)}, tmp_path / "sly.pt")
    meta = import_weights(tmp_path / "sly.pt", tmp_path / "sly.safetensors")
    assert not marker.exists()  # numpy.save was bound to an inert stand-in, never called
    assert "numpy.save" in meta["stubbed_globals"] and meta["entry"] == "model"
    assert torch.equal(read_safetensors(tmp_path / "sly.safetensors")["w"], torch.ones(2))


def test_a_checkpoint_of_a_foreign_module_class_is_refused(tmp_path):
    from detector.import_weights import import_weights

    torch.save({"model": _Tiny()}, tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="refused.*_Tiny"):
        import_weights(tmp_path / "foreign.pt", tmp_path / "foreign.safetensors")
    (tmp_path / "not_a_zip.pt").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(InputError, match="not a torch zip"):
        import_weights(tmp_path / "not_a_zip.pt", tmp_path / "x.safetensors")


def test_the_coco_recipe_names_its_starting_weights_in_the_repository():
    from converters.config import load_config
    from detector.config import YoloConfig

    cfg = load_config(YoloConfig, Path(__file__).resolve().parents[1] / "configs" / "yolov5n_coco_both.yaml")
    assert cfg.model == "yolov5n.yaml" and cfg.imgsz % 32 == 0
    # a project folder, where the yolov5n_coco fixture looks too (not a path outside the repository)
    assert cfg.start_weights == "pretrained/yolov5n-coco/backbone_neck.safetensors"


def test_the_coco_starting_weights_fit_yolov5n(yolov5n_coco):
    from converters.safetensors_io import read_safetensors
    from detector.start_weights import backbone_prefixes, load_by_name_and_shape

    path = yolov5n_coco
    report = load_by_name_and_shape(_net(), read_safetensors(path), backbone_prefixes("yolov5n.yaml"), path)
    assert report["unexpected"] == [] and report["shape_mismatch"] == []
    assert report["backbone_loaded"] == report["backbone_tensors"] and {k.split(".")[1] for k in report["left_at_init"]} == {"24"}
