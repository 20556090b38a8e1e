"""Training recipes as typed dataclasses (``configs/yolo*.yaml``, ``configs/*_rcnn.yaml`` restate them).

Defaults are the recipe: constructors never need a file. :func:`converters.config.load_config`
reads a YAML over them (unknown keys raise) and command-line flags override last; every
run writes the resolved config to ``RUN/config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class YoloConfig:
    """ultralytics detection recipe for grayscale films (hue/saturation jitter off).

    Attributes:
        model: model YAML shipped with ultralytics (built from scratch, no download).
        imgsz: training/prediction size (longer side), pixels.
        epochs: epochs (an upper bound when ``time_hours`` is set).
        time_hours: ultralytics ``time=``: stop after this many hours whatever ``epochs`` says.
        batch, workers: batch size; dataloader workers (ultralytics uses 0 on CPU).
        patience: early-stopping patience in epochs without validation improvement.
        optimizer, lr0, lrf, cos_lr, warmup_epochs, warmup_bias_lr: optimiser and schedule
            (bias lr starts at ``warmup_bias_lr``; 0 is what ``optimizer=auto`` uses anyway).
        hsv_h, hsv_s, hsv_v, degrees, translate, scale, fliplr, flipud, mosaic, mixup,
            close_mosaic: augmentation (ultralytics names).
        cache: cache decoded images in RAM.
        seed, deterministic: reproducibility.
        plots: write ultralytics' PNG plots into the run.
        device: ``cpu`` or a CUDA index.
        init_weights: start from these detector weights (``.safetensors`` + ``.json``
            sidecar, e.g. the shipped model) instead of a random initialisation: a second
            training stage. Same ``model`` and preprocessing required; ``imgsz`` may differ
            (a fine-tune at another resolution); ``null``: from scratch.
        start_weights: a ``.safetensors`` file whose tensors are copied BY NAME AND SHAPE
            into the model being trained (and its EMA): the project's own export or a partial
            set such as COCO-pretrained backbone+neck tensors keyed for ``model``; tensors it
            lacks stay at initialisation (reported in ``RUN/start_weights.json``). A backbone
            that does not fit (no tensor, or a tensor of another shape) is an error. A relative path is relative to the working
            directory. ``null``: none. Exclusive with ``init_weights``.
    """

    model: str = "yolo11n.yaml"
    imgsz: int = 640
    epochs: int = 300
    time_hours: float | None = None
    batch: int = 8
    workers: int = 0
    patience: int = 1000
    optimizer: str = "auto"
    lr0: float = 0.01
    lrf: float = 0.01
    cos_lr: bool = False
    warmup_epochs: float = 3.0
    warmup_bias_lr: float = 0.0
    hsv_h: float = 0.0
    hsv_s: float = 0.0
    hsv_v: float = 0.3
    degrees: float = 0.0
    translate: float = 0.05
    scale: float = 0.2
    fliplr: float = 0.5
    flipud: float = 0.5
    mosaic: float = 1.0
    mixup: float = 0.0
    close_mosaic: int = 10
    cache: bool = True
    seed: int = 0
    deterministic: bool = True
    plots: bool = True
    device: str = "cpu"
    init_weights: str | None = None
    start_weights: str | None = None

    def __post_init__(self) -> None:
        if self.init_weights and self.start_weights:
            raise ValueError("init_weights and start_weights are exclusive: give one starting point")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32 and >= 32, got {self.imgsz}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.time_hours is not None and not self.time_hours > 0:
            raise ValueError(f"time_hours must be > 0 or null, got {self.time_hours}")
        if self.hsv_h or self.hsv_s:
            raise ValueError("hsv_h and hsv_s must be 0: films are grayscale (hue/saturation jitter is meaningless)")


@dataclass
class RcnnConfig:
    """torchvision R-CNN recipe (``weights=None, weights_backbone=None``: trained from scratch).

    Attributes:
        imgsz: images are preprocessed so their longer side is ``imgsz``; the model's
            ``min_size``/``max_size`` are set so torchvision does not resize them again.
        epochs, batch: epochs over the training films; images per step.
        lr, momentum, weight_decay: SGD.
        warmup_steps: linear warm-up steps.
        fliplr, flipud: flip probabilities.
        trainable_backbone_layers: backbone stages trained (all of them: no pretraining).
        box_score_thresh, box_detections_per_img: prediction settings (low threshold
            so FROC sees the low-confidence end).
        seed, num_threads, device: reproducibility and CPU use.
        max_steps: stop after this many optimiser steps (0: no limit), for smoke tests.
    """

    imgsz: int = 640
    epochs: int = 12
    batch: int = 2
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    fliplr: float = 0.5
    flipud: float = 0.5
    box_score_thresh: float = 0.001
    box_detections_per_img: int = 100
    seed: int = 0
    num_threads: int = 1
    device: str = "cpu"
    max_steps: int = 0

    def __post_init__(self) -> None:
        if self.imgsz < 32:
            raise ValueError(f"imgsz must be >= 32, got {self.imgsz}")
        if self.epochs < 1 or self.batch < 1:
            raise ValueError(f"epochs and batch must be >= 1, got {self.epochs}, {self.batch}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
