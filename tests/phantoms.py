"""Seeded synthetic mammogram-like films (phantoms) for the tests, with their ground truth.

One generator, :func:`make_phantom`: a breast outline (half an ellipse against the chest-wall
edge), tissue texture inside it, optional masses (bright discs, or soft Gaussian bumps) and
calcification specks, returned as a :class:`Phantom` that carries what was drawn. Every
synthetic film of the tests comes from it; :func:`phantom_film` and :func:`tissue_phantom`
are its two common looks, and the folder writers below draw their films with it.

Coordinates: ``(col, row)`` pixels with a top-left origin, like the labelled records; a
disc of radius ``r`` covers the pixels within ``r`` of its centre (``converters.masks.circle_mask``).
Grey levels are 8-bit; a ``uint16`` phantom is the 8-bit film scaled by
``(2**bits_stored - 1) // 255`` (257 for 16 bits, 16 for 12 bits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from converters.images import encode_pgm
from converters.masks import circle_mask

SIDES = ("left", "right")
MASS_PROFILES = ("disc", "soft")


@dataclass(frozen=True)
class Phantom:
    """A synthetic film and its ground truth.

    Attributes:
        image: ``(size, size)`` film, ``uint8`` or ``uint16``.
        breast: boolean mask of the breast (the whole frame without an outline).
        masses_cxcyr: ``(col, row, radius_px)`` of each mass, in drawing order.
        specks_xy: ``(col, row)`` centre of each calcification speck.
    """

    image: np.ndarray
    breast: np.ndarray
    masses_cxcyr: tuple[tuple[float, float, float], ...]
    specks_xy: tuple[tuple[float, float], ...]

    def mass_masks(self) -> np.ndarray:
        """``(N, H, W)`` boolean disc of each mass (radius ``radius_px``)."""
        h, w = self.image.shape
        return np.array([circle_mask((cx, cy), r, (w, h)) for cx, cy, r in self.masses_cxcyr], bool).reshape(-1, h, w)


def _outline(size: int, axes: tuple[float, float], side: str) -> np.ndarray:
    """Half an ellipse centred on the chest-wall edge (column 0 for ``left``, ``size - 1`` for ``right``)."""
    rows, cols = np.mgrid[0:size, 0:size]
    wall = 0 if side == "left" else size - 1
    return ((cols - wall) / (axes[0] * size)) ** 2 + ((rows - size / 2) / (axes[1] * size)) ** 2 <= 1


def _waves(size: int, level: float, rng: np.random.Generator) -> np.ndarray:
    """Slow sinusoidal structure around ``level`` (+-40 across, +-30 down), slightly blurred."""
    rows, cols = np.mgrid[0:size, 0:size]
    phase = rng.uniform(0, 2 * np.pi, size=2)
    base = level + 40 * np.sin(cols / 90.0 + phase[0]) + 30 * np.cos(rows / 70.0 + phase[1])
    return cv2.GaussianBlur(base.astype(np.float32), (0, 0), 3)


def _tissue(breast: np.ndarray, level: float, waves: bool, noise_sd: float, smooth_amplitude: float,
            smooth_sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """Float film: zero outside the breast, tissue (level, waves, white noise, smooth texture) inside."""
    size = breast.shape[0]
    img = np.zeros(breast.shape, dtype=np.float64)
    img[breast] = _waves(size, level, rng)[breast] if waves else level
    if noise_sd:
        img[breast] += rng.normal(0, noise_sd, size=int(breast.sum()))
    if smooth_amplitude:
        smooth = cv2.GaussianBlur(rng.normal(0, 1, breast.shape).astype(np.float32), (0, 0), smooth_sigma_px)
        img[breast] += smooth_amplitude * smooth[breast]
    return img


def _draw_masses(img: np.ndarray, breast: np.ndarray, masses_cxcyr, profile: str, level: float, noise_sd: float,
                 soft_amplitude: float, rng: np.random.Generator) -> None:
    """Discs set to ``level`` (+ noise), or soft bumps of peak ``soft_amplitude`` and sigma ``radius_px`` inside the breast."""
    h, w = img.shape
    rows, cols = np.mgrid[0:h, 0:w]
    for cx, cy, r in masses_cxcyr:
        if profile == "disc":
            disc = circle_mask((cx, cy), r, (w, h))
            img[disc] = level + (rng.normal(0, noise_sd, size=int(disc.sum())) if noise_sd else 0.0)
        else:
            img += soft_amplitude * np.exp(-((cols - cx) ** 2 + (rows - cy) ** 2) / (2 * r**2)) * breast


def add_specks(image: np.ndarray, centres_xy, amplitude: float = 30.0, sigma_px: float = 1.0) -> np.ndarray:
    """Gaussian specks of peak ``amplitude`` grey levels at ``centres_xy`` (exact positions) on an 8-bit film."""
    rows, cols = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    out = image.astype(np.float64)
    for x, y in centres_xy:
        out += amplitude * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma_px**2))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _stored(img8: np.ndarray, dtype, bits_stored: int) -> np.ndarray:
    if np.dtype(dtype) == np.uint8:
        return img8
    if np.dtype(dtype) == np.uint16 and 8 < bits_stored <= 16:
        return img8.astype(np.uint16) * np.uint16((2**bits_stored - 1) // 255)
    raise ValueError(f"dtype {np.dtype(dtype)} with bits_stored={bits_stored}: expected uint8, or uint16 with 9..16 bits")


def make_phantom(
    size: int = 256,
    masses_cxcyr: Sequence[tuple[float, float, float]] = (),
    specks_xy: Sequence[tuple[float, float]] = (),
    *,
    seed: int | np.random.Generator = 0,
    side: str = "left",
    dtype=np.uint8,
    bits_stored: int = 16,
    outline: bool = True,
    outline_axes: tuple[float, float] = (0.75, 0.48),
    tissue_level: float = 90.0,
    waves: bool = False,
    noise_sd: float = 6.0,
    smooth_amplitude: float = 0.0,
    smooth_sigma_px: float = 6.0,
    mass_profile: str = "disc",
    mass_level: float = 200.0,
    mass_noise_sd: float = 4.0,
    soft_amplitude: float = 45.0,
    speck_amplitude: float = 30.0,
    speck_sigma_px: float = 1.0,
) -> Phantom:
    """A seeded mammogram-like film with its ground truth.

    Drawn in this order from one random stream (so a seed gives the same film): tissue,
    masses, then specks on the 8-bit film, then the storage type.

    Args:
        size: side of the square film, pixels.
        masses_cxcyr: ``(col, row, radius_px)`` of each mass.
        specks_xy: ``(col, row)`` of each calcification speck.
        seed: random seed, or a generator to draw from (several films from one stream).
        side: ``left`` or ``right``: the edge the chest wall (the outline's straight side) lies on.
        dtype: ``np.uint8`` or ``np.uint16``.
        bits_stored: significant bits of a ``uint16`` film (16: full range; 12: 0..4080).
        outline: draw a breast outline; ``False`` fills the whole frame with tissue.
        outline_axes: semi-axes of the outline ellipse as fractions of ``size`` (across, down).
        tissue_level: mean grey level of the tissue.
        waves: add slow sinusoidal structure (+-40 across, +-30 down) to the tissue.
        noise_sd: white noise of the tissue, grey levels.
        smooth_amplitude: smooth texture: unit white noise blurred by ``smooth_sigma_px``,
            times this (0: none).
        smooth_sigma_px: blur of the smooth texture.
        mass_profile: ``disc`` (pixels within the radius set to ``mass_level`` plus
            ``mass_noise_sd`` noise) or ``soft`` (a Gaussian bump of peak ``soft_amplitude``
            and sigma ``radius_px`` added inside the breast).
        mass_level: grey level of disc masses.
        mass_noise_sd: noise of disc masses.
        soft_amplitude: peak of soft masses, grey levels.
        speck_amplitude: peak of each speck, grey levels.
        speck_sigma_px: Gaussian sigma of each speck.

    Example:
        >>> ph = make_phantom(128, [(40, 60, 10)], seed=1)
        >>> ph.image.dtype, bool(ph.image[60, 40] > 180), ph.mass_masks().shape
        (dtype('uint8'), True, (1, 128, 128))
    """
    if side not in SIDES:
        raise ValueError(f"side {side!r}: expected one of {SIDES}")
    if mass_profile not in MASS_PROFILES:
        raise ValueError(f"mass_profile {mass_profile!r}: expected one of {MASS_PROFILES}")
    rng = np.random.default_rng(seed)
    masses = tuple((float(cx), float(cy), float(r)) for cx, cy, r in masses_cxcyr)
    specks = tuple((float(x), float(y)) for x, y in specks_xy)
    breast = _outline(size, outline_axes, side) if outline else np.ones((size, size), bool)
    img = _tissue(breast, tissue_level, waves, noise_sd, smooth_amplitude, smooth_sigma_px, rng)
    _draw_masses(img, breast, masses, mass_profile, mass_level, mass_noise_sd, soft_amplitude, rng)
    img8 = img.clip(0, 255).astype(np.uint8)
    if specks:
        img8 = add_specks(img8, specks, speck_amplitude, speck_sigma_px)
    return Phantom(_stored(img8, dtype, bits_stored), breast, masses, specks)


def phantom_film(size: int = 256, circles=(), seed: int | np.random.Generator = 0, **look) -> np.ndarray:
    """The film of :func:`make_phantom`: a grey breast (90 +- 6) on the left with bright discs (200 +- 4).

    Args:
        circles: ``(col, row, radius_px)`` in top-left-origin pixels.
        look: other keyword arguments of :func:`make_phantom` (``dtype``, ``side`` ...).
    """
    return make_phantom(size, circles, seed=seed, **look).image


def tissue_phantom(size: int = 512, seed: int | np.random.Generator = 0, noise: float = 3.0, **look) -> np.ndarray:
    """The frame-filling tissue of :func:`make_phantom` (slow waves around 120, white noise): no speck,
    no cluster unless ``look`` adds ``specks_xy``."""
    return make_phantom(size, seed=seed, outline=False, tissue_level=120.0, waves=True, noise_sd=noise, **look).image


def write_mias_folder(root: Path, films: dict, size: int = 256, fmt: str = "pgm", seed: int = 0) -> Path:
    """Write ``Info.txt`` and one image per film.

    Args:
        films: ``refnum -> list of (tissue, class, severity, col, row, radius)`` rows, or
            ``[(tissue, "NORM")]``; col/row are top-left-origin (converted to MIAS y here).
    """
    root.mkdir(parents=True, exist_ok=True)
    lines = ["SYNTHETIC MIAS PHANTOMS", "prose header line", "", "=" * 20, ""]
    for i, (refnum, rows) in enumerate(sorted(films.items())):
        circles = []
        for row in rows:
            if row[1] == "NORM":
                lines.append(f"{refnum} {row[0]} NORM ")
            elif len(row) == 3:
                lines.append(f"{refnum} {row[0]} {row[1]} {row[2]} *NOTE 3*")
            else:
                tissue, cls, sev, col, r_row, rad = row
                lines.append(f"{refnum} {tissue} {cls} {sev} {col} {size - r_row} {rad} ")
                circles.append((col, r_row, rad))
        img = phantom_film(size, circles, seed=seed + i)
        if fmt == "pgm":
            (root / f"{refnum}.pgm").write_bytes(encode_pgm(img))
        else:
            from PIL import Image

            Image.fromarray(img).save(root / f"{refnum}.png")
    lines += ["", "=" * 20]
    (root / "Info.txt").write_text("\n".join(lines) + "\n")
    return root


def small_mias(root: Path, size: int = 256, fmt: str = "pgm") -> Path:
    """Ten films / five patients: normals, benign and malignant masses, a calcification."""
    return write_mias_folder(
        root,
        {
            "mdb001": [("G", "CIRC", "B", 100, 120, 20)],
            "mdb002": [("G", "NORM")],
            "mdb003": [("D", "SPIC", "M", 80, 90, 15), ("D", "CIRC", "B", 120, 180, 10)],
            "mdb004": [("D", "NORM")],
            "mdb005": [("F", "CALC", "B", 60, 60, 8)],
            "mdb006": [("F", "NORM")],
            "mdb007": [("F", "CALC", "M")],
            "mdb008": [("F", "MISC", "M", 140, 130, 25)],
            "mdb009": [("G", "NORM")],
            "mdb010": [("G", "ARCH", "M", 90, 150, 30)],
        },
        size=size,
        fmt=fmt,
    )


# The classifier tests' folder: breasts against alternating edges (the two films of each
# patient), grey ~100 with solid bright lesions (210); the outline's semi-axis across is
# 0.6 of the film, so (614, 512) lies on the edge of a 1024-px breast.
SIDED_LOOK = {"outline_axes": (0.6, 0.45), "tissue_level": 100.0, "noise_sd": 8.0, "mass_level": 210.0, "mass_noise_sd": 0.0}


def write_phantom_mias(folder: str | Path, n_patients: int = 9, seed: int = 0, size_px: int = 1024) -> Path:
    """Write ``Info.txt`` and ``mdbNNN.pgm`` films for ``n_patients`` patients (2 films each),
    patients alternating normal / benign / malignant; lesion positions and films from one seeded stream."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = ["Synthetic phantom MIAS folder (tests only)", ""]
    for p in range(n_patients):
        kind = ("normal", "benign", "malignant")[p % 3]
        for side in range(2):
            n = 2 * p + side + 1
            ref = f"mdb{n:03d}"
            left = n % 2 == 0
            lesions = []
            if kind != "normal" and side == 0:
                r = int(rng.integers(20, 45))
                x = int(rng.integers(size_px // 3, size_px // 2)) if left else int(rng.integers(size_px // 2, 2 * size_px // 3))
                y = int(rng.integers(size_px // 3, 2 * size_px // 3))
                lesions.append((x, y, r))
                cls = "CIRC" if p % 2 else "CALC"
                rows.append(f"{ref} G {cls} {'B' if kind == 'benign' else 'M'} {x} {size_px - y} {r}")
            else:
                rows.append(f"{ref} F NORM")
            film = make_phantom(size_px, lesions, seed=rng, side="left" if left else "right", **SIDED_LOOK)
            (folder / f"{ref}.pgm").write_bytes(encode_pgm(film.image))
    rows.append("=" * 40)
    (folder / "Info.txt").write_text("\n".join(rows) + "\n")
    return folder
