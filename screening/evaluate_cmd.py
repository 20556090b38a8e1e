"""``mammo evaluate``: screen labelled films, write report.json, metrics.json, report.md, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


EVALUATE_OUTPUTS = ("report.json", "report.csv", "overlays", "metrics.json", "report.md", "film_roc.png", "detection",
                    "calcification_clusters", "val")


def load_labelled_films(mias_dir, coco_json, images):
    """``(films, image_root)`` of :func:`converters.labelled.load_labelled`."""
    from converters.labelled import load_labelled

    labelled = load_labelled(mias_dir, coco_json, images)
    return list(labelled.films), labelled.root


def select_films(films, splits, split, use_all):
    from converters.errors import InputError
    from converters.splits import load_splits, select_split

    if use_all and splits is not None:
        raise InputError("give either --all or --splits FILE --split NAME, not both")
    if use_all:
        return films, "all (every film of the folder)", None
    if splits is None:
        raise InputError("choose the films: --splits FILE --split test, or --all")
    film_split = load_splits(splits)
    chosen = select_split(films, film_split, split)
    absent = sum(1 for fid, s in film_split.items() if s == split) - len(chosen)
    if absent > 0:
        typer.echo(f"note: {absent} films of split {split!r} in {Path(splits).name} are not in this folder; "
                   f"evaluating the {len(chosen)} that are", err=True)
    return chosen, f"{split} patients of {Path(splits).name}", film_split


def film_model_thresholds(film_model) -> dict:
    """The film model's operating point for :func:`screening.evaluate.film_level_metrics`.

    Its verdict is "not normal" exactly when abnormal_score reaches its abnormal threshold, so
    that threshold is reported once, as the verdict's rule, not again as a separate operating
    point with the same sensitivity and specificity.
    """
    names = ", ".join(film_model.abnormal.feature_names)
    return {"verdict_rule": f"abnormal_score >= {film_model.abnormal_threshold:.5f}: the film model's own threshold, "
                            "fixed when it was fitted (training and validation patients)",
            "scores": f"calibrated film model over {names}"}


def screen_films(screener, films, root, out, config, progress, write_overlays=True):
    """Screen labelled films (in order); returns (results by film id, failures)."""
    from screening.run import screen_items

    items = [(root / film.image_path, film.image_path) for film in films]
    screened, failures = screen_items(screener, items, out, config, progress, overlays=write_overlays)
    return {film.film_id: res for film, res in zip(films, screened) if res is not None}, failures


def evaluate_command(
    out: Annotated[Path, typer.Option(help="Output folder: report.json, metrics.json, report.md, plots.")],
    mias_dir: Annotated[Path | None, typer.Option(help="mini-MIAS folder (Info.txt + films).")] = None,
    coco_json: Annotated[Path | None, typer.Option(help="COCO detection file (instead of --mias-dir).")] = None,
    images: Annotated[Path | None, typer.Option(help="Image folder of --coco-json.")] = None,
    splits: Annotated[Path | None, typer.Option(help="splits.json from mammo convert.")] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate: test | val | train.")] = "test",
    all_films: Annotated[bool, typer.Option("--all", help="Evaluate every film of the folder (one you never trained on).")] = False,
    detector: Annotated[Path | None, typer.Option(help="Detector weights (default: shipped).")] = None,
    classifier: Annotated[Path | None, typer.Option(help="Classifier weights (default: shipped).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML with ScreenConfig keys.")] = None,
    n_resamples: Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap resamples of patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    threads: Annotated[int | None, typer.Option(help="CPU threads of torch, onnxruntime and OpenCV; 1 avoids oversubscribing the cores.", show_default="1")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty --out folder that mammo did not write.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Screen labelled films and measure detection, grading and film-level verdicts.

    Example:
        mammo evaluate --mias-dir $MIAS_DIR --splits work/mias-converted/splits.json --split test --out work/eval-test
    """
    import numpy as np

    from converters.atomic import write_json_atomic, write_text_atomic
    from converters.config import load_config
    from evaluation.detection import evaluate_predictions
    from screening.evaluate import (
        film_level_metrics,
        grading_metrics,
        predictions_of,
        verdict_score,
        youden_threshold,
    )
    from screening.evaluate_report import metrics_to_markdown, plot_film_roc
    from screening.pipeline import Screener, ScreenConfig
    from screening.report import report_document, write_report

    cfg = load_config(ScreenConfig, config, {
        "detector_weights": str(detector) if detector else None,
        "classifier_weights": str(classifier) if classifier else None,
        "num_threads": threads,
    })
    from converters.output_dir import check_output_dir, claim_output_dir

    check_output_dir(out, overwrite, EVALUATE_OUTPUTS, signature="metrics.json")
    films_all, root = load_labelled_films(mias_dir, coco_json, images)
    films, split_name, film_split = select_films(films_all, splits, split, all_films)
    claim_output_dir(out, "evaluate", legacy_temp_names=EVALUATE_OUTPUTS)
    val_failures: list[dict] = []
    screener = Screener(cfg)
    thresholds = {"abnormal": cfg.abnormal_threshold, "chosen_on": "config (validation patients of the shipped model)" if cfg.abnormal_threshold is not None else None,
                  "scores": "abnormal score = max over mass detections of score x P(benign or malignant); malignant score = max of score x P(malignant)"}
    if screener.film_model is not None:
        # The film model carries its thresholds, chosen on the validation patients it was fitted with.
        thresholds = film_model_thresholds(screener.film_model)
    elif film_split is not None and split != "val":
        val_films = [f for f in films_all if film_split.get(f.film_id) == "val"]
        if val_films:
            val_res, val_failures = screen_films(screener, val_films, root, out / "val", cfg, progress=not quiet, write_overlays=False)
            labels = [f.is_abnormal for f in val_films if f.film_id in val_res]
            scores = [val_res[f.film_id].abnormal_score for f in val_films if f.film_id in val_res]
            vscores = [verdict_score(val_res[f.film_id]) for f in val_films if f.film_id in val_res]
            thresholds = {"abnormal": youden_threshold(labels, scores),
                          "verdict": max(youden_threshold(labels, vscores), cfg.report_min_score),
                          "chosen_on": f"validation patients of {Path(splits).name} (Youden J)"}
    results, failures = screen_films(screener, films, root, out, cfg, progress=not quiet)
    cfg_dict = cfg.report_dict(screener.film_model is None)
    doc = report_document([results[f.film_id] for f in films if f.film_id in results], failures, cfg_dict)
    write_report(out, doc)
    by_film = results  # film_id -> FilmResult: the records all the way to the metrics
    preds = predictions_of(by_film, "mass")
    det = evaluate_predictions(films, preds, out_dir=out / "detection", n_resamples=min(n_resamples, 500), seed=seed, split_name=split_name)
    calc = None
    if screener.calc is not None:
        calc_preds = predictions_of(by_film, "calcification")
        calc_det = evaluate_predictions(films, calc_preds, out_dir=out / "calcification_clusters", n_resamples=min(n_resamples, 500),
                                        seed=seed, split_name=split_name)
        calc = {"hit_rule": "cluster box centre inside the labelled circle", **calc_det["froc"]["calc"],
                "film_auc_max_cluster_score": calc_det["film_level"]["roc_auc"]}
    images_by_film = {fid: r.film.image for fid, r in results.items() if r.film.scale == 1.0}
    grading = grading_metrics(films, by_film, screener.grader, images_by_film, cfg.score_threshold, n_resamples, seed)
    film_level = film_level_metrics(films, by_film, thresholds, n_resamples, seed)
    metrics = {
        "split": split_name,
        "films": len(films),
        "patients": len({f.patient_id for f in films}),
        "failures": len(failures),
        "score_threshold": cfg.score_threshold,
        "detection": det,
        "calcification_clusters": calc,
        "grading": grading,
        "film_level": film_level,
        "seconds_per_film_median": float(np.median([r.seconds for r in results.values()])) if results else None,
    }
    write_json_atomic(out / "metrics.json", metrics)
    plot_film_roc(films, by_film, out / "film_roc.png", split_name)
    md = metrics_to_markdown(metrics)
    write_text_atomic(out / "report.md", md)
    typer.echo(md)
    typer.echo(f"wrote {out / 'metrics.json'}, {out / 'report.md'}, {out / 'report.json'}")
    unread = failures + [{**fl, "file": f"{fl['file']} (validation film)"} for fl in val_failures]
    for fl in unread:
        typer.echo(f"failed {fl['file']}: {fl['error']}", err=True)
    if unread:
        raise typer.Exit(1)
