"""Seeded synthetic mini-MIAS-like folders for tests and benchmarks (no real data needed).

Each film is a dark canvas with a grey half-ellipse "breast" against one edge and, on
abnormal films, brighter discs as lesions. ``Info.txt`` uses the MIAS conventions (Y from
the bottom-left). Patients alternate normal / benign / malignant.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from converters.images import encode_pgm


def phantom_film(size_px: int, lesions_cxcyr: list[tuple[int, int, int]], rng: np.random.Generator,
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
            (folder / f"{ref}.pgm").write_bytes(encode_pgm(phantom_film(size_px, lesions, rng, left)))
    rows.append("=" * 40)
    (folder / "Info.txt").write_text("\n".join(rows) + "\n")
    return folder
