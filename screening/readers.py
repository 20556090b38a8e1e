"""Read any film the screener is given: PGM, PNG, JPEG, TIFF or DICOM -> 8-bit film.

DICOM goes through pydicom in the order the standard defines: modality LUT (rescale
slope/intercept), then the VOI LUT or window centre/width, then MONOCHROME1 is inverted
(bright = dense), then the result is scaled to 8 bits on purpose (ultralytics would
truncate 16-bit silently). When ``PixelSpacing`` (or ``ImagerPixelSpacing``) differs from
the 200 micron grid the models were trained on, the film is resampled to that grid and
:attr:`FilmImage.scale` records the factor, so boxes map back to the file's own pixels.

16-bit PNG/TIFF/PGM are windowed to 8 bits by their 0.5-99.5 percentile range (a
documented, deliberate choice; 8-bit files are passed through untouched).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from converters.errors import InputError
from converters.images import IMAGE_SUFFIXES, read_image_any_depth

DICOM_SUFFIXES = (".dcm", ".dicom")
FILM_SUFFIXES = IMAGE_SUFFIXES + DICOM_SUFFIXES
MODEL_SPACING_MM = 0.2


@dataclass(frozen=True)
class FilmImage:
    """A film ready for the models.

    Attributes:
        image: 2-D uint8 on the model grid.
        original_wh: size of the file's own pixel grid.
        scale: model-grid pixels per file pixel (1.0 when no resampling happened).
        spacing_mm: the file's pixel spacing, if it says.
        note: what was done to it (windowing, inversion, resampling), for the report.
    """

    image: np.ndarray
    original_wh: tuple[int, int]
    scale: float = 1.0
    spacing_mm: float | None = None
    note: str = ""

    def to_original_xyxy(self, boxes_xyxy) -> np.ndarray:
        """Boxes on the model grid -> boxes in the file's own pixels."""
        b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4) / self.scale
        w, h = self.original_wh
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
        return b


def window_to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear window ``[low, high]`` -> 0..255 (clipped)."""
    if not high > low:
        high = low + 1.0
    out = (values.astype(np.float64) - low) * (255.0 / (high - low))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_uint8(arr: np.ndarray) -> tuple[np.ndarray, str]:
    if arr.dtype == np.uint8:
        return arr, ""
    lo, hi = np.percentile(arr, [0.5, 99.5])
    return window_to_uint8(arr, lo, hi), f"{arr.dtype.itemsize * 8}-bit windowed to 8-bit ({lo:.0f}..{hi:.0f})"


def read_dicom(path: Path) -> tuple[np.ndarray, float | None, str]:
    """``(uint8 image, spacing_mm or None, note)`` from a DICOM file."""
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:  # pragma: no cover - pydicom is a dependency
        raise InputError("reading DICOM needs pydicom: pip install pydicom", path) from None
    try:
        ds = pydicom.dcmread(str(path))
        raw = ds.pixel_array
    except Exception as err:  # pydicom raises many types for corrupt files
        raise InputError(f"not a readable DICOM image ({err.__class__.__name__}: {str(err)[:80]})", path) from None
    if raw.ndim != 2:
        raise InputError(f"expected a single-frame grayscale DICOM, got pixel array shape {raw.shape}", path)
    arr = apply_modality_lut(raw, ds)
    notes = []
    has_voi = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
    if has_voi:
        arr = apply_voi_lut(arr, ds, index=0)
        lo, hi = float(np.min(arr)), float(np.max(arr))
        # After a VOI LUT the values span the window's output range.
        if "WindowCenter" in ds and "VOILUTSequence" not in ds:
            wc = float(np.ravel(ds.WindowCenter)[0])
            ww = float(np.ravel(ds.WindowWidth)[0])
            lo, hi = wc - ww / 2, wc + ww / 2
            arr = np.clip(arr, lo, hi)
        img = window_to_uint8(arr, lo, hi)
        notes.append("VOI window applied")
    else:
        lo, hi = np.percentile(arr, [0.5, 99.5])
        img = window_to_uint8(arr, lo, hi)
        notes.append("no VOI in file: 0.5-99.5 percentile window")
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        img = 255 - img
        notes.append("MONOCHROME1 inverted")
    spacing = None
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        if tag in ds:
            try:
                spacing = float(np.ravel(getattr(ds, tag))[0])
                break
            except (TypeError, ValueError):
                pass
    return img, spacing, "; ".join(notes)


def read_film(path: str | Path, rescale_to_model_grid: bool = True, model_spacing_mm: float = MODEL_SPACING_MM) -> FilmImage:
    """Read one film for screening (see module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FILM_SUFFIXES:
        raise InputError(f"unsupported file type {suffix or '(none)'!r}; expected one of {', '.join(FILM_SUFFIXES)}", path)
    if not path.is_file():
        raise InputError("file not found", path)
    spacing = None
    if suffix in DICOM_SUFFIXES:
        img, spacing, note = read_dicom(path)
    else:
        img, note = to_uint8(read_image_any_depth(path))
    h, w = img.shape
    if min(h, w) < 32:
        raise InputError(f"image is {w}x{h}: too small to be a mammogram (expected at least 32 px a side)", path)
    scale = 1.0
    if rescale_to_model_grid and spacing and abs(spacing - model_spacing_mm) / model_spacing_mm > 0.02:
        scale = spacing / model_spacing_mm
        new_wh = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, new_wh, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        scale = new_wh[0] / w
        note = (note + "; " if note else "") + f"resampled from {spacing:.3f} mm to {model_spacing_mm} mm pixels"
    return FilmImage(np.ascontiguousarray(img), (w, h), scale, spacing, note)


def find_films(paths) -> tuple[list[tuple[Path, str]], list[dict]]:
    """Expand files and folders (recursively) into ``(path, name as reported)`` pairs.

    A folder's files are reported relative to that folder; a file given directly by its
    name. Files with other suffixes inside folders are ignored (Info.txt, licences ...);
    a path that does not exist is a failure entry.
    """
    found: list[tuple[Path, str]] = []
    failures: list[dict] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in FILM_SUFFIXES and not f.name.startswith("."):
                    found.append((f, f.relative_to(p).as_posix()))
        elif p.is_file():
            found.append((p, p.name))
        else:
            failures.append({"file": str(p), "error": "no such file or folder"})
    return found, failures
