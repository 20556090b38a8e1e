"""Screen many films into an output folder: report.json, report.csv, overlays/."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from converters.errors import InputError
from screening.pipeline import Screener, ScreenConfig
from screening.readers import find_films
from screening.report import draw_overlay, overlay_name, report_document, write_report


def screen_paths(paths, out: str | Path, config: ScreenConfig, screener: Screener | None = None, progress: bool = True) -> dict:
    """Screen files/folders; a film that cannot be read is a failure entry, the rest go on.

    Returns the report document (also written to ``out/report.json``).
    """
    from converters.images import write_png_atomic
    from tqdm import tqdm

    out = Path(out)
    files, failures = find_films(paths)
    screener = screener or Screener(config)
    results = []
    for path, name in tqdm(files, desc="screening", unit="film", disable=not progress):
        try:
            res = screener.screen_file(path, name)
        except InputError as err:
            failures.append({"file": name, "error": str(err)})
            continue
        results.append(res)
        if config.overlays:
            img = draw_overlay(res.film.image, res.to_json(), res.film.scale, config.score_threshold)
            write_png_atomic(out / "overlays" / overlay_name(name), img[..., ::-1].copy())
    cfg = dataclasses.asdict(config)
    cfg["detector"] = {"backend": getattr(screener.detector, "backend", None), "weights": _weights_name(config.detector_weights, "detector")}
    cfg["classifier"] = {"weights": _weights_name(config.classifier_weights, "classifier")}
    cfg["verdict_rule"] = "worst grade among detections with score >= score_threshold; normal if none"
    doc = report_document(results, failures, cfg)
    write_report(out, doc)
    return doc


def _weights_name(w, pkg: str) -> str:
    return str(w) if w else f"shipped default ({pkg}/weights)"


def print_screen_summary(doc: dict, out: Path, console=None, truth: dict[str, str] | None = None) -> None:
    """Rich table of a report; ``truth`` (file -> labelled verdict) adds a column beside the verdict."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"mammo screen: {len(doc['films'])} films, {len(doc['failures'])} failed")
    columns = ["file", "verdict"] + (["labelled"] if truth else []) + ["boxes", "top score", "top grade", "seconds"]
    for c in columns:
        table.add_column(c, no_wrap=c in ("file", "verdict", "top grade"))
    thr = doc["config"]["score_threshold"]
    for f in doc["films"]:
        shown = [d for d in f["detections"] if d["score"] >= thr]
        top = f["detections"][0] if f["detections"] else None
        table.add_row(
            f["file"], f["verdict"], *([truth.get(f["file"], "?")] if truth else []), str(len(shown)),
            f"{top['score']:.2f}" if top else "-", top["grade"] if top else "-", f"{f['seconds']:.2f}",
        )
    console.print(table)
    if doc["films"]:
        secs = [f["seconds"] for f in doc["films"]]
        console.print(f"median {np.median(secs):.2f} s per film; boxes = detections scoring >= {thr} (score threshold)")
    for fl in doc["failures"]:
        console.print(f"[red]failed[/red] {fl['file']}: {fl['error']}")
    console.print(f"report: {out / 'report.json'}  overlays: {out / 'overlays'}")
