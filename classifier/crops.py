"""The one crop rule, used for training crops and by the pipeline's grader.

Coordinates follow :mod:`converters.records`: film pixels, top-left origin, ``xyxy`` boxes
with exclusive right/bottom edges.

Rule:

* A labelled circle ``(center_xy, radius_px)`` gives a square of side ``2 * radius_px``
  centred on the circle. A detection box gives a square centred on the box centre with
  side ``max(w, h)``. Sides are at least :data:`MIN_SIDE_PX`.
* The square's pixel window is ``[round(cx - side/2), ... + round(side))`` in each axis;
  pixels outside the film are 0 (the film's blank border is black too).
* The window is resized to ``out_px x out_px`` (48 for BCDCNN) with ``cv2.INTER_AREA``.
* Background-fraction rule: the fraction of the window that is not breast tissue
  (:func:`converters.preprocess.breast_mask`; outside the film counts as background). A
  lesion crop whose fraction exceeds ``max_background_frac`` (default 0.5) is dropped and
  counted; the paper dropped crops that touched the blank border at all.
* Normal crops: random centres inside the breast mask, side drawn from a pool of lesion
  sides (``2 * radius_px`` of the training lesions) or fixed (the paper's 48 px), kept only
  if they pass the same background rule and (on abnormal films) do not overlap a lesion.
* Augmentation: rotations by 0/90/180/270 degrees, each with and without a horizontal
  flip (8 orientations), applied to the training side only, after the split.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_SIDE_PX = 8


def circle_square(center_xy, radius_px: float) -> tuple[float, float, float]:
    """``(cx, cy, side_px)`` of the crop square of a labelled circle: side ``2 * radius``."""
    return float(center_xy[0]), float(center_xy[1]), max(float(MIN_SIDE_PX), 2.0 * float(radius_px))


def box_squares(boxes_xyxy: np.ndarray) -> np.ndarray:
    """``(N, 3)`` rows ``(cx, cy, side_px)`` for detection boxes: box centre, ``max(w, h)``."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    cx = (b[:, 0] + b[:, 2]) / 2
    cy = (b[:, 1] + b[:, 3]) / 2
    side = np.maximum(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), MIN_SIDE_PX)
    return np.stack([cx, cy, side], axis=1)


def square_window(cx: float, cy: float, side_px: float) -> tuple[int, int, int, int]:
    """Integer pixel window ``(x1, y1, x2, y2)`` (exclusive ends) of a crop square."""
    s = max(MIN_SIDE_PX, int(round(side_px)))
    x1 = int(round(cx - s / 2))
    y1 = int(round(cy - s / 2))
    return x1, y1, x1 + s, y1 + s


def cut_window(image: np.ndarray, window: tuple[int, int, int, int], fill=0) -> np.ndarray:
    """The window's pixels, ``fill`` where the window leaves the image."""
    x1, y1, x2, y2 = window
    h, w = image.shape[:2]
    out = np.full((y2 - y1, x2 - x1), fill, dtype=image.dtype)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[sy1:sy2, sx1:sx2]
    return out


def crop_square(image_u8: np.ndarray, cx: float, cy: float, side_px: float, out_px: int = 48) -> np.ndarray:
    """Crop the square ``(cx, cy, side_px)`` (0 outside the film) resized to ``out_px`` (INTER_AREA)."""
    patch = cut_window(image_u8, square_window(cx, cy, side_px))
    return cv2.resize(patch, (out_px, out_px), interpolation=cv2.INTER_AREA)


def crop_boxes(image_u8: np.ndarray, boxes_xyxy: np.ndarray, out_px: int = 48) -> np.ndarray:
    """``(N, out_px, out_px)`` uint8 crops for detection boxes (the grader's input)."""
    sq = box_squares(boxes_xyxy)
    out = np.zeros((len(sq), out_px, out_px), dtype=np.uint8)
    for i, (cx, cy, side) in enumerate(sq):
        out[i] = crop_square(image_u8, cx, cy, side, out_px)
    return out


def background_fraction(breast: np.ndarray, cx: float, cy: float, side_px: float) -> float:
    """Fraction of the crop window that is not breast (pixels outside the film count)."""
    win = cut_window(breast.astype(np.uint8), square_window(cx, cy, side_px))
    return 1.0 - float(win.mean())


def augment8(crop: np.ndarray) -> np.ndarray:
    """``(8, S, S)``: rotations 0/90/180/270, each without and with a horizontal flip."""
    out = []
    for k in range(4):
        r = np.rot90(crop, k)
        out.append(r)
        out.append(r[:, ::-1])
    return np.ascontiguousarray(np.stack(out))


def sample_normal_squares(
    breast: np.ndarray,
    n: int,
    side_pool_px: np.ndarray,
    rng: np.random.Generator,
    max_background_frac: float = 0.5,
    avoid_circles: list[tuple[float, float, float]] = (),
    max_tries: int = 200,
) -> list[tuple[float, float, float]]:
    """Up to ``n`` squares ``(cx, cy, side_px)`` centred inside breast tissue.

    Args:
        breast: boolean breast mask of the film.
        n: squares wanted.
        side_pool_px: sides to draw from (a lesion side distribution, or ``[48]``).
        rng: random generator (seeded by the caller).
        max_background_frac: same background rule as lesion crops.
        avoid_circles: ``(cx, cy, radius_px)`` lesions the square must not overlap.
        max_tries: attempts per square before giving up (a tiny breast yields fewer).
    """
    rows, cols = np.nonzero(breast)
    if rows.size == 0 or n <= 0:
        return []
    pool = np.asarray(side_pool_px, dtype=np.float64)
    out: list[tuple[float, float, float]] = []
    for _ in range(n):
        for _ in range(max_tries):
            i = int(rng.integers(rows.size))
            cx, cy = float(cols[i]), float(rows[i])
            side = float(pool[rng.integers(pool.size)])
            half = side / 2
            if any(abs(cx - lx) < half + lr and abs(cy - ly) < half + lr for lx, ly, lr in avoid_circles):
                continue
            if background_fraction(breast, cx, cy, side) > max_background_frac:
                continue
            out.append((cx, cy, side))
            break
    return out
