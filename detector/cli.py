"""``mammo detector``: train, evaluate and predict (thin wiring; the work is in the modules)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from converters.errors import InputError, look_up_option

app = typer.Typer(help="Lesion detector: train, evaluate, predict.", no_args_is_help=True)

BACKEND_NAMES = ("yolo", "faster-rcnn", "mask-rcnn")


def _train_yolo(data, config, out, epochs, resume, seed, start_weights=None):
    from converters.config import load_config
    from detector.config import YoloConfig
    from detector.yolo_backend import train_yolo

    out = Path(out)
    if resume and config is None and (out / "config.yaml").is_file():
        config = out / "config.yaml"
    cfg = load_config(YoloConfig, config, {"epochs": epochs, "seed": seed,
                                           "start_weights": None if start_weights is None else str(start_weights)})
    return train_yolo(data, cfg, out, resume=resume)


def _train_rcnn(backend):
    def run(data, config, out, epochs, resume, seed):
        from converters.config import load_config
        from detector.config import RcnnConfig
        from detector.rcnn_train import train_rcnn

        out = Path(out)
        if resume and config is None and (out / "config.yaml").is_file():
            config = out / "config.yaml"
        cfg = load_config(RcnnConfig, config, {"epochs": epochs, "seed": seed})
        return train_rcnn(data, backend, cfg, out, resume=resume)

    return run


def _set_threads(threads: int) -> None:
    # Over-subscribed OpenMP threads stall each other: on 2 shared cores, 2 threads measured
    # 1-4 s per film against 0.1 s with 1 (docs/results.md).
    if threads < 1:
        raise InputError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


TRAINERS = {"yolo": _train_yolo, "faster-rcnn": _train_rcnn("faster-rcnn"), "mask-rcnn": _train_rcnn("mask-rcnn")}


@app.command("train")
def train_command(
    data: Annotated[list[Path], typer.Option(help="Converted folder from `mammo convert` (coco/, yolo/, convert.yaml); "
                                             "repeat to pool sources (yolo only).")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, logs, resolved config, exported weights.")],
    backend: Annotated[str, typer.Option(help="yolo | faster-rcnn | mask-rcnn.")] = "yolo",
    config: Annotated[Optional[Path], typer.Option(help="Recipe YAML (configs/yolo11n.yaml, configs/faster_rcnn.yaml...).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override the recipe's epochs.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run in --out.")] = False,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (overrides the recipe).")] = None,
    start_weights: Annotated[Optional[Path], typer.Option(help="Safetensors whose tensors start the network, by name and shape "
                                                          "(overrides the recipe's start_weights; yolo only).")] = None,
) -> None:
    """Train a detector on a converted dataset (training split; validation split for selection).

    Example: mammo detector train --data work/mias-converted --backend yolo --config configs/yolo11n.yaml --out work/runs/yolo-mias

    Two sources: mammo detector train --data work/mias-converted --data work/cbis-converted --out work/runs/yolo-both
    """
    look_up_option(backend, BACKEND_NAMES, "backend")
    if len(data) > 1 and backend != "yolo":
        raise InputError(f"--data given {len(data)} times: pooling sources is implemented for --backend yolo only")
    if start_weights is not None and backend != "yolo":
        raise InputError(f"--start-weights is implemented for --backend yolo only, not {backend}")
    extra = {"start_weights": start_weights} if backend == "yolo" else {}
    result = TRAINERS[backend](data if backend == "yolo" else data[0], config, out, epochs, resume, seed, **extra)
    for key, val in result.items():
        typer.echo(f"{key}: {val}")


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option(help="Destination .safetensors or, with --format onnx, .onnx (its .json sidecar is written beside it).")],
    run: Annotated[Optional[Path], typer.Option(help="YOLO run folder from `mammo detector train`.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="With --format onnx: safetensors weights to convert (default: the shipped model).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="safetensors | onnx.")] = "safetensors",
    which: Annotated[str, typer.Option(help="best (validation fitness) | last (latest epoch).")] = "last",
    imgsz: Annotated[Optional[int], typer.Option(help="Prediction size in pixels (multiple of 32); default: the training size. Films are still preprocessed to the size in the run's convert.yaml, so a larger value only upscales them.")] = None,
) -> None:
    """Export a YOLO run's checkpoint as safetensors + JSON sidecar (no pickles, no machine paths).

    Examples:
        mammo detector export --run work/runs/yolov5n-coco-both-s2 --which best --out work/yolov5n-coco-mias-cbis.safetensors
        mammo detector export --format onnx --out yolov5n-coco-mias-cbis.onnx        (the shipped model for onnxruntime)
    """
    look_up_option(fmt, ("safetensors", "onnx"), "--format")
    look_up_option(which, ("best", "last"), "checkpoint")
    if fmt == "onnx":
        from detector.onnx_runtime import export_onnx

        if run is not None:
            raise InputError("--format onnx converts safetensors weights (--weights, default: the shipped model); "
                             "export a run to safetensors first")
        typer.echo(str(export_onnx(weights, out)))
        return
    if run is None:
        raise InputError("--run RUN is needed to export a training run (or --format onnx to convert weights)")
    from detector.yolo_backend import export_run_checkpoint

    typer.echo(str(export_run_checkpoint(run, which, out, imgsz=imgsz)))


@app.command("import-weights")
def import_weights_command(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT", help="Ultralytics or YOLOv5 checkpoint (.pt).")],
    out: Annotated[Path, typer.Option(help="Destination .safetensors (its .json sidecar is written beside it).")],
) -> None:
    """Convert a .pt checkpoint to safetensors without executing its pickle (usable as start_weights).

    Non-torch classes are read as inert stand-ins; a pickle naming globals no checkpoint needs
    (os.system, builtins.exec, ...) is refused. The sidecar records the source's sha256, the
    tensor count and the pickle's global names.

    Example: mammo detector import-weights yolo11n.pt --out work/yolo11n-coco.safetensors
    """
    from detector.import_weights import import_weights

    meta = import_weights(checkpoint, out)
    typer.echo(f"{out}: {meta['tensors']} tensors from {meta['source_file']} ({meta['entry']}), "
               f"sha256 {meta['source_sha256']}; {len(meta['stubbed_globals'])} non-torch globals read as inert stand-ins")


@app.command("ensemble")
def ensemble_command(
    member: Annotated[list[Path], typer.Option(help="Member weights (.safetensors + .json; yolo or faster-rcnn); repeat.")],
    out: Annotated[Path, typer.Option(help="Destination .safetensors (its .json sidecar is written beside it).")],
    flip: Annotated[Optional[list[str]], typer.Option(help="Test-time view: none | flipud | fliplr; repeat (default: none).")] = None,
    iou: Annotated[float, typer.Option(help="Weighted boxes fusion IoU.")] = 0.55,
    imgsz: Annotated[Optional[int], typer.Option(help="Prediction size of every member (multiple of 32); default: each member's own.")] = None,
) -> None:
    """Fuse detectors and test-time flips into one weights file (weighted boxes fusion).

    Example: mammo detector ensemble --member stage1.safetensors --member stage2.safetensors --flip none --flip flipud --imgsz 640 --out fused.safetensors
    """
    from detector.ensemble import write_ensemble

    typer.echo(str(write_ensemble(member, out, tuple(flip or ["none"]), iou, imgsz)))


@app.command("predict")
def predict_command(
    images: Annotated[list[Path], typer.Argument(metavar="IMAGES", help="Film images (PGM, PNG, ...).")],
    weights: Annotated[Optional[Path], typer.Option(help="Weights (.safetensors + .json sidecar); default: shipped model.")] = None,
    min_score: Annotated[float, typer.Option(help="Print boxes scoring at least this.")] = 0.25,
    out: Annotated[Optional[Path], typer.Option(help="Also write all detections as JSON here.")] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads (1 avoids oversubscribing the cores).")] = 1,
) -> None:
    """Print lesion boxes (film pixels, top-left origin, xyxy) for each film.

    Example: mammo detector predict "$MIAS_DIR"/mdb001.png --min-score 0.1
    """
    from detector.predict_cmd import run_predict

    _set_threads(threads)
    run_predict(images, weights, min_score, out)


@app.command("evaluate")
def evaluate_command(
    out: Annotated[Path, typer.Option(help="Output folder for metrics JSON, FROC PNG, predictions.")],
    mias_dir: Annotated[Optional[Path], typer.Option(help="MIAS folder (Info.txt + films).")] = None,
    coco_json: Annotated[Optional[Path], typer.Option(help="COCO detection file (instead of --mias-dir).")] = None,
    images: Annotated[Optional[Path], typer.Option(help="Image folder of --coco-json.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Weights (.safetensors + .json); default: shipped model.")] = None,
    splits: Annotated[Optional[Path], typer.Option(help="splits.json from `mammo convert`.")] = None,
    split: Annotated[Optional[str], typer.Option(help="train | val | test (with --splits).")] = None,
    all_films: Annotated[bool, typer.Option("--all", help="Evaluate every film of the set.")] = False,
    hit_rule: Annotated[str, typer.Option(help="center (box centre inside the circle) | iou.")] = "center",
    n_boot: Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap resamples over patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    threads: Annotated[int, typer.Option(help="torch CPU threads (1 avoids oversubscribing the cores).")] = 1,
    film_size: Annotated[int, typer.Option(help="Film side in pixels (mini-MIAS: 1024).")] = 1024,
) -> None:
    """Predict every selected film and score it: COCO mAP, FROC, bootstrap CIs over patients.

    Example: mammo detector evaluate --mias-dir "$MIAS_DIR" --splits work/mias-converted/splits.json --split test --out work/eval-test
    """
    from detector.evaluate import run_evaluate

    if all_films == (split is not None):
        raise InputError("choose exactly one of --all or --split (with --splits)")
    if split is not None and splits is None:
        raise InputError("--split needs --splits FILE (the splits.json from mammo convert)")
    from converters.labelled import load_labelled

    _set_threads(threads)
    if mias_dir is not None and film_size != 1024:
        from converters.labelled import LabelledSet
        from converters.mias import load_mias

        labelled = LabelledSet(load_mias(mias_dir, resolution_wh=(film_size, film_size)).films, mias_dir, "mias")
    else:
        labelled = load_labelled(mias_dir, coco_json, images)
    summary = run_evaluate(labelled, out, weights, splits, split, hit_rule, n_boot, seed)
    for line in summary:
        typer.echo(line)


if __name__ == "__main__":
    app()
