"""Starting weights for a YOLO run: tensors copied BY NAME AND SHAPE into the model being trained.

``YoloConfig.start_weights`` names a ``.safetensors`` file: the project's own export
(the whole network) or a partial set such as COCO-pretrained backbone+neck tensors keyed
for the same ultralytics model YAML (the detection head then stays at initialisation).

ultralytics builds a fresh network inside its trainer, so tensors loaded into
``YOLO(...).model`` beforehand are silently dropped. :func:`start_weights_callbacks` loads
them where it matters: once the trainer has built its model, optimiser and EMA
(``on_pretrain_routine_end``), in place (the optimiser keeps its parameter references),
into the model and its EMA; at ``on_train_start`` it checks that a backbone tensor of the
model being trained equals the file's. The report (loaded count, tensors left at
initialisation, the file's name and sha256) goes to the log, to ``RUN/start_weights.json``
and to the run's sidecar template, hence to every export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from converters.atomic import write_json_atomic
from converters.errors import InputError

REPORT_NAME = "start_weights.json"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def backbone_prefixes(model_yaml: str) -> tuple[str, ...]:
    """``("model.0.", ..., "model.{n-1}.")`` for the n backbone layers of an ultralytics model YAML."""
    from ultralytics.nn.tasks import yaml_model_load

    n = len(yaml_model_load(model_yaml)["backbone"])
    return tuple(f"model.{i}." for i in range(n))


def load_by_name_and_shape(module, state: dict, backbone: tuple[str, ...], source: str | Path) -> dict:
    """Copy each tensor of ``state`` whose name and shape exist in ``module``; return the report.

    Raises InputError when no backbone tensor fits, or when a backbone tensor of the file has
    the model's name but another shape: another architecture (a few of its layers may fit by
    chance, e.g. yolo11n's tensors fit 63 of yolov5n's 198 backbone tensors). Head tensors of
    another shape (another number of classes) and names the model lacks are listed, never copied.
    """
    import torch

    own = module.state_dict()
    loaded = [k for k in own if k in state and tuple(state[k].shape) == tuple(own[k].shape)]
    shape_mismatch = sorted(k for k in own if k in state and k not in set(loaded))
    unexpected = sorted(k for k in state if k not in own)
    n_backbone = sum(k.startswith(backbone) for k in own)
    backbone_mismatch = [k for k in shape_mismatch if k.startswith(backbone)]
    if not any(k.startswith(backbone) for k in loaded) or backbone_mismatch:
        raise InputError(f"start_weights do not fit this model's backbone: {sum(k.startswith(backbone) for k in loaded)} "
                         f"of its {n_backbone} tensors fit, {len(backbone_mismatch)} share a name but not the shape "
                         f"(e.g. {(backbone_mismatch or ['-'])[0]}): another architecture?", source)
    with torch.no_grad():
        for key in loaded:
            own[key].copy_(state[key].to(own[key].dtype))
    loaded_set = set(loaded)
    return {"loaded": len(loaded), "model_tensors": len(own),
            "backbone_loaded": sum(k.startswith(backbone) for k in loaded),
            "backbone_tensors": sum(k.startswith(backbone) for k in own),
            "left_at_init": sorted(k for k in own if k not in loaded_set),
            "shape_mismatch": shape_mismatch, "unexpected": unexpected}


def _layers(keys: list[str]) -> list[str]:
    """``model.24.cv2.0.0.conv.weight`` -> ``model.24`` (a short summary for the log)."""
    return sorted({".".join(k.split(".")[:2]) for k in keys}, key=lambda s: (len(s), s))


def start_weights_callbacks(start_weights: str | Path, run_meta: dict, out: Path,
                            meta_path: Path) -> dict[str, Callable]:
    """ultralytics callbacks ``{event: fn}`` loading ``start_weights`` into the trained model and its EMA.

    ``run_meta`` (the run's sidecar template) gains ``start_weights``: file name, sha256 and
    the load report; it is rewritten to ``meta_path`` so exports carry it. Only the file's
    name is recorded, never its path.
    """
    from converters.safetensors_io import read_safetensors

    path = Path(start_weights)
    state = read_safetensors(path)
    sha = file_sha256(path)
    backbone = backbone_prefixes(run_meta["model_yaml"])
    probe: dict = {}

    def load(trainer) -> None:
        report = load_by_name_and_shape(trainer.model, state, backbone, path)
        ema = getattr(trainer, "ema", None)
        if ema is not None:
            ema_report = load_by_name_and_shape(ema.ema, state, backbone, path)
            if ema_report["loaded"] != report["loaded"]:
                raise InputError("start_weights: the EMA model loaded another set of tensors than the model", path)
        key = next(k for k in trainer.model.state_dict() if k.startswith(backbone) and k in state
                   and k.endswith("weight") and k not in report["shape_mismatch"])
        probe["key"] = key
        probe["loaded"] = set(trainer.model.state_dict()) - set(report["left_at_init"])
        record = {"name": path.name, "sha256": sha, "file_tensors": len(state), **report,
                  "left_at_init_layers": _layers(report["left_at_init"]), "ema_loaded": ema is not None}
        run_meta["start_weights"] = record
        tc = run_meta.get("train_config")
        if isinstance(tc, dict) and tc.get("start_weights"):
            tc["start_weights"] = path.name  # the name, not a machine path
        write_json_atomic(meta_path, run_meta)
        write_json_atomic(out / REPORT_NAME, record)
        msg = (f"start_weights {path.name} (sha256 {sha[:16]}...): loaded {report['loaded']} of "
               f"{report['model_tensors']} tensors (backbone {report['backbone_loaded']}/{report['backbone_tensors']}); "
               f"left at initialisation: {len(report['left_at_init'])} tensors in {', '.join(record['left_at_init_layers']) or 'none'}")
        _ultra_log(msg)

    def check(trainer) -> None:
        import torch

        key = probe["key"]
        models = [trainer.model] + ([trainer.ema.ema] if getattr(trainer, "ema", None) is not None else [])
        differ = [k for m in models for k, t in m.state_dict().items()
                  if k in probe["loaded"] and not torch.equal(t.detach().cpu().to(state[k].dtype), state[k])]
        if differ:
            raise InputError(f"start_weights check failed: {len(differ)} loaded tensors of the model being trained "
                             f"differ from the file's (e.g. {differ[0]})", path)
        run_meta["start_weights"]["train_start_check"] = {"tensor": key, "equal": True,
                                                          "loaded_tensors_equal": len(probe["loaded"])}
        write_json_atomic(meta_path, run_meta)
        write_json_atomic(out / REPORT_NAME, run_meta["start_weights"])
        _ultra_log(f"start_weights check at train start: backbone tensor {key} and all {len(probe['loaded'])} loaded "
                   "tensors of the model being trained (and its EMA) equal the file's")

    return {"on_pretrain_routine_end": load, "on_train_start": check}


def _ultra_log(msg: str) -> None:
    from ultralytics.utils import LOGGER

    LOGGER.info(msg)
