"""Any COCO detection set with its image folder -> films; the CBIS-DDSM case-table join.

:func:`load_coco_set` reads a COCO file through :func:`converters.coco.load_coco` (which
validates ids, boxes and file names that would escape the folder), checks that every
listed image exists, and, when a CBIS-DDSM case table (``*case_description*.csv``) sits
beside the COCO file, its folder's parent or the image folder (or is given), joins it.

CBIS-DDSM conventions (see ``data/cbis-ddsm-mass/README.md``):

* A film is named ``PATIENT_SIDE_VIEW``: ``00484_RIGHT_CC.jpg`` is patient ``P_00484``,
  right breast, cranio-caudal view (:func:`parse_cbis_name`; also inside longer names such
  as ``Mass-Test_P_00016_LEFT_CC_1.jpg`` or ``00484_RIGHT_CC_jpg.rf.3a9f.jpg``).
* The case table has one row per abnormality; it is joined on ``(patient, side, view)``.
  It does not say which row belongs to which box when a film has several masses, so:
  every box gets the pathology only when all rows of its film agree (one box, or all
  rows the same); otherwise its boxes keep ``severity=None`` and the film gets one
  film-level :class:`ImageLabel` with its worst pathology, so ``Film.verdict`` is right.
* ``BENIGN_WITHOUT_CALLBACK`` is benign (the raw value stays in ``extra``).
* Film-level scalars in ``Film.extra`` (``view``, ``assessment`` = BI-RADS, ``subtlety``,
  ``breast_density``, ``pathology``): the value when all rows agree; otherwise the most
  suspicious one (max assessment, max density, min subtlety, malignant over benign).
  ``extra["case_rows"]`` keeps every joined row.

Nothing is dropped silently: films without a row, rows without a film, films whose
box count differs from their row count, and films with both pathologies are counted in
the ``join_report`` returned with the set (and printed unless ``verbose=False``).
Coordinates are those of :mod:`converters.records` (COCO ``[x, y, w, h]``, top-left
origin, in the pixels of the COCO ``images`` entry: 800 x 800 for this CBIS copy).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from converters.coco import load_coco
from converters.convert import SourceSet
from converters.errors import InputError, did_you_mean
from converters.images import IMAGE_SUFFIXES
from converters.records import Film, ImageLabel

CBIS_NAME = re.compile(r"(?:^|[^0-9])(?:P_)?(\d{5})_(LEFT|RIGHT)_(CC|MLO)(?![A-Za-z])", re.IGNORECASE)
PATHOLOGY = {"MALIGNANT": "malignant", "BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign"}
REQUIRED_COLUMNS = ("patient_id", "side", "view", "pathology")
DENSITY_COLUMNS = ("breast_density", "breast density")  # the calcification tables use a space
CASE_TABLE_GLOB = "*case_description*.csv"
_PATIENT = re.compile(r"^P_\d+$")
_RANK = {"benign": 0, "malignant": 1}


@dataclass(frozen=True)
class CaseRow:
    """One row of a CBIS-DDSM case table (one abnormality)."""

    patient_id: str
    side: str
    view: str
    pathology: str
    pathology_raw: str
    abn_num: int | None = None
    assessment: int | None = None
    subtlety: int | None = None
    breast_density: int | None = None
    abnormality_type: str | None = None
    mass_shape: str | None = None
    mass_margins: str | None = None
    where: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.patient_id, self.side, self.view)

    def as_dict(self) -> dict:
        return {
            "abn_num": self.abn_num,
            "pathology": self.pathology,
            "pathology_raw": self.pathology_raw,
            "assessment": self.assessment,
            "subtlety": self.subtlety,
            "breast_density": self.breast_density,
            "mass_shape": self.mass_shape,
            "mass_margins": self.mass_margins,
        }


@dataclass
class CocoSourceSet(SourceSet):
    """A :class:`converters.convert.SourceSet` plus what the join could and could not match."""

    join_report: dict = field(default_factory=dict)
    case_tables: list[Path] = field(default_factory=list)


def parse_cbis_name(file_name: str) -> tuple[str, str, str] | None:
    """``00484_RIGHT_CC.jpg`` -> ``("P_00484", "right", "CC")``; ``None`` for other names."""
    m = CBIS_NAME.search(PurePosixPath(str(file_name).replace("\\", "/")).name)
    if not m:
        return None
    return f"P_{m.group(1)}", m.group(2).lower(), m.group(3).upper()


def _int_field(row: dict, col: str, lo: int, hi: int, path, line: int) -> int | None:
    raw = (row.get(col) or "").strip()
    if raw == "":
        return None
    try:
        v = int(float(raw))
    except ValueError:
        raise InputError(f"column {col!r}: expected an integer {lo}-{hi}, got {raw!r}", path, line) from None
    if not lo <= v <= hi:
        raise InputError(f"column {col!r}: expected an integer {lo}-{hi}, got {v}", path, line)
    return v


def parse_case_table(text: str, path: str | Path = "<case table>") -> list[CaseRow]:
    """Parse a CBIS-DDSM case table (CSV text) into rows; pure (no file access).

    Raises:
        InputError: missing columns, or a row with an unknown side, view or pathology,
            or a non-integer assessment/subtlety/density (file and line named).
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(
            f"case table lacks column(s) {', '.join(missing)}; expected a CBIS-DDSM case description CSV "
            f"with {', '.join(REQUIRED_COLUMNS)}; got columns {columns[:8]}",
            path,
            1,
        )
    density_col = next((c for c in DENSITY_COLUMNS if c in columns), None)
    rows = []
    for rec in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in rec.values() if isinstance(v, str)):
            continue
        pid = (rec["patient_id"] or "").strip()
        if not _PATIENT.match(pid):
            raise InputError(f"patient_id: expected P_ and digits (P_00484), got {pid!r}", path, line)
        side = (rec["side"] or "").strip().upper()
        view = (rec["view"] or "").strip().upper()
        if side not in ("LEFT", "RIGHT"):
            raise InputError(f"side: expected LEFT or RIGHT, got {side!r}", path, line)
        if view not in ("CC", "MLO"):
            raise InputError(f"view: expected CC or MLO, got {view!r}", path, line)
        raw = (rec["pathology"] or "").strip().upper()
        if raw not in PATHOLOGY:
            raise InputError(
                f"pathology: expected one of {', '.join(PATHOLOGY)}, got {raw!r}" + did_you_mean(raw, PATHOLOGY), path, line
            )
        rows.append(
            CaseRow(
                patient_id=pid,
                side=side.lower(),
                view=view,
                pathology=PATHOLOGY[raw],
                pathology_raw=raw,
                abn_num=_int_field(rec, "abn_num", 0, 10**6, path, line) if "abn_num" in columns else None,
                assessment=_int_field(rec, "assessment", 0, 6, path, line) if "assessment" in columns else None,
                subtlety=_int_field(rec, "subtlety", 0, 5, path, line) if "subtlety" in columns else None,
                breast_density=_int_field(rec, density_col, 0, 4, path, line) if density_col else None,
                abnormality_type=((rec.get("abnormality_type") or "").strip().lower() or None),
                mass_shape=((rec.get("mass_shape") or "").strip() or None),
                mass_margins=((rec.get("mass_margins") or "").strip() or None),
                where=f"{path}:{line}",
            )
        )
    return rows


