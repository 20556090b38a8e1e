"""A tiny converted phantom dataset for detector tests (bright discs inside a grey 'breast')."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phantoms import write_mias_folder


def phantom_rows(n_films: int, size: int, seed: int = 0) -> dict:
    """``refnum -> rows``: most films carry one disc inside the breast, every fourth is normal."""
    rng = np.random.default_rng(seed)
    films = {}
    for i in range(n_films):
        ref = f"mdb{i + 1:03d}"
        if i % 4 == 3:
            films[ref] = [("G", "NORM")]
            continue
        r = int(rng.integers(size // 16, size // 9))
        col = int(rng.integers(size // 8 + r, int(0.55 * size) - r))
        row = int(rng.integers(int(0.25 * size) + r, int(0.75 * size) - r))
        films[ref] = [("G", "CIRC", "B", col, row, r)]
    return films


def make_converted(tmp_path: Path, n_films: int = 24, size: int = 192, imgsz: int = 128, seed: int = 0) -> tuple[Path, Path, dict]:
    """Write a phantom MIAS folder and run the real converter on it.

    Returns:
        ``(mias_dir, converted_dir, rows)``.
    """
    from converters.convert import ConvertConfig, convert, load_mias_set
    from converters.preprocess import PreprocessConfig

    rows = phantom_rows(n_films, size, seed)
    mias = write_mias_folder(tmp_path / "mias", rows, size=size, fmt="png", seed=seed)
    out = tmp_path / "converted"
    cfg = ConvertConfig(film_size=size, seed=seed, val_frac=0.2, test_frac=0.2,
                        preprocessing=PreprocessConfig(imgsz=imgsz))
    convert(load_mias_set(mias, film_size=size), out, cfg, progress=False)
    return mias, out, rows
