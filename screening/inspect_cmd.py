"""``mammo inspect``: look at a screening run's mistakes in the FiftyOne App or a static gallery.

Thin wiring over :mod:`screening.inspect` (dataset), :mod:`screening.inspect_app`
(database and App processes) and :mod:`screening.gallery` (HTML page). ``screening/cli.py`` registers
:func:`inspect_command` as ``mammo inspect``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from screening.inspect_app import DEFAULT_ADDRESS, DEFAULT_PORT, default_db_dir

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def default_cache_dir() -> Path:
    """PNG copies of the films: beside the default database, ``~/.cache/mammoscreen/film-png``."""
    return default_db_dir().parent / "film-png"


def inspect_command(
    report: Annotated[Path, typer.Option("--report", help="report.json written by mammo screen / mammo evaluate.")],
    mias_dir: Annotated[Optional[Path], typer.Option("--mias-dir", help="mini-MIAS folder: Info.txt and the films (.pgm or .png).")] = None,
    coco_json: Annotated[Optional[Path], typer.Option("--coco-json", help="A COCO detection file with the labels (instead of --mias-dir).")] = None,
    images: Annotated[Optional[Path], typer.Option("--images", help="Image folder of --coco-json.")] = None,
    name: Annotated[str, typer.Option("--name", help="FiftyOne dataset name (rebuilt in place, never duplicated).")] = "mammoscreen",
    launch: Annotated[Optional[bool], typer.Option("--launch/--no-launch", help="Serve the App after building (default: yes, unless --no-dataset).")] = None,
    port: Annotated[int, typer.Option("--port", help="App port.")] = DEFAULT_PORT,
    address: Annotated[str, typer.Option("--address", help="App address; loopback unless you mean to share the films.")] = DEFAULT_ADDRESS,
    iou: Annotated[float, typer.Option("--iou", help="IoU threshold of FiftyOne's evaluate_detections (eval key 'eval').")] = 0.5,
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="Ignore report detections scoring below this (default: the report's config.score_threshold, else keep all).")] = None,
    db_dir: Annotated[Optional[Path], typer.Option("--db-dir", envvar="MAMMO_FIFTYONE_DB_DIR", help="FiftyOne database folder (default: ~/.cache/mammoscreen/fiftyone-db).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Where PNG copies of PGM films are written once (default: ~/.cache/mammoscreen/film-png).")] = None,
    export_gallery: Annotated[Optional[Path], typer.Option("--export-gallery", help="Also write a static HTML gallery of the mistakes to this folder.")] = None,
    dataset: Annotated[bool, typer.Option("--dataset/--no-dataset", help="Build the FiftyOne dataset (--no-dataset: gallery only, no database).")] = True,
) -> None:
    """Inspect a screening run's misses, false alarms and grading mistakes.

    Builds a persistent FiftyOne dataset (films, labelled circles with masks, predictions,
    both hit rules as label tags, saved views missed-lesions, false-alarms, misgraded,
    worst-films), prints the App URL of each view and serves the App until Ctrl-C.

    Example:
        mammo inspect --mias-dir $MIAS_DIR --report work/eval-test/report.json --no-launch
        mammo inspect --mias-dir $MIAS_DIR --report work/eval-test/report.json --port 5151
        mammo inspect --mias-dir $MIAS_DIR --report work/eval-test/report.json --no-dataset --export-gallery work/eval-test/gallery
    """
    from converters.errors import InputError
    from screening.evaluate_cmd import load_labelled_films
    from screening.inspect import load_report, match_report

    if launch is None:
        launch = dataset
    if launch and not dataset:
        raise InputError("--launch needs the dataset; drop --no-dataset or pass --no-launch")
    if not dataset and export_gallery is None:
        raise InputError("nothing to do: --no-dataset without --export-gallery")
    if not 0 < iou <= 1:
        raise InputError(f"--iou must be in (0, 1], got {iou}")
    films, mias_dir = load_labelled_films(mias_dir, coco_json, images)
    screened = load_report(report)
    if min_score is None:
        min_score = screened.score_threshold if screened.score_threshold is not None else 0.0
    if not 0 <= min_score <= 1:
        raise InputError(f"--min-score must be in [0, 1], got {min_score}")
    inspections, unlabelled = match_report(films, screened, min_score=min_score)
    typer.echo(f"{len(inspections)} films matched between {report} and {mias_dir}"
               + (f"; {len(unlabelled)} report films without labels skipped (e.g. {unlabelled[0]})" if unlabelled else "")
               + f"; detections with score >= {min_score:g} count")
    info = {"report": str(Path(report).resolve()), "report_config": screened.config, "min_score": min_score}

    if export_gallery is not None:
        from screening.gallery import export_gallery as write_gallery

        page = write_gallery(inspections, mias_dir, export_gallery)
        typer.echo(f"gallery: {page}")
    if dataset:
        _build_and_serve(inspections, info, mias_dir, name, launch, port, address, iou,
                         Path(db_dir) if db_dir else default_db_dir(), Path(cache_dir) if cache_dir else default_cache_dir())


def _build_and_serve(inspections, info, mias_dir, name, launch, port, address, iou, db_dir, cache_dir) -> None:
    from tqdm import tqdm

    from screening.inspect import SAVED_VIEWS, browser_image, build_dataset, summarize, view_slug
    from screening.inspect_app import AppServer, MongoDatabase, app_url, serve_until_interrupted, use_fiftyone_database

    filepaths = {i.film.film_id: browser_image(i.film, mias_dir, cache_dir)
                 for i in tqdm(inspections, desc="films for the App", unit="film")}
    with MongoDatabase(db_dir) as db:
        use_fiftyone_database(db.uri)
        ds = build_dataset(inspections, name, filepaths, iou=iou, progress=True, info=info)
        s = summarize(ds, inspections)
        typer.echo(
            f"dataset {name!r} in {db.db_dir}: {s['films']} films, {s['lesions']} labelled lesions, "
            f"{s['predictions']} predictions\n"
            f"  centre rule: {s['center_hits']} hit, {s['center_misses']} missed, "
            f"{s['center_false_alarms']} false alarms; {s['misgraded']} misgraded; "
            f"{s['verdict_wrong']} film verdicts wrong\n"
            f"  IoU >= {iou}: {s['iou_tp']} TP, {s['iou_fp']} FP, {s['iou_fn']} FN (eval key 'eval')"
        )
        host = "127.0.0.1" if address in ("0.0.0.0", "") else address
        urls = {"dataset": app_url(host, port, name)}
        urls.update({f"{v} ({s['view:' + v]} films)": app_url(host, port, name, view_slug(v)) for v in SAVED_VIEWS})
        if not launch:
            for label, url in urls.items():
                typer.echo(f"{label}: {url}")
            typer.echo(f"(serve them with: mammo inspect ... --launch --port {port})")
            return
        if address not in _LOOPBACK:
            typer.echo(f"warning: serving on {address}: anyone who can reach this machine can see the films", err=True)
        server = AppServer(db.uri, port=port, address=address, log_path=db.db_dir / "log" / "app.log").start()
        serve_until_interrupted(server, urls, echo=typer.echo)
