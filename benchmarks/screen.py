"""`mammo screen` speed against a bare ultralytics predict of the same weights, in one run.

Prints the median seconds per film of (a) the full pipeline (read the film and its
contralateral film, preprocess, detect masses, find calcification clusters at native
resolution, compare the two breasts, grade every finding, score the film), with the
calcification and bilateral stages also timed alone, and (b) ultralytics' own ``YOLO.predict`` on the same films with the same
weights (rebuilt from the model YAML, loaded from the shipped safetensors), their ratio
(target <= 1.3), and the peak resident memory of this process (target <= 2 GB).

Usage:
    python benchmarks/screen.py [--films 20] [--threads 2]        # films of the mini-MIAS folder $MIAS_DIR
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np


def films_to_time(n: int) -> list[Path]:
    mias = os.environ.get("MIAS_DIR")
    folder = Path(mias) if mias else Path(__file__).resolve().parents[1] / "data" / "sample"
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".pgm", ".png"))
    return files[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--films", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from detector.api import default_weights_path
    from detector.offline import import_ultralytics
    from detector.weights_io import read_weights
    from screening.pipeline import ScreenConfig, Screener
    from screening.readers import read_film

    files = films_to_time(args.films)
    if not files:
        sys.exit("no films found (set MIAS_DIR)")
    from converters.preprocess import breast_mask
    from screening.bilateral import compare_breasts, pair_films
    from screening.run import screen_one

    screener = Screener(ScreenConfig(runtime="torch"))  # PyTorch: the reference the ratio is against
    partners = pair_films([f.name for f in files])
    for f in files[: args.warmup]:
        screener.screen_file(f)
    pipe, calc_s, bil_s = [], [], []
    for i, f in enumerate(files):
        t0 = time.perf_counter()
        screen_one(screener, f, f.name, partner=(files[partners[i]], files[partners[i]].name) if i in partners else None)
        pipe.append(time.perf_counter() - t0)
        img = read_film(f).image
        t0 = time.perf_counter()
        screener.calc.detect(img, breast_mask(img))
        calc_s.append(time.perf_counter() - t0)
        if i in partners:
            other = read_film(files[partners[i]]).image
            t0 = time.perf_counter()
            compare_breasts(img, other)
            bil_s.append(time.perf_counter() - t0)

    # The same pipeline with both networks on onnxruntime (exported in memory from the same weights).
    from classifier.onnx_export import load_onnx_grader
    from detector.onnx_runtime import load_onnx_detector

    t0 = time.perf_counter()
    onnx = Screener(ScreenConfig(), detector=load_onnx_detector(None, conf=ScreenConfig().report_min_score),
                    grader=load_onnx_grader(None))
    onnx_start = time.perf_counter() - t0
    for f in files[: args.warmup]:
        onnx.screen_file(f)
    pipe_onnx = []
    for i, f in enumerate(files):
        t0 = time.perf_counter()
        screen_one(onnx, f, f.name, partner=(files[partners[i]], files[partners[i]].name) if i in partners else None)
        pipe_onnx.append(time.perf_counter() - t0)

    ultralytics = import_ultralytics()
    state, meta = read_weights(default_weights_path())
    from ultralytics.nn.tasks import DetectionModel

    yolo = ultralytics.YOLO(meta["model_yaml"], task="detect")
    yolo.model = DetectionModel(meta["model_yaml"], ch=3, nc=int(meta.get("nc", 1)), verbose=False)
    missing, unexpected = yolo.model.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing[:3], unexpected[:3])
    images = [np.stack([read_film(f).image] * 3, axis=-1) for f in files]
    for img in images[: args.warmup]:
        yolo.predict(img, imgsz=int(meta["imgsz"]), conf=0.01, verbose=False, device="cpu")
    bare = []
    for img in images:
        t0 = time.perf_counter()
        yolo.predict(img, imgsz=int(meta["imgsz"]), conf=0.01, verbose=False, device="cpu")
        bare.append(time.perf_counter() - t0)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    mp, mb = float(np.median(pipe)), float(np.median(bare))
    print(f"films timed: {len(files)} ({files[0].parent}), torch threads {args.threads}, {os.cpu_count()} cores")
    print(f"mammo screen pipeline (read film and partner, masses, calcification clusters, bilateral, grade, film model): "
          f"median {mp:.3f} s per film (target <= 0.5); {len(partners)} of {len(files)} films screened with their partner")
    print(f"  of which calcification clusters (native resolution): median {np.median(calc_s):.3f} s; "
          f"bilateral comparison: median {np.median(bil_s) if bil_s else float('nan'):.3f} s")
    mo = float(np.median(pipe_onnx))
    print(f"the same pipeline on onnxruntime: median {mo:.3f} s per film; ratio onnxruntime / PyTorch {mo / mp:.2f} "
          f"(export of both networks at start-up: {onnx_start:.1f} s)")
    print(f"bare ultralytics YOLO.predict, same weights, on the film: median {mb:.3f} s per film")
    print(f"ratio pipeline / bare: {mp / mb:.2f} (the pipeline runs three models and a comparison; the bare predict one)")
    print(f"peak resident memory of this process: {peak_gb:.2f} GB (target <= 2)")


if __name__ == "__main__":
    main()
