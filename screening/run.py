"""Screen many films into an output folder: report.json, report.csv, overlays/.

The output folder follows :mod:`converters.output_dir`: a non-empty folder mammo did not
write is refused unless ``overwrite``; it is marked as mammo's; leftovers of killed runs are
removed. Overlays are moved into ``overlays/`` file by file: files someone else put there
stay, this command's own files of an earlier run that this run did not write are removed.
Each film names its overlay (``"overlay": "overlays/NAME.png"``); names are unique within a
run even when two films would share one (``a.pgm`` and ``a.png``, ``x/b.png`` and ``x__b.png``).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from converters.errors import InputError, look_up_option
from converters.images import DEFAULT_MAX_PIXELS
from screening.pipeline import Screener, ScreenConfig
from screening.readers import FILM_SUFFIXES, find_films, read_film
from screening.report import SCHEMA_VERSION, draw_overlay, overlay_name, write_report_stream

ENGINES = ("local", "ray")
KEEP_FILMS_UP_TO = 200  # mammo screen prints a row per film up to this many
SCREEN_OUTPUTS = ("report.json", "report.csv", "overlays", "results.jsonl", "dicom-sr")
OVERLAY_DIR = "overlays"


def resolve_max_pixels(config: ScreenConfig, max_pixels: int | None = None) -> int:
    """The pixel limit of a run: the argument, else ``config.max_pixels``, else the default."""
    value = max_pixels if max_pixels is not None else getattr(config, "max_pixels", None)
    value = DEFAULT_MAX_PIXELS if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"--max-pixels (max_pixels) must be a whole number >= 1, got {value!r}")
    return value


def unique_overlay_names(names: list[str]) -> list[str]:
    """One overlay file name per film name, distinct even where :func:`overlay_name` collides.

    A name that no other film shares (case-insensitively) keeps the plain form
    (``sub/a.pgm`` -> ``sub__a.png``); names that would share one get a short hash of the
    film's own name (``a-1b2c3d4e.png``), and films listed twice a running number.
    """
    plain = [overlay_name(n) for n in names]
    counts: dict[str, int] = {}
    for p in plain:
        counts[p.casefold()] = counts.get(p.casefold(), 0) + 1
    out, taken = [], set()
    for n, p in zip(names, plain):
        cand = p
        if counts[p.casefold()] > 1:
            cand = f"{p[:-4]}-{hashlib.sha1(n.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}.png"
        k = 1
        base = cand
        while cand.casefold() in taken:
            k += 1
            cand = f"{base[:-4]}-{k}.png"
        taken.add(cand.casefold())
        out.append(cand)
    return out


def screen_paths(paths, out: str | Path, config: ScreenConfig, screener: Screener | None = None, progress: bool = True,
                 max_pixels: int | None = None, overwrite: bool = False, resume: bool = False,
                 engine: str = "local", ray_address: str | None = None, actors: int = 2, keep_films: bool | None = True) -> dict:
    """Screen files/folders; a film that cannot be read is a failure entry, the rest go on.

    Args:
        paths: films and folders (searched recursively).
        out: output folder (created; see the module docstring for an existing one).
        config: thresholds and models.
        screener: an already loaded screener (else loaded from ``config``).
        progress: show a progress bar.
        max_pixels: largest film (width x height) read; default ``config.max_pixels`` or
            :data:`converters.images.DEFAULT_MAX_PIXELS`.
        overwrite: write into a non-empty folder mammo did not write.
        resume: continue an earlier, interrupted run in ``out``: keep the films it finished
            (its ``results.jsonl``) and screen only the others and those whose file changed.
        engine: ``local`` (this process) or ``ray`` (:mod:`screening.ray_engine`: ``actors``
            model replicas on a local Ray, or on the cluster at ``ray_address``).
        keep_films: return the films in the document; ``False`` returns ``films: None`` with
            ``n_films`` and the count of each verdict, so memory does not grow with the number
            of films; ``None`` (``mammo screen``): keep them for batches of up to
            :data:`KEEP_FILMS_UP_TO` films.

    Every result is appended to ``out/results.jsonl`` as it comes (:mod:`screening.results_log`);
    the report is merged from it at the end, one film at a time. Returns the report document
    (also written to ``out/report.json``), plus ``n_films`` and ``verdicts`` (counts), and with
    ``resume`` ``resumed``: how many films were kept from the earlier run and how many screened now.
    """
    from converters.output_dir import check_output_dir, claim_output_dir

    out = check_output_dir(out, overwrite, SCREEN_OUTPUTS, signature="report.json")
    limit = resolve_max_pixels(config, max_pixels)
    paths = list(paths)
    files, failures = find_films(paths)
    if not files:
        missing = "; ".join(f"{f['file']}: {f['error']}" for f in failures)
        if len(failures) == len(paths):  # every path given is missing: that is the whole story
            raise InputError(missing)
        raise InputError(f"no films found (expected {', '.join(FILM_SUFFIXES)} files, DICOM files, or folders of them)"
                         + (f"; {missing}" if missing else ""), ", ".join(str(p) for p in paths))
    claim_output_dir(out, "screen", legacy_temp_names=SCREEN_OUTPUTS)
    from screening.results_log import ResultsLog

    look_up_option(engine, ENGINES, "engine")
    if engine == "ray" and (not isinstance(actors, int) or actors < 1):
        raise InputError(f"--actors must be >= 1, got {actors!r}")
    with ResultsLog(out, resume) as log:
        if engine == "ray":
            screened, more = _screen_on_ray(files, out, config, limit, log, ray_address, actors, progress)
            screener = None
        else:
            screener = screener or Screener(config)
            screened, more = screen_items(screener, files, out, config, progress, max_pixels=limit, log=log, keep_images=False)
        failures = failures + more
        cfg = config.report_dict(screener.film_model is None if screener is not None else None)
        cfg["max_pixels"] = limit
        cfg["engine"] = engine if engine == "local" else {"name": "ray", "address": ray_address or "local", "actors": actors}
        cfg["detector"] = {"backend": getattr(getattr(screener, "detector", None), "backend", None),
                           "weights": _weights_name(config.detector_weights, "detector")}
        cfg["classifier"] = {"weights": _weights_name(config.classifier_weights, "classifier")}
        cfg["verdict_rule"] = verdict_rule(screener.film_model) if screener is not None else verdict_rule_of_config(config)
        names = unique_overlay_names([name for _, name in files]) if config.overlays else None
        verdicts: dict[str, int] = {}

        def films():
            """The report's films in input order, one record read from the log at a time."""
            for i, r in enumerate(screened):
                if r is None:
                    continue
                f = log.read(r)["film"] if isinstance(r, int) else (r if isinstance(r, dict) else r.to_json())
                if names is not None:
                    f["overlay"] = f"{OVERLAY_DIR}/{names[i]}"
                yield f

        def counted():
            for f in films():
                verdicts[f["verdict"]] = verdicts.get(f["verdict"], 0) + 1
                yield f

        n = write_report_stream(out, counted(), failures, cfg)
        keep = keep_films if keep_films is not None else len(files) <= KEEP_FILMS_UP_TO
        doc = {"schema_version": SCHEMA_VERSION, "films": list(films()) if keep else None, "config": cfg,
               "failures": failures, "n_films": n, "verdicts": verdicts}
        if resume:
            doc["resumed"] = {"kept": log.kept, "screened": len(files) - log.kept}
    return doc


