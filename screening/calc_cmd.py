"""``mammo calcifications train`` and ``mammo verdict fit``: the calcification scorer and the film model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evaluation.bootstrap import format_estimate

calc_app = typer.Typer(no_args_is_help=True, add_completion=False)
verdict_app = typer.Typer(no_args_is_help=True, add_completion=False)


@calc_app.command("train")
def calc_train_command(
    mias_dir: Annotated[Path, typer.Option(help="mini-MIAS folder (Info.txt + films).")],
    splits: Annotated[Path, typer.Option(help="splits.json of `mammo convert`; only its training patients are read.")],
    out: Annotated[Path, typer.Option(help="Run folder: calc-clusters.json, oof_clusters.json, cv_metrics.json, config.yaml.")],
    config: Annotated[Path | None, typer.Option(help="Recipe YAML (configs/calc_clusters.yaml).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (folds and simulated clusters).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train the calcification cluster scorer on training patients, with patient cross-validation.

    Example: mammo calcifications train --mias-dir "$MIAS_DIR" --splits work/mias-converted/splits.json
    --config configs/calc_clusters.yaml --out work/runs/calc
    """
    from converters.config import load_config
    from detector.calc_train import CalcTrainConfig
    from screening.verdict_fit import train_calcifications

    cfg = load_config(CalcTrainConfig, config, {"seed": seed})
    res = train_calcifications(mias_dir, splits, cfg, out, progress=not quiet, config_name=config.name if config else None)
    f = res["figures"]
    sens = ", ".join(f"{r:g}: {format_estimate(e)}" for r, e in zip(f["fp_per_film"], f["cluster_sensitivity"]))
    typer.echo(f"training patients, {f['films']} films ({f['calcification_films']} with located calcifications, "
               f"{f['clusters_labelled']} clusters), out-of-fold:")
    typer.echo(f"  cluster sensitivity at FP/film {sens}")
    typer.echo(f"  calcification films vs normal films, ROC AUC {format_estimate(f['calc_films_vs_normal_auc'])}")
    typer.echo(f"weights: {res['weights']} ({res['minutes']:.1f} min)")


@verdict_app.command("fit")
def verdict_fit_command(
    mias_dir: Annotated[Path, typer.Option(help="mini-MIAS folder (Info.txt + films).")],
    splits: Annotated[Path, typer.Option(help="splits.json of `mammo convert`: fitted on train, thresholds on val; test is not read.")],
    calc_run: Annotated[Path, typer.Option(help="Run folder of `mammo calcifications train` (its out-of-fold clusters).")],
    out: Annotated[Path, typer.Option(help="Run folder: film-model.json, fit_metrics.json, features.json, reliability.png.")],
    detector: Annotated[Path | None, typer.Option(help="Detector weights (default: the shipped ones).")] = None,
    classifier: Annotated[Path | None, typer.Option(help="Grader weights (default: the shipped ones).")] = None,
    c: Annotated[float, typer.Option(help="Inverse L2 strength of the logistic film model.")] = 0.1,
    target_specificity: Annotated[float, typer.Option(help="Specificity of the verdict on the normal films of validation "
                                                      "(and, out of fold, training) patients.")] = 0.85,
    seed: Annotated[int, typer.Option(help="Seed of the patient folds and the bootstrap.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Fit the film-level model (abnormal and malignant scores, calibrated) and choose its thresholds.

    Example: mammo verdict fit --mias-dir "$MIAS_DIR" --splits work/mias-converted/splits.json
    --calc-run work/runs/calc --out work/runs/verdict
    """
    from converters.errors import InputError
    from screening.verdict_fit import fit_verdict

    if not c > 0:
        raise InputError(f"--c must be > 0, got {c}")
    if not 0 < target_specificity <= 1:
        raise InputError(f"--target-specificity must be in (0, 1], got {target_specificity}")
    f = fit_verdict(mias_dir, splits, calc_run, out, c=c, seed=seed, target_specificity=target_specificity, detector_weights=detector,
                    classifier_weights=classifier, progress=not quiet)
    cal = f["calibration"]
    typer.echo(f"film ROC AUC, normal vs abnormal: training patients out of fold {format_estimate(f['train_out_of_fold_auc'])}; "
               f"validation patients {format_estimate(f['val_auc'])}")
    for split, cc in cal.items():
        typer.echo(f"calibration ({split}): Brier {cc['brier']:.3f}, ECE {cc['ece']:.3f}, n={cc['n']}")
    sets = ", ".join(f"{k} {v:.3f}" for k, v in f["feature_sets_out_of_fold_auc"].items())
    typer.echo(f"feature set: {f['feature_set']} (out-of-fold AUC on training patients by set: {sets})")
    typer.echo(f"thresholds: abnormal {f['abnormal_threshold']:.5f}, malignant {f['malignant_threshold']:.5f} ({f['threshold_rule']})")
    typer.echo(f"model: {out / 'film-model.json'}  reliability diagram: {out / 'reliability.png'}")
