"""``mammo screen --engine ray``: the same pipeline on Ray Data, from one machine to a cluster.

* Films are read as binary files (``ray.data.read_binary_files``) and screened by
  ``map_batches`` with a pool of actors; each actor loads the models once.
* An actor writes each film's bytes to a private temporary file with the film's own suffix
  and reads it with :func:`screening.readers.read_film`, so every format and every error
  message is the single-process one (the temporary name is replaced by the film's name).
* The contralateral film (:mod:`screening.bilateral`) is read by the actor from its path, so
  on a multi-node cluster the films must be visible at the same path on every node (shared
  storage); without that, films are screened alone and the report says so.
* Results stream back to the driver in input order of completion; the driver appends each to
  ``results.jsonl``, writes its overlay and merges ``report.json`` exactly as the
  single-process engine does (:func:`screening.run.screen_paths`). A film that fails is a
  failure entry; the rest go on.

Without ``address`` a local Ray is started (and stopped at the end); with one, the run joins
that cluster (``ray start --head`` on one node, ``ray start --address HEAD:6379`` on the others).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


class _ScreenActor:
    """One Ray actor: the models, loaded once; screens batches of ``{path, bytes}`` rows."""

    def __init__(self, config_dict: dict, max_pixels: int, partners: dict[str, list[str]], overlays: bool):
        from screening.pipeline import Screener, ScreenConfig

        self.config = ScreenConfig(**config_dict)
        self.screener = Screener(self.config)
        self.max_pixels = max_pixels
        self.partners = partners  # path -> [partner path or None, partner name or None, film name]
        self.overlays = overlays

    def __call__(self, batch: dict) -> dict:
        out = {"path": [], "film_json": [], "error": [], "overlay_png": []}
        for path, data in zip(batch["path"], batch["bytes"]):
            film_json, error, png = self._screen(str(path), bytes(data))
            out["path"].append(str(path))
            out["film_json"].append(film_json)
            out["error"].append(error)
            out["overlay_png"].append(png)
        return {k: np.array(v, dtype=object) for k, v in out.items()}

    def _screen(self, path: str, data: bytes) -> tuple[str, str, bytes]:
        """One film through :func:`screening.run.screen_one`, the single-process engine's own step."""
        import cv2

        from converters.errors import InputError
        from screening.report import draw_overlay
        from screening.run import screen_one

        partner_path, partner_name, name = self.partners[_as_listed(path, self.partners)]
        fd, tmp = tempfile.mkstemp(suffix=Path(path).suffix, prefix="mammo-ray-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            res = screen_one(self.screener, tmp, name, self.max_pixels, (partner_path, partner_name) if partner_path else None)
            film_json = res.to_json()
            png = b""
            if self.overlays:
                img = draw_overlay(res.film.image, film_json, res.film.scale, self.config.score_threshold)
                ok, buf = cv2.imencode(".png", img)
                png = buf.tobytes() if ok else b""
            return json.dumps(film_json, allow_nan=False), "", png
        except InputError as err:
            return "", str(err).replace(tmp, path), b""
        finally:
            Path(tmp).unlink(missing_ok=True)


def screen_items_ray(items, out: Path, config, log, overlay_dir: Path | None, overlay_names: list[str], max_pixels: int,
                     address: str | None = None, actors: int = 2, progress: bool = True) -> tuple[list, list[dict]]:
    """Screen ``(path, name)`` items on Ray; same return value as :func:`screening.run.screen_items`
    with ``keep_images=False`` (a result is its record's offset in ``log``). Films ``log``
    already holds are not sent to Ray."""
    import dataclasses

    from tqdm import tqdm

    from screening.bilateral import key_of_file, pair_films
    from screening.results_log import film_key

    ray = _import_ray()
    items = list(items)
    pairs = pair_films([n for _, n in items], [key_of_file(p, n) for p, n in items])
    keys = [film_key(p, n) for p, n in items]
    results: list = [None] * len(items)
    failures_at: dict[int, dict] = {}
    todo = []
    for i, key in enumerate(keys):
        earlier = log.get(key) if log is not None else None
        if earlier is None:
            todo.append(i)
        elif "failure" in earlier:
            failures_at[i] = earlier["failure"]
        else:
            results[i] = log.offset(key)
            if overlay_dir is not None:  # finished by an earlier run: its overlay is drawn again here
                from screening.run import redraw_overlay

                redraw_overlay(items[i][0], earlier["film"], overlay_dir / overlay_names[i], config, max_pixels)
    # Absolute, NOT resolved: two links to one file are two films of the batch. A path listed
    # twice is screened twice, each row filling the next of its places.
    where = {i: os.path.abspath(items[i][0]) for i in todo}
    index_of: dict[str, list[int]] = {}
    for i in todo:
        index_of.setdefault(where[i], []).append(i)
    started_here = not ray.is_initialized()
    if started_here:
        # Locally: one logical CPU per actor plus one for reading files, or the reads starve
        # behind the actors (Ray's CPUs are logical; the OS shares the cores).
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 logging_level="ERROR", num_cpus=None if address else actors + 1)
    try:
        if todo:
            ctx = ray.data.DataContext.get_current()  # mammo's own progress bar only
            ctx.enable_progress_bars = False
            ctx.print_on_execution_start = False
            import logging

            logging.getLogger("ray.data").setLevel(logging.WARNING)
            info = {where[i]: [os.path.abspath(items[pairs[i]][0]) if i in pairs else None,
                               items[pairs[i]][1] if i in pairs else None, items[i][1]] for i in todo}
            ds = ray.data.read_binary_files([where[i] for i in todo], include_paths=True,
                                            ignore_missing_paths=True, num_cpus=0.5)
            ds = ds.map_batches(_ScreenActor, batch_size=8, compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1,
                                fn_constructor_args=(dataclasses.asdict(config), max_pixels, info, overlay_dir is not None))
            bar = tqdm(total=len(todo), desc="screening (ray)", unit="film", disable=not progress, smoothing=0.1)
            for row in ds.iter_rows():
                i = index_of[_as_listed(str(row["path"]), index_of)].pop(0)
                name = items[i][1]
                if row["error"]:
                    failures_at[i] = {"file": name, "error": row["error"]}
                    if log is not None:
                        log.append(keys[i], failure=failures_at[i])
                else:
                    film_json = json.loads(row["film_json"])
                    results[i] = log.append(keys[i], film=film_json) if log is not None else film_json
                    if overlay_dir is not None and row["overlay_png"]:
                        from converters.atomic import write_bytes_atomic

                        write_bytes_atomic(overlay_dir / overlay_names[i], bytes(row["overlay_png"]))
                bar.update(1)
            bar.close()
            for i in todo:  # a file Ray could not read at all (vanished since it was listed)
                if results[i] is None and i not in failures_at:
                    failures_at[i] = {"file": items[i][1], "error": "could not be read (missing or unreadable)"}
    finally:
        if started_here:
            ray.shutdown()
    failures = [failures_at[i] for i in sorted(failures_at)]
    return results, failures


def _as_listed(path: str, listed: dict) -> str:
    """The driver's key for a path Ray reports (a filesystem may drop the leading ``/``)."""
    return path if path in listed else "/" + path.lstrip("/")


def _import_ray():
    from converters.errors import InputError

    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray (pip install 'ray[data]')") from None
    return ray
