"""Film preprocessing shared by the detector, the classifier and the pipeline.

Steps, each optional: breast segmentation (keep the largest bright component, fill its
holes, blank film labels and tape marks outside it), orientation normalisation (mirror
so the chest wall is on the LEFT), crop to the breast plus a margin, median filter,
CLAHE, an optional horizontal rescale (``x_scale``: e.g. 1/1.6 restores the approximate
aspect of CBIS-DDSM films that a third party stretched to 800 x 800), resize so the longer
side is ``imgsz``.

:func:`preprocess` returns the image and the exact :class:`Transform` it applied, so a
box drawn in the model's frame maps back to film pixels (``inverse_xyxy``) and a label
maps forward (``forward_xyxy``). Geometry uses the continuous pixel-edge coordinates of
:mod:`converters.records`: a horizontal mirror maps ``x -> W - x``; the crop subtracts its
origin; the resize multiplies by ``output/crop`` per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class PreprocessConfig:
    """How a film is prepared for a model (saved beside every trained model)."""

    segment: bool = True
    flip_to_left: bool = True
    crop: bool = True
    margin_px: int = 16
    median_ksize: int = 0
    clahe: bool = False
    clahe_clip: float = 2.0
    imgsz: int | None = None
    x_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (0.1 <= self.x_scale <= 10):
            raise ValueError(f"x_scale must be in [0.1, 10] (1 = keep the stored aspect), got {self.x_scale}")
        if self.median_ksize and (self.median_ksize < 3 or self.median_ksize % 2 == 0):
            raise ValueError(f"median_ksize must be 0 (off) or an odd number >= 3, got {self.median_ksize}")
        if self.imgsz is not None and self.imgsz < 16:
            raise ValueError(f"imgsz must be >= 16 or None, got {self.imgsz}")
        if self.margin_px < 0:
            raise ValueError(f"margin_px must be >= 0, got {self.margin_px}")


@dataclass(frozen=True)
class Transform:
    """Film pixels -> model frame: optional mirror, crop, per-axis scale.

    Attributes:
        source_wh: film size.
        flipped: mirrored horizontally (before cropping).
        crop_xyxy: crop window in the (mirrored) film, integer pixel edges.
        output_wh: size of the returned image.
    """

    source_wh: tuple[int, int]
    flipped: bool
    crop_xyxy: tuple[int, int, int, int]
    output_wh: tuple[int, int]

    @classmethod
    def identity(cls, resolution_wh) -> "Transform":
        w, h = resolution_wh
        return cls((w, h), False, (0, 0, w, h), (w, h))

    @property
    def scale_xy(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.crop_xyxy
        return self.output_wh[0] / (x2 - x1), self.output_wh[1] / (y2 - y1)

    def forward_points(self, points_xy) -> np.ndarray:
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2).copy()
        if self.flipped:
            p[:, 0] = self.source_wh[0] - p[:, 0]
        sx, sy = self.scale_xy
        p[:, 0] = (p[:, 0] - self.crop_xyxy[0]) * sx
        p[:, 1] = (p[:, 1] - self.crop_xyxy[1]) * sy
        return p

    def inverse_points(self, points_xy) -> np.ndarray:
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2).copy()
        sx, sy = self.scale_xy
        p[:, 0] = p[:, 0] / sx + self.crop_xyxy[0]
        p[:, 1] = p[:, 1] / sy + self.crop_xyxy[1]
        if self.flipped:
            p[:, 0] = self.source_wh[0] - p[:, 0]
        return p

    def _boxes(self, boxes_xyxy, fn) -> np.ndarray:
        b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        p1 = fn(b[:, :2])
        p2 = fn(b[:, 2:])
        out = np.concatenate([np.minimum(p1, p2), np.maximum(p1, p2)], axis=1)
        return out

    def forward_xyxy(self, boxes_xyxy) -> np.ndarray:
        """Film-pixel boxes -> model-frame boxes (not clipped)."""
        return self._boxes(boxes_xyxy, self.forward_points)

    def inverse_xyxy(self, boxes_xyxy, clip: bool = True) -> np.ndarray:
        """Model-frame boxes -> film-pixel boxes, clipped to the film by default."""
        out = self._boxes(boxes_xyxy, self.inverse_points)
        if clip:
            w, h = self.source_wh
            out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
            out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        return out

    def forward_image(self, image: np.ndarray, interpolation=cv2.INTER_AREA) -> np.ndarray:
        """Apply the geometric part (mirror, crop, resize) to another image or mask."""
        img = image[:, ::-1] if self.flipped else image
        x1, y1, x2, y2 = self.crop_xyxy
        img = np.ascontiguousarray(img[y1:y2, x1:x2])
        if (x2 - x1, y2 - y1) != tuple(self.output_wh):
            if img.dtype == bool:
                img = cv2.resize(img.astype(np.uint8), self.output_wh, interpolation=cv2.INTER_NEAREST).astype(bool)
            else:
                img = cv2.resize(img, self.output_wh, interpolation=interpolation)
        return img

    def as_dict(self) -> dict:
        return {
            "source_wh": list(self.source_wh),
            "flipped": self.flipped,
            "crop_xyxy": list(self.crop_xyxy),
            "output_wh": list(self.output_wh),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Transform":
        return cls(tuple(d["source_wh"]), bool(d["flipped"]), tuple(d["crop_xyxy"]), tuple(d["output_wh"]))


def breast_mask(image: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Boolean mask of the breast: largest bright connected component with holes filled.

    Film labels and tape marks are separate bright blobs and fall outside it. The
    threshold defaults to a low fraction of the Otsu level so faint fatty tissue at the
    skin line is kept. An all-dark image gives an all-False mask.
    """
    if image.ndim != 2:
        raise ValueError(f"breast_mask expects a 2-D grayscale image, got shape {image.shape}")
    img = image if image.dtype == np.uint8 else cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    small = cv2.medianBlur(img, 5)
    if threshold is None:
        otsu, _ = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        threshold = int(max(8, min(otsu * 0.25, 20)))
    binary = (small > threshold).astype(np.uint8)
    k = max(3, (min(img.shape) // 128) | 1)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return np.zeros(img.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = (labels == largest).astype(np.uint8)
    # Fill holes: flood the background from outside; whatever it cannot reach is a hole.
    padded = np.pad(mask, 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = (flood == 0)[1:-1, 1:-1]
    return mask.astype(bool) | holes


def chest_wall_on_right(mask: np.ndarray) -> bool:
    """True when most of the breast lies in the right half of the film."""
    if not mask.any():
        return False
    w = mask.shape[1]
    cols = mask.sum(axis=0)
    return cols[w // 2 :].sum() > cols[: w // 2].sum()


def preprocess(image: np.ndarray, config: PreprocessConfig | None = None) -> tuple[np.ndarray, Transform]:
    """Prepare a film for a model; returns the image and the exact transform applied.

    Args:
        image: 2-D ``uint8`` film.
        config: steps to apply (defaults: segment, mirror, crop, no filter, no resize).

    Returns:
        ``(image_out, transform)``; ``transform.inverse_xyxy`` maps model boxes to film pixels.
    """
    config = config or PreprocessConfig()
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"preprocess expects a 2-D uint8 film, got {image.dtype} {image.shape}")
    h, w = image.shape
    mask = breast_mask(image) if (config.segment or config.crop or config.flip_to_left) else None
    flipped = bool(config.flip_to_left and mask is not None and chest_wall_on_right(mask))
    img = image
    if config.segment and mask is not None and mask.any():
        img = np.where(mask, image, 0).astype(np.uint8)
    if flipped:
        img = img[:, ::-1]
        mask = mask[:, ::-1]
    crop = (0, 0, w, h)
    if config.crop and mask is not None and mask.any():
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        m = config.margin_px
        crop = (
            max(0, int(cols[0]) - m),
            max(0, int(rows[0]) - m),
            min(w, int(cols[-1]) + 1 + m),
            min(h, int(rows[-1]) + 1 + m),
        )
    x1, y1, x2, y2 = crop
    img = np.ascontiguousarray(img[y1:y2, x1:x2])
    if config.median_ksize:
        img = cv2.medianBlur(img, config.median_ksize)
    if config.clahe:
        img = cv2.createCLAHE(clipLimit=config.clahe_clip, tileGridSize=(8, 8)).apply(img)
    crop_wh = (x2 - x1, y2 - y1)
    target_wh = (crop_wh[0] * config.x_scale, float(crop_wh[1]))
    s = 1.0 if config.imgsz is None else config.imgsz / max(target_wh)
    out_wh = (max(1, round(target_wh[0] * s)), max(1, round(target_wh[1] * s)))
    if config.imgsz is not None or out_wh != crop_wh:
        img = cv2.resize(img, out_wh, interpolation=cv2.INTER_AREA)
    return img, Transform((w, h), flipped, crop, out_wh)
