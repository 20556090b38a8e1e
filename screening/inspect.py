"""Errors of a screening run, film by film, as a FiftyOne dataset (``mammo inspect``).

Inputs are labelled films (:class:`converters.records.Film`, e.g. from
:func:`converters.mias.load_mias`) and the ``report.json`` written by ``mammo screen`` /
``mammo evaluate``. Report films are matched to labelled films by file stem
(``"mdb001.pgm"`` -> ``mdb001``). Coordinates are film pixels, top-left origin, ``xyxy``
with exclusive right/bottom edges (see :mod:`converters.records`); FiftyOne boxes are
``[x, y, w, h]`` relative to the film, and a FiftyOne instance mask covers only its box.

Two rules decide what was found, side by side:

* the project's hit rule (the detector evaluation's): a prediction hits a lesion when its
  box centre lies inside the lesion (:meth:`Lesion.contains_point`). Ground-truth labels
  are tagged ``hit``/``miss``, predictions ``tp_center``/``fp_center``;
* FiftyOne's ``evaluate_detections`` at an IoU threshold (eval key ``eval``), which writes
  ``eval`` = ``tp``/``fp``/``fn`` on every label.

Both fields use the label ``lesion`` (detection is judged apart from grading); the
severity / grade are attributes. A found lesion whose best (highest-scoring) hitting prediction has a grade other than the
lesion's severity is tagged ``misgraded`` (both labels). A film whose predicted verdict
differs from its true verdict gets the sample tags ``verdict-wrong`` and
``verdict-TRUE-as-PRED`` (e.g. ``verdict-malignant-as-normal``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from converters.errors import InputError
from converters.records import GRADES, Film, Lesion
from screening.report import Finding, FilmResult

BROWSER_SUFFIXES = (".png", ".jpg", ".jpeg")
# One label for both fields: evaluate_detections counts a match between different labels as
# FN + FP even with classwise=False, and grading is judged separately (tag ``misgraded``).
DETECTION_LABEL = "lesion"
SAVED_VIEWS = ("missed-lesions", "missed-calcifications", "false-alarms", "misgraded", "worst-films")
# Label fields of the predictions, by the report's finding type.
FINDING_FIELDS = {"mass": "predictions", "calcification": "calc_clusters", "asymmetry": "asymmetries"}


# ----------------------------------------------------------------------------- report.json
@dataclass(frozen=True)
class Report:
    """A validated ``report.json``: its films and the screening config it was made with."""

    films: tuple[FilmResult, ...]
    config: dict

    @property
    def score_threshold(self) -> float | None:
        """The pipeline's operating threshold (``config.score_threshold``), if recorded.

        ``mammo screen`` also keeps weaker detections in the report (down to
        ``report_min_score``); the verdicts only count those at or above this threshold.
        """
        value = self.config.get("score_threshold")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _need(obj, key, kind, where, path):
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{where}: missing key {key!r} (see the report.json schema of mammo screen)", path)
    value = obj[key]
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if kind is not float and isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise InputError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}", path)


def _grade(value, where, path) -> str:
    if value not in GRADES:
        raise InputError(f"{where}: expected one of {', '.join(GRADES)}, got {value!r}", path)
    return value


def parse_report(obj: dict, path: str | Path = "report.json") -> Report:
    """Validate a decoded ``report.json`` (pure) and return its films and config.

    Raises:
        InputError: naming the file and the JSON location (``films[3].detections[0].xyxy``).
    """
    films_raw = _need(obj, "films", list, "report", path)
    films, seen = [], {}
    for i, f in enumerate(films_raw):
        where = f"films[{i}]"
        file = _need(f, "file", str, where, path)
        width, height = int(_need(f, "width", int, where, path)), int(_need(f, "height", int, where, path))
        if width <= 0 or height <= 0:
            raise InputError(f"{where}: expected width, height > 0, got {width}x{height}", path)
        dets = []
        for j, d in enumerate(_need(f, "detections", list, where, path)):
            dw = f"{where}.detections[{j}]"
            xyxy = _need(d, "xyxy", list, dw, path)
            if len(xyxy) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in xyxy):
                raise InputError(f"{dw}.xyxy: expected 4 finite numbers [x1, y1, x2, y2], got {xyxy!r}", path)
            x1, y1, x2, y2 = (float(v) for v in xyxy)
            if x2 <= x1 or y2 <= y1:
                raise InputError(f"{dw}.xyxy: expected x2 > x1 and y2 > y1, got {xyxy!r}", path)
            score = _need(d, "score", float, dw, path)
            probs = _need(d, "probabilities", dict, dw, path)
            for g in GRADES:
                _need(probs, g, float, f"{dw}.probabilities", path)
            finding = d.get("finding", "mass")
            if finding not in FINDING_FIELDS:
                raise InputError(f"{dw}.finding: expected one of {', '.join(FINDING_FIELDS)}, got {finding!r}", path)
            specks = d.get("specks_xy", [])
            if not (isinstance(specks, list) and all(isinstance(p, list) and len(p) == 2 and all(
                    isinstance(v, (int, float)) and math.isfinite(v) for v in p) for p in specks)):
                raise InputError(f"{dw}.specks_xy: expected a list of [x, y] pairs", path)
            _grade(d.get("grade"), f"{dw}.grade", path)
            if not 0 <= score <= 1:
                raise InputError(f"{dw}.score: expected a number in [0, 1], got {score!r}", path)
            dets.append(Finding(finding, (x1, y1, x2, y2), score, tuple(float(probs[g]) for g in GRADES),
                                d.get("n_specks") if isinstance(d.get("n_specks"), int) else None,
                                tuple((float(a), float(b)) for a, b in specks) or None))
        seconds = f.get("seconds")
        film = FilmResult(file, width, height, _grade(f.get("verdict"), f"{where}.verdict", path), dets,
                          float(seconds) if isinstance(seconds, (int, float)) else 0.0)
        if film.stem in seen:
            raise InputError(f"{where}: file {file!r} has the same stem as films[{seen[film.stem]}]; "
                             "expected one entry per film", path)
        seen[film.stem] = i
        films.append(film)
    config = obj.get("config", {})
    if not isinstance(config, dict):
        raise InputError(f"report.config: expected an object, got {config!r}", path)
    return Report(tuple(films), config)


def load_report(path: str | Path) -> Report:
    """Read and validate ``report.json``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("report not found; expected the report.json written by mammo screen / mammo evaluate", path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg})", path, err.lineno) from None
    from screening.report import validate_report

    return parse_report(validate_report(obj, path), path)


