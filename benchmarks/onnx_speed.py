"""Seconds per film of the screener on PyTorch against onnxruntime, on the same films in one run.

Both runtimes screen the same decoded films, alternately film by film (so a busy machine
slows both alike), ``--repeats`` times. For each film the median over repeats is kept, then
the median over films is printed for (a) the detector network alone (``Detector.predict``)
and (b) the whole screening of a film (``Screener.screen_image``: detector, calcification
clusters, grader, film model), with the ratio onnxruntime / PyTorch and a bootstrap 95% CI
over patients (mini-MIAS pairs; target: ratio <= 0.7). Both runtimes use ``--threads``
threads. It also prints the largest box and score differences of the detections, which the
runtimes should agree on.

Usage:
    python benchmarks/onnx_speed.py [--films data/sample] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def patient_ids(names: list[str]) -> list[str]:
    """mini-MIAS patient of each film (``mdb009``/``mdb010`` are one patient); else the film itself."""
    from converters.mias import patient_of

    out = []
    for n in names:
        try:
            out.append(patient_of(Path(n).stem)[0])
        except ValueError:  # not a mini-MIAS name: the film is its own unit
            out.append(Path(n).stem)
    return out


def ratio_estimate(onnx_s: np.ndarray, torch_s: np.ndarray, names: list[str]):
    """Median-over-films ratio onnxruntime / PyTorch with a bootstrap 95% CI over patients."""
    from evaluation.bootstrap import bootstrap_over_patients

    return bootstrap_over_patients(patient_ids(names), lambda idx: float(np.median(onnx_s[idx]) / np.median(torch_s[idx])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--films", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "sample")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from classifier.onnx_export import load_onnx_grader
    from detector.onnx_runtime import load_onnx_detector
    from screening.pipeline import Screener, ScreenConfig
    from screening.readers import find_films, read_film

    cfg = ScreenConfig(num_threads=args.threads, bilateral=False, overlays=False, runtime="torch")
    base = Screener(cfg)  # PyTorch: the reference (onnxruntime is the default runtime)
    ort = Screener(cfg, detector=load_onnx_detector(conf=cfg.report_min_score, intra_op_threads=args.threads),
                   grader=load_onnx_grader(intra_op_threads=args.threads), calc=base.calc, film_model=base.film_model)
    runtimes = {"pytorch": base, "onnxruntime": ort}
    files, _ = find_films([args.films])
    if not files:
        sys.exit(f"no films in {args.films}")
    films = [(name, read_film(path)) for path, name in files]
    for s in runtimes.values():  # warm-up: first calls allocate
        s.screen_image(films[0][1], films[0][0])
    net = {k: np.zeros((len(films), args.repeats)) for k in runtimes}
    full = {k: np.zeros((len(films), args.repeats)) for k in runtimes}
    box_diff, score_diff, count_diff = 0.0, 0.0, 0
    for r in range(args.repeats):
        for i, (name, film) in enumerate(films):
            found = {}
            for k, s in runtimes.items():
                t0 = time.perf_counter()
                found[k] = s.detector.predict(film.image)
                net[k][i, r] = time.perf_counter() - t0
                t0 = time.perf_counter()
                s.screen_image(film, name)
                full[k][i, r] = time.perf_counter() - t0
            a, b = found["pytorch"], found["onnxruntime"]
            n = min(len(a.scores), len(b.scores))
            count_diff = max(count_diff, abs(len(a.scores) - len(b.scores)))
            if n:
                box_diff = max(box_diff, float(np.abs(a.xyxy[:n] - b.xyxy[:n]).max()))
                score_diff = max(score_diff, float(np.abs(a.scores[:n] - b.scores[:n]).max()))
    names = [name for name, _ in films]
    print(f"{len(films)} films from {args.films.name}/ x {args.repeats} repeats, {args.threads} thread(s) each runtime")
    for label, table in (("detector network", net), ("whole film (screen_image)", full)):
        per_film = {k: np.median(v, axis=1) for k, v in table.items()}
        est = ratio_estimate(per_film["onnxruntime"], per_film["pytorch"], names)
        print(f"{label}: median s/film pytorch {np.median(per_film['pytorch']):.4f}, "
              f"onnxruntime {np.median(per_film['onnxruntime']):.4f}; ratio onnxruntime/pytorch {est:.3f} "
              f"(bootstrap 95% CI over {est.n_patients} patients; target <= 0.7)")
    print(f"largest differences: box {box_diff:.2e} px, score {score_diff:.2e}, detection count {count_diff}")


if __name__ == "__main__":
    main()
