"""Reading and writing film images (PGM, PNG, JPEG, TIFF) as 8-bit grayscale arrays.

The distributed mini-MIAS films are binary PGM (``P5``); users and tests also bring PNG.
Every failure raises :class:`converters.errors.InputError` naming the file and saying what
was expected: a truncated file, a file that is not an image, a 16-bit image where 8-bit
was expected, or a size other than the labels assume. DICOM is read by
:mod:`screening.dicom`, which windows it to 8 bits on purpose.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from converters.errors import InputError

IMAGE_SUFFIXES = (".pgm", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
# Largest image (width x height) read by default: a full-field digital mammogram is at most
# ~40 megapixels (e.g. 4096 x 5625 at 50 microns); 100 megapixels leaves room for scanned films
# while a 14,000 x 14,000 image or a header that claims 60,000 x 60,000 is refused before
# decoding (it would need gigabytes of memory).
DEFAULT_MAX_PIXELS = 100_000_000


def check_pixel_count(width: int, height: int, max_pixels: int | None, path: str | Path = "<bytes>") -> None:
    """Raise InputError when ``width x height`` exceeds ``max_pixels`` (``None``: no limit)."""
    if max_pixels is not None and int(width) * int(height) > max_pixels:
        raise InputError(
            f"image is {width}x{height} = {int(width) * int(height):,} pixels, above the --max-pixels "
            f"(max_pixels) limit of {max_pixels:,} pixels",
            path,
        )


def parse_pgm(data: bytes, path: str | Path = "<bytes>", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode binary PGM (P5) bytes into a ``uint8`` (or ``uint16``) array of shape (H, W).

    A header claiming more than ``max_pixels`` pixels is refused before any pixel is read.
    """
    if not data.startswith(b"P5"):
        kind = "ASCII PGM (P2)" if data.startswith(b"P2") else "a file without the P5 magic number"
        raise InputError(f"expected a binary PGM (P5), got {kind}", path)
    fields: list[bytes] = []
    pos = 2
    n = len(data)
    while len(fields) < 3:
        while pos < n and data[pos : pos + 1].isspace():
            pos += 1
        if pos < n and data[pos : pos + 1] == b"#":
            while pos < n and data[pos : pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < n and not data[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            raise InputError("truncated PGM header: expected width, height and maxval", path)
        fields.append(data[start:pos])
    pos += 1  # the single whitespace byte after maxval
    try:
        width, height, maxval = (int(f) for f in fields)
    except ValueError:
        raise InputError(f"malformed PGM header {b' '.join(fields)!r}: expected three integers", path) from None
    if width <= 0 or height <= 0 or not 0 < maxval < 65536:
        raise InputError(f"malformed PGM header: width {width}, height {height}, maxval {maxval}", path)
    check_pixel_count(width, height, max_pixels, path)
    dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
    expected = width * height * dtype.itemsize
    body = data[pos : pos + expected]
    if len(body) < expected:
        raise InputError(f"truncated PGM: expected {expected} pixel bytes for {width}x{height}, got {len(body)}", path)
    arr = np.frombuffer(body, dtype=dtype).reshape(height, width)
    return arr.astype(np.uint16) if dtype.itemsize == 2 else arr.copy()


def encode_pgm(image: np.ndarray) -> bytes:
    """Encode a 2-D ``uint8`` array as binary PGM, the exact mini-MIAS header layout."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"encode_pgm expects a 2-D uint8 array, got {image.dtype} {image.shape}")
    h, w = image.shape
    return f"P5\n{w} {h}\n255\n".encode() + image.tobytes()


@contextmanager
def _pil_size_check_is_ours():
    """PIL's own decompression-bomb guard off while a file is opened (restored after).

    PIL warns above ``Image.MAX_IMAGE_PIXELS`` and raises above twice that, before the
    caller sees the size; with it off, ``Image.open`` still reads only the header, and
    :func:`check_pixel_count` refuses the file against the caller's ``max_pixels`` with the
    real size in the message, before any pixel is decoded.
    """
    from PIL import Image

    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def read_image_any_depth(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a grayscale image at its stored bit depth (2-D ``uint8`` or ``uint16``).

    Args:
        path: PGM, PNG, JPEG or TIFF file.
        max_pixels: largest ``width x height`` accepted (checked from the header, before
            decoding); ``None``: no limit.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("image file not found", path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"unsupported image type {suffix!r}; expected one of {', '.join(IMAGE_SUFFIXES)}", path)
    size = path.stat().st_size
    if max_pixels is not None and size > 8 * max_pixels + (1 << 20):  # 8 bytes/pixel: 16-bit RGBA uncompressed
        raise InputError(f"file is {size:,} bytes, more than any image within the --max-pixels (max_pixels) "
                         f"limit of {max_pixels:,} pixels", path)
    data = path.read_bytes()
    if suffix == ".pgm":
        return parse_pgm(data, path, max_pixels)
    from PIL import Image, UnidentifiedImageError
    import io

    try:
        with _pil_size_check_is_ours(), Image.open(io.BytesIO(data)) as im:
            check_pixel_count(*im.size, max_pixels, path)
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im)
                if arr.dtype != np.uint16 and arr.size and (arr.min() < 0 or arr.max() > 65535):
                    raise InputError(f"unsupported pixel range {arr.min()}..{arr.max()}", path)
                return arr.astype(np.uint16)
            if mode in ("L", "P", "1"):
                return np.asarray(im.convert("L"), dtype=np.uint8).copy()
            if mode in ("RGB", "RGBA", "LA"):
                rgb = np.asarray(im.convert("RGB"))
                # Grayscale stored as RGB (common for JPEG exports): take one channel if equal.
                if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
                    return rgb[..., 0].copy()
                return np.asarray(im.convert("L"), dtype=np.uint8).copy()
            raise InputError(f"unsupported image mode {mode!r}; expected 8-bit grayscale", path)
    except Image.DecompressionBombError:
        # PIL's guard fires at twice the limit, before the size can be read here
        raise InputError(f"image header claims more than {max_pixels:,} pixels, the --max-pixels (max_pixels) limit", path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ImportError, ValueError, EOFError) as err:
        if isinstance(err, InputError):
            raise
        # ImportError: once ultralytics is imported it patches Image.open, and on a file PIL
        # cannot identify, the patch tries to import an optional HEIF plugin.
        raise InputError(f"not a readable {suffix[1:].upper()} image (truncated, corrupt or another format)", path) from None


def read_gray8(path: str | Path, expected_wh: tuple[int, int] | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an 8-bit grayscale film, checking depth and (optionally) size.

    Raises:
        InputError: unreadable, not 8-bit, or not ``expected_wh`` pixels.
    """
    arr = read_image_any_depth(path, max_pixels)
    if arr.dtype != np.uint8:
        raise InputError(
            f"expected an 8-bit grayscale image, got {arr.dtype.itemsize * 8}-bit; "
            "window it to 8 bits first (mammo screen does this for DICOM)",
            path,
        )
    if expected_wh is not None and (arr.shape[1], arr.shape[0]) != tuple(expected_wh):
        raise InputError(
            f"expected a {expected_wh[0]}x{expected_wh[1]} image, got {arr.shape[1]}x{arr.shape[0]}", path
        )
    return arr


def write_png_atomic(path: str | Path, image: np.ndarray) -> None:
    """Write an 8-bit grayscale PNG through a temporary file and a rename."""
    from PIL import Image

    from converters.atomic import temp_file_beside

    path = Path(path)
    fd, tmp = temp_file_beside(path)
    os.close(fd)
    try:
        Image.fromarray(image).save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
