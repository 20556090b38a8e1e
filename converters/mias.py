"""mini-MIAS ``Info.txt`` labels -> :class:`converters.records.Film` records.

Format (one row per abnormality, after a prose header, before a closing ``====`` rule)::

    REFNUM TISSUE CLASS [SEVERITY [X Y RADIUS]]
    mdb001 G CIRC B 535 425 197
    mdb003 D NORM
    mdb233 G CALC M *NOTE 3*        <- no coordinates: an image-level label

Coordinate convention: MIAS ``X`` is the column and ``Y`` is measured from the
BOTTOM-LEFT corner of the film. Image rows count from the top, so ``row = height - Y``.
That flip lives in :func:`mias_y_to_row` and nowhere else. ``RADIUS`` is the radius in
pixels of a circle enclosing the abnormality (see :mod:`converters.records` for masks).

Films come in patient pairs: ``mdb(2k-1)`` is the right and ``mdb(2k)`` the left breast
of patient ``k``. :func:`parse_mias` is pure (lines in, records out); :func:`load_mias`
opens the folder and checks every labelled film has its image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from converters.errors import InputError
from converters.records import LESION_CLASSES, TISSUES, Film, ImageLabel, Lesion

MIAS_RESOLUTION_WH = (1024, 1024)
SEVERITY_LETTERS = {"B": "benign", "M": "malignant"}
CLASS_CODES = LESION_CLASSES + ("NORM",)
_REFNUM = re.compile(r"^mdb(\d{3,})$", re.IGNORECASE)
_ROW = "REFNUM TISSUE CLASS [SEVERITY [X Y RADIUS]]"


def mias_y_to_row(y: float, height: int) -> float:
    """Convert a MIAS ``Y`` (origin bottom-left) to an image row (origin top-left)."""
    return height - y


def patient_of(refnum: str) -> tuple[str, str]:
    """``mdb001`` -> ``("p001", "right")``; ``mdb002`` -> ``("p001", "left")``."""
    m = _REFNUM.match(refnum)
    if not m:
        raise ValueError(f"not a MIAS refnum: {refnum!r} (expected mdbNNN)")
    n = int(m.group(1))
    return f"p{(n + 1) // 2:03d}", "right" if n % 2 == 1 else "left"


@dataclass
class MiasLabels:
    """Parsed ``Info.txt``: films in file order plus counts for the summary."""

    films: list[Film]
    n_rows: int
    n_boxes: int
    n_image_level: int
    n_normal_rows: int
    line_of: dict[str, int] = field(default_factory=dict)


def _number(tok: str, what: str, path, lineno: int) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise InputError(f"expected a number for {what}, got {tok!r} (row format: {_ROW})", path, lineno) from None
    return v


def parse_mias(
    lines,
    path: str | Path = "Info.txt",
    resolution_wh: tuple[int, int] = MIAS_RESOLUTION_WH,
    image_path_of=None,
) -> MiasLabels:
    """Parse the lines of a MIAS ``Info.txt`` (pure: no file access).

    Args:
        lines: the file's lines (with or without newlines).
        path: file name used in error messages.
        resolution_wh: film size the coordinates refer to.
        image_path_of: ``refnum -> relative image path``; default ``refnum + ".pgm"``.

    Returns:
        :class:`MiasLabels` with one :class:`Film` per refnum (several rows -> several lesions).

    Raises:
        InputError: naming ``path`` and the 1-based line of the first malformed row.
    """
    width, height = resolution_wh
    image_path_of = image_path_of or (lambda r: f"{r}.pgm")
    order: list[str] = []
    tissue: dict[str, tuple[str, int]] = {}
    lesions: dict[str, list[Lesion]] = {}
    image_labels: dict[str, list[ImageLabel]] = {}
    line_of: dict[str, int] = {}
    n_rows = n_boxes = n_image = n_norm = 0
    seen_rows: dict[tuple, int] = {}
    norm_line: dict[str, int] = {}
    abnormal_line: dict[str, int] = {}
    started = False
    lineno = 0
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n").strip()
        toks = line.split()
        if not started:
            if toks and _REFNUM.match(toks[0]):
                started = True
            else:
                continue  # prose header
        if not toks or set(line) <= set("=-_ "):
            continue  # blank line or closing rule
        refnum = toks[0].lower()
        if not _REFNUM.match(refnum):
            raise InputError(f"expected a label row '{_ROW}' starting with mdbNNN, got {line!r}", path, lineno)
        if len(toks) < 3:
            raise InputError(f"expected at least REFNUM TISSUE CLASS, got {line!r}", path, lineno)
        tis, cls = toks[1].upper(), toks[2].upper()
        if tis not in TISSUES:
            raise InputError(f"unknown tissue letter {toks[1]!r}; expected one of F, G, D", path, lineno)
        if cls not in CLASS_CODES:
            raise InputError(f"unknown class {toks[2]!r}; expected one of {', '.join(CLASS_CODES)}", path, lineno)
        if refnum in tissue and tissue[refnum][0] != tis:
            raise InputError(
                f"{refnum} has tissue {tis} here but {tissue[refnum][0]} on line {tissue[refnum][1]}; "
                "expected one tissue per film",
                path,
                lineno,
            )
        if refnum not in tissue:
            tissue[refnum] = (tis, lineno)
            order.append(refnum)
            line_of[refnum] = lineno
            lesions[refnum], image_labels[refnum] = [], []
        n_rows += 1
        rest = toks[3:]
        key = (refnum, tis, cls, *(t.upper() for t in rest))
        if key in seen_rows:
            raise InputError(f"this row repeats line {seen_rows[key]}; expected each abnormality once", path, lineno)
        seen_rows[key] = lineno
        other = abnormal_line.get(refnum) if cls == "NORM" else norm_line.get(refnum)
        if other is not None:
            raise InputError(f"{refnum} is labelled NORM and abnormal (line {other}); expected one or the other", path, lineno)
        (norm_line if cls == "NORM" else abnormal_line).setdefault(refnum, lineno)
        if cls == "NORM":
            if rest:
                raise InputError(f"a NORM row takes no severity or coordinates, got {' '.join(rest)!r}", path, lineno)
            n_norm += 1
            continue
        if not rest:
            raise InputError(f"expected severity B or M after class {cls}, got nothing", path, lineno)
        sev_letter = rest[0].upper()
        if sev_letter not in SEVERITY_LETTERS:
            raise InputError(f"unknown severity {rest[0]!r}; expected B or M", path, lineno)
        severity = SEVERITY_LETTERS[sev_letter]
        coords = rest[1:]
        if not coords or coords[0].startswith("*"):
            image_labels[refnum].append(ImageLabel(cls, severity))
            n_image += 1
            continue
        if len(coords) != 3:
            raise InputError(f"expected X Y RADIUS after severity, got {' '.join(coords)!r}", path, lineno)
        x = _number(coords[0], "X", path, lineno)
        y = _number(coords[1], "Y", path, lineno)
        r = _number(coords[2], "RADIUS", path, lineno)
        if not (0 <= x < width and 0 < y <= height):
            raise InputError(
                f"centre ({coords[0]}, {coords[1]}) lies outside the {width}x{height} film; "
                f"expected 0 <= X < {width} and 0 < Y <= {height}",
                path,
                lineno,
            )
        if not 0 < r <= max(width, height):
            raise InputError(f"expected 0 < RADIUS <= {max(width, height)} (the film's size), got {coords[2]}", path, lineno)
        center = (x, mias_y_to_row(y, height))
        lesions[refnum].append(Lesion.from_circle(center, r, resolution_wh, cls, severity))
        n_boxes += 1
    if not order:
        raise InputError(f"no label rows found up to the end of the file; expected rows '{_ROW}' after the header",
                         path, max(lineno, 1))
    films = []
    for refnum in order:
        patient, side = patient_of(refnum)
        films.append(
            Film(
                film_id=refnum,
                image_path=image_path_of(refnum),
                width=width,
                height=height,
                patient_id=patient,
                lesions=tuple(lesions[refnum]),
                image_labels=tuple(image_labels[refnum]),
                tissue=tissue[refnum][0],
                side=side,
                source="mias",
            )
        )
    return MiasLabels(films, n_rows, n_boxes, n_image, n_norm, line_of)


def find_info_file(mias_dir: str | Path) -> Path:
    mias_dir = Path(mias_dir)
    if not mias_dir.is_dir():
        raise InputError("MIAS folder not found (expected a folder with Info.txt and the films)", mias_dir)
    for name in ("Info.txt", "info.txt", "INFO.TXT", "Info.TXT"):
        if (mias_dir / name).is_file():
            return mias_dir / name
    raise InputError("no Info.txt in this folder; expected the mini-MIAS label file beside the films", mias_dir)


def find_film_image(mias_dir: Path, refnum: str) -> Path | None:
    """The film's image: ``refnum.pgm`` (as distributed) or ``refnum.png``."""
    for suffix in (".pgm", ".png", ".PGM", ".PNG"):
        p = mias_dir / f"{refnum}{suffix}"
        if p.is_file():
            return p
    return None


def load_mias(mias_dir: str | Path, resolution_wh: tuple[int, int] = MIAS_RESOLUTION_WH) -> MiasLabels:
    """Read ``mias_dir/Info.txt`` and locate every labelled film's image.

    Raises:
        InputError: malformed row (file and line named) or a refnum without its image.
    """
    mias_dir = Path(mias_dir)
    info = find_info_file(mias_dir)
    text = info.read_text(encoding="latin-1")
    labels = parse_mias(text.splitlines(), path=info, resolution_wh=resolution_wh)
    films = []
    for film in labels.films:
        img = find_film_image(mias_dir, film.film_id)
        if img is None:
            raise InputError(
                f"{film.film_id} is labelled but its image is missing; expected {film.film_id}.pgm or {film.film_id}.png in {mias_dir}",
                info,
                labels.line_of[film.film_id],
            )
        films.append(Film(**{**film.__dict__, "image_path": img.name}))
    labels.films = films
    return labels
