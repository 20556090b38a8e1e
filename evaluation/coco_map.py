"""COCO mAP of lesion boxes with pycocotools, built in memory from Films and predictions.

Coordinates: film pixels, top-left origin, ``xyxy`` with exclusive right/bottom edges
(:mod:`converters.records`); COCO boxes are ``[x, y, w, h]`` = ``[x1, y1, x2-x1, y2-y1]``
in the same continuous coordinates, which is what pycocotools' IoU assumes.

Rules:

* One category, ``lesion`` (id 1). Image ids are ``1..n`` in film order; annotation ids
  start at 1 (pycocotools treats a matched id of 0 as "unmatched").
* Every film is an image of the evaluation, so boxes on normal films are false positives.
* COCO's own matching applies (unlike FROC): greedy by score, one detection per lesion; a
  second box on an already-matched lesion IS a false positive here. At most ``max_dets``
  boxes per film (highest scores) are scored.
* Subsets (``mass``, ``calc``): the ground truth is restricted to the lesions of the subset
  and ALL predictions are kept, so a box on a lesion of another class counts as a false
  positive of the subset. Image-level-only labels have no box and are not in any ground truth.
* No ground-truth lesion in a subset -> ``nan`` with a reason; no prediction at all -> 0.0
  with a reason (pycocotools is not called in either case).

pycocotools' progress prints are swallowed unless ``verbose=True``.

Bootstrap resamples reuse pycocotools' per-image matching (``COCOeval.evalImgs``) and redo
only its accumulation (:func:`ap_on_films`), which reproduces ``COCOeval.accumulate`` exactly
for the identity resample (tested) and costs milliseconds per resample.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from converters.errors import InputError, look_up_option
from converters.records import Film
from evaluation.froc import SUBSETS, as_arrays, check_predictions, in_subset

CATEGORY = {"id": 1, "name": "lesion", "supercategory": "lesion"}
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


def coco_ground_truth(films: Sequence[Film], subset: str = "all") -> dict:
    """COCO dataset dict of the located lesions of ``subset`` (images = all films)."""
    look_up_option(subset, SUBSETS, "lesion subset")
    images, anns = [], []
    for i, film in enumerate(films, start=1):
        images.append({"id": i, "file_name": film.image_path, "width": film.width, "height": film.height})
        for les in film.lesions:
            if not in_subset(les, subset):
                continue
            x1, y1, x2, y2 = les.xyxy
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": CATEGORY["id"],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": anns, "categories": [dict(CATEGORY)]}


def coco_detections(films: Sequence[Film], predictions: Mapping) -> list[dict]:
    """COCO result list (``image_id, category_id, bbox xywh, score``) of all predictions."""
    dets = []
    for i, film in enumerate(films, start=1):
        xyxy, scores = as_arrays(predictions.get(film.film_id), film.film_id)
        for (x1, y1, x2, y2), s in zip(xyxy.tolist(), scores.tolist()):
            dets.append(
                {"image_id": i, "category_id": CATEGORY["id"], "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
            )
    return dets


@dataclass(frozen=True)
class ImageEval:
    """pycocotools' matching on one film (area range ``all``, ``max_dets`` boxes).

    Attributes:
        dt_scores: (D,) scores of the scored detections, sorted descending.
        dt_matched: (T, D) bool, detection matched a lesion at IoU threshold t.
        dt_ignore: (T, D) bool, detection matched an ignored lesion (never here; kept for fidelity).
        n_gt: lesions that count (not ignored).
    """

    dt_scores: np.ndarray
    dt_matched: np.ndarray
    dt_ignore: np.ndarray
    n_gt: int

    @classmethod
    def empty(cls, n_gt: int = 0) -> "ImageEval":
        t = len(IOU_THRESHOLDS)
        return cls(np.zeros(0), np.zeros((t, 0), bool), np.zeros((t, 0), bool), n_gt)


class _Flat:
    """All films' scored detections in one score order (pycocotools' order for the
    identity resample: films in order, stable sort), so a resample is only a reweighting."""

    def __init__(self, image_evals: Sequence[ImageEval]):
        n_t = len(IOU_THRESHOLDS)
        self.n_gt = np.array([e.n_gt for e in image_evals], dtype=np.float64)
        if image_evals:
            scores = np.concatenate([e.dt_scores for e in image_evals])
            film = np.concatenate([np.full(len(e.dt_scores), i) for i, e in enumerate(image_evals)]).astype(int)
            matched = np.concatenate([e.dt_matched.reshape(n_t, -1) for e in image_evals], axis=1)
            ignore = np.concatenate([e.dt_ignore.reshape(n_t, -1) for e in image_evals], axis=1)
        else:
            scores, film = np.zeros(0), np.zeros(0, int)
            matched = ignore = np.zeros((n_t, 0), bool)
        order = np.argsort(-scores, kind="mergesort")
        self.film = film[order]
        self.tp_mask = (matched & ~ignore)[:, order].astype(np.float64)
        self.fp_mask = (~matched & ~ignore)[:, order].astype(np.float64)
        self.any_ignored = bool(ignore.any())


@dataclass(frozen=True)
class CocoEval:
    """mAP of one subset, with the per-film matching needed to resample it.

    Attributes:
        subset: ``all``, ``mass`` or ``calc``.
        map50, map50_95: pycocotools' AP at IoU 0.5 and averaged over 0.5:0.95 (``nan`` if
            undefined, see ``reason``).
        n_gt, n_dt: lesions in the subset's ground truth; predictions scored.
        reason: why a figure is ``nan`` or trivially 0, else ``None``.
        image_evals: one :class:`ImageEval` per film, in film order.
    """

    subset: str
    map50: float
    map50_95: float
    n_gt: int
    n_dt: int
    reason: str | None
    image_evals: tuple[ImageEval, ...]

    @property
    def flat(self) -> _Flat:
        """Detections of all films in score order (built once, for resampling)."""
        if "_flat" not in self.__dict__:
            object.__setattr__(self, "_flat", _Flat(self.image_evals))
        return self.__dict__["_flat"]


def _quiet(verbose: bool):
    return contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())


def evaluate_coco(
    films: Sequence[Film],
    predictions: Mapping,
    subset: str = "all",
    max_dets: int = 100,
    verbose: bool = False,
) -> CocoEval:
    """COCO mAP@0.5 and mAP@0.5:0.95 of one lesion subset (rules in the module docstring).

    Args:
        films: ground truth; every film is an image of the evaluation.
        predictions: film_id -> object with ``.xyxy`` (N, 4) and ``.scores`` (N,); a missing
            film has no detections.
        subset: ``all``, ``mass`` or ``calc``.
        max_dets: boxes scored per film (COCO's ``maxDets``).
        verbose: let pycocotools print its progress and summary table.

    Raises:
        InputError: unknown subset or film ids, malformed predictions.
    """
    look_up_option(subset, SUBSETS, "lesion subset")
    if int(max_dets) < 1:
        raise InputError(f"max_dets must be >= 1 (boxes scored per film), got {max_dets}")
    check_predictions(films, predictions)
    gt = coco_ground_truth(films, subset)
    dets = coco_detections(films, predictions)
    n_gt_per_film = np.bincount([a["image_id"] - 1 for a in gt["annotations"]], minlength=len(films))
    n_gt = len(gt["annotations"])
    if n_gt == 0:
        evals = tuple(ImageEval.empty(0) for _ in films)
        reason = f"no located {subset} lesions in the ground truth"
        return CocoEval(subset, float("nan"), float("nan"), 0, len(dets), reason, evals)
    if not dets:
        evals = tuple(ImageEval.empty(int(k)) for k in n_gt_per_film)
        return CocoEval(subset, 0.0, 0.0, n_gt, 0, "no predictions", evals)

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with _quiet(verbose):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.params.maxDets = [1, min(10, int(max_dets)), int(max_dets)]
        ev.evaluate()
        ev.accumulate()
        if verbose:
            ev.summarize()
    prec = ev.eval["precision"][:, :, 0, 0, -1]  # (T, R), area 'all', max_dets
    map50 = _mean_valid(prec[0])
    map50_95 = _mean_valid(prec)
    # evalImgs is ordered [category][area range][image]; area 'all' is the first block.
    evals = []
    for i in range(len(films)):
        e = ev.evalImgs[i]
        if e is None:
            evals.append(ImageEval.empty(int(n_gt_per_film[i])))
            continue
        evals.append(
            ImageEval(
                dt_scores=np.asarray(e["dtScores"], dtype=np.float64),
                dt_matched=np.asarray(e["dtMatches"]) > 0,
                dt_ignore=np.asarray(e["dtIgnore"], dtype=bool),
                n_gt=int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)),
            )
        )
    n_scored = sum(len(e.dt_scores) for e in evals)
    return CocoEval(subset, map50, map50_95, n_gt, n_scored, None, tuple(evals))


def _mean_valid(a: np.ndarray) -> float:
    a = np.asarray(a)
    v = a[a > -1]
    return float(v.mean()) if v.size else float("nan")


def _accumulate(result: "CocoEval", film_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted cumulative (tp, fp) per IoU threshold, detections by descending score, and n_gt.

    A film of weight k acts as k copies of it (a bootstrap resample)."""
    flat = result.flat
    w = film_weights[flat.film]
    tp = np.cumsum(flat.tp_mask * w, axis=1)
    if flat.any_ignored:
        fp = np.cumsum(flat.fp_mask * w, axis=1)
    else:  # every detection is a TP or an FP: one cumulative sum fewer
        fp = np.cumsum(w)[None, :] - tp
    return tp, fp, float(flat.n_gt @ film_weights)


def _precision_at_recalls(tp: np.ndarray, fp: np.ndarray, n_gt: int) -> np.ndarray:
    """COCO's 101-point interpolated precision for one IoU threshold (as in accumulate)."""
    q = np.zeros(len(RECALL_THRESHOLDS))
    if tp.size == 0:
        return q
    rc = tp / n_gt
    pr = tp / (fp + tp + np.spacing(1))
    pr = np.maximum.accumulate(pr[::-1])[::-1]
    inds = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
    ok = inds < len(pr)
    q[ok] = pr[inds[ok]]
    return q


def ap_on_films(result: CocoEval, film_indices=None) -> tuple[float, float]:
    """(mAP@0.5, mAP@0.5:0.95) recomputed on a multiset of films (a bootstrap resample).

    Args:
        result: from :func:`evaluate_coco`.
        film_indices: film indices, repeats allowed; default all films once.
    """
    n = len(result.image_evals)
    if film_indices is None:
        weights = np.ones(n)
    else:
        weights = np.bincount(np.asarray(film_indices, dtype=int), minlength=n).astype(np.float64)
    tp, fp, n_gt = _accumulate(result, weights)
    if n_gt == 0:
        return float("nan"), float("nan")
    prec = np.stack([_precision_at_recalls(tp[t], fp[t], n_gt) for t in range(len(IOU_THRESHOLDS))])
    return float(prec[0].mean()), float(prec.mean())


def pr_curve(result: CocoEval, iou_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) of all scored detections ranked by score at one IoU threshold
    (index into :data:`IOU_THRESHOLDS`; 0 = IoU 0.5); raw, not interpolated. Empty if no GT."""
    tp, fp, n_gt = _accumulate(result, np.ones(len(result.image_evals)))
    if n_gt == 0 or tp.shape[1] == 0:
        return np.zeros(0), np.zeros(0)
    t, f = tp[iou_index], fp[iou_index]
    return t / n_gt, t / np.maximum(t + f, 1e-12)


def evaluate_coco_subsets(
    films: Sequence[Film], predictions: Mapping, max_dets: int = 100, verbose: bool = False
) -> dict[str, CocoEval]:
    """:func:`evaluate_coco` for ``all``, ``mass`` and ``calc``."""
    return {s: evaluate_coco(films, predictions, s, max_dets, verbose) for s in SUBSETS}


__all__ = [
    "CocoEval",
    "ImageEval",
    "ap_on_films",
    "coco_detections",
    "coco_ground_truth",
    "evaluate_coco",
    "evaluate_coco_subsets",
    "pr_curve",
]