# ----------------------------------------------------------------------------- matching
@dataclass
class FilmInspection:
    """One film's labels, predictions and the outcome of both rules.

    ``lesion_hit[i]`` / ``lesion_misgraded[i]`` refer to ``film.lesions[i]``;
    ``pred_hit[j]`` / ``pred_misgraded[j]`` to ``detections[j]``.
    """

    film: Film
    report: FilmResult
    detections: tuple[Finding, ...]
    lesion_hit: list[bool] = field(default_factory=list)
    lesion_best_pred: list[int | None] = field(default_factory=list)
    lesion_misgraded: list[bool] = field(default_factory=list)
    pred_hit: list[bool] = field(default_factory=list)
    pred_misgraded: list[bool] = field(default_factory=list)

    @property
    def n_missed(self) -> int:
        return self.lesion_hit.count(False)

    @property
    def n_false_alarms(self) -> int:
        return self.pred_hit.count(False)

    @property
    def n_misgraded(self) -> int:
        return sum(self.lesion_misgraded)

    @property
    def verdict_tags(self) -> list[str]:
        true, pred = self.film.verdict, self.report.verdict
        return [] if true == pred else ["verdict-wrong", f"verdict-{true}-as-{pred}"]

    @property
    def n_mistakes(self) -> int:
        return self.n_missed + self.n_false_alarms + self.n_misgraded + bool(self.verdict_tags)


def inspect_film(film: Film, report: FilmResult, min_score: float = 0.0) -> FilmInspection:
    """Apply the centre hit rule and the grading check to one film (pure)."""
    if (report.width, report.height) != (film.width, film.height):
        raise InputError(f"report says {report.file} is {report.width}x{report.height} but the labelled film "
                         f"{film.film_id} is {film.width}x{film.height}; expected the same film")
    dets = tuple(d for d in report.findings if d.score >= min_score)
    out = FilmInspection(film, report, dets, pred_hit=[False] * len(dets), pred_misgraded=[False] * len(dets))
    for lesion in film.lesions:
        hits = [j for j, d in enumerate(dets) if lesion.contains_point(*d.center)]
        for j in hits:
            out.pred_hit[j] = True
        best = max(hits, key=lambda j: dets[j].score) if hits else None
        wrong = best is not None and lesion.severity is not None and dets[best].grade != lesion.severity
        if wrong:
            out.pred_misgraded[best] = True
        out.lesion_hit.append(bool(hits))
        out.lesion_best_pred.append(best)
        out.lesion_misgraded.append(wrong)
    return out


