"""COCO detection format <-> :class:`converters.records.Film` (symmetric, pure).

COCO boxes are ``bbox = [x, y, w, h]`` in pixels, top-left origin, ``x + w`` the exclusive
right edge (the same continuous convention as :mod:`converters.records`). Circle lesions
carry their clipped circle mask as RLE (``segmentation``), ``area`` = mask pixels, and
``attributes`` {class, severity, center_xy, radius_px}. Films without lesions are still
``images`` (negatives). Image entries carry extra keys the project reads back:
``refnum``, ``patient_id``, ``side``, ``tissue``, ``image_labels``, ``source``.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path, PurePosixPath

from converters.errors import InputError, look_up_option
from converters.masks import circle_mask, mask_to_rle
from converters.records import LESION_CLASSES, SEVERITIES, Film, ImageLabel, Lesion

CATEGORY_SCHEMES = {
    "lesion": ("lesion",),
    "severity": SEVERITIES,
    "class": LESION_CLASSES,
}


def categories_for(scheme: str) -> list[dict]:
    names = CATEGORY_SCHEMES[look_up_option(scheme, CATEGORY_SCHEMES, "category scheme")]
    return [{"id": i, "name": n, "supercategory": "lesion"} for i, n in enumerate(names, start=1)]


def category_id(lesion: Lesion, scheme: str) -> int:
    names = CATEGORY_SCHEMES[scheme]
    key = {"lesion": "lesion", "severity": lesion.severity, "class": lesion.lesion_class}[scheme]
    if key not in names:
        raise InputError(f"lesion {lesion.xyxy} has no {scheme} label ({key!r}); expected one of {', '.join(names)}")
    return names.index(key) + 1


def xyxy_to_xywh(xyxy) -> list[float]:
    x1, y1, x2, y2 = xyxy
    return [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]


def xywh_to_xyxy(xywh) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in xywh)
    return (x, y, x + w, y + h)


def films_to_coco(films: list[Film], categories: str = "lesion", with_masks: bool = True) -> dict:
    """Export films as a COCO detection dict (ids start at 1, in film order)."""
    cats = categories_for(categories)
    images, annotations = [], []
    ann_id = 1
    for image_id, film in enumerate(films, start=1):
        images.append(
            {
                "id": image_id,
                "file_name": film.image_path,
                "width": film.width,
                "height": film.height,
                "refnum": film.film_id,
                "patient_id": film.patient_id,
                "side": film.side,
                "tissue": film.tissue,
                "source": film.source,
                "verdict": film.verdict,
                "image_labels": [{"class": l.lesion_class, "severity": l.severity} for l in film.image_labels],
                **({"extra": film.extra} if film.extra else {}),
            }
        )
        for lesion in film.lesions:
            ann = {
                "id": ann_id,
                "image_id": image_id,
                "category_id": category_id(lesion, categories),
                "bbox": xyxy_to_xywh(lesion.xyxy),
                "iscrowd": 0,
                "attributes": {
                    "class": lesion.lesion_class,
                    "severity": lesion.severity,
                    "center_xy": list(lesion.center_xy) if lesion.center_xy else None,
                    "radius_px": lesion.radius_px,
                },
            }
            x1, y1, x2, y2 = lesion.xyxy
            if lesion.is_circle and with_masks:
                mask = circle_mask(lesion.center_xy, lesion.radius_px, (film.width, film.height))
                ann["segmentation"] = mask_to_rle(mask)
                ann["area"] = int(mask.sum())
            else:
                ann["segmentation"] = [[x1, y1, x2, y1, x2, y2, x1, y2]]
                ann["area"] = float((x2 - x1) * (y2 - y1))
            annotations.append(ann)
            ann_id += 1
    return {
        "info": {"description": "mammoscreen export", "version": "1"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": cats,
    }


def safe_relative_path(file_name: str, where, index: int) -> str:
    """Reject absolute paths and ``..`` so an image path cannot escape its folder."""
    p = PurePosixPath(str(file_name).replace("\\", "/"))
    if not str(file_name) or p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise InputError(
            f"images[{index}].file_name {file_name!r} escapes the image folder; expected a path relative to it",
            where,
        )
    return str(p)


def _need(d: dict, key: str, types, where, what: str):
    if key not in d or not isinstance(d[key], types):
        raise InputError(f"{what} needs {key!r} of type {getattr(types, '__name__', types)}, got {d.get(key)!r}", where)
    return d[key]


def _is_number(v) -> bool:
    """A finite int or float (``bool`` is not a number here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ann_label(a: dict, j: int) -> str:
    return f"annotations[{j}] (id {a.get('id')!r})"


def check_bbox(a: dict, j: int, where) -> list[float]:
    """The annotation's ``bbox`` as 4 finite numbers with w, h > 0, else InputError."""
    bbox = a.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        raise InputError(f"{_ann_label(a, j)}: bbox must be [x, y, w, h], 4 finite numbers with w, h > 0, got {bbox!r}", where)
    if bbox[2] <= 0 or bbox[3] <= 0:
        raise InputError(f"{_ann_label(a, j)}: bbox must be [x, y, w, h] with w, h > 0, got {bbox!r}", where)
    return [float(v) for v in bbox]


def _check_circle(attrs: dict, a: dict, j: int, where):
    """``(center_xy, radius_px)`` from attributes, or ``(None, None)``; finite, radius > 0."""
    center, radius = attrs.get("center_xy"), attrs.get("radius_px")
    if center is None or radius is None:
        return None, None
    if not (isinstance(center, list) and len(center) == 2 and all(_is_number(v) for v in center)):
        raise InputError(f"{_ann_label(a, j)}: attributes.center_xy must be [x, y], 2 finite numbers, got {center!r}", where)
    if not _is_number(radius) or radius <= 0:
        raise InputError(f"{_ann_label(a, j)}: attributes.radius_px must be a finite number > 0, got {radius!r}", where)
    return (float(center[0]), float(center[1])), float(radius)


def coco_to_films(coco: dict, where="<coco>", source: str = "coco", patient_of=None) -> list[Film]:
    """Read a COCO detection dict back into films (inverse of :func:`films_to_coco`).

    Args:
        coco: parsed JSON.
        where: file name for error messages.
        source: ``Film.source`` for images that do not say.
        patient_of: ``image dict -> patient id`` for images without ``patient_id``
            (default: the image's own id, i.e. one patient per image).
    """
    if not isinstance(coco, dict):
        raise InputError("expected a COCO JSON object with images, annotations, categories", where)
    images = _need(coco, "images", list, where, "a COCO file")
    anns = coco.get("annotations", [])
    categories = coco.get("categories", [])
    for key, value in (("annotations", anns), ("categories", categories)):
        if not isinstance(value, list):
            raise InputError(f"a COCO file's {key!r} must be a list, got {type(value).__name__}", where)
    cats = {c["id"]: str(c.get("name", "")) for c in categories
            if isinstance(c, dict) and isinstance(c.get("id"), (int, str)) and not isinstance(c.get("id"), bool)}
    by_image: dict = {}
    ids = {}
    for i, im in enumerate(images):
        if not isinstance(im, dict):
            raise InputError(f"images[{i}] must be an object", where)
        _need(im, "id", (int, str), where, f"images[{i}]")
        if isinstance(im["id"], bool):
            raise InputError(f"images[{i}] needs 'id' of type int or str, got {im['id']!r}", where)
        if im["id"] in ids:
            raise InputError(f"images[{i}] repeats image id {im['id']!r}", where)
        ids[im["id"]] = i
        by_image[im["id"]] = []
    for j, a in enumerate(anns):
        if not isinstance(a, dict):
            raise InputError(f"annotations[{j}] must be an object", where)
        img_id = a.get("image_id")
        if not isinstance(img_id, (int, str)) or isinstance(img_id, bool) or img_id not in by_image:
            raise InputError(f"{_ann_label(a, j)} refers to image_id {img_id!r}, which is not in images", where)
        check_bbox(a, j, where)
        by_image[img_id].append((j, a))
    films = []
    for i, im in enumerate(images):
        w = _need(im, "width", int, where, f"images[{i}]")
        h = _need(im, "height", int, where, f"images[{i}]")
        if isinstance(w, bool) or isinstance(h, bool) or w <= 0 or h <= 0:
            raise InputError(f"images[{i}] needs whole-number width and height > 0, got {w!r} x {h!r}", where)
        file_name = safe_relative_path(_need(im, "file_name", str, where, f"images[{i}]"), where, i)
        lesions = []
        for j, a in by_image[im["id"]]:
            attrs = a.get("attributes") or {}
            if not isinstance(attrs, dict):
                raise InputError(f"{_ann_label(a, j)}: attributes must be an object, got {attrs!r}", where)
            cat_id = a.get("category_id")
            cat = cats.get(cat_id, "") if isinstance(cat_id, (int, str)) else ""
            severity = attrs.get("severity") or (cat if cat in SEVERITIES else None)
            if isinstance(severity, str):
                severity = severity.lower()
                severity = {"benign_without_callback": "benign"}.get(severity, severity)
                if severity not in SEVERITIES:
                    severity = None
            cls = attrs.get("class") or (cat if cat in LESION_CLASSES else None)
            xyxy = xywh_to_xyxy(a["bbox"])
            x1, y1, x2, y2 = max(0.0, xyxy[0]), max(0.0, xyxy[1]), min(float(w), xyxy[2]), min(float(h), xyxy[3])
            if x2 <= x1 or y2 <= y1:
                raise InputError(f"{_ann_label(a, j)} lies outside its {w}x{h} image", where)
            center, radius = _check_circle(attrs, a, j, where)
            if cls is not None and not isinstance(cls, str):
                raise InputError(f"{_ann_label(a, j)}: attributes.class must be a string, got {cls!r}", where)
            if severity is not None and not isinstance(severity, str):
                raise InputError(f"{_ann_label(a, j)}: attributes.severity must be one of {', '.join(SEVERITIES)}, got {severity!r}", where)
            try:
                if center is not None:
                    lesions.append(Lesion.from_circle(center, radius, (w, h), cls, severity))
                else:
                    lesions.append(Lesion((x1, y1, x2, y2), cls or "MASS", severity))
            except ValueError as err:  # e.g. a circle wholly outside its image
                raise InputError(f"{_ann_label(a, j)}: {err}", where) from None
        raw_labels = im.get("image_labels") or []
        if not isinstance(raw_labels, list) or not all(isinstance(d, dict) for d in raw_labels):
            raise InputError(f"images[{i}].image_labels must be a list of objects, got {raw_labels!r}", where)
        image_labels = tuple(ImageLabel(d.get("class"), d.get("severity")) for d in raw_labels)
        extra = im.get("extra") or {}
        if not isinstance(extra, dict):
            raise InputError(f"images[{i}].extra must be an object, got {type(extra).__name__}", where)
        for key in ("refnum", "patient_id", "tissue", "source"):
            if im.get(key) is not None and not isinstance(im[key], (str, int)) or isinstance(im.get(key), bool):
                raise InputError(f"images[{i}].{key} must be a string, got {im[key]!r}", where)
        film_id = str(im.get("refnum") or PurePosixPath(file_name).stem)
        patient = im.get("patient_id") or (patient_of(im) if patient_of else f"img{im['id']}")
        try:
            films.append(
                Film(
                    film_id=film_id,
                    image_path=file_name,
                    width=w,
                    height=h,
                    patient_id=str(patient),
                    lesions=tuple(lesions),
                    image_labels=image_labels,
                    tissue=im.get("tissue"),
                    side=im.get("side") if im.get("side") in ("left", "right") else None,
                    source=im.get("source") or source,
                    extra=dict(extra),
                )
            )
        except ValueError as err:
            raise InputError(f"images[{i}]: {err}", where) from None
    counts = Counter(f.film_id for f in films)
    dup = {k for k, n in counts.items() if n > 1}
    if dup:
        raise InputError(f"film ids repeat: {sorted(dup)[:3]}; expected unique file names", where)
    return films


def load_coco(path: str | Path, source: str = "coco", patient_of=None) -> list[Film]:
    """Read a COCO JSON file into films (file names relative to the image folder)."""
    from converters.atomic import read_json

    coco = read_json(path, "a COCO detection file")
    return coco_to_films(coco, where=path, source=source, patient_of=patient_of)