def screen_one(screener: Screener, path, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS, partner=None):
    """Read and screen one film (the reader gets the pixel limit); timing covers both.

    ``partner``: ``(path, name)`` of the contralateral film of the same patient and view
    (:func:`screening.bilateral.pair_films`); if it cannot be read the film is screened alone.
    """
    t0 = time.perf_counter()
    film = read_film(path, screener.config.rescale_to_model_grid, max_pixels=max_pixels)
    other = None
    if partner is not None and screener.config.bilateral:
        try:
            other = read_film(partner[0], screener.config.rescale_to_model_grid, max_pixels=max_pixels)
        except InputError:
            other = None
    res = screener.screen_image(film, name, other, partner[1] if other is not None else None)
    res.seconds = time.perf_counter() - t0
    return res


def screen_items(screener: Screener, items, out: str | Path, config: ScreenConfig, progress: bool = True,
                 overlays: bool = True, max_pixels: int | None = None, log=None,
                 keep_images: bool = True) -> tuple[list, list[dict]]:
    """Screen ``(path, name)`` pairs in order: ``(results aligned with items, None where it failed), failures``.

    Overlays (when ``overlays`` and ``config.overlays``) are named by
    :func:`unique_overlay_names` and moved into ``out/overlays`` at the end (see the module
    docstring). ``max_pixels``: as in :func:`screen_paths`.

    ``log`` (a :class:`screening.results_log.ResultsLog`): every result is appended to it as
    it comes, and a film it already holds (same name, same bytes) is not screened again: its
    record is reused and its overlay redrawn. With ``keep_images=False`` and a log, a result is
    the byte offset of the film's record in the log, so memory holds neither images nor
    report entries of a long batch.
    """
    from contextlib import nullcontext

    from converters.atomic import owned_files_dir
    from converters.images import write_png_atomic
    from tqdm import tqdm

    from screening.bilateral import key_of_file, pair_films
    from screening.results_log import film_key

    items = list(items)
    limit = resolve_max_pixels(config, max_pixels)
    names = unique_overlay_names([name for _, name in items])
    partners = pair_films([name for _, name in items], [key_of_file(path, name) for path, name in items])
    results, failures = [], []
    with owned_files_dir(Path(out) / OVERLAY_DIR) if overlays and config.overlays else nullcontext() as overlay_dir:
        bar = tqdm(list(zip(items, names)), desc="screening", unit="film", disable=not progress, smoothing=0.1)
        for i, ((path, name), overlay) in enumerate(bar):
            key = film_key(path, name) if log is not None else None
            earlier = log.get(key) if log is not None else None
            if earlier is not None:
                if "failure" in earlier:
                    failures.append(earlier["failure"])
                    results.append(None)
                    continue
                results.append(earlier["film"] if keep_images else log.offset(key))
                if overlay_dir is not None:
                    redraw_overlay(path, earlier["film"], overlay_dir / overlay, config, limit)
                continue
            try:
                res = screen_one(screener, path, name, limit, items[partners[i]] if i in partners else None)
            except InputError as err:
                failures.append({"file": name, "error": str(err)})
                results.append(None)
                if log is not None:
                    log.append(key, failure=failures[-1])
                continue
            film_json = res.to_json()
            at = log.append(key, film=film_json) if log is not None else None
            if overlay_dir is not None:
                _draw(res.film, film_json, overlay_dir / overlay, config, write_png_atomic)
            results.append(res if keep_images or at is None else at)
    return results, failures