def match_report(films: list[Film], report, min_score: float = 0.0) -> tuple[list[FilmInspection], list[str]]:
    """Pair report entries with labelled films by stem == ``film_id``.

    Args:
        films: labelled films (MIAS today; any :class:`Film` source works).
        report: a :class:`Report` or its films.
        min_score: detections scoring below this are left out (see :attr:`Report.score_threshold`).

    Returns:
        ``(inspections, unlabelled)``: one :class:`FilmInspection` per matched film, in
        report order, and the report files that have no label (skipped, to be counted).

    Raises:
        InputError: when no report film matches a labelled film.
    """
    report = report.films if isinstance(report, Report) else tuple(report)
    by_id = {f.film_id: f for f in films}
    inspections, unlabelled = [], []
    for entry in report:
        film = by_id.get(entry.stem)
        if film is None:
            unlabelled.append(entry.file)
            continue
        inspections.append(inspect_film(film, entry, min_score))
    if not inspections:
        example = report[0].file if report else "(empty report)"
        raise InputError(f"no report film matches a labelled film (first report file: {example!r}, first label: "
                         f"{films[0].film_id if films else '(none)'}); expected report files named after film ids")
    return inspections, unlabelled


# ----------------------------------------------------------------------------- images
def browser_image(film: Film, images_root: str | Path, cache_dir: str | Path) -> Path:
    """A path the App can show: the film itself if PNG/JPEG, else a PNG copy made once.

    The copy lives in ``cache_dir/<hash of the source path>/<film_id>.png`` and is
    rewritten only when the source is newer.
    """
    from converters.images import read_gray8, write_png_atomic

    src = (Path(images_root) / film.image_path).resolve()
    if src.suffix.lower() in BROWSER_SUFFIXES:
        return src
    key = hashlib.sha1(str(src.parent).encode()).hexdigest()[:12]
    dst = Path(cache_dir).expanduser().resolve() / key / f"{film.film_id}.png"
    if not dst.is_file() or dst.stat().st_mtime < src.stat().st_mtime:
        write_png_atomic(dst, read_gray8(src, expected_wh=(film.width, film.height)))
    return dst


# ----------------------------------------------------------------------------- FiftyOne
def _rel_box(xyxy, width, height) -> list[float]:
    x1, y1, x2, y2 = xyxy
    return [x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height]


def _lesion_mask(lesion: Lesion, width: int, height: int):
    """The circle mask cropped to the lesion's box (FiftyOne masks are box-relative)."""
    from converters.masks import circle_mask

    if lesion.center_xy is None:
        return None
    x1, y1, x2, y2 = (int(round(v)) for v in lesion.xyxy)
    return circle_mask(lesion.center_xy, lesion.radius_px, (width, height))[y1:y2, x1:x2]


def to_sample(insp: FilmInspection, filepath: str | Path):
    """One FiftyOne sample for one inspected film."""
    import fiftyone as fo

    film, w, h = insp.film, insp.film.width, insp.film.height
    gts = []
    for i, lesion in enumerate(film.lesions):
        tags = ["hit" if insp.lesion_hit[i] else "miss"] + (["misgraded"] if insp.lesion_misgraded[i] else [])
        best = insp.lesion_best_pred[i]
        gts.append(fo.Detection(
            label=DETECTION_LABEL, bounding_box=_rel_box(lesion.xyxy, w, h),
            mask=_lesion_mask(lesion, w, h), tags=tags, lesion_class=lesion.lesion_class,
            severity=lesion.severity, radius_px=lesion.radius_px,
            center_x=float(lesion.center[0]), center_y=float(lesion.center[1]),
            found_grade=insp.detections[best].grade if best is not None else None,
        ))
    preds = {field_name: [] for field_name in FINDING_FIELDS.values()}
    specks = []
    for j, det in enumerate(insp.detections):
        tags = ["tp_center" if insp.pred_hit[j] else "fp_center"] + (["misgraded"] if insp.pred_misgraded[j] else [])
        preds[FINDING_FIELDS[det.finding]].append(fo.Detection(
            label=det.finding if det.finding != "mass" else DETECTION_LABEL, bounding_box=_rel_box(det.xyxy, w, h),
            confidence=det.score, tags=tags, grade=det.grade, score=det.score, n_specks=det.n_specks,
            **{f"p_{g}": det.probability[g] for g in GRADES},
        ))
        if det.specks_xy:
            specks.append(fo.Keypoint(label="specks", points=[(x / w, y / h) for x, y in det.specks_xy],
                                      confidence=[det.score] * len(det.specks_xy), tags=tags[:1]))
    return fo.Sample(
        filepath=str(filepath), tags=insp.verdict_tags,
        metadata=fo.ImageMetadata(width=w, height=h, num_channels=1),
        ground_truth=fo.Detections(detections=gts),
        **{name: fo.Detections(detections=dets) for name, dets in preds.items()},
        specks=fo.Keypoints(keypoints=specks),
        film_id=film.film_id, refnum=film.film_id if film.source == "mias" else None,
        patient_id=film.patient_id, side=film.side, tissue=film.tissue, source=film.source,
        report_file=insp.report.file, seconds=insp.report.seconds,
        true_verdict=film.verdict, pred_verdict=insp.report.verdict,
        image_labels=[f"{l.lesion_class}:{l.severity}" for l in film.image_labels],
        n_lesions=len(film.lesions), n_missed=insp.n_missed, n_false_alarms=insp.n_false_alarms,
        n_misgraded=insp.n_misgraded, n_mistakes=insp.n_mistakes,
    )