def load_case_tables(paths) -> list[CaseRow]:
    """Read and concatenate case tables (e.g. the mass train and test tables)."""
    rows: list[CaseRow] = []
    for p in paths:
        p = Path(p)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputError("case table not found", p) from None
        rows += parse_case_table(text, p)
    return rows


def find_case_tables(coco_json, images_dir) -> list[Path]:
    """Case tables in the first of: the COCO file's folder, its parent, the image folder, its parent."""
    coco_json, images_dir = Path(coco_json), Path(images_dir)
    for folder in (coco_json.parent, coco_json.parent.parent, images_dir, images_dir.parent):
        found = sorted(folder.glob(CASE_TABLE_GLOB))
        if found:
            return found
    return []


def _agree(values, pick):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return vals[0] if len(set(vals)) == 1 else pick(vals)


def join_case_table(films: list[Film], rows: list[CaseRow], mass_only: bool = False) -> tuple[list[Film], dict]:
    """Attach case-table rows to films on ``(patient, side, view)``; pure.

    Args:
        films: films whose ``image_path`` follows the CBIS-DDSM naming.
        rows: parsed case-table rows.
        mass_only: ignore rows whose ``abnormality_type`` is not ``mass`` (counted), for
            a mass-only COCO set beside a folder that also holds calcification tables.

    Returns:
        ``(films, join_report)``: every film, in order, with ``patient_id``, ``side``,
        ``extra`` and severities filled where the join allows; the report's counts.
    """
    is_other = [mass_only and r.abnormality_type not in (None, "mass") for r in rows]
    other_type = [r for r, o in zip(rows, is_other) if o]
    rows = [r for r, o in zip(rows, is_other) if not o]
    by_key: dict[tuple[str, str, str], list[CaseRow]] = defaultdict(list)
    for r in rows:
        by_key[r.key].append(r)
    dup = sum(n - 1 for n in Counter((r.key, r.abn_num) for r in rows if r.abn_num is not None).values() if n > 1)
    report = Counter()
    films_without_row, unparsed, mixed, count_differs = [], [], [], []
    used_keys = set()
    out = []
    for film in films:
        key = parse_cbis_name(film.image_path)
        if key is None:
            unparsed.append(film.film_id)
            out.append(film)
            continue
        pid, side, view = key
        extra = dict(film.extra)
        extra["view"] = view
        base = replace(film, side=film.side or side, extra=extra)
        matched = by_key.get(key, [])
        if not matched:
            films_without_row.append(film.film_id)
            out.append(base)
            continue
        used_keys.add(key)
        report["films_joined"] += 1
        report["rows_joined"] += len(matched)
        pathologies = {r.pathology for r in matched}
        worst = max(pathologies, key=_RANK.__getitem__)
        extra.update(
            pathology=worst,
            pathology_raw=sorted({r.pathology_raw for r in matched}),
            assessment=_agree([r.assessment for r in matched], max),
            subtlety=_agree([r.subtlety for r in matched], min),
            breast_density=_agree([r.breast_density for r in matched], max),
            case_rows=[r.as_dict() for r in matched],
        )
        if len(matched) != len(film.lesions):
            count_differs.append(film.film_id)
        lesions, labels = list(film.lesions), list(film.image_labels)
        if len(pathologies) == 1:
            conflicts = sum(l.severity is not None and l.severity != worst for l in lesions)
            report["boxes_severity_overridden"] += conflicts
            lesions = [replace(l, severity=worst) for l in lesions]
            report["boxes_with_pathology"] += len(lesions)
            extra["box_pathology"] = "assigned"
        else:
            mixed.append(film.film_id)
            lesions = [replace(l, severity=None) for l in lesions]
            report["boxes_without_pathology"] += len(lesions)
            extra["box_pathology"] = "unassigned: the rows disagree and do not say which box is which"
            if not any(l.severity == worst for l in labels):
                labels.append(ImageLabel("MASS", worst))
                report["film_level_labels_added"] += 1
        out.append(replace(base, patient_id=pid, lesions=tuple(lesions), image_labels=tuple(labels), extra=extra))
    rows_without_film = [r for r in rows if r.key not in used_keys]
    verdicts = Counter(f.verdict for f in out)
    rep = {
        "films": len(films),
        "films_joined": report["films_joined"],
        "films_without_row": len(films_without_row),
        "films_without_row_ids": films_without_row[:20],
        "films_not_cbis_named": len(unparsed),
        "films_not_cbis_named_ids": unparsed[:20],
        "films_single_pathology": report["films_joined"] - len(mixed),
        "films_both_pathologies": len(mixed),
        "films_both_pathologies_ids": mixed[:20],
        "films_box_count_differs_from_rows": len(count_differs),
        "films_box_count_differs_ids": count_differs[:20],
        "film_level_labels_added": report["film_level_labels_added"],
        "rows": len(rows) + len(other_type),
        "rows_joined": report["rows_joined"],
        "rows_without_film": len(rows_without_film),
        "rows_without_film_where": [r.where for r in rows_without_film[:20]],
        "rows_other_abnormality_type": len(other_type),
        "rows_duplicate_abn_num": dup,
        "boxes": sum(len(f.lesions) for f in out),
        "boxes_with_pathology": report["boxes_with_pathology"],
        "boxes_without_pathology": sum(l.severity is None for f in out for l in f.lesions),
        "boxes_severity_overridden": report["boxes_severity_overridden"],
        "patients": len({f.patient_id for f in out}),
        "film_verdicts": dict(sorted(verdicts.items())),
    }
    return out, rep


