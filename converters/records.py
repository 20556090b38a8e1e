"""Validated record types shared by every package: :class:`Lesion` and :class:`Film`.

Coordinate convention (stated once, used everywhere in the project):

* Image pixels are indexed ``(col, row)`` with the origin at the TOP-LEFT corner of the
  film; pixel ``(col, row)`` covers the continuous square ``[col, col+1) x [row, row+1)``.
* Boxes are ``xyxy`` in those continuous coordinates: ``x2``/``y2`` are exclusive edges,
  so the box of a single pixel ``(c, r)`` is ``(c, r, c+1, r+1)``.
* A circle lesion has its centre at pixel ``(cx_px, cy_px)`` (top-left origin) and radius
  ``radius_px``; its mask is every pixel with ``(col-cx)^2 + (row-cy)^2 <= r^2`` and its box
  is the box of that mask, clipped to the film. MIAS labels use a bottom-left origin; the
  flip happens in exactly one place, :func:`converters.mias.mias_y_to_row`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

SEVERITIES = ("benign", "malignant")
GRADES = ("normal", "benign", "malignant")
LESION_CLASSES = ("CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM")
MASS_CLASSES = ("CIRC", "SPIC", "MISC")
TISSUES = ("F", "G", "D")
SIDES = ("right", "left")


@dataclass(frozen=True)
class Lesion:
    """One located abnormality on one film.

    Args:
        xyxy: box in film pixels, top-left origin, exclusive right/bottom edges.
        lesion_class: MIAS class (CALC, CIRC, ...) or ``"MASS"`` for box-only sources.
        severity: ``"benign"`` or ``"malignant"`` (``None`` when unknown).
        center_xy: circle centre ``(col, row)`` for circle labels, else ``None``.
        radius_px: circle radius for circle labels, else ``None``.
    """

    xyxy: tuple[float, float, float, float]
    lesion_class: str | None = None
    severity: str | None = None
    center_xy: tuple[float, float] | None = None
    radius_px: float | None = None

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = (float(v) for v in self.xyxy)
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            raise ValueError(f"Lesion.xyxy must be finite, got {self.xyxy}")
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"Lesion.xyxy must have x2 > x1 and y2 > y1, got {self.xyxy}")
        object.__setattr__(self, "xyxy", (x1, y1, x2, y2))
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ValueError(f"Lesion.severity must be one of {SEVERITIES} or None, got {self.severity!r}")
        if (self.center_xy is None) != (self.radius_px is None):
            raise ValueError("Lesion.center_xy and radius_px go together (both or neither)")
        if self.radius_px is not None and not self.radius_px > 0:
            raise ValueError(f"Lesion.radius_px must be > 0, got {self.radius_px}")

    @classmethod
    def from_circle(
        cls,
        center_xy: tuple[float, float],
        radius_px: float,
        resolution_wh: tuple[int, int],
        lesion_class: str | None = None,
        severity: str | None = None,
    ) -> "Lesion":
        """A circle lesion; its box is the clipped box of its pixel mask."""
        return cls(
            xyxy=circle_xyxy(center_xy, radius_px, resolution_wh),
            lesion_class=lesion_class,
            severity=severity,
            center_xy=(float(center_xy[0]), float(center_xy[1])),
            radius_px=float(radius_px),
        )

    @property
    def is_circle(self) -> bool:
        return self.radius_px is not None

    @property
    def is_mass(self) -> bool:
        return self.lesion_class in MASS_CLASSES or self.lesion_class == "MASS"

    @property
    def is_calc(self) -> bool:
        return self.lesion_class == "CALC"

    @property
    def center(self) -> tuple[float, float]:
        """Circle centre, or box centre for box-only lesions (top-left origin)."""
        if self.center_xy is not None:
            return self.center_xy
        x1, y1, x2, y2 = self.xyxy
        return ((x1 + x2) / 2, (y1 + y2) / 2)

    @property
    def size_px(self) -> float:
        """Radius for circles; half the longer box side for boxes."""
        if self.radius_px is not None:
            return self.radius_px
        x1, y1, x2, y2 = self.xyxy
        return max(x2 - x1, y2 - y1) / 2

    def contains_point(self, x: float, y: float) -> bool:
        """Hit rule: is the point inside the labelled circle (or box, for box labels)?"""
        if self.center_xy is not None:
            cx, cy = self.center_xy
            # The mask covers pixel centres within r; allow the half pixel of the edge pixels.
            return (x - cx - 0.5) ** 2 + (y - cy - 0.5) ** 2 <= (self.radius_px + 0.5) ** 2
        x1, y1, x2, y2 = self.xyxy
        return x1 <= x <= x2 and y1 <= y <= y2


def circle_xyxy(center_xy, radius_px, resolution_wh) -> tuple[float, float, float, float]:
    """Box of the pixel mask of a circle, clipped to the film (see module docstring).

    Mask pixels are those with integer ``(col,row)`` within ``radius_px`` of the centre, so
    for an integer centre and radius the box is ``(cx-r, cy-r, cx+r+1, cy+r+1)`` clipped.
    """
    cx, cy = center_xy
    r = float(radius_px)
    w, h = resolution_wh
    x1 = max(0.0, math.ceil(cx - r))
    y1 = max(0.0, math.ceil(cy - r))
    x2 = min(float(w), math.floor(cx + r) + 1.0)
    y2 = min(float(h), math.floor(cy + r) + 1.0)
    return (float(x1), float(y1), float(x2), float(y2))


@dataclass(frozen=True)
class ImageLabel:
    """An abnormality known only at film level (MIAS rows without X Y RADIUS)."""

    lesion_class: str | None
    severity: str | None


@dataclass(frozen=True)
class Film:
    """One mammogram and its labels.

    Args:
        film_id: unique id within its source (``mdb001`` or a CBIS file stem).
        image_path: path of the image, relative to the source folder.
        width, height: pixels.
        patient_id: films of one patient share it; splits never separate them.
        lesions: located abnormalities (may be empty: a negative film).
        image_labels: abnormalities known only at film level.
        tissue: MIAS background tissue letter (F, G, D) or None.
        side: ``"right"`` / ``"left"`` or None.
        source: ``"mias"``, ``"coco"``, ``"cbis"`` ...
        extra: free-form metadata (view, BI-RADS, density ...).
    """

    film_id: str
    image_path: str
    width: int
    height: int
    patient_id: str
    lesions: tuple[Lesion, ...] = ()
    image_labels: tuple[ImageLabel, ...] = ()
    tissue: str | None = None
    side: str | None = None
    source: str = "mias"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.film_id:
            raise ValueError("Film.film_id must be a non-empty string")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Film {self.film_id}: width and height must be > 0")
        object.__setattr__(self, "lesions", tuple(self.lesions))
        object.__setattr__(self, "image_labels", tuple(self.image_labels))
        if self.side is not None and self.side not in SIDES:
            raise ValueError(f"Film {self.film_id}: side must be one of {SIDES}, got {self.side!r}")

    @property
    def is_abnormal(self) -> bool:
        return bool(self.lesions) or bool(self.image_labels)

    @property
    def severities(self) -> list[str]:
        return [s for s in [l.severity for l in self.lesions] + [l.severity for l in self.image_labels] if s]

    @property
    def verdict(self) -> str:
        """Worst label of the film: ``normal``, ``benign`` or ``malignant``."""
        sev = self.severities
        if "malignant" in sev:
            return "malignant"
        if sev or self.is_abnormal:
            return "benign"
        return "normal"

    def with_lesions(self, lesions) -> "Film":
        return replace(self, lesions=tuple(lesions))
