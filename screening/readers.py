"""Read any film the screener is given: PGM, PNG, JPEG, TIFF or DICOM -> 8-bit film.

DICOM goes through pydicom in the order the standard defines: modality LUT (rescale
slope/intercept), then the VOI LUT or window centre/width, then MONOCHROME1 is inverted
(bright = dense), then the result is scaled to 8 bits on purpose (ultralytics would
truncate 16-bit silently). When ``PixelSpacing`` (or ``ImagerPixelSpacing``) differs from
the 200 micron grid the models were trained on, the film is resampled to that grid and
:attr:`FilmImage.scale` records the factor, so boxes map back to the file's own pixels.

DICOM is recognised by its suffix or, without one, by its preamble (``DICM`` at byte 128),
as PACS exports often carry no extension. Images above ``max_pixels`` (width x height, from
the header, before decoding) are refused with one clear error.

16-bit PNG/TIFF/PGM are windowed to 8 bits by their 0.5-99.5 percentile range (a
documented, deliberate choice; 8-bit files are passed through untouched).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from converters.errors import InputError
from converters.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, check_pixel_count, read_image_any_depth
from converters.output_dir import MARKER

DICOM_SUFFIXES = (".dcm", ".dicom")
FILM_SUFFIXES = IMAGE_SUFFIXES + DICOM_SUFFIXES
MODEL_SPACING_MM = 0.2
# Pixel spacings a mammogram can have (full-field digital: ~0.05-0.1 mm; scanned film: down to
# ~0.04 mm); outside this range the tag is wrong, and resampling by it would be nonsense.
MIN_SPACING_MM, MAX_SPACING_MM = 0.01, 1.0


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


def is_dicom(path: str | Path) -> bool:
    """True when the file starts with the DICOM preamble: 128 bytes, then ``DICM``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _window_dicom(raw: np.ndarray, ds) -> tuple[np.ndarray, list[str]]:
    """Modality LUT, VOI LUT or window (or a percentile window), MONOCHROME1 inverted -> uint8."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    arr = apply_modality_lut(raw, ds)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError("the rescale slope/intercept make pixel values that are not finite")
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
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise ValueError(f"window centre {wc} / width {ww} are not finite")
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
    return img, notes


def error_text(err: BaseException, limit: int = 200) -> str:
    """One line of a library's error message for ours: whole up to ``limit`` characters,
    beyond that cut at a word with "..." (pydicom's advice to pass ``force=True``, which a
    user of mammo cannot, is left out)."""
    text = " ".join(str(err).split()).replace(" Use force=True to force reading.", "")
    if len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        text = text[: cut if cut > 0 else limit] + " ..."
    return text


def read_dicom(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, float | None, str]:
    """``(uint8 image, spacing_mm or None, note)`` from a DICOM file.

    ``max_pixels`` is checked from Rows x Columns (x frames) before the pixels are decoded.
    """
    try:
        import pydicom
    except ImportError:  # pragma: no cover - pydicom is a dependency
        raise InputError("reading DICOM needs pydicom: pip install pydicom", path) from None
    try:
        # the header first: a file claiming too many pixels is refused before its pixel data is read
        head = pydicom.dcmread(str(path), stop_before_pixels=True)
        rows, cols = int(head.get("Rows", 0) or 0), int(head.get("Columns", 0) or 0)
        frames = int(head.get("NumberOfFrames", 1) or 1)
        check_pixel_count(cols, rows * max(frames, 1), max_pixels, path)
        ds = pydicom.dcmread(str(path))
        if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
            raise InputError("DICOM file has no pixel data (expected an image, got e.g. a report or a header only)", path)
        raw = ds.pixel_array
    except InputError:
        raise
    except Exception as err:  # pydicom raises many types for corrupt files
        raise InputError(f"not a readable DICOM image ({err.__class__.__name__}: {error_text(err)})", path) from None
    if raw.ndim != 2:
        raise InputError(f"expected a single-frame grayscale DICOM, got pixel array shape {raw.shape}", path)
    try:
        img, notes = _window_dicom(raw, ds)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError) as err:
        raise InputError(f"DICOM pixel values could not be windowed to 8 bits ({err.__class__.__name__}: {error_text(err)}); "
                         "expected numeric rescale and window tags", path) from None
    spacing = None
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        if tag in ds:
            try:
                spacing = float(np.ravel(getattr(ds, tag))[0])
                break
            except (TypeError, ValueError, IndexError):
                pass
    if spacing is not None and not (np.isfinite(spacing) and MIN_SPACING_MM <= spacing <= MAX_SPACING_MM):
        raise InputError(f"implausible pixel spacing {spacing} mm in {tag}; expected {MIN_SPACING_MM} to {MAX_SPACING_MM} mm", path)
    return img, spacing, "; ".join(notes)


def read_film(path: str | Path, rescale_to_model_grid: bool = True, model_spacing_mm: float = MODEL_SPACING_MM,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> FilmImage:
    """Read one film for screening (see module docstring).

    Args:
        path: PGM, PNG, JPEG, TIFF or DICOM (by suffix, or by preamble without one).
        rescale_to_model_grid: resample DICOM with a known pixel spacing to the model grid.
        model_spacing_mm: pixel spacing the models were trained on.
        max_pixels: largest ``width x height`` read (``None``: no limit).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    suffix = path.suffix.lower()
    dicom = suffix in DICOM_SUFFIXES or (suffix not in IMAGE_SUFFIXES and is_dicom(path))
    if suffix not in FILM_SUFFIXES and not dicom:
        raise InputError(f"unsupported file type {suffix or '(none)'!r}; expected one of {', '.join(FILM_SUFFIXES)} "
                         "or a DICOM file (recognised by its preamble)", path)
    spacing = None
    if dicom:
        img, spacing, note = read_dicom(path, max_pixels)
    else:
        img, note = to_uint8(read_image_any_depth(path, max_pixels))
    h, w = img.shape
    if min(h, w) < 32:
        raise InputError(f"image is {w}x{h}: too small to be a mammogram (expected at least 32 px a side)", path)
    scale = 1.0
    if rescale_to_model_grid and spacing and abs(spacing - model_spacing_mm) / model_spacing_mm > 0.02:
        scale = spacing / model_spacing_mm
        new_wh = (max(1, round(w * scale)), max(1, round(h * scale)))
        check_pixel_count(*new_wh, max_pixels, f"{path} (resampled to {model_spacing_mm} mm pixels)")
        if min(new_wh) < 32:
            raise InputError(f"image is {w}x{h} at {spacing} mm pixels, {new_wh[0]}x{new_wh[1]} at the models' "
                             f"{model_spacing_mm} mm: too small to be a mammogram (expected at least 32 px a side)", path)
        img = cv2.resize(img, new_wh, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        scale = new_wh[0] / w
        note = (note + "; " if note else "") + f"resampled from {spacing:.3f} mm to {model_spacing_mm} mm pixels"
    return FilmImage(np.ascontiguousarray(img), (w, h), scale, spacing, note)


def find_films(paths) -> tuple[list[tuple[Path, str]], list[dict]]:
    """Expand files and folders (recursively) into ``(path, name as reported)`` pairs.

    A folder's files are reported relative to that folder; a file given directly by its
    name. Inside folders, files with a film suffix are taken, and so are DICOM files
    without one (recognised by their preamble); other files are ignored (Info.txt,
    licences ...), and so are hidden files and folders and output folders mammo wrote
    (marked ``.mammo-output``), e.g. ``--out`` inside the screened folder. A path that does
    not exist is a failure entry.
    """
    found: list[tuple[Path, str]] = []
    failures: list[dict] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            # output folders mammo wrote (marked) inside the input are not films: skip them
            outputs = {m.parent for m in p.rglob(MARKER) if m.parent != p}
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                    continue
                if outputs and any(parent in outputs for parent in f.parents):
                    continue
                if f.suffix.lower() in FILM_SUFFIXES or is_dicom(f):
                    found.append((f, rel.as_posix()))
        elif p.is_file():
            found.append((p, p.name))
        else:
            failures.append({"file": str(p), "error": "no such file or folder"})
    return found, failures
