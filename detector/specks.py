"""Calcification speck candidates at the film's native resolution (200 micron pixels).

A calcification is a bright speck 1 to 5 px wide on a 200 micron film. Candidates come
from a difference of Gaussians (DoG) whose response is divided by the local noise level
(1.25 x the local mean absolute response, a robust standard deviation), so one threshold means the
same contrast-to-noise over fatty and dense tissue. Local maxima above ``z_min`` inside
the breast are candidates; each is described by features that tell specks from the
rest (film grain is one pixel wide, vessels and ducts are linear, dust is very bright
on dark background):

* ``z``: DoG peak / local noise; ``contrast``: DoG peak in grey levels;
* ``blob``: ratio of the smaller to the larger Hessian eigenvalue magnitude at the
  speck scale (1 for a round speck, 0 for a line);
* ``scale_ratio``: response of a coarser DoG over the fine one (large for blobs wider
  than a speck, i.e. mass texture);
* ``background``: local mean intensity / 255; ``texture``: local noise level;
* ``edge``: gradient magnitude of the coarse blur at the speck over its contrast (near 0 at
  the centre of a speck, large on a step edge such as a film's digitisation boundary).

Everything is vectorised with OpenCV; there is no Python loop over pixels. Points are
``xy`` in the image's own pixels, origin top-left.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SPECK_FEATURES = ("z", "contrast", "blob", "scale_ratio", "background", "texture", "edge")


@dataclass(frozen=True)
class SpeckConfig:
    """Speck filter settings, in pixels of a 200 micron film.

    Attributes:
        sigma_fine_px, sigma_coarse_px: the DoG's two Gaussians.
        sigma_wide_px: the coarser DoG (``sigma_coarse_px`` - ``sigma_wide_px``) for ``scale_ratio``.
        noise_window_px: side of the window for the local noise level.
        z_min: minimum DoG contrast-to-noise of a candidate.
        blob_min: minimum Hessian blobness (0 keeps lines).
        max_candidates: keep at most this many candidates (strongest first).
        mask_erode_px: candidates closer than this to the skin line, or to the image border
            where the breast runs off the film, are dropped.
    """

    sigma_fine_px: float = 0.7
    sigma_coarse_px: float = 2.0
    sigma_wide_px: float = 4.0
    noise_window_px: int = 41
    z_min: float = 2.5
    blob_min: float = 0.0
    max_candidates: int = 3000
    mask_erode_px: int = 15

    def __post_init__(self) -> None:
        if not 0 < self.sigma_fine_px < self.sigma_coarse_px < self.sigma_wide_px:
            raise ValueError("speck sigmas must satisfy 0 < fine < coarse < wide, got "
                             f"{self.sigma_fine_px}, {self.sigma_coarse_px}, {self.sigma_wide_px}")
        if self.noise_window_px < 5 or self.noise_window_px % 2 == 0:
            raise ValueError(f"noise_window_px must be odd and >= 5, got {self.noise_window_px}")
        if self.max_candidates < 1:
            raise ValueError(f"max_candidates must be >= 1, got {self.max_candidates}")


@dataclass(frozen=True)
class Specks:
    """Speck candidates of one film: centres ``xy`` (N, 2) and ``features`` (N, len(SPECK_FEATURES))."""

    xy: np.ndarray
    features: np.ndarray

    def __post_init__(self) -> None:
        if self.xy.ndim != 2 or self.xy.shape[1] != 2:
            raise ValueError(f"speck xy must be (N, 2), got {self.xy.shape}")
        if self.features.shape != (len(self.xy), len(SPECK_FEATURES)):
            raise ValueError(f"speck features must be ({len(self.xy)}, {len(SPECK_FEATURES)}), got {self.features.shape}")

    def __len__(self) -> int:
        return len(self.xy)

    @classmethod
    def empty(cls) -> "Specks":
        return cls(np.zeros((0, 2), np.float64), np.zeros((0, len(SPECK_FEATURES)), np.float64))

    def feature(self, name: str) -> np.ndarray:
        return self.features[:, SPECK_FEATURES.index(name)]

    def subset(self, keep) -> "Specks":
        return Specks(self.xy[keep], self.features[keep])


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def local_noise(values: np.ndarray, window_px: int) -> np.ndarray:
    """Local noise level of a zero-mean response: 1.25 x its mean absolute value in a
    ``window_px`` square (equals the standard deviation for Gaussian noise, and is pulled
    up less than the standard deviation by the sparse bright specks being looked for)."""
    return 1.25 * cv2.boxFilter(np.abs(values), -1, (window_px, window_px), borderType=cv2.BORDER_REFLECT)


def find_specks(image_u8: np.ndarray, breast: np.ndarray | None = None, config: SpeckConfig | None = None) -> Specks:
    """Speck candidates of a 200 micron film (see the module docstring).

    Args:
        image_u8: 2-D uint8 film on the 200 micron grid.
        breast: boolean breast mask of the same shape (``None``: the whole film).
        config: filter settings.

    Returns:
        :class:`Specks`, strongest ``z`` first.
    """
    config = config or SpeckConfig()
    if image_u8.ndim != 2:
        raise ValueError(f"find_specks expects a 2-D film, got shape {image_u8.shape}")
    img = image_u8.astype(np.float32)
    fine = _blur(img, config.sigma_fine_px)
    coarse = _blur(img, config.sigma_coarse_px)
    wide = _blur(img, config.sigma_wide_px)
    dog = fine - coarse
    noise = local_noise(dog, config.noise_window_px) + 0.5
    z = dog / noise
    peaks = (dog >= cv2.dilate(dog, np.ones((3, 3), np.uint8))) & (z >= config.z_min)
    if breast is not None:
        if breast.shape != image_u8.shape:
            raise ValueError(f"breast mask shape {breast.shape} differs from the film's {image_u8.shape}")
        inner = breast.astype(np.uint8)
        if config.mask_erode_px:
            k = 2 * config.mask_erode_px + 1
            # The border counts as outline (OpenCV's default border would keep it as breast).
            inner = cv2.erode(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)),
                              borderType=cv2.BORDER_CONSTANT, borderValue=0)
        peaks &= inner.astype(bool)
    rows, cols = np.nonzero(peaks)
    if rows.size == 0:
        return Specks.empty()
    order = np.argsort(-z[rows, cols], kind="stable")[: config.max_candidates]
    rows, cols = rows[order], cols[order]
    # Hessian at the speck scale (on the fine blur): eigenvalues of [[xx, xy], [xy, yy]].
    dxx = cv2.Sobel(fine, cv2.CV_32F, 2, 0, ksize=3)[rows, cols]
    dyy = cv2.Sobel(fine, cv2.CV_32F, 0, 2, ksize=3)[rows, cols]
    dxy = cv2.Sobel(fine, cv2.CV_32F, 1, 1, ksize=3)[rows, cols]
    half_trace = (dxx + dyy) / 2
    root = np.sqrt(((dxx - dyy) / 2) ** 2 + dxy**2)
    lam = np.abs(np.stack([half_trace - root, half_trace + root], axis=1))
    blob = lam.min(axis=1) / (lam.max(axis=1) + 1e-6)
    wide_dog = (coarse - wide)[rows, cols]
    # Sobel of a unit ramp is 8: divide to get grey levels per pixel.
    gx = cv2.Sobel(coarse, cv2.CV_32F, 1, 0, ksize=3)[rows, cols] / 8.0
    gy = cv2.Sobel(coarse, cv2.CV_32F, 0, 1, ksize=3)[rows, cols] / 8.0
    edge = np.hypot(gx, gy) / (np.abs(dog[rows, cols]) + 1e-3)
    feats = np.stack(
        [
            z[rows, cols],
            dog[rows, cols],
            blob,
            wide_dog / (np.abs(dog[rows, cols]) + 1e-3),
            coarse[rows, cols] / 255.0,
            noise[rows, cols],
            edge,
        ],
        axis=1,
    ).astype(np.float64)
    keep = blob >= config.blob_min
    return Specks(np.stack([cols, rows], axis=1).astype(np.float64)[keep], feats[keep])
