"""Detector benchmark: per-film prediction time per backend, and the default model's training time per epoch.

Prediction time is measured on real 1024 x 1024 MIAS films through the whole
``Detector.predict`` path (preprocess, network, NMS, mapping back), median over a few
films after one warm-up film, with torch's default thread count (both cores). Backends
without trained weights are timed with freshly initialised networks (the weights do not
change the arithmetic; that row says so). Training time per epoch is read from the
default run's ``results.csv`` (ultralytics' cumulative ``time`` column), not retrained.

Example:
    python benchmarks/detector_speed.py --mias-dir "$MIAS_DIR" --films 5 \
        --run work/runs/yolo-mias --weights-faster-rcnn work/runs/frcnn-mias/last.safetensors
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path



def _untrained(backend: str, imgsz: int):
    from converters.preprocess import PreprocessConfig
    from detector.api import Detector

    if backend == "yolo":
        from detector.offline import import_ultralytics

        import_ultralytics()
        from ultralytics.nn.tasks import DetectionModel

        from detector.yolo_backend import YoloNet

        net = YoloNet(DetectionModel("yolo11n.yaml", ch=3, nc=1, verbose=False).state_dict(), "yolo11n.yaml", imgsz)
    else:
        from detector.rcnn_models import RcnnNet, build_rcnn

        net = RcnnNet(backend, build_rcnn(backend, imgsz).state_dict(), imgsz)
    return Detector(net, PreprocessConfig(imgsz=640), backend, {"imgsz": imgsz})


def time_predict(detector, images) -> dict:
    detector.predict(images[0])  # warm-up: first call allocates
    seconds = []
    for img in images:
        t0 = time.perf_counter()
        detector.predict(img)
        seconds.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds), "films": len(seconds)}


def epoch_times(results_csv: Path) -> list[float]:
    """Seconds per epoch from ultralytics' cumulative ``time`` column."""
    with open(results_csv) as fh:
        rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(fh)]
    cumulative = [float(r["time"]) for r in rows if r.get("time")]
    # the clock restarts when a run is resumed: a drop means the run was resumed
    return [b - a if b >= a else b for a, b in zip([0.0] + cumulative[:-1], cumulative)]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mias-dir", type=Path, required=True, help="MIAS folder (films are read from it)")
    p.add_argument("--films", type=int, default=5, help="films timed per backend (after one warm-up)")
    p.add_argument("--weights-yolo", type=Path, default=None, help="YOLO weights (default: the shipped model)")
    p.add_argument("--weights-faster-rcnn", type=Path, default=None)
    p.add_argument("--weights-mask-rcnn", type=Path, default=None)
    p.add_argument("--rcnn-imgsz", type=int, default=640, help="image size for untrained R-CNN timing")
    p.add_argument("--run", type=Path, default=Path("work/runs/yolo-mias"), help="default YOLO run folder")
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts to time (default 1,2)")
    args = p.parse_args(argv)

    import torch

    from converters.images import read_gray8
    from detector.api import default_weights_path, load_detector

    films = sorted(args.mias_dir.glob("mdb*.p*g"))[: args.films]
    images = [read_gray8(f) for f in films]
    weights = {"yolo": args.weights_yolo or default_weights_path(), "faster-rcnn": args.weights_faster_rcnn,
               "mask-rcnn": args.weights_mask_rcnn}
    detectors = {}
    for backend, w in weights.items():
        if w is not None and Path(w).is_file():
            detectors[backend] = (load_detector(w, backend=backend), Path(w).name)
        else:
            imgsz = 512 if backend == "yolo" else args.rcnn_imgsz
            detectors[backend] = (_untrained(backend, imgsz), f"untrained {imgsz}px (timing only)")
    for threads in [int(t) for t in str(args.threads).split(",")]:
        torch.set_num_threads(threads)
        print(f"prediction time per {images[0].shape[1]}x{images[0].shape[0]} film, median over {len(images)} films, "
              f"{threads} torch thread(s)")
        for backend, (det, what) in detectors.items():
            t = time_predict(det, images)
            print(f"  {backend:12s} {t['median_s']:.3f} s median (min {t['min_s']:.3f}, max {t['max_s']:.3f})  [{what}]")
    res = args.run / "ultralytics" / "results.csv"
    if res.is_file():
        ep = epoch_times(res)
        print(f"default YOLO training ({res}): {len(ep)} epochs, median {statistics.median(ep):.1f} s per epoch "
              f"(min {min(ep):.1f}, max {max(ep):.1f}), total {sum(ep) / 3600:.2f} h")
    else:
        print(f"default YOLO training: no {res} (run `mammo detector train` first)")


if __name__ == "__main__":
    main()
