"""Fuse several box sets predicted on one image: weighted boxes fusion and flip inverses.

Pure numpy, no model: :func:`weighted_boxes_fusion` merges the boxes of N predictions of
one image (N models, N test-time views, or both) into one set, the way Solovyev, Wang and
Gabruseva (2021, "Weighted boxes fusion") do; :func:`unflip_xyxy` maps boxes predicted on a
mirrored image back to the image's own pixels. Coordinates are ``xyxy`` pixels of one
frame, top-left origin, exclusive right/bottom edges (:mod:`converters.records`).

Example::

    xyxy, scores = weighted_boxes_fusion([(xyxy_a, scores_a), (xyxy_b, scores_b)], iou_thr=0.55)
"""

from __future__ import annotations

import numpy as np

FLIPS = ("none", "flipud", "fliplr")


def flips_are_valid(flips) -> bool:
    """At least one view, each a distinct name of :data:`FLIPS`."""
    return bool(flips) and all(f in FLIPS for f in flips) and len(set(flips)) == len(flips)


def flip_image(image: np.ndarray, flip: str) -> np.ndarray:
    """``image`` mirrored by ``flip`` (``none``, ``flipud`` top to bottom, ``fliplr`` left to right)."""
    if flip == "none":
        return image
    if flip == "flipud":
        return np.ascontiguousarray(image[::-1])
    if flip == "fliplr":
        return np.ascontiguousarray(image[:, ::-1])
    raise ValueError(f"flip must be one of {FLIPS}, got {flip!r}")


def unflip_xyxy(xyxy: np.ndarray, flip: str, image_wh: tuple[int, int]) -> np.ndarray:
    """Boxes found on ``flip_image(image, flip)`` in the pixels of ``image`` (its own inverse).

    With exclusive edges, a box ``[y1, y2)`` on an image of height ``h`` mirrors to ``[h - y2, h - y1)``.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
    w, h = image_wh
    if flip == "flipud":
        xyxy[:, [1, 3]] = h - xyxy[:, [3, 1]]
    elif flip == "fliplr":
        xyxy[:, [0, 2]] = w - xyxy[:, [2, 0]]
    elif flip != "none":
        raise ValueError(f"flip must be one of {FLIPS}, got {flip!r}")
    return xyxy


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``xyxy`` box with each of ``boxes`` (M, 4); 0 where the union is empty."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def weighted_boxes_fusion(box_sets: list[tuple[np.ndarray, np.ndarray]], iou_thr: float = 0.55,
                          n_sets: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fuse N box sets of one image into one (weighted boxes fusion, score rescaling by presence).

    Boxes of all sets are taken highest score first; each joins the first cluster whose
    fused box it overlaps at IoU >= ``iou_thr``, else starts a cluster. A cluster's box is
    the score-weighted mean of its boxes; its score is the mean of its T scores times
    ``min(T, N) / N``, so a box that only one of N sets saw keeps 1/N of its score and one
    that every set saw keeps the mean.

    Args:
        box_sets: N pairs ``(xyxy (K, 4), scores (K,))``, one per prediction of the image.
        iou_thr: IoU with a cluster's fused box at which a box joins it, in (0, 1].
        n_sets: N for the rescaling (default ``len(box_sets)``).

    Returns:
        ``(xyxy (M, 4), scores (M,))``, highest score first.
    """
    if not 0.0 < iou_thr <= 1.0:
        raise ValueError(f"iou_thr must lie in (0, 1], got {iou_thr}")
    n = len(box_sets) if n_sets is None else int(n_sets)
    if n < 1:
        raise ValueError("weighted_boxes_fusion needs at least one box set")
    boxes = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b, _ in box_sets]
    scores = [np.asarray(s, dtype=np.float64).reshape(-1) for _, s in box_sets]
    for b, s in zip(boxes, scores):
        if len(b) != len(s):
            raise ValueError(f"a box set has {len(b)} boxes and {len(s)} scores")
    all_xyxy = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    if len(all_scores) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    order = np.argsort(-all_scores, kind="stable")
    fused = np.zeros((len(order), 4))      # running fused box of each cluster
    weighted_sum = np.zeros((len(order), 4))
    score_sum = np.zeros(len(order))
    count = np.zeros(len(order), dtype=int)
    n_clusters = 0
    for i in order:
        box, score = all_xyxy[i], all_scores[i]
        j = -1
        if n_clusters:
            ious = iou_one_to_many(box, fused[:n_clusters])
            best = int(np.argmax(ious))
            if ious[best] >= iou_thr:
                j = best
        if j < 0:
            j, n_clusters = n_clusters, n_clusters + 1
        weighted_sum[j] += score * box
        score_sum[j] += score
        count[j] += 1
        fused[j] = weighted_sum[j] / score_sum[j] if score_sum[j] > 0 else box
    count, score_sum = count[:n_clusters], score_sum[:n_clusters]
    out_scores = score_sum / count * np.minimum(count, n) / n
    keep = np.argsort(-out_scores, kind="stable")
    return fused[:n_clusters][keep], out_scores[keep]
