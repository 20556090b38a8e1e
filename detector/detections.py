"""The one record every detector backend returns: boxes, scores and optional masks.

Coordinates follow :mod:`converters.records`: ORIGINAL film pixels, top-left origin,
``xyxy`` with exclusive right/bottom edges. ``masks`` (when the backend makes them) are
boolean ``(N, H, W)`` arrays over the whole film. A film with nothing found is
``Detections.empty()``, a normal case, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Detections:
    """Detections on one film.

    Args:
        xyxy: float (N, 4) boxes in film pixels, ``x2 >= x1`` and ``y2 >= y1``.
        scores: float (N,) confidence of each box.
        masks: optional bool (N, H, W) instance masks over the film.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float64)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"Detections.xyxy must have shape (N, 4), got {xyxy.shape}")
        if scores.shape[0] != xyxy.shape[0]:
            raise ValueError(f"Detections.scores must have {xyxy.shape[0]} entries (one per box), got {scores.shape[0]}")
        if not (np.isfinite(xyxy).all() and np.isfinite(scores).all()):
            raise ValueError("Detections.xyxy and scores must be finite")
        if (xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any():
            raise ValueError("Detections.xyxy must have x2 >= x1 and y2 >= y1")
        masks = self.masks
        if masks is not None:
            masks = np.asarray(masks).astype(bool, copy=False)
            if masks.ndim != 3 or masks.shape[0] != xyxy.shape[0]:
                raise ValueError(f"Detections.masks must have shape ({xyxy.shape[0]}, H, W), got {masks.shape}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "masks", masks)

    @classmethod
    def empty(cls, resolution_wh: tuple[int, int] | None = None) -> "Detections":
        """No detections (with an empty ``(0, H, W)`` mask stack if ``resolution_wh`` is given)."""
        masks = None if resolution_wh is None else np.zeros((0, resolution_wh[1], resolution_wh[0]), dtype=bool)
        return cls(np.zeros((0, 4)), np.zeros(0), masks)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def select(self, keep) -> "Detections":
        """The detections at ``keep`` (a boolean mask or an index array)."""
        keep = np.asarray(keep)
        return Detections(self.xyxy[keep], self.scores[keep], None if self.masks is None else self.masks[keep])

    def above(self, min_score: float) -> "Detections":
        """Detections scoring at least ``min_score``."""
        return self.select(self.scores >= min_score)

    def sorted(self) -> "Detections":
        """Highest score first."""
        return self.select(np.argsort(-self.scores, kind="stable"))

    @property
    def centers_xy(self) -> np.ndarray:
        """(N, 2) box centres in film pixels."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], axis=1)

    def to_json(self) -> list[dict]:
        """JSON-ready list of ``{"xyxy": [...], "score": s}`` (masks left out)."""
        return [{"xyxy": [round(float(v), 2) for v in b], "score": round(float(s), 5)} for b, s in zip(self.xyxy, self.scores)]