def saved_view_stages(dataset):
    """The saved views, by name, built on ``dataset``."""
    from fiftyone import ViewField as F

    def tagged(tag):
        return F("tags").contains(tag)

    return {
        "missed-lesions": dataset.filter_labels("ground_truth", tagged("miss")).sort_by("n_missed", reverse=True),
        "missed-calcifications": dataset.filter_labels("ground_truth", tagged("miss") & (F("lesion_class") == "CALC"))
                                        .sort_by("n_missed", reverse=True),
        "false-alarms": dataset.filter_labels("predictions", tagged("fp_center")).sort_by("n_false_alarms", reverse=True),
        "misgraded": dataset.filter_labels("ground_truth", tagged("misgraded"))
                            .filter_labels("predictions", tagged("misgraded"), only_matches=False),
        "worst-films": dataset.match(F("n_mistakes") > 0).sort_by(
            [("n_missed", -1), ("n_mistakes", -1), ("film_id", 1)]),
    }


def build_dataset(inspections: list[FilmInspection], name: str, filepaths: dict[str, Path], iou: float = 0.5,
                  progress: bool = False, info: dict | None = None):
    """Create (or replace) the persistent dataset ``name``; returns it.

    The new dataset is filled under a temporary name and renamed into place, so a rebuild
    never duplicates samples and an interrupted one leaves the previous dataset intact.

    Args:
        inspections: from :func:`match_report`.
        name: dataset name.
        filepaths: ``film_id -> image the App shows`` (see :func:`browser_image`).
        iou: IoU threshold of ``evaluate_detections`` (eval key ``eval``).
        progress: show FiftyOne's progress bars.
        info: extra JSON-ready facts stored in ``dataset.info`` (report path, config, min score).
    """
    import fiftyone as fo

    if not 0 < iou <= 1:
        raise InputError(f"--iou must be in (0, 1], got {iou}")
    tmp_name = f"{name}.building"
    if fo.dataset_exists(tmp_name):
        fo.delete_dataset(tmp_name)
    ds = fo.Dataset(tmp_name)
    try:
        ds.add_samples([to_sample(i, filepaths[i.film.film_id]) for i in inspections], progress=progress)
        ds.evaluate_detections("predictions", gt_field="ground_truth", eval_key="eval", iou=iou,
                               classwise=False, progress=progress)
        ds.info = {**(info or {}), "iou": iou,
                   "hit_rule": "predicted box centre inside the labelled circle (Lesion.contains_point)"}
        ds.save()
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
        ds.name = name
        ds.persistent = True
        for view_name, view in saved_view_stages(ds).items():
            ds.save_view(view_name, view, overwrite=True)
    except BaseException:
        if fo.dataset_exists(tmp_name):
            fo.delete_dataset(tmp_name)
        raise
    return ds


def summarize(dataset, inspections: list[FilmInspection]) -> dict:
    """Counts of both rules and of each saved view, for the printed summary and tests."""
    n_gt = sum(len(i.film.lesions) for i in inspections)
    out = {
        "films": len(inspections),
        "lesions": n_gt,
        "predictions": sum(len(i.detections) for i in inspections),
        "center_hits": n_gt - sum(i.n_missed for i in inspections),
        "center_misses": sum(i.n_missed for i in inspections),
        "center_false_alarms": sum(i.n_false_alarms for i in inspections),
        "misgraded": sum(i.n_misgraded for i in inspections),
        "verdict_wrong": sum(bool(i.verdict_tags) for i in inspections),
    }
    if dataset is not None:
        out.update({f"iou_{k}": int(dataset.sum(f"eval_{k}")) for k in ("tp", "fp", "fn")})
        for view_name in SAVED_VIEWS:
            out[f"view:{view_name}"] = len(dataset.load_saved_view(view_name))
    return out


def view_slug(view_name: str) -> str:
    """The URL slug FiftyOne gives a saved view (``missed-lesions``; ``a_b`` would become ``a-b``)."""
    import fiftyone.core.utils as fou

    return fou.to_slug(view_name)
