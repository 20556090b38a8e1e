"""Train a torchvision R-CNN from a converted folder: SGD, warm-up, cosine decay, per-epoch checkpoints.

Run folder::

    RUN/config.yaml          resolved recipe
    RUN/checkpoint.safetensors + RUN/checkpoint.json   model, optimiser momentum, epoch (resume)
    RUN/losses.csv           one row per step (epoch, step, loss, components)
    RUN/last.safetensors + RUN/last.json               exported weights + sidecar (for load_detector)

Selection: the recipe is short, so the last epoch is exported; the validation split is
only used afterwards by ``mammo detector evaluate``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic, write_text_atomic
from converters.config import save_config
from converters.errors import InputError
from detector.config import RcnnConfig
from detector.rcnn_data import Sample, load_samples
from detector.rcnn_models import build_rcnn, image_to_tensor
from detector.weights_io import write_weights


def _augment(sample: Sample, rng: np.random.Generator, cfg: RcnnConfig):
    img, boxes, masks = sample.image, sample.boxes_xyxy.copy(), sample.masks
    h, w = img.shape
    if rng.random() < cfg.fliplr:
        img, masks = img[:, ::-1], masks[:, :, ::-1]
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    if rng.random() < cfg.flipud:
        img, masks = img[::-1], masks[:, ::-1]
        boxes[:, [1, 3]] = h - boxes[:, [3, 1]]
    return np.ascontiguousarray(img), boxes, np.ascontiguousarray(masks)


def _target(boxes, masks, with_masks: bool):
    import torch

    t = {"boxes": torch.from_numpy(np.array(boxes, dtype=np.float32, order="C")).reshape(-1, 4),
         "labels": torch.ones(len(boxes), dtype=torch.int64)}
    if with_masks:
        t["masks"] = torch.from_numpy(np.array(masks, dtype=np.uint8, order="C"))
    return t


def _lr_at(step: int, total: int, cfg: RcnnConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (0.1 + 0.9 * step / max(1, cfg.warmup_steps))
    frac = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def _save_checkpoint(out: Path, model, optimizer, epoch: int, step: int) -> None:
    state = {f"model.{k}": v.detach().cpu() for k, v in model.state_dict().items()}
    for i, group in enumerate(optimizer.param_groups):
        for j, p in enumerate(group["params"]):
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                state[f"momentum.{i}.{j}"] = buf.detach().cpu()
    write_weights(out / "checkpoint.safetensors", state,
                  {"backend": "checkpoint", "imgsz": 0, "preprocess": {}, "epoch": epoch, "step": step})


def _load_checkpoint(out: Path, model, optimizer) -> tuple[int, int]:
    from safetensors.torch import load_file

    state = load_file(str(out / "checkpoint.safetensors"))
    meta = json.loads((out / "checkpoint.json").read_text())
    model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
    for i, group in enumerate(optimizer.param_groups):
        for j, p in enumerate(group["params"]):
            key = f"momentum.{i}.{j}"
            if key in state:
                optimizer.state[p]["momentum_buffer"] = state[key].clone()
    return int(meta["epoch"]), int(meta["step"])


def train_on_samples(backend: str, samples: list[Sample], cfg: RcnnConfig, out: Path, resume: bool = False,
                     progress: bool = True):
    """The training loop; returns ``(model, per-step losses)``. Checkpoints after every epoch."""
    import torch
    from tqdm import tqdm

    if not samples:
        raise InputError("no training films")
    torch.manual_seed(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    model = build_rcnn(backend, cfg.imgsz, cfg.box_score_thresh, cfg.box_detections_per_img).to(cfg.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(samples) / cfg.batch)
    total = steps_per_epoch * cfg.epochs if not cfg.max_steps else min(cfg.max_steps, steps_per_epoch * cfg.epochs)
    start_epoch, step = 0, 0
    if resume:
        if not (out / "checkpoint.safetensors").is_file():
            raise InputError(f"--resume: no checkpoint in {out}; start without --resume")
        start_epoch, step = _load_checkpoint(out, model, optimizer)
    with_masks = backend == "mask-rcnn"
    log = out / "losses.csv"
    lines = log.read_text().splitlines() if (resume and log.is_file()) else ["epoch,step,lr,loss,components"]
    losses: list[float] = []
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        order = rng.permutation(len(samples))
        bar = tqdm(range(steps_per_epoch), desc=f"{backend} epoch {epoch + 1}/{cfg.epochs}", disable=not progress)
        for b in bar:
            if cfg.max_steps and step >= cfg.max_steps:
                break
            idx = order[b * cfg.batch:(b + 1) * cfg.batch]
            images, targets = [], []
            for i in idx:
                img, boxes, masks = _augment(samples[i], rng, cfg)
                images.append(image_to_tensor(img).to(cfg.device))
                targets.append({k: v.to(cfg.device) for k, v in _target(boxes, masks, with_masks).items()})
            lr = _lr_at(step, total, cfg)
            for g in optimizer.param_groups:
                g["lr"] = lr
            parts = model(images, targets)
            loss = sum(parts.values())
            if not torch.isfinite(loss):
                raise RuntimeError(f"loss became {loss.item()} at step {step}; lower lr (now {lr})")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimizer.step()
            step += 1
            losses.append(float(loss.detach()))
            comp = ";".join(f"{k}={float(v.detach()):.4f}" for k, v in parts.items())
            lines.append(f"{epoch + 1},{step},{lr:.6f},{losses[-1]:.5f},{comp}")
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        write_text_atomic(log, "\n".join(lines) + "\n")
        _save_checkpoint(out, model, optimizer, epoch + 1, step)
        if cfg.max_steps and step >= cfg.max_steps:
            break
    return model, losses


def train_rcnn(data_dir: str | Path, backend: str, cfg: RcnnConfig, out: str | Path, resume: bool = False,
               mias_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Train ``faster-rcnn`` or ``mask-rcnn`` on the train split of a converted folder.

    Returns:
        paths: the run folder and the exported ``last`` weights.
    """
    out = Path(out).resolve()
    if not resume and (out / "checkpoint.safetensors").exists():
        raise InputError(f"{out} already holds an R-CNN run; pass --resume or choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    t0 = time.time()
    samples, pre = load_samples(data_dir, "train", cfg.imgsz, mias_dir, progress)
    model, losses = train_on_samples(backend, samples, cfg, out, resume, progress)
    meta = {"backend": backend, "imgsz": cfg.imgsz, "preprocess": dataclasses.asdict(pre),
            "train_config": dataclasses.asdict(cfg), "train_films": len(samples), "steps_this_session": len(losses),
            "train_seconds_this_session": round(time.time() - t0, 1)}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    last = write_weights(out / "last.safetensors", state, meta)
    write_json_atomic(out / "summary.json", meta)
    return {"run": str(out), "last": str(last)}
