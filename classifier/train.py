"""Training loop: fixed number of steps, class balancing, checkpoints, resume, safetensors out.

Batches are drawn with a generator seeded by ``(seed, step)``, so a resumed run draws
exactly the batches the uninterrupted run would have drawn.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from classifier.config import ClassifierConfig
from classifier.data import Crops
from classifier.model import build_model, load_start_weights, start_tensor_matches
from converters.atomic import write_json_atomic

WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"
CHECKPOINT_NAME = "checkpoint.pt"


def images_to_tensor(images_u8: np.ndarray) -> torch.Tensor:
    """``(N, S, S)`` uint8 crops -> ``(N, 1, S, S)`` float32 in [0, 1] (the model's input)."""
    return torch.from_numpy(np.ascontiguousarray(images_u8)).float().div_(255.0).unsqueeze(1)


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0)
    return w


def batch_indices(cfg: ClassifierConfig, labels: np.ndarray, step: int, pool: np.ndarray, probs: np.ndarray | None):
    rng = np.random.default_rng([cfg.seed, 1, step])
    return pool[rng.choice(pool.size, size=cfg.batch_size, replace=True, p=probs)]


def sampling_plan(cfg: ClassifierConfig, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices to sample from and their probabilities, per ``cfg.balance``."""
    idx = np.arange(labels.size)
    if cfg.balance == "oversample":
        w = class_weights(labels, n_classes)[labels]
        return idx, w / w.sum()
    if cfg.balance == "undersample":
        rng = np.random.default_rng([cfg.seed, 2])
        present = [c for c in range(n_classes) if (labels == c).any()]
        m = min(int((labels == c).sum()) for c in present)
        keep = np.concatenate([rng.choice(np.flatnonzero(labels == c), m, replace=False) for c in present])
        return np.sort(keep), None
    return idx, None


def _save_checkpoint(path: Path, model, optim, step: int, elapsed_s: float) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optim": optim.state_dict(), "step": step, "elapsed_s": elapsed_s}, tmp)
    os.replace(tmp, path)


def save_weights(model: nn.Module, run_dir: Path, meta: dict) -> None:
    """``model.safetensors`` (tensors only) + ``model.json`` (arch, crop size, class names...)."""
    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / ("." + WEIGHTS_NAME + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, run_dir / WEIGHTS_NAME)
    write_json_atomic(run_dir / META_NAME, meta)


def init_model(cfg: ClassifierConfig, n_classes: int) -> tuple[nn.Module, dict | None]:
    """The untrained model of ``cfg`` and, with ``cfg.start_weights``, the load report
    (:func:`classifier.model.load_start_weights`: loaded count, tensors left at init, sha256)."""
    model = build_model(cfg.arch, num_classes=n_classes, in_chans=1, drop_rate=cfg.drop_rate, input_px=cfg.input_px)
    if not cfg.start_weights:
        return model, None
    return model, load_start_weights(model, cfg.start_weights)


def train_model(cfg: ClassifierConfig, train: Crops, run_dir: Path, resume: bool = False, progress: bool = True):
    """Train ``cfg.arch`` on ``train`` for ``cfg.steps`` steps; returns ``(model, info)``.

    Writes ``run_dir/checkpoint.pt`` every ``cfg.checkpoint_minutes`` and at the end, and
    ``run_dir/train_log.json`` (loss every 100 steps). With ``resume`` it continues from
    the checkpoint (loaded with ``weights_only=True``).
    """
    from converters.errors import InputError

    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    n_classes = len(cfg.class_names)
    if len(train) == 0:
        raise InputError("no training crops: check the MIAS folder, subset and split")
    model, start_report = init_model(cfg, n_classes)
    if start_report is not None and progress:
        r = start_report
        print(f"start_weights {r['file']} (sha256 {r['sha256'][:12]}...): {r['loaded']} of {r['model_tensors']} "
              f"tensors loaded, left at init: {', '.join(r['left_at_init']) or 'none'}")
    if cfg.optimizer == "sgd":
        optim = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        optim = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_w = None
    if cfg.balance == "weighted":
        loss_w = torch.tensor(class_weights(train.labels, n_classes), dtype=torch.float32)
    criterion = nn.CrossEntropyLoss(weight=loss_w)
    ckpt = run_dir / CHECKPOINT_NAME
    start, elapsed0 = 0, 0.0
    log_path = run_dir / "train_log.json"
    log: list = []
    if resume:
        if not ckpt.is_file():
            raise InputError("--resume given but there is no checkpoint.pt in the run folder", run_dir)
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        start, elapsed0 = int(state["step"]), float(state["elapsed_s"])
        if log_path.is_file():
            log = [e for e in json.loads(log_path.read_text()) if e["step"] <= start]
    if start_report is not None and not resume:  # the first step updates the file's tensors, not a fresh copy
        start_report["matches_at_step_0"] = start_tensor_matches(model, cfg.start_weights)
        if not start_report["matches_at_step_0"]:
            raise RuntimeError("the model about to be trained does not hold the start_weights tensors")
    pool, probs = sampling_plan(cfg, train.labels, n_classes)
    images = images_to_tensor(train.images)
    labels = torch.from_numpy(train.labels)
    model.train()
    t0 = time.perf_counter()
    last_ckpt = t0
    running = []
    from tqdm import tqdm

    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress, desc="train", mininterval=5)
    for step in bar:
        idx = torch.from_numpy(batch_indices(cfg, train.labels, step, pool, probs))
        optim.zero_grad(set_to_none=True)
        loss = criterion(model(images[idx]), labels[idx])
        loss.backward()
        optim.step()
        running.append(loss.item())
        if (step + 1) % 100 == 0:
            log.append({"step": step + 1, "loss": float(np.mean(running)), "elapsed_s": elapsed0 + time.perf_counter() - t0})
            bar.set_postfix(loss=f"{np.mean(running):.3f}")
            running = []
        now = time.perf_counter()
        if now - last_ckpt > cfg.checkpoint_minutes * 60:
            _save_checkpoint(ckpt, model, optim, step + 1, elapsed0 + now - t0)
            write_json_atomic(log_path, log)
            last_ckpt = now
    elapsed = elapsed0 + time.perf_counter() - t0
    _save_checkpoint(ckpt, model, optim, cfg.steps, elapsed)
    write_json_atomic(log_path, log)
    model.eval()
    return model, {"train_seconds": elapsed, "steps": cfg.steps, "resumed_from_step": start,
                   "n_train_crops": len(train), "train_class_counts": np.bincount(train.labels, minlength=n_classes).tolist(),
                   **({"start_weights": start_report} if start_report is not None else {})}