def _draw(film, film_json: dict, path: Path, config: ScreenConfig, write_png) -> None:
    img = draw_overlay(film.image, film_json, film.scale, config.score_threshold)
    write_png(path, img[..., ::-1].copy())


def redraw_overlay(film_path, film_json: dict, dst: Path, config: ScreenConfig, max_pixels: int) -> None:
    """The overlay of a film screened by an earlier run (its report entry), drawn again."""
    from converters.images import write_png_atomic

    try:
        _draw(read_film(film_path, config.rescale_to_model_grid, max_pixels=max_pixels), film_json, dst, config, write_png_atomic)
    except InputError:
        pass  # it was readable then; if not now, the report entry stays and the overlay is missing


def _screen_on_ray(files, out: Path, config: ScreenConfig, limit: int, log, address, actors: int, progress: bool):
    from contextlib import nullcontext

    from converters.atomic import owned_files_dir
    from screening.ray_engine import screen_items_ray

    names = unique_overlay_names([name for _, name in files])
    with owned_files_dir(Path(out) / OVERLAY_DIR) if config.overlays else nullcontext() as overlay_dir:
        return screen_items_ray(files, Path(out), config, log, overlay_dir, names, limit, address, actors, progress)


def verdict_rule_of_config(config: ScreenConfig) -> str:
    """:func:`verdict_rule` without loading the networks on the driver (the Ray engine)."""
    from screening.film_model import load_film_model

    return verdict_rule(None if config.film_model == "none" else load_film_model(config.film_model))


