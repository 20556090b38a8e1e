"""Circle masks and COCO RLE (pycocotools ``mask.py`` conventions: Fortran order, counts).

A circle's mask is every pixel ``(col, row)`` with ``(col-cx)^2 + (row-cy)^2 <= r^2``
(top-left origin, see :mod:`converters.records`), clipped to the film.
"""

from __future__ import annotations

import numpy as np


def circle_mask(center_xy, radius_px: float, resolution_wh) -> np.ndarray:
    """Boolean (H, W) mask of a circle, clipped to the film."""
    w, h = resolution_wh
    cx, cy = center_xy
    cols = np.arange(w)[None, :]
    rows = np.arange(h)[:, None]
    return (cols - cx) ** 2 + (rows - cy) ** 2 <= float(radius_px) ** 2


def mask_to_xyxy(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Box of a boolean mask with exclusive right/bottom edges; ``None`` if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO RLE with ``counts`` as a str (JSON-ready)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def rle_to_mask(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    r = dict(rle)
    if isinstance(r["counts"], str):
        r["counts"] = r["counts"].encode("ascii")
    return mask_utils.decode(r).astype(bool)
