"""Benchmark the classifier: training time of the default recipe and crops graded per second.

Usage::

    python benchmarks/grader_speed.py                       # measure 50 steps, extrapolate 20,000
    python benchmarks/grader_speed.py --run runs/classifier/bcdcnn_patient_all   # + a real run's time

Training: the default config (configs/bcdcnn.yaml values: batch 32, plain SGD lr 0.003) on
random 48x48 crops, ``torch.set_num_threads(1)`` as the training runs use; the per-step
time is measured and multiplied by the config's step count. Grading: the shipped grader
on a 1024x1024 film with ``--boxes`` boxes per call, with ``--threads`` torch threads
(default 2 = the whole machine), crop cutting included.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# This file is named classifier.py: drop its own folder from the import path so that
# `import classifier` finds the package, not this script.

import numpy as np  # noqa: E402
import torch  # noqa: E402


def train_step_seconds(steps: int, seed: int = 0) -> float:
    from classifier.config import ClassifierConfig
    from classifier.model import build_model

    cfg = ClassifierConfig()
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(seed)
    model = build_model(cfg.arch, num_classes=3, input_px=cfg.input_px, drop_rate=cfg.drop_rate)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    x = torch.rand(cfg.batch_size, 1, cfg.input_px, cfg.input_px)
    y = torch.randint(0, 3, (cfg.batch_size,))
    for i in range(steps + 5):
        if i == 5:
            t = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - t) / steps


def grade_crops_per_second(n_boxes: int, repeats: int, threads: int, seed: int = 0) -> tuple[float, float]:
    from classifier.grade import load_grader

    torch.set_num_threads(threads)
    grader = load_grader()
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (1024, 1024), dtype=np.uint8)
    xy = rng.uniform(0, 900, (n_boxes, 2))
    wh = rng.uniform(16, 300, (n_boxes, 2))
    boxes = np.hstack([xy, xy + wh])
    grader.grade(img, boxes)  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        grader.grade(img, boxes)
    dt = (time.perf_counter() - t) / repeats
    return n_boxes / dt, dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="training steps to time")
    ap.add_argument("--boxes", type=int, default=64, help="boxes per grade() call")
    ap.add_argument("--repeats", type=int, default=10, help="grade() calls to time")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for grading")
    ap.add_argument("--run", type=Path, default=None, help="a finished run folder: print its measured training time")
    args = ap.parse_args()
    from classifier.config import ClassifierConfig

    cfg = ClassifierConfig()
    s = train_step_seconds(args.steps)
    print(f"training: {s:.3f} s/step (batch {cfg.batch_size}, 1 thread) -> {cfg.steps} steps ~ {s * cfg.steps / 60:.1f} min "
          "(extrapolated; the machine's other load changes it)")
    if args.run is not None:
        meta = json.loads((args.run / "model.json").read_text())
        print(f"measured run {args.run}: {meta['steps']} steps in {meta['train_seconds'] / 60:.1f} min "
              f"({meta['train_seconds'] / meta['steps']:.3f} s/step)")
    cps, dt = grade_crops_per_second(args.boxes, args.repeats, args.threads)
    print(f"grading: {cps:.0f} crops/s ({args.boxes} boxes per film in {dt * 1000:.1f} ms, {args.threads} threads)")
    _, dt1 = grade_crops_per_second(5, args.repeats, args.threads)
    print(f"grading: 5 boxes per film in {dt1 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
