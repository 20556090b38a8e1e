"""YOLO backend (ultralytics): train from a model YAML, export weights, predict in the model frame.

Training runs ultralytics' own trainer inside ``RUN/ultralytics`` (``last.pt`` every epoch,
``best.pt`` on validation fitness, ``results.csv``), so ``--resume`` continues an
interrupted run. Shipped weights are a plain ``state_dict`` in safetensors plus a JSON
sidecar (:mod:`detector.weights_io`); prediction rebuilds the network from its YAML and
runs letterbox -> forward -> NMS itself, with no per-call set-up.

Coordinates: :meth:`YoloNet.predict_frame` returns ``xyxy`` in the pixels of the image it
was given (the preprocessed frame); :class:`detector.api.Detector` maps them to the film.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic
from converters.config import save_config
from converters.errors import InputError
from converters.preprocess import PreprocessConfig
from detector.config import YoloConfig
from detector.converted import combined_dataset_yaml, preprocess_config, yolo_dataset_yaml
from detector.offline import import_ultralytics
from detector.weights_io import check_imgsz, write_weights

ULTRA_SUBDIR = "ultralytics"
META_NAME = "detector_meta.json"  # the sidecar template written when a run starts


def ultralytics_train_args(cfg: YoloConfig, data_yaml: Path, out: Path) -> dict:
    """Keyword arguments for ``YOLO.train`` (offline-safe: ``amp=False``, absolute project)."""
    args = dict(
        data=str(data_yaml),
        imgsz=cfg.imgsz,
        epochs=cfg.epochs,
        batch=cfg.batch,
        workers=cfg.workers,
        patience=cfg.patience,
        optimizer=cfg.optimizer,
        lr0=cfg.lr0,
        lrf=cfg.lrf,
        cos_lr=cfg.cos_lr,
        warmup_epochs=cfg.warmup_epochs,
        warmup_bias_lr=cfg.warmup_bias_lr,
        hsv_h=cfg.hsv_h,
        hsv_s=cfg.hsv_s,
        hsv_v=cfg.hsv_v,
        degrees=cfg.degrees,
        translate=cfg.translate,
        scale=cfg.scale,
        fliplr=cfg.fliplr,
        flipud=cfg.flipud,
        mosaic=cfg.mosaic,
        mixup=cfg.mixup,
        close_mosaic=cfg.close_mosaic,
        cache=cfg.cache,
        seed=cfg.seed,
        deterministic=cfg.deterministic,
        plots=cfg.plots,
        device=cfg.device,
        single_cls=True,
        amp=False,
        pretrained=False,
        project=str(out.resolve()),
        name=ULTRA_SUBDIR,
        exist_ok=True,
        save=True,
        save_period=-1,
        verbose=True,
    )
    if cfg.time_hours is not None:
        args["time"] = cfg.time_hours
    return args


def train_yolo(data_dir: str | Path | list[str | Path], cfg: YoloConfig, out: str | Path, resume: bool = False) -> dict:
    """Train (or resume) a YOLO detector on one or more converted folders; export its weights.

    Args:
        data_dir: output of ``mammo convert`` (needs ``yolo/dataset.yaml`` and ``convert.yaml``),
            or a list of them (several sources, same preprocessing): their training images
            are pooled, and so are their validation images.
        cfg: the recipe.
        out: run folder; ``out/ultralytics`` holds ultralytics' checkpoints and logs.
        resume: continue from ``out/ultralytics/weights/last.pt``.

    Returns:
        paths of the exported weights (``best``, ``last``) and the run folder.
    """
    out = Path(out).resolve()
    data_dirs = list(data_dir) if isinstance(data_dir, (list, tuple)) else [data_dir]
    if len(data_dirs) == 1:
        data_yaml, pre = yolo_dataset_yaml(data_dirs[0]), preprocess_config(data_dirs[0])
    else:
        data_yaml, pre = combined_dataset_yaml(data_dirs, out / "dataset.yaml")
    last = out / ULTRA_SUBDIR / "weights" / "last.pt"
    if resume and not last.is_file():
        raise InputError(f"--resume: no checkpoint at {last}; start the run without --resume")
    if not resume and last.exists():
        raise InputError(f"{out} already holds a YOLO run; pass --resume to continue it or choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    meta = {"backend": "yolo", "model_yaml": cfg.model, "nc": 1, "imgsz": cfg.imgsz,
            "preprocess": dataclasses.asdict(pre), "train_config": dataclasses.asdict(cfg)}
    if len(data_dirs) > 1:
        x_scales = [[Path(d).name, preprocess_config(d).x_scale] for d in data_dirs]
        if len({xs for _, xs in x_scales}) > 1:  # sources trained with their own aspect correction
            meta["source_x_scale"] = x_scales
    if not resume:
        write_json_atomic(out / META_NAME, meta)
    import_ultralytics()
    from ultralytics import YOLO

    if resume:
        _, ckpt = _load_ultralytics_checkpoint(last)
        if ckpt.get("optimizer") is None or int(ckpt.get("epoch", -1)) < 0:
            raise InputError("this run finished (its last.pt carries no optimiser state): nothing to resume", last)
        model = YOLO(str(last))
        extra = {"time": cfg.time_hours} if cfg.time_hours is not None else {}
        model.train(resume=True, data=str(data_yaml), workers=cfg.workers, **extra)
    else:
        model = YOLO(cfg.model)
        if cfg.init_weights:
            model.add_callback("on_pretrain_routine_end", _start_from(cfg.init_weights, meta))
        if cfg.start_weights:
            from detector.start_weights import start_weights_callbacks

            for event, fn in start_weights_callbacks(cfg.start_weights, meta, out, out / META_NAME).items():
                model.add_callback(event, fn)
        model.train(**ultralytics_train_args(cfg, data_yaml, out))
    exported = {}
    for name in ("best", "last"):
        pt = out / ULTRA_SUBDIR / "weights" / f"{name}.pt"
        if pt.is_file():
            exported[name] = str(export_yolo_checkpoint(pt, out / f"{name}.safetensors", meta))
    return {"run": str(out), **exported}


def _start_from(init_weights: str, run_meta: dict) -> Callable:
    """An ultralytics callback that copies ``init_weights`` into the model and its EMA.

    Runs once the trainer has built the network, its optimiser and EMA and before the first
    step; the tensors are copied in place, so the optimiser keeps its parameter references.
    The weights' sidecar must match this run's (``run_meta``): backend, architecture and
    preprocessing. The image size may differ: the network is fully convolutional, so a stage
    may fine-tune the same tensors at a higher resolution (its sidecar then says the new size).
    """
    from detector.weights_io import read_weights

    state, meta = read_weights(init_weights)
    if any(meta.get(k) != run_meta[k] for k in ("backend", "model_yaml")):
        raise InputError(f"init_weights were trained as {meta.get('backend')} {meta.get('model_yaml')}; "
                         f"this recipe is yolo {run_meta['model_yaml']}", init_weights)
    # As configs, not dicts: a sidecar written before a PreprocessConfig field existed
    # (e.g. x_scale) means that field's default.
    if PreprocessConfig(**meta["preprocess"]) != PreprocessConfig(**run_meta["preprocess"]):
        raise InputError("init_weights were trained on differently preprocessed films than these datasets "
                         f"({meta['preprocess']} vs {run_meta['preprocess']})", init_weights)

    def load(trainer) -> None:
        import torch

        with torch.no_grad():
            for module in (trainer.model, trainer.ema.ema):
                own = module.state_dict()
                if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
                    raise InputError(f"init_weights do not fit {run_meta['model_yaml']} with {len(own)} tensors", init_weights)
                for key, tensor in own.items():
                    tensor.copy_(state[key].to(tensor.dtype))

    return load


def export_run_checkpoint(run: str | Path, which: str, dst: str | Path, imgsz: int | None = None) -> Path:
    """Export ``RUN/ultralytics/weights/{which}.pt`` with the sidecar template the run wrote.

    Works while the run is still training (it reads a copy of the checkpoint as it is now).
    ``imgsz`` sets the prediction size in the sidecar (default: the training size, which
    stays recorded in its ``train_config``); the network is fully convolutional, so the same
    tensors can predict at a larger size than they were trained at.
    """
    import json

    run = Path(run)
    pt = run / ULTRA_SUBDIR / "weights" / f"{which}.pt"
    template = run / META_NAME
    if not pt.is_file():
        raise InputError(f"no checkpoint {which}.pt in the run", pt)
    if not template.is_file():
        raise InputError("expected the run's sidecar template (written when `mammo detector train` starts)", template)
    meta = json.loads(template.read_text())
    if imgsz is not None:
        meta["imgsz"] = check_imgsz(imgsz)
    return export_yolo_checkpoint(pt, dst, meta)


def _load_ultralytics_checkpoint(pt: Path):
    """The EMA model of a checkpoint this project's own training wrote.

    ultralytics pickles the whole module, so this one loader needs ``weights_only=False``;
    it is only for converting our own run's ``.pt`` into safetensors, never for user files.
    """
    import torch

    import_ultralytics()
    ckpt = torch.load(pt, map_location="cpu", weights_only=False)  # noqa: S614 - our own checkpoint
    if not isinstance(ckpt, dict):
        raise InputError("not an ultralytics checkpoint (expected a dict)", pt)
    model = ckpt.get("ema") or ckpt.get("model")
    if model is None:
        raise InputError("not an ultralytics checkpoint (no 'ema' or 'model' entry)", pt)
    return model.float(), ckpt


def export_yolo_checkpoint(pt: str | Path, dst: str | Path, meta: dict) -> Path:
    """Write ``dst`` (safetensors state_dict) and its JSON sidecar from an ultralytics ``.pt``.

    The sidecar keeps the model YAML name, image size, preprocessing and the epoch and
    validation metrics from the checkpoint, and no machine paths.
    """
    model, ckpt = _load_ultralytics_checkpoint(Path(pt))
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    metrics = {k: float(v) for k, v in (ckpt.get("train_metrics") or {}).items() if isinstance(v, (int, float))}
    meta = {**meta, "epoch": int(ckpt.get("epoch", -1)), "val_metrics": metrics, "source_checkpoint": Path(pt).name}
    return write_weights(dst, state, meta)


class YoloNet:
    """A YOLO network rebuilt from its YAML with trained weights; predicts in its input frame.

    Args:
        state_dict: tensors from :func:`detector.weights_io.read_weights`.
        model_yaml: ultralytics model YAML name (e.g. ``yolo11n.yaml``).
        imgsz: letterbox size (longer side), pixels.
        nc: number of classes.
        conf, iou, max_det: NMS settings.
        device: torch device.
    """

    def __init__(self, state_dict: dict, model_yaml: str, imgsz: int, nc: int = 1,
                 conf: float = 0.001, iou: float = 0.5, max_det: int = 100, device: str = "cpu"):
        import torch

        import_ultralytics()
        from ultralytics.nn.tasks import DetectionModel
        from ultralytics.utils import LOGGER

        level = LOGGER.level
        LOGGER.setLevel(logging.WARNING)  # not "Overriding model.yaml nc=80 with nc=1" on every load
        try:
            self.model = DetectionModel(model_yaml, ch=3, nc=nc, verbose=False)
        finally:
            LOGGER.setLevel(level)
        missing, unexpected = self.model.load_state_dict(state_dict, strict=False)
        if missing or unexpected:
            raise InputError(f"weights do not fit {model_yaml}: missing {missing[:3]}, unexpected {unexpected[:3]}")
        self.model = self.model.fuse(verbose=False).eval().to(device)
        self.stride = int(max(self.model.stride.max().item(), 32))
        self.imgsz, self.conf, self.iou, self.max_det, self.device = imgsz, conf, iou, max_det, device
        self._torch = torch

    def letterbox(self, image_u8: np.ndarray) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """Resize (longer side ``imgsz``) and pad to a stride multiple, centred, with 114 grey."""
        import cv2

        h, w = image_u8.shape[:2]
        r = self.imgsz / max(h, w)
        nw, nh = min(math.ceil(w * r), self.imgsz), min(math.ceil(h * r), self.imgsz)
        # Same interpolation as ultralytics' loader (data/base.py::load_image: INTER_LINEAR).
        img = image_u8 if (nw, nh) == (w, h) else cv2.resize(image_u8, (nw, nh), interpolation=cv2.INTER_LINEAR)
        pw = (-nw) % self.stride
        ph = (-nh) % self.stride
        left, top = pw // 2, ph // 2
        img = cv2.copyMakeBorder(img, top, ph - top, left, pw - left, cv2.BORDER_CONSTANT, value=114)
        return img, (nw, nh), (left, top)

    def forward_raw(self, batch):
        """Network output for a float batch (B, 3, H, W) in [0, 1] (monkeypatched in tests)."""
        return self.model(batch)

    def predict_frame(self, image_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``xyxy`` (N, 4) in ``image_u8`` pixels and scores (N,), best first."""
        from ultralytics.utils.nms import non_max_suppression

        torch = self._torch
        gray = image_u8 if image_u8.ndim == 2 else image_u8[..., 0]
        img, (nw, nh), (left, top) = self.letterbox(gray)
        t = torch.from_numpy(np.ascontiguousarray(img)).to(self.device).float().div_(255.0)
        t = t[None, None].expand(1, 3, *t.shape).contiguous()
        with torch.inference_mode():
            raw = self.forward_raw(t)
            det = non_max_suppression(raw, self.conf, self.iou, max_det=self.max_det)[0]
        det = det.cpu().numpy().astype(np.float64)
        xyxy = det[:, :4].copy()
        h, w = gray.shape
        rx, ry = nw / w, nh / h  # per axis: the resized size was rounded up
        xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - left) / rx
        xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - top) / ry
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        return xyxy, det[:, 4].copy()
