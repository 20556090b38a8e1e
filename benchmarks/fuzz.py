"""Fuzz the public readers and commands with generated bad input; count how each case ends.

Inputs (all from one seed, made by ``benchmarks/fuzz_inputs.py``): ``10 x n`` Info.txt
rows, ``n`` corrupt or odd images (truncated, bit flips, wrong size, 16-bit, empty, CMYK,
odd modes, bomb headers, DICOM without pixels, DICOM without extension, odd DICOM tags,
text named .png ...), ``n`` COCO files (NaN and infinite boxes, wrong types, missing keys,
escaping paths, broken JSON ...).

Every case ends as one of:

* ``ok``: accepted (the input was usable after all);
* ``clear``: a one-line error: :class:`converters.errors.InputError` from a reader, a
  failure entry naming the film, or a command's exit 1/2 with one ``error:`` line;
* ``traceback``: any other exception, or a command's exit 3;
* ``accepted_bad`` (COCO files): read without error although a box is not 4 finite
  numbers with w, h > 0;

and a command run counts as ``partial`` when it left output behind: a failed run that
wrote into ``--out`` (beyond the folder's marker), temporaries left in ``--out``, or a
report naming an overlay that is not there.

Readers: ``parse_mias``, ``read_film`` (screening), ``read_gray8`` (conversion),
``load_coco``, ``load_coco_set``. Commands: ``mammo convert`` (MIAS and COCO sources, in
process through ``screening.cli.main``) and the screening batch (``screening.run.screen_paths``
with a stand-in detector and grader, so the figures measure input handling, not models).

Usage:
    python benchmarks/fuzz.py --seed 0 --n 1000     # full campaign
    python benchmarks/fuzz.py --seed 0 --n 20       # a few seconds
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import shutil
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

from converters.errors import InputError

OUTCOMES = ("ok", "clear", "traceback", "accepted_bad")


def _sibling(name: str):
    """``benchmarks/NAME.py`` as a module (scripts here are not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


inputs = _sibling("fuzz_inputs")
FILM_PX, INFO_HEADER = inputs.FILM_PX, inputs.INFO_HEADER
info_row, odd_image, coco_text, pil_bytes = inputs.info_row, inputs.odd_image, inputs.coco_text, inputs.pil_bytes

# ---- running cases -------------------------------------------------------------------


def outcome(fn, *args, **kw) -> tuple[str, str]:
    """``(ok|clear|traceback, detail)`` of calling a reader."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            fn(*args, **kw)
    except InputError as err:
        return ("clear", "") if "\n" not in str(err) else ("traceback", f"multi-line InputError: {err!r}"[:300])
    except Exception as err:  # noqa: BLE001 - counting exactly these
        return "traceback", "".join(traceback.format_exception_only(type(err), err)).strip()[:300]
    return "ok", ""


def leftovers(out: Path) -> list[str]:
    """Hidden temporaries (``.NAME.tmp...``, ``.NAME.old...``) left anywhere in ``out``."""
    import re

    temp = re.compile(r"^\..+\.(tmp|old)")
    return [p.name for p in out.rglob("*") if temp.match(p.name)] if out.exists() else []


def run_command(args: list[str], out: Path) -> tuple[str, bool, str]:
    """Run ``mammo ARGS`` in process: ``(outcome, partial, detail)``."""
    from screening.cli import main

    err, std = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
            main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except Exception as exc:  # noqa: BLE001
        return "traceback", bool(leftovers(out)), f"uncaught {exc!r}"[:300]
    errors = [l for l in err.getvalue().splitlines() if l.startswith("error: ")]
    if code == 0:
        result = "ok"
    elif code in (1, 2) and "Traceback" not in err.getvalue() and (code == 1 or len(errors) == 1):
        result = "clear"
    else:
        result = "traceback"
    written = [p for p in out.rglob("*") if p.name != ".mammo-output"] if out.exists() else []
    partial = bool(leftovers(out)) or (code != 0 and bool(written))
    return result, partial, (err.getvalue().strip().splitlines() or [""])[-1][:300]


class _StandInDetector:
    backend = "fuzz-stand-in"

    def predict(self, image):
        from detector.detections import Detections

        h, w = image.shape
        return Detections(np.array([[w * 0.25, h * 0.25, w * 0.5, h * 0.5]]), np.array([0.9]))


class _StandInGrader:
    def grade(self, image, boxes_xyxy):
        return np.tile([0.2, 0.3, 0.5], (len(boxes_xyxy), 1))


def screen_batch(folder: Path, out: Path) -> tuple[str, bool, str, int, int]:
    """Screen a folder of odd films; ``(outcome, partial, detail, screened, failed)``."""
    from screening.pipeline import Screener, ScreenConfig
    from screening.report import validate_report
    from screening.run import screen_paths

    import dataclasses

    # only the stand-in models: optional stages off where this version of the pipeline has them
    names = {f.name for f in dataclasses.fields(ScreenConfig)}
    cfg = ScreenConfig(**{k: v for k, v in {"calcifications": False, "film_model": "none", "bilateral": False}.items() if k in names})
    screener = Screener(cfg, detector=_StandInDetector(), grader=_StandInGrader())
    try:
        doc = screen_paths([folder], out, cfg, screener=screener, progress=False)
    except InputError as err:
        return "clear", bool(leftovers(out)), str(err)[:300], 0, 0
    except Exception as err:  # noqa: BLE001
        return "traceback", bool(leftovers(out)), "".join(traceback.format_exception_only(type(err), err)).strip()[:300], 0, 0
    validate_report(json.loads((out / "report.json").read_text()))
    overlays = [f.get("overlay") for f in doc["films"]]
    missing = [o for o in overlays if o and not (out / o).is_file()]
    if len({o for o in overlays if o}) < sum(1 for o in overlays if o) or (
            not any(overlays) and len(list((out / "overlays").glob("*.png"))) < len(overlays)):
        missing.append("two films share one overlay file")
    multi = [fl for fl in doc["failures"] if "\n" in fl["error"]]
    partial = bool(leftovers(out)) or bool(missing)
    return ("traceback" if multi else "ok"), partial, (str(missing[:2]) + str(multi[:1]))[:300], len(doc["films"]), len(doc["failures"])


# ---- the campaign ----------------------------------------------------------------------


def campaign(seed: int, n: int, work: Path, log=print) -> dict:
    """Run every part; returns ``{part: Counter of outcomes}`` plus ``partial`` counts and examples."""
    from converters.cbis import load_coco_set
    from converters.coco import load_coco
    from converters.images import encode_pgm, read_gray8
    from converters.mias import parse_mias
    from screening.readers import read_film

    rng = np.random.default_rng(seed)
    counts: dict[str, Counter] = {}
    examples: dict[str, list[str]] = {}

    def add(part: str, result: str, detail: str = "", partial: bool = False):
        c = counts.setdefault(part, Counter())
        c[result] += 1
        c["partial"] += int(partial)
        if (result in ("traceback", "accepted_bad") or partial) and len(examples.setdefault(part, [])) < 5:
            examples[part].append(detail)

    # Info.txt rows, one at a time after a valid row
    for _ in range(10 * n):
        row = info_row(rng)
        res, detail = outcome(parse_mias, INFO_HEADER + ["mdb001 G CIRC B 100 120 20", row], "Info.txt", (FILM_PX, FILM_PX))
        add("info_rows", res, f"{row!r}: {detail}")
    # ... and whole Info.txt files through `mammo convert`
    films_dir = work / "mias"
    films_dir.mkdir(parents=True)
    film_bytes = {k: encode_pgm(rng.integers(60, 200, (FILM_PX, FILM_PX)).astype(np.uint8)) for k in range(1, 12)}
    for k, data in film_bytes.items():
        (films_dir / f"mdb{k:03d}.pgm").write_bytes(data)
    for j in range(max(2, n // 50)):
        valid = [f"mdb{k:03d} G NORM" for k in range(1, 11)]
        if j % 2:  # bad rows among good ones
            rows = valid[: int(rng.integers(0, 10))] + [info_row(rng) for _ in range(int(rng.integers(1, 4)))]
        else:  # good rows, and maybe one film replaced by an odd image
            rows = valid
            if rng.random() < 0.7:
                _, data, _ = odd_image(rng, j)
                (films_dir / f"mdb{int(rng.integers(1, 11)):03d}.pgm").write_bytes(data)
        (films_dir / "Info.txt").write_text("\n".join(INFO_HEADER + rows) + "\n", encoding="latin-1", errors="replace")
        out = work / f"convert-mias-{j}"
        add("convert_mias_cmd", *_reorder(run_command(
            ["convert", "--mias-dir", str(films_dir), "--out", str(out), "--quiet", "--film-size", str(FILM_PX), "--imgsz", "64"], out)))
        for k in range(1, 11):  # restore the films
            (films_dir / f"mdb{k:03d}.pgm").write_bytes(film_bytes[k])
    log(f"info rows done: {dict(counts['info_rows'])}")

    # odd images: each through both readers, then every 50 of them screened as one batch
    img_dir = work / "images"
    kinds = Counter()
    by_kind: dict[str, Counter] = {}
    for i in range(n):
        name, data, kind = odd_image(rng, i)
        kinds[kind] += 1
        batch = img_dir / f"batch{i // 50:03d}"
        batch.mkdir(parents=True, exist_ok=True)
        path = batch / name
        path.write_bytes(data)
        res, detail = outcome(read_film, path)
        add("read_film", res, f"{kind} {name}: {detail}")
        by_kind.setdefault(kind, Counter())[res] += 1
        if path.suffix.lower() in (".png", ".pgm", ".jpg", ".jpeg", ".tif", ".tiff"):
            res, detail = outcome(read_gray8, path, (FILM_PX, FILM_PX))
            add("read_gray8", res, f"{kind} {name}: {detail}")
    for batch in sorted(img_dir.iterdir()):
        res, partial, detail, n_ok, n_failed = screen_batch(batch, work / f"screen-{batch.name}")
        add("screen_batch", res, detail, partial)
        counts["screen_batch"]["films_screened"] += n_ok
        counts["screen_batch"]["films_failed"] += n_failed

    # COCO files: both readers, and a share through `mammo convert --coco-json`
    coco_dir = work / "coco"
    coco_dir.mkdir()
    for k in range(1, 4):
        (coco_dir / f"im{k}.png").write_bytes(pil_bytes(rng.integers(60, 200, (FILM_PX, FILM_PX)).astype(np.uint8), "PNG"))
    for j in range(n):
        text, kind = coco_text(rng)
        p = coco_dir / f"c{j:05d}.json"
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        res, detail = outcome(load_coco, p)
        if res == "ok" and _has_bad_bbox(p):  # accepted what it should have refused
            res, detail = "accepted_bad", f"{kind}: bad bbox accepted"
        add("load_coco", res, f"{kind}: {detail}")
        res, detail = outcome(load_coco_set, p, coco_dir, case_table=False)
        add("load_coco_set", res, f"{kind}: {detail}")
        if j % 25 == 0:
            out = work / f"convert-coco-{j}"
            add("convert_coco_cmd", *_reorder(run_command(
                ["convert", "--coco-json", str(p), "--images", str(coco_dir), "--out", str(out), "--quiet", "--imgsz", "64"], out)))
    return {"counts": counts, "examples": examples, "image_kinds": kinds, "read_film_by_kind": by_kind}


def _has_bad_bbox(path: Path) -> bool:
    """Does the file hold an annotation whose bbox is not 4 finite numbers with w, h > 0?"""
    import math

    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        anns = coco["annotations"]
    except Exception:  # noqa: BLE001 - unreadable files are the readers' business
        return False
    for a in anns if isinstance(anns, list) else []:
        box = a.get("bbox") if isinstance(a, dict) else None
        ok = (isinstance(box, list) and len(box) == 4
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)
              and box[2] > 0 and box[3] > 0)
        if not ok:
            return True
    return False


def _reorder(r: tuple[str, bool, str]) -> tuple[str, str, bool]:
    return r[0], r[2], r[1]


def summary_table(result: dict) -> str:
    head = f"{'part':<18}{'cases':>7}{'ok':>7}{'clear':>7}{'traceback':>11}{'accepted_bad':>14}{'partial':>9}"
    row = lambda name, c: (f"{name:<18}{sum(c[o] for o in OUTCOMES):>7}{c['ok']:>7}{c['clear']:>7}"  # noqa: E731
                           f"{c['traceback']:>11}{c['accepted_bad']:>14}{c['partial']:>9}")
    lines = [head] + [row(part, c) for part, c in result["counts"].items()]
    lines.append(row("all", Counter({k: sum(c[k] for c in result["counts"].values()) for k in (*OUTCOMES, "partial")})))
    sb = result["counts"].get("screen_batch")
    if sb:
        lines.append(f"screen batches: {sb['films_screened']} films screened, {sb['films_failed']} failure entries")
    by_kind = result.get("read_film_by_kind") or {}
    if by_kind:
        lines.append("read_film by kind (ok/clear/traceback): " + "; ".join(
            f"{k} {c['ok']}/{c['clear']}/{c['traceback']}" for k, c in sorted(by_kind.items())))
    for part, ex in result["examples"].items():
        for e in ex:
            lines.append(f"  {part}: {e}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="seed of every generated input")
    ap.add_argument("--n", type=int, default=1000, help="images and COCO files (Info.txt rows: 10 x n)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="mammo-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = campaign(args.seed, args.n, work / f"seed{args.seed}-n{args.n}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"fuzz campaign: seed {args.seed}, n {args.n}")
    print(summary_table(result))
    bad = sum(c["traceback"] + c["accepted_bad"] + c["partial"] for c in result["counts"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