def verdict_rule(film_model) -> str:
    """The verdict rule of a film model (``None``: the mass-only rule), in words for the report."""
    if film_model is None:
        return "worst grade among mass detections with score >= score_threshold; normal if none"
    fm = film_model
    # 5 decimals, as the scores in report.json: a rounded threshold would make a film just below it
    # read as contradicting the rule.
    return (f"film model: abnormal when abnormal_score >= {fm.abnormal_threshold:.5f}, then malignant when "
            f"malignant_score >= {fm.malignant_threshold:.5f}, else benign")


def _weights_name(w, pkg: str) -> str:
    return str(w) if w else f"shipped default ({pkg}/weights)"


def n_films(n: int) -> str:
    """``1 film``, ``2 films``."""
    return f"{n} film" if n == 1 else f"{n} films"


def print_screen_summary(doc: dict, out: Path, console=None, truth: dict[str, str] | None = None) -> None:
    """Rich table of a report; ``truth`` (file -> labelled verdict) adds a column beside the verdict.

    Counts are of the findings drawn on the overlays: masses at or above the score
    threshold, calcification clusters and asymmetries from 0.5 (:data:`screening.report.DRAW_THRESHOLDS`).
    The table is compact (no vertical rules, one space between columns) so that with the
    ``labelled`` column it fits 80 columns; that column wraps between words rather than cut them.
    """
    import numpy as np
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from screening.report import DRAW_THRESHOLDS, finding_of

    console = console or Console()
    if doc.get("resumed"):
        r = doc["resumed"]
        console.print(f"resumed: {n_films(r['kept'])} kept from the earlier run, {r['screened']} screened now")
    if doc.get("films") is None:  # a long batch: counts only, the films are in report.json
        counts = ", ".join(f"{v} {k}" for k, v in sorted(doc.get("verdicts", {}).items()))
        console.print(f"mammo screen: {n_films(doc['n_films'])} screened ({counts or 'none'}), {len(doc['failures'])} failed")
        for fl in doc["failures"][:20]:
            console.print(f"[red]failed[/red] {fl['file']}: {fl['error']}", soft_wrap=True)
        if len(doc["failures"]) > 20:
            console.print(f"... and {len(doc['failures']) - 20} more failures (report.json)")
        console.print(f"verdict: {doc['config'].get('verdict_rule', '')}", soft_wrap=True)
        console.print(f"report: {out / 'report.json'}  overlays: {out / OVERLAY_DIR}")
        return
    table = Table(title=f"mammo screen: {n_films(len(doc['films']))}, {len(doc['failures'])} failed",
                  box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)
    columns = ["file", "verdict"] + (["labelled"] if truth else []) + ["score", "masses", "clusters", "asym", "partner", "s"]
    for c in columns:
        table.add_column(c, no_wrap=c != "labelled")
    thr = doc["config"]["score_threshold"]

    def count(f, kind):
        return sum(1 for d in f["detections"] if finding_of(d) == kind and d["score"] >= DRAW_THRESHOLDS.get(kind, thr))

    for f in doc["films"]:
        table.add_row(
            f["file"], f["verdict"], *([truth.get(f["file"], "?")] if truth else []),
            f"{f.get('abnormal_score', 0.0):.2f}", str(count(f, "mass")), str(count(f, "calcification")),
            str(count(f, "asymmetry")), f.get("contralateral") or "-", f"{f['seconds']:.2f}",
        )
    console.print(table)
    if doc["films"]:
        secs = [f["seconds"] for f in doc["films"]]
        console.print(f"median {np.median(secs):.2f} s per film; score = abnormal_score; masses counted from score {thr}, "
                      f"clusters and asymmetries from 0.5; partner = the other breast's film", soft_wrap=True)
        console.print(f"verdict: {doc['config'].get('verdict_rule', '')}", soft_wrap=True)
    for fl in doc["failures"]:
        console.print(f"[red]failed[/red] {fl['file']}: {fl['error']}", soft_wrap=True)
    console.print(f"report: {out / 'report.json'}  overlays: {out / OVERLAY_DIR}")
