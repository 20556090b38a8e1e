"""Seeded synthetic phantoms: bright circles on a dark 'breast', written as a MIAS folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from converters.images import encode_pgm


def phantom_film(size: int = 256, circles=(), seed: int = 0, breast: bool = True) -> np.ndarray:
    """A film: a half-ellipse 'breast' of mid-grey noise on the left, bright discs.

    Args:
        circles: ``(col, row, radius_px)`` in top-left-origin pixels.
    """
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), dtype=np.float64)
    rows, cols = np.mgrid[0:size, 0:size]
    if breast:
        inside = ((cols / (0.75 * size)) ** 2 + ((rows - size / 2) / (0.48 * size)) ** 2) <= 1
        img[inside] = 90 + rng.normal(0, 6, size=inside.sum())
    for cx, cy, r in circles:
        disc = (cols - cx) ** 2 + (rows - cy) ** 2 <= r**2
        img[disc] = 200 + rng.normal(0, 4, size=disc.sum())
    return img.clip(0, 255).astype(np.uint8)


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


def tissue_phantom(size: int = 512, seed: int = 0, noise: float = 3.0) -> np.ndarray:
    """Smooth 'tissue' (slow sinusoids, slightly blurred) plus white noise: no speck, no cluster."""
    import cv2

    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    phase = rng.uniform(0, 2 * np.pi, size=2)
    base = 120 + 40 * np.sin(cols / 90.0 + phase[0]) + 30 * np.cos(rows / 70.0 + phase[1])
    base = cv2.GaussianBlur(base.astype(np.float32), (0, 0), 3) + rng.normal(0, noise, (size, size))
    return np.clip(base, 0, 255).astype(np.uint8)


def add_specks(image: np.ndarray, centres_xy, amplitude: float = 30.0, sigma_px: float = 1.0) -> np.ndarray:
    """Gaussian specks of peak ``amplitude`` grey levels at ``centres_xy`` (exact positions)."""
    rows, cols = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    out = image.astype(np.float64)
    for x, y in centres_xy:
        out += amplitude * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma_px**2))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# A mini-MIAS-like folder whose breasts lie against alternating edges (left and right films of
# each patient), patients alternating normal / benign / malignant: the classifier tests' folder.
def sided_phantom_film(size_px: int, lesions_cxcyr: list[tuple[int, int, int]], rng: np.random.Generator,
                 left_side: bool = True) -> np.ndarray:
    """A ``uint8`` film: breast ellipse (grey ~100) with lesions (bright ~210 discs)."""
    img = np.zeros((size_px, size_px), np.uint8)
    cx = 0 if left_side else size_px - 1
    cv2.ellipse(img, (cx, size_px // 2), (int(size_px * 0.6), int(size_px * 0.45)), 0, 0, 360, 100, -1)
    noise = rng.normal(0, 8, img.shape)
    img = np.where(img > 0, np.clip(img + noise, 1, 255), 0).astype(np.uint8)
    for x, y, r in lesions_cxcyr:
        cv2.circle(img, (x, y), r, 210, -1)
    return img


def write_phantom_mias(folder: str | Path, n_patients: int = 9, seed: int = 0, size_px: int = 1024) -> Path:
    """Write ``Info.txt`` and ``mdbNNN.pgm`` films for ``n_patients`` patients (2 films each)."""
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
            (folder / f"{ref}.pgm").write_bytes(encode_pgm(sided_phantom_film(size_px, lesions, rng, left)))
    rows.append("=" * 40)
    (folder / "Info.txt").write_text("\n".join(rows) + "\n")
    return folder