def _patient_of(image: dict) -> str:
    name = str(image.get("file_name", ""))
    key = parse_cbis_name(name)
    return key[0] if key else PurePosixPath(name.replace("\\", "/")).stem or f"img{image.get('id')}"


def _images_not_listed(images_dir: Path, films: list[Film]) -> int:
    listed = {str(PurePosixPath(f.image_path)) for f in films}
    n = 0
    for p in images_dir.rglob("*"):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            n += p.relative_to(images_dir).as_posix() not in listed
    return n


def _is_mass_only(coco_json: Path) -> bool:
    try:
        cats = json.loads(coco_json.read_text()).get("categories") or []
    except (OSError, ValueError, AttributeError):
        return False
    names = [str(c.get("name", "")).lower() for c in cats if isinstance(c, dict)]
    return bool(names) and all("mass" in n for n in names)


def load_coco_set(
    coco_json: str | Path,
    images_dir: str | Path,
    case_table: str | Path | list | bool | None = None,
    source: str | None = None,
    verbose: bool = True,
) -> CocoSourceSet:
    """Read a COCO detection set into films, joining a CBIS-DDSM case table if there is one.

    Args:
        coco_json: COCO detection file; ``file_name`` entries are relative to ``images_dir``.
        images_dir: image folder.
        case_table: a case-table CSV (or a list of them); ``None`` looks for
            ``*case_description*.csv`` (see :func:`find_case_tables`); ``False`` joins nothing.
        source: ``Film.source`` for images that do not name one (default ``"cbis"`` when a
            case table was joined, else ``"coco"``).
        verbose: print a one-paragraph join report to stderr.

    Returns:
        A :class:`CocoSourceSet` (``films``, ``source_dir``, ``n_rows`` = annotations,
        ``n_image_level`` = film-level labels, ``join_report``, ``case_tables``).

    Raises:
        InputError: bad COCO file (see :func:`converters.coco.coco_to_films`), a missing
            image, or a malformed case table.

    Example:
        >>> s = load_coco_set("cbis/train/_annotations.coco.json", "cbis/train")  # doctest: +SKIP
        >>> s.join_report["films_without_row"]  # doctest: +SKIP
        1
    """
    coco_json, images_dir = Path(coco_json), Path(images_dir)
    if not images_dir.is_dir():
        raise InputError("image folder not found (give --images DIR, the folder file_name entries are relative to)", images_dir)
    if case_table is None:
        tables = find_case_tables(coco_json, images_dir)
    elif case_table is False:
        tables = []
    else:
        tables = [Path(p) for p in (case_table if isinstance(case_table, (list, tuple)) else [case_table])]
    films = load_coco(coco_json, source=source or ("cbis" if tables else "coco"), patient_of=_patient_of)
    missing = [f.image_path for f in films if not (images_dir / f.image_path).is_file()]
    if missing:
        raise InputError(
            f"{len(missing)} of {len(films)} images listed in {coco_json.name} are not in the image folder "
            f"(first: {missing[0]!r}); expected every file_name relative to --images",
            images_dir,
        )
    n_annotations = sum(len(f.lesions) for f in films)
    if tables:
        films, report = join_case_table(films, load_case_tables(tables), mass_only=_is_mass_only(coco_json))
    else:
        report = {"films": len(films), "boxes": n_annotations, "case_table": None, "patients": len({f.patient_id for f in films})}
    report["case_tables"] = [str(t) for t in tables]
    report["images_in_folder_not_in_coco"] = _images_not_listed(images_dir, films)
    result = CocoSourceSet(
        films=films,
        source_dir=images_dir,
        n_rows=n_annotations,
        n_image_level=sum(len(f.image_labels) for f in films),
        join_report=report,
        case_tables=tables,
    )
    if verbose:
        print(format_join_report(report), file=sys.stderr)
    return result


