"""The other breast: pair a film with the contralateral film of the same view and compare.

Pairing (never across patients): a film's key is ``(patient, side, view)``.

* mini-MIAS: ``mdb(2k-1)`` is the right and ``mdb(2k)`` the left breast of patient ``k``
  (one mediolateral oblique view each);
* CBIS-DDSM / DDSM names such as ``Mass-Training_P_00001_LEFT_CC`` or ``00001_LEFT_CC``:
  patient ``P_00001``, side ``LEFT``, view ``CC``;
* DICOM: ``PatientID``, ``ImageLaterality`` (or ``Laterality``) and ``ViewPosition``.

Two films pair when patient and view are equal and sides are opposite, and each has
exactly one partner in the batch; anything else is screened alone.

Comparison: each breast is segmented, turned so its chest wall is on the left (the other
side's film is thereby mirrored), cropped to its outline and resampled to a common
``grid_px`` square, so the two outlines are aligned by their bounding boxes. Local
density (Gaussian-smoothed intensity) and texture (local standard deviation) are
compared; the positive part of this film's density minus the other's, inside both
breasts, is the asymmetry map. Its peak gives an asymmetry candidate (a box in this
film's pixels) and its statistics give film-level features (:data:`BILATERAL_FEATURES`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from converters.preprocess import breast_mask, chest_wall_on_right

BILATERAL_FEATURES = ("asym_peak", "asym_p95", "asym_mean", "texture_peak", "area_ratio")
_CBIS = re.compile(r"(?:P_)?(?<![0-9])(\d{5})_(?:.*_)?(LEFT|RIGHT)_(CC|MLO)", re.IGNORECASE)
_MIAS = re.compile(r"^mdb(\d{3})$", re.IGNORECASE)


@dataclass(frozen=True)
class FilmKey:
    patient: str
    side: str
    view: str


def film_key(name: str, dicom_tags: dict | None = None) -> FilmKey | None:
    """``(patient, side, view)`` from a file name or DICOM tags; ``None`` when unknown."""
    tags = dicom_tags or {}
    if tags.get("PatientID") and tags.get("Laterality") and tags.get("ViewPosition"):
        side = {"L": "LEFT", "R": "RIGHT"}.get(str(tags["Laterality"]).upper())
        if side:
            return FilmKey(str(tags["PatientID"]), side, str(tags["ViewPosition"]).upper())
    stem = Path(name).name.split(".")[0]
    m = _MIAS.match(stem)
    if m:
        n = int(m.group(1))
        return FilmKey(f"mias-{(n + 1) // 2:03d}", "RIGHT" if n % 2 else "LEFT", "MLO")
    m = _CBIS.search(Path(name).as_posix())
    if m:
        return FilmKey(f"P_{m.group(1)}", m.group(2).upper(), m.group(3).upper())
    return None


def key_of_file(path, name: str) -> FilmKey | None:
    """:func:`film_key` of a file: DICOM header tags when it is DICOM (suffix or ``DICM`` preamble), else its name."""
    tags = None
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return film_key(name)
    if head[128:132] == b"DICM" or str(path).lower().endswith((".dcm", ".dicom")):
        try:
            import pydicom

            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
            tags = {"PatientID": ds.get("PatientID"), "ViewPosition": ds.get("ViewPosition"),
                    "Laterality": ds.get("ImageLaterality") or ds.get("Laterality")}
        except Exception:  # an unreadable header: the reader reports the film itself
            tags = None
    return film_key(name, tags)


def pair_films(names: list[str], keys: list[FilmKey | None] | None = None) -> dict[int, int]:
    """``index -> partner index`` for films with exactly one contralateral film of the same patient and view."""
    keys = keys if keys is not None else [film_key(n) for n in names]
    by_slot: dict[tuple[str, str, str], list[int]] = {}
    for i, k in enumerate(keys):
        if k is not None:
            by_slot.setdefault((k.patient, k.view, k.side), []).append(i)
    partners: dict[int, int] = {}
    for (patient, view, side), idx in by_slot.items():
        other = by_slot.get((patient, view, "LEFT" if side == "RIGHT" else "RIGHT"), [])
        if len(idx) == 1 and len(other) == 1:
            partners[idx[0]] = other[0]
    return partners


@dataclass(frozen=True)
class Bilateral:
    """Film-level bilateral features and the asymmetry candidate (``xyxy`` in this film's pixels)."""

    features: dict[str, float]
    candidate_xyxy: tuple[float, float, float, float] | None
    candidate_score: float

    @classmethod
    def unpaired(cls) -> "Bilateral":
        return cls({k: 0.0 for k in BILATERAL_FEATURES}, None, 0.0)


def _normalised(image_u8: np.ndarray, grid_px: int, mask: np.ndarray | None = None):
    """Breast turned chest-wall-left, cropped to its outline, resampled to ``grid_px``; and the map back.
    ``mask``: the film's breast mask when the caller has it already."""
    mask = breast_mask(image_u8) if mask is None else mask
    if not mask.any():
        return None
    flipped = chest_wall_on_right(mask)
    img, m = (image_u8[:, ::-1], mask[:, ::-1]) if flipped else (image_u8, mask)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    y1, y2, x1, x2 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = np.ascontiguousarray(img[y1:y2, x1:x2]).astype(np.float32)
    crop_mask = np.ascontiguousarray(m[y1:y2, x1:x2]).astype(np.uint8)
    g = cv2.resize(crop, (grid_px, grid_px), interpolation=cv2.INTER_AREA)
    gm = cv2.resize(crop_mask, (grid_px, grid_px), interpolation=cv2.INTER_NEAREST).astype(bool)
    return g, gm, (flipped, x1, y1, x2 - x1, y2 - y1, image_u8.shape[1]), float(mask.mean())


def compare_breasts(image_u8: np.ndarray, other_u8: np.ndarray, grid_px: int = 128, sigma_grid: float = 3.0,
                    edge_px: int = 6, pectoral_frac: float = 0.35, breast: np.ndarray | None = None) -> Bilateral:
    """Asymmetry of ``image_u8`` against the contralateral ``other_u8`` (see the module docstring).

    ``edge_px`` grid cells along the outline (skin line, where alignment is poorest) and the
    pectoral triangle (``pectoral_frac`` of the grid at the top of the chest-wall side) are
    left out. ``breast``: this film's breast mask when the caller has computed it already.
    """
    a, b = _normalised(image_u8, grid_px, breast), _normalised(other_u8, grid_px)
    if a is None or b is None:
        return Bilateral.unpaired()
    (ga, ma, geo, area_a), (gb, mb, _, area_b) = a, b
    both = cv2.erode((ma & mb).astype(np.uint8), np.ones((2 * edge_px + 1, 2 * edge_px + 1), np.uint8)).astype(bool)
    # The pectoral muscle of an oblique view (top of the chest-wall side) differs between
    # sides with positioning, not disease: it is left out of the comparison.
    rr, cc = np.mgrid[0:grid_px, 0:grid_px]
    both &= ~((rr < pectoral_frac * grid_px) & (cc < (pectoral_frac * grid_px - rr) * 1.5))
    if both.sum() < 0.05 * grid_px * grid_px:
        return Bilateral.unpaired()
    # Density relative to each breast's own median, so exposure differences cancel.
    da = cv2.GaussianBlur(ga, (0, 0), sigma_grid) - np.median(ga[ma])
    db = cv2.GaussianBlur(gb, (0, 0), sigma_grid) - np.median(gb[mb])
    diff = np.where(both, da - db, 0.0)
    ta = np.sqrt(np.maximum(cv2.GaussianBlur(ga * ga, (0, 0), sigma_grid) - cv2.GaussianBlur(ga, (0, 0), sigma_grid) ** 2, 0))
    tb = np.sqrt(np.maximum(cv2.GaussianBlur(gb * gb, (0, 0), sigma_grid) - cv2.GaussianBlur(gb, (0, 0), sigma_grid) ** 2, 0))
    tdiff = np.where(both, ta - tb, 0.0)
    pos = np.maximum(diff, 0.0)
    pos = np.where(both, pos, 0.0)
    inside = pos[both]
    peak_rc = np.unravel_index(int(np.argmax(pos)), pos.shape)
    flipped, x1, y1, cw, ch, width = geo
    # Grid cell -> film pixels (undo resample, crop and the turn).
    half = 2.5 * sigma_grid
    gx1, gx2 = (peak_rc[1] - half) * cw / grid_px, (peak_rc[1] + half + 1) * cw / grid_px
    gy1, gy2 = (peak_rc[0] - half) * ch / grid_px + y1, (peak_rc[0] + half + 1) * ch / grid_px + y1
    fx1, fx2 = gx1 + x1, gx2 + x1
    if flipped:
        fx1, fx2 = width - fx2, width - fx1
    h = image_u8.shape[0]
    box = (float(np.clip(fx1, 0, width)), float(np.clip(gy1, 0, h)), float(np.clip(fx2, 0, width)), float(np.clip(gy2, 0, h)))
    features = {
        "asym_peak": float(pos.max()) / 255.0,
        "asym_p95": float(np.percentile(inside, 95)) / 255.0,
        "asym_mean": float(np.abs(diff[both]).mean()) / 255.0,
        "texture_peak": float(np.abs(tdiff).max()) / 255.0,
        "area_ratio": float(abs(np.log(max(area_a, 1e-6) / max(area_b, 1e-6)))),
    }
    return Bilateral(features, box, features["asym_peak"])
