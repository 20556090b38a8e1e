"""``mammo classifier``: train and evaluate the lesion-crop classifier.

``screening/cli.py`` mounts ``app`` as ``mammo classifier``; ``python -m classifier.cli`` runs it alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluation.bootstrap import format_estimate

app = typer.Typer(help="Grade lesion crops: normal / benign / malignant (BCDCNN and ResNet-18).", no_args_is_help=True)


@app.command()
def train(
    mias_dir: Annotated[Path, typer.Option(help="mini-MIAS folder (Info.txt + films).")],
    out: Annotated[Path, typer.Option(help="Run folder: config, checkpoints, weights, evaluations.")],
    config: Annotated[Optional[Path], typer.Option(help="YAML config (configs/bcdcnn.yaml); flags override it.")] = None,
    protocol: Annotated[Optional[str], typer.Option(help="patient (default) | paper (LEAKY: crops split at random).")] = None,
    subset: Annotated[Optional[str], typer.Option(help="all | mass | calc.")] = None,
    arch: Annotated[Optional[str], typer.Option(help="bcdcnn | resnet18.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Training seed.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Training steps (paper recipe: 20000).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Crops per step.")] = None,
    balance: Annotated[Optional[str], typer.Option(help="oversample | undersample | weighted | none.")] = None,
    fold: Annotated[Optional[int], typer.Option(help="Patient CV fold of the development films (0..kfold-1).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from RUN/checkpoint.pt.")] = False,
    no_baselines: Annotated[bool, typer.Option("--no-baselines", help="Skip texture/fused feature baselines.")] = False,
    coco_json: Annotated[Optional[Path], typer.Option(help="Add a COCO source's training patients (e.g. CBIS-DDSM masses).")] = None,
    images: Annotated[Optional[Path], typer.Option(help="Image folder of --coco-json.")] = None,
) -> None:
    """Train a crop classifier and evaluate it on its held-out side(s).

    Example: mammo classifier train --mias-dir $MIAS_DIR --out runs/bcdcnn --config configs/bcdcnn.yaml

    With CBIS-DDSM masses added to the training patients: ... --coco-json $CBIS_DIR/train/_annotations.coco.json --images $CBIS_DIR/train
    """
    from classifier.config import ClassifierConfig
    from classifier.run import run_training
    from converters.config import load_config

    overrides = {"protocol": protocol, "subset": subset, "arch": arch, "seed": seed, "steps": steps,
                 "batch_size": batch_size, "balance": balance, "fold": fold}
    if resume and config is None and (out / "config.yaml").is_file():
        config = out / "config.yaml"
    cfg = load_config(ClassifierConfig, config, overrides)
    from converters.errors import InputError

    if (coco_json is None) != (images is None):
        raise InputError("--coco-json and --images go together")
    summary = run_training(cfg, mias_dir, out, resume=resume, baselines=not no_baselines,
                           coco_source=(coco_json, images) if coco_json is not None else None)
    typer.echo(f"trained {cfg.arch} ({cfg.protocol}{', LEAKY' if cfg.leaky else ''}, {cfg.subset}) "
               f"{cfg.steps} steps in {summary['train']['train_seconds']:.0f} s -> {out / 'model.safetensors'}")
    for side, res in summary["eval"].items():
        r = res["cnn"]
        aucs = ", ".join(f"AUC {k} {format_estimate(v)}" for k, v in r["auc"].items())
        typer.echo(f"  {side}: accuracy {format_estimate(r['accuracy'])}, {aucs}")


@app.command()
def evaluate(
    weights: Annotated[Path, typer.Option(help="model.safetensors (its model.json beside it).")],
    out: Annotated[Path, typer.Option(help="Output folder: metrics.json, table.md, confusion.png.")],
    mias_dir: Annotated[Optional[Path], typer.Option(help="mini-MIAS-style folder to evaluate on.")] = None,
    coco_json: Annotated[Optional[Path], typer.Option(help="COCO detection file (instead of --mias-dir).")] = None,
    images: Annotated[Optional[Path], typer.Option(help="Image folder of --coco-json.")] = None,
    splits: Annotated[Optional[Path], typer.Option(help="splits.json (from mammo convert).")] = None,
    split: Annotated[str, typer.Option(help="Which split of --splits: train | val | test.")] = "test",
    all_films: Annotated[bool, typer.Option("--all", help="Evaluate every film of the folder (one you never trained on).")] = False,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CIs.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed for normal-crop positions and the bootstrap.")] = 0,
) -> None:
    """Evaluate weights on lesion + normal crops of one split (or a whole folder).

    Example: mammo classifier evaluate --weights runs/bcdcnn/model.safetensors --mias-dir $MIAS_DIR --splits work/mias-converted/splits.json --split test --out runs/bcdcnn/eval
    """
    from classifier.evaluate import evaluate_films
    from converters.errors import InputError
    from converters.labelled import load_labelled

    if all_films == (splits is not None):
        raise InputError("give exactly one of --splits FILE (with --split) or --all")
    labelled = load_labelled(mias_dir, coco_json, images)
    report = evaluate_films(weights, labelled, out, splits, split, all_films, n_bootstrap, seed)
    typer.echo(f"{report['n_crops']} crops, {report['n_patients']} patients: accuracy {format_estimate(report['accuracy'])} "
               f"-> {out / 'metrics.json'}")


@app.command()
def export(
    weights: Annotated[Path, typer.Option(help="A run's model.safetensors (its model.json beside it).")],
    out: Annotated[Path, typer.Option(help="Destination .safetensors (its .json is written beside it).")],
    dtype: Annotated[str, typer.Option(help="Storage type: float16 (half the size) | bfloat16 | float32.")] = "float16",
    fmt: Annotated[str, typer.Option("--format", help="safetensors | onnx (for onnxruntime; .onnx out).")] = "safetensors",
) -> None:
    """Copy a run's weights for shipping, stored as float16 by default (loaded back as float32), or as ONNX.

    Example: mammo classifier export --weights runs/bcdcnn/model.safetensors --out classifier/weights/bcdcnn.safetensors
    """
    from classifier.export import export_weights
    from converters.errors import look_up_option

    if look_up_option(fmt, ("safetensors", "onnx"), "--format") == "onnx":
        from classifier.onnx_export import export_grader_onnx

        typer.echo(str(export_grader_onnx(weights, out)))
        return

    dst = export_weights(weights, out, dtype)
    typer.echo(f"{dst} ({dst.stat().st_size / 1e6:.1f} MB, {dtype})")


@app.command("cv-report")
def cv_report(
    runs: Annotated[list[Path], typer.Option(help="Fold run folders (repeat the option), folds 0..k-1.")],
    out: Annotated[Path, typer.Option(help="Output folder for the pooled cross-validation report.")],
    mias_dir: Annotated[Optional[Path], typer.Option(help="The mini-MIAS folder the folds were trained on.")] = None,
    coco_json: Annotated[Optional[Path], typer.Option(help="Or the COCO detection file they were trained on.")] = None,
    images: Annotated[Optional[Path], typer.Option(help="Image folder of --coco-json.")] = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CIs.")] = 1000,
) -> None:
    """Pool k patient-fold runs into one cross-validated report (CI over patients).

    Example: mammo classifier cv-report --runs runs/cv0 --runs runs/cv1 --runs runs/cv2 --runs runs/cv3 --runs runs/cv4 --mias-dir $MIAS_DIR --out runs/cv
    """
    from classifier.cv import aggregate_cv
    from converters.labelled import load_labelled

    summary = aggregate_cv(runs, load_labelled(mias_dir, coco_json, images), out, n_bootstrap)
    r = summary["pooled"]["cnn"]
    typer.echo(f"{summary['k']}-fold CV, {summary['n_crops']} crops: accuracy {format_estimate(r['accuracy'])} "
               f"-> {out / 'cv_summary.md'}")


if __name__ == "__main__":
    app()
