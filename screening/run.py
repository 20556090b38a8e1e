"""Screen many films into an output folder: report.json, report.csv, overlays/."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from converters.errors import InputError
from screening.pipeline import Screener, ScreenConfig
from screening.readers import FILM_SUFFIXES, find_films
from screening.report import draw_overlay, overlay_name, report_document, write_report


def screen_paths(paths, out: str | Path, config: ScreenConfig, screener: Screener | None = None, progress: bool = True) -> dict:
    """Screen files/folders; a film that cannot be read is a failure entry, the rest go on.

    Returns the report document (also written to ``out/report.json``).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("--out is a file; expected a folder (it is created if missing)", out)
    files, failures = find_films(paths)
    if not files:
        missing = "; ".join(f"{f['file']}: {f['error']}" for f in failures)
        raise InputError(f"no films found (expected {', '.join(FILM_SUFFIXES)} files or folders of them)"
                         + (f": {missing}" if missing else ""), ", ".join(str(p) for p in paths))
    screener = screener or Screener(config)
    screened, more = screen_items(screener, files, out, config, progress)
    results, failures = [r for r in screened if r is not None], failures + more
    cfg = dataclasses.asdict(config)
    cfg["detector"] = {"backend": getattr(screener.detector, "backend", None), "weights": _weights_name(config.detector_weights, "detector")}
    cfg["classifier"] = {"weights": _weights_name(config.classifier_weights, "classifier")}
    cfg["verdict_rule"] = "worst grade among detections with score >= score_threshold; normal if none"
    doc = report_document(results, failures, cfg)
    write_report(out, doc)
    return doc


def screen_items(screener: Screener, items, out: str | Path, config: ScreenConfig, progress: bool = True,
                 overlays: bool = True) -> tuple[list, list[dict]]:
    """Screen ``(path, name)`` pairs in order: ``(results aligned with items, None where it failed), failures``.

    Overlays (when ``overlays`` and ``config.overlays``) replace ``out/overlays`` whole at the
    end, so no stale film of an earlier run stays beside this run's.
    """
    from contextlib import nullcontext

    from converters.atomic import atomic_dir
    from converters.images import write_png_atomic
    from tqdm import tqdm

    results, failures = [], []
    with atomic_dir(Path(out) / "overlays") if overlays and config.overlays else nullcontext() as overlay_dir:
        for path, name in tqdm(items, desc="screening", unit="film", disable=not progress):
            try:
                res = screener.screen_file(path, name)
            except InputError as err:
                failures.append({"file": name, "error": str(err)})
                results.append(None)
                continue
            results.append(res)
            if overlay_dir is not None:
                img = draw_overlay(res.film.image, res.to_json(), res.film.scale, config.score_threshold)
                write_png_atomic(overlay_dir / overlay_name(name), img[..., ::-1].copy())
    return results, failures


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
        console.print(f"[red]failed[/red] {fl['file']}: {fl['error']}", soft_wrap=True)
    console.print(f"report: {out / 'report.json'}  overlays: {out / 'overlays'}")
