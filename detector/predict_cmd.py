"""``mammo detector predict``: boxes for a few films, printed and optionally saved as JSON."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from converters.atomic import write_json_atomic
from converters.images import read_gray8


def run_predict(images: list[Path], weights: Path | None, min_score: float, out: Path | None) -> dict:
    """Load the detector once, predict every image, print boxes scoring >= ``min_score``.

    A film that cannot be read (8-bit films only here; ``mammo screen`` windows 16-bit and
    DICOM) is reported and skipped; the exit status is then 1.
    """
    from converters.errors import InputError
    from detector.api import load_detector

    if not 0 <= min_score <= 1:
        raise InputError(f"--min-score must be in [0, 1], got {min_score}")
    if out is not None and out.is_dir():
        raise InputError("--out is a folder; expected a JSON file name", out)
    detector = load_detector(weights)
    results, failures = {}, {}
    for path in images:
        try:
            image = read_gray8(path)
        except InputError as err:
            typer.echo(f"failed {err}", err=True)
            failures[str(path)] = str(err)
            continue
        t0 = time.perf_counter()
        found = detector.predict(image)
        dt = time.perf_counter() - t0
        shown = found.above(min_score)
        typer.echo(f"{path}: {len(shown)} box(es) with score >= {min_score} ({len(found)} in all, {dt:.3f} s)")
        for box, score in zip(shown.xyxy, shown.scores):
            typer.echo(f"  xyxy=({box[0]:.1f}, {box[1]:.1f}, {box[2]:.1f}, {box[3]:.1f}) score={score:.3f}")
        results[str(path)] = found.to_json()
    if out is not None:
        write_json_atomic(out, {"backend": detector.backend,
                                "coordinates": "film pixels, top-left origin, xyxy, exclusive right/bottom edges",
                                "films": results, "failures": failures})
    if failures:
        raise typer.Exit(1)
    return results
