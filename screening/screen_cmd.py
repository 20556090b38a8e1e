"""``mammo screen`` and ``mammo demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _config(config, overrides):
    from converters.config import load_config
    from screening.pipeline import ScreenConfig

    return load_config(ScreenConfig, config, overrides)


def screen_command(
    paths: Annotated[list[Path] | None, typer.Argument(metavar="FILMS", help="Films or folders (searched recursively): PGM, PNG, JPEG, TIFF, DICOM.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder for report.json, report.csv and overlays/.")] = Path("mammo-screen"),
    detector: Annotated[Path | None, typer.Option(help="Detector weights (default: the shipped model).")] = None,
    classifier: Annotated[Path | None, typer.Option(help="Classifier weights (default: the shipped model).")] = None,
    score_threshold: Annotated[float | None, typer.Option(help="Mass detections at or above this score are drawn on the overlays "
                                                                 "(and decide the verdict with film_model: none).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML with ScreenConfig keys (configs/screen.yaml).")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads of torch, onnxruntime and OpenCV; 1 avoids oversubscribing the cores.", show_default="1")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="Largest film read, width x height in pixels; larger files are a failure entry.", show_default="100000000")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty --out folder that mammo did not write.")] = False,
    dicom_sr: Annotated[bool, typer.Option("--dicom-sr", help="For DICOM films: a DICOM Comprehensive SR (TID 1500) "
                                           "of the findings per film, in OUT/dicom-sr.")] = False,
    dicom_gsps: Annotated[bool, typer.Option("--dicom-gsps", help="With --dicom-sr: also a Grayscale Softcopy "
                                             "Presentation State, so a viewer draws the boxes.")] = False,
    orthanc: Annotated[str | None, typer.Option(help="Orthanc base URL: pull --study from it, screen it, push the SRs back "
                                                "(instead of FILMS).")] = None,
    study: Annotated[str | None, typer.Option(help="Study Instance UID to screen from --orthanc.")] = None,
    engine: Annotated[str, typer.Option(help="local (this process) or ray (Ray Data with an actor pool).")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Join this Ray cluster (e.g. HEAD:6379); default: start a local Ray.")] = None,
    actors: Annotated[int, typer.Option(help="With --engine ray: model replicas (actors), one CPU each.")] = 2,
    runtime: Annotated[str | None, typer.Option(help="Network runtime: torch or onnxruntime (the same weights, exported in memory).",
                                                show_default="onnxruntime")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out: keep the films it finished "
                                         "(its results.jsonl), screen the rest and any film whose file changed.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Screen mammograms: find masses and calcification clusters, compare with the other breast, grade, give each film a verdict.

    Results are appended to OUT/results.jsonl as they come; after an interruption,
    the same command with --resume screens only what is left.

    Examples:
        mammo screen data/sample --out mammo-screen
        mammo screen DICOM_FOLDER --dicom-sr --dicom-gsps --out screened
        mammo screen --orthanc http://127.0.0.1:8042 --study 1.2.3.4 --out screened
        mammo screen ARCHIVE --engine ray --actors 2 --out screened --resume
    """
    from screening.pipeline import Screener
    from screening.run import print_screen_summary, screen_paths

    cfg = _config(config, {
        "score_threshold": score_threshold,
        "detector_weights": str(detector) if detector else None,
        "classifier_weights": str(classifier) if classifier else None,
        "num_threads": threads,
        "runtime": runtime,
    })
    from converters.errors import InputError, look_up_option

    look_up_option(engine, ("local", "ray"), "--engine")
    if engine == "ray" and orthanc:
        raise InputError("--engine ray screens files and folders, not --orthanc studies")
    if (orthanc is None) != (study is None):
        raise InputError("--orthanc URL and --study UID go together")
    if (orthanc is None) == (not paths):
        raise InputError("give films or folders to screen, or --orthanc URL --study UID (not both)")
    if dicom_gsps and not (dicom_sr or orthanc):
        raise InputError("--dicom-gsps needs --dicom-sr (or --orthanc)")
    screener = Screener(cfg) if engine == "local" else None
    if orthanc is not None:
        from screening.orthanc import screen_orthanc_study

        doc = screen_orthanc_study(orthanc, study, screener, out, gsps=dicom_gsps, progress=not quiet, overwrite=overwrite)
    else:
        doc = screen_paths(paths, out, cfg, screener=screener, progress=not quiet, max_pixels=max_pixels,
                           overwrite=overwrite, resume=resume, engine=engine, ray_address=ray_address, actors=actors,
                           keep_films=True if dicom_sr else None)
        if dicom_sr:
            from screening.dicom_sr import add_dicom_outputs

            doc = add_dicom_outputs(doc, paths, out, gsps=dicom_gsps, gsps_min_score=cfg.score_threshold)
    print_screen_summary(doc, out)
    if doc["failures"]:
        raise typer.Exit(1)


def demo_command(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("mammo-demo"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty --out folder that mammo did not write.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Screen the bundled mini-MIAS sample with the shipped weights (offline).

    Example:
        mammo demo
    """
    from converters.mias import load_mias
    from screening.run import print_screen_summary, screen_paths
    from screening.sample import sample_dir

    cfg = _config(None, {})
    doc = screen_paths([sample_dir()], out, cfg, progress=not quiet, overwrite=overwrite)
    labels = load_mias(sample_dir()).films
    truth = {f.image_path: f"{f.verdict} ({', '.join(sorted({les.lesion_class for les in f.lesions})) or 'NORM'})" for f in labels}
    print_screen_summary(doc, out, truth=truth)
    typer.echo(f"demo done: open {out / 'overlays'} to see the boxes; labels of these films: {sample_dir() / 'Info.txt'}")
    if doc["failures"]:
        raise typer.Exit(1)