def format_join_report(report: dict) -> str:
    """A short human-readable paragraph of a join report."""
    head = f"COCO set: {report['films']} films, {report['boxes']} boxes, {report['patients']} patients"
    if not report.get("case_tables"):
        return head + "; no case table joined" + _extra_images(report)
    lines = [
        head + f"; case table(s): {', '.join(Path(t).name for t in report['case_tables'])} ({report['rows']} rows)",
        f"  joined: {report['films_joined']} films, {report['rows_joined']} rows; "
        f"films without a row: {report['films_without_row']} {report['films_without_row_ids'][:5]}; "
        f"rows without a film: {report['rows_without_film']}",
        f"  single pathology: {report['films_single_pathology']} films; both pathologies (boxes left unassigned, "
        f"film-level label added): {report['films_both_pathologies']} {report['films_both_pathologies_ids'][:6]}",
        f"  boxes with pathology: {report['boxes_with_pathology']}, without: {report['boxes_without_pathology']}; "
        f"films whose box count differs from their rows: {report['films_box_count_differs_from_rows']}",
    ]
    if report["films_not_cbis_named"]:
        lines.append(f"  films not named PATIENT_SIDE_VIEW (not joined): {report['films_not_cbis_named']}")
    if report["rows_other_abnormality_type"]:
        lines.append(f"  rows of another abnormality type ignored: {report['rows_other_abnormality_type']}")
    return "\n".join(lines) + _extra_images(report)


def _extra_images(report: dict) -> str:
    n = report.get("images_in_folder_not_in_coco", 0)
    return f"\n  images in the folder that the COCO file does not list (not used): {n}" if n else ""
