"""A static HTML gallery of screening mistakes, for people who cannot run the App.

``export_gallery`` writes ``OUT/index.html`` and ``OUT/crops/*.png``: one crop per missed
lesion, false alarm and misgraded lesion, grouped by tissue type (MIAS background:
F fatty, G fatty-glandular, D dense-glandular). Each crop is a square around the item
(at least ``min_crop_px`` wide, twice the item's size), with the labelled circles drawn in
green and the predicted boxes in orange, the item itself thicker. Film pixels, top-left
origin, ``xyxy`` with exclusive right/bottom edges (see :mod:`converters.records`).
The folder is written through :func:`converters.atomic.atomic_dir`: all or nothing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from screening.inspect import FilmInspection

TISSUE_NAMES = {"F": "Fatty (F)", "G": "Fatty-glandular (G)", "D": "Dense-glandular (D)", None: "Tissue unknown"}
KINDS = ("missed lesion", "false alarm", "misgraded")
GT_RGB, PRED_RGB = (40, 220, 40), (255, 150, 0)


@dataclass(frozen=True)
class GalleryItem:
    """One mistake to show: which film, which box, what kind, a caption."""

    kind: str
    insp: FilmInspection
    xyxy: tuple[float, float, float, float]
    caption: str

    @property
    def tissue(self) -> str | None:
        return self.insp.film.tissue


def gallery_items(inspections: list[FilmInspection]) -> list[GalleryItem]:
    """Missed lesions, false alarms and misgraded lesions of every film, in film order."""
    items = []
    for insp in inspections:
        fid = insp.film.film_id
        for i, lesion in enumerate(insp.film.lesions):
            desc = f"{lesion.lesion_class or 'lesion'} {lesion.severity or 'severity unknown'}, r={lesion.size_px:.0f} px"
            if not insp.lesion_hit[i]:
                items.append(GalleryItem("missed lesion", insp, lesion.xyxy, f"{fid}: missed {desc}"))
            elif insp.lesion_misgraded[i]:
                det = insp.detections[insp.lesion_best_pred[i]]
                items.append(GalleryItem("misgraded", insp, lesion.xyxy,
                                         f"{fid}: {desc} graded {det.grade} (score {det.score:.2f})"))
        for j, det in enumerate(insp.detections):
            if not insp.pred_hit[j]:
                items.append(GalleryItem("false alarm", insp, det.xyxy,
                                         f"{fid}: false alarm graded {det.grade}, score {det.score:.2f}"))
    return items


def crop_xyxy(xyxy, resolution_wh, min_crop_px: int = 128) -> tuple[int, int, int, int]:
    """Square window around ``xyxy``: twice its longer side, at least ``min_crop_px``, inside the film."""
    w, h = resolution_wh
    x1, y1, x2, y2 = xyxy
    side = int(min(max(min_crop_px, 2 * max(x2 - x1, y2 - y1)), w, h))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(min(max(0, round(cx - side / 2)), w - side))
    top = int(min(max(0, round(cy - side / 2)), h - side))
    return left, top, left + side, top + side


def render_crop(image_u8: np.ndarray, item: GalleryItem, min_crop_px: int = 128) -> np.ndarray:
    """RGB crop of ``item`` with every label and prediction of its film outlined."""
    from PIL import Image, ImageDraw

    h, w = image_u8.shape
    left, top, right, bottom = crop_xyxy(item.xyxy, (w, h), min_crop_px)
    rgb = Image.fromarray(image_u8[top:bottom, left:right]).convert("RGB")
    draw = ImageDraw.Draw(rgb)
    thin, thick = max(1, (right - left) // 256), max(3, (right - left) // 64)  # readable once scaled to 220 px

    def shift(b):
        return (b[0] - left, b[1] - top, b[2] - left - 1, b[3] - top - 1)  # PIL boxes are inclusive

    for lesion in item.insp.film.lesions:
        width = thick if lesion.xyxy == item.xyxy else thin
        if lesion.center_xy is not None:
            (cx, cy), r = lesion.center_xy, lesion.radius_px
            draw.ellipse((cx - r - left, cy - r - top, cx + r - left, cy + r - top), outline=GT_RGB, width=width)
        else:
            draw.rectangle(shift(lesion.xyxy), outline=GT_RGB, width=width)
    for det in item.insp.detections:
        draw.rectangle(shift(det.xyxy), outline=PRED_RGB, width=thick if det.xyxy == item.xyxy else thin)
    return np.asarray(rgb)


def _page(sections: dict[str, list[tuple[GalleryItem, str]]], title: str) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;background:#111;color:#eee;margin:1em}",
        "figure{display:inline-block;margin:6px;width:220px;vertical-align:top}",
        "img{width:220px;height:220px;image-rendering:pixelated;border:1px solid #444}",
        "figcaption{font-size:12px}.legend span{padding:0 6px}",
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='legend'><span style='color:#28dc28'>&#9711; labelled lesion</span>"
        "<span style='color:#ff9600'>&#9633; prediction</span> (thick: the item of the caption)</p>",
    ]
    for tissue_name, entries in sections.items():
        parts.append(f"<h2>{html.escape(tissue_name)}: {len(entries)} item(s)</h2>")
        for kind in KINDS:
            group = [(it, src) for it, src in entries if it.kind == kind]
            if not group:
                continue
            parts.append(f"<h3>{html.escape(kind)} ({len(group)})</h3><div>")
            for it, src in group:
                cap = html.escape(it.caption)
                parts.append(f"<figure><img src='{html.escape(src)}' alt='{cap}'><figcaption>{cap}</figcaption></figure>")
            parts.append("</div>")
    if not sections:
        parts.append("<p>No missed lesions, false alarms or misgraded lesions.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def export_gallery(inspections: list[FilmInspection], images_root: str | Path, out_dir: str | Path,
                   title: str = "mammoscreen: screening mistakes", min_crop_px: int = 128) -> Path:
    """Write ``out_dir/index.html`` and its PNG crops; returns the page's path.

    Args:
        inspections: from :func:`screening.inspect.match_report`.
        images_root: folder the films' ``image_path`` are relative to.
        out_dir: gallery folder (replaced whole).
        title: page title.
        min_crop_px: smallest crop side, film pixels.
    """
    from converters.atomic import atomic_dir, write_text_atomic
    from converters.images import read_gray8, write_png_atomic

    items = gallery_items(inspections)
    rank = {t: k for k, t in enumerate(TISSUE_NAMES)}
    sections: dict[str, list[tuple[GalleryItem, str]]] = {}
    images: dict[str, np.ndarray] = {}
    with atomic_dir(out_dir) as tmp:
        counter: dict[str, int] = {}
        for it in sorted(items, key=lambda it: rank.get(it.tissue, len(rank))):
            film = it.insp.film
            if film.film_id not in images:
                images = {film.film_id: read_gray8(Path(images_root) / film.image_path, (film.width, film.height))}
            n = counter[film.film_id] = counter.get(film.film_id, 0) + 1
            rel = f"crops/{film.film_id}_{n:02d}_{it.kind.replace(' ', '-')}.png"
            write_png_atomic(tmp / rel, render_crop(images[film.film_id], it, min_crop_px))
            sections.setdefault(TISSUE_NAMES.get(it.tissue, str(it.tissue)), []).append((it, rel))
        write_text_atomic(tmp / "index.html", _page(sections, title))
    return Path(out_dir) / "index.html"
