"""Generated bad input for ``benchmarks/fuzz.py``: MIAS label rows, odd images, COCO files.

Every generator takes a ``numpy.random.Generator``, so one seed gives the same input
(DICOM UIDs included).
"""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np

FILM_PX = 256
INFO_HEADER = ["SYNTHETIC MIAS", "prose header", "", "=" * 20, ""]
TOKENS = ["", "nan", "NaN", "inf", "-inf", "1e309", "-5", "0", "255", "256", "1024", "99999999999999999999", "abc",
          "*NOTE", "B", "M", "X", "NORM", "CALC", "CIRC", "F", "G", "D", "\x00", "é", "3.5", "0x10", "1_000", "\u0663",
          "+5", "mdb001", "MDB002", "mdb", "mdb00x", "--", "=====", "\t", "1e-320", "-0"]


# ---- generated input ---------------------------------------------------------------------


def info_row(rng: np.random.Generator) -> str:
    """A MIAS label row, valid or mutated (tokens dropped, swapped, replaced, added)."""
    n = int(rng.integers(1, 12))
    cls = str(rng.choice(["CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM"]))
    toks = [f"mdb{n:03d}", str(rng.choice(["F", "G", "D"])), cls]
    if cls != "NORM":
        toks += [str(rng.choice(["B", "M"])), str(int(rng.integers(0, FILM_PX))), str(int(rng.integers(1, FILM_PX))),
                 str(int(rng.integers(1, 40)))]
    for _ in range(int(rng.integers(0, 4))):
        op = rng.integers(0, 6)
        i = int(rng.integers(0, len(toks))) if toks else 0
        if op == 0 and toks:
            toks.pop(i)
        elif op == 1:
            toks.insert(i, str(rng.choice(TOKENS)))
        elif op == 2 and toks:
            toks[i] = str(rng.choice(TOKENS))
        elif op == 3 and len(toks) > 1:
            j = int(rng.integers(0, len(toks)))
            toks[i], toks[j] = toks[j], toks[i]
        elif op == 4:
            toks.append(str(rng.choice(TOKENS)))
        else:
            toks = [t.lower() if rng.random() < 0.5 else t.upper() for t in toks]
    sep = str(rng.choice([" ", " ", "\t", "  "]))
    return sep.join(toks) + str(rng.choice(["", "", "\r", " "]))


def png_claiming(width: int, height: int, bit_depth: int = 8, colour: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def pil_bytes(arr_or_img, fmt: str, **kw) -> bytes:
    from PIL import Image

    img = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def dicom_bytes(rng, pixels=None, *, rows=None, cols=None, pixel_data=True, photometric="MONOCHROME2",
                 samples=1, bits=16, frames=None, tags=None) -> bytes:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(int(rng.integers(1 << 62)))])  # seeded
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("x", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality = "MG"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    pixels = pixels if pixels is not None else rng.integers(0, 4096, (FILM_PX, FILM_PX)).astype(np.uint16)
    ds.Rows, ds.Columns = rows or pixels.shape[0], cols or pixels.shape[1]
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if samples > 1:
        ds.PlanarConfiguration = 0
    if frames:
        ds.NumberOfFrames = frames
    if pixel_data:
        ds.PixelData = pixels.tobytes()
    placeholders = {}
    for n, (key, value) in enumerate((tags or {}).items()):
        # pydicom refuses to write a bad decimal string: write a placeholder, then swap the bytes
        ph = f"{n + 1}" * 4 + ".125"
        setattr(ds, key, [ph, ph] if isinstance(value, list) else ph)
        placeholders[ph] = (value[0] if isinstance(value, list) else value)[:8].ljust(8)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    for ph, value in placeholders.items():
        data = data.replace(ph.encode(), value.encode())
    return data


def odd_image(rng: np.random.Generator, i: int) -> tuple[str, bytes, str]:
    """``(file name, bytes, kind)`` of one corrupt or odd image."""
    base = (rng.integers(60, 200, (FILM_PX, FILM_PX))).astype(np.uint8)
    kind = str(rng.choice(["truncated", "bitflip", "wrong_size", "16bit", "empty", "cmyk", "bomb", "dicom_nopixels",
                           "dicom_noext", "dicom_odd", "odd_mode", "random", "text", "wrong_suffix", "valid"]))
    fmt = str(rng.choice(["png", "pgm", "jpg", "tif"]))

    def encode(arr, f=fmt):
        from converters.images import encode_pgm

        if f == "pgm":
            return encode_pgm(arr) if arr.dtype == np.uint8 else f"P5\n{arr.shape[1]} {arr.shape[0]}\n65535\n".encode() + arr.astype(">u2").tobytes()
        return pil_bytes(arr, {"png": "PNG", "jpg": "JPEG", "tif": "TIFF"}[f])

    stem = f"f{i - 1 if i and rng.random() < 0.1 else i:05d}"  # now and then the previous film's stem: f1.png beside f1.pgm
    name = f"{stem}.{fmt}"
    if kind == "truncated":
        data = encode(base)
        return name, data[: int(rng.integers(0, len(data)))], kind
    if kind == "bitflip":
        data = bytearray(encode(base))
        for _ in range(int(rng.integers(1, 20))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        return name, bytes(data), kind
    if kind == "wrong_size":
        h, w = int(rng.choice([1, 2, 31, 32, 200, 257, 700])), int(rng.choice([1, 3, 32, 255, 300, 900]))
        return name, encode(rng.integers(0, 255, (h, w)).astype(np.uint8)), kind
    if kind == "16bit":
        f = str(rng.choice(["png", "pgm", "tif"]))
        arr = (rng.integers(0, 65535, (FILM_PX, FILM_PX)) if rng.random() < 0.7 else np.full((FILM_PX, FILM_PX), 7)).astype(np.uint16)
        return f"{stem}.{f}", encode(arr, f), kind
    if kind == "empty":
        return name, b"", kind
    if kind == "cmyk":
        from PIL import Image

        img = Image.fromarray(np.stack([base] * 4, -1), mode="CMYK")
        f = str(rng.choice(["jpg", "tif"]))
        return f"{stem}.{f}", pil_bytes(img, {"jpg": "JPEG", "tif": "TIFF"}[f]), kind
    if kind == "bomb":
        side = int(rng.choice([14_000, 60_000, 65_535, 2**31 - 1]))
        sub = str(rng.choice(["png", "pgm", "dcm"]))
        if sub == "png":
            return f"{stem}.png", png_claiming(side, side), kind
        if sub == "pgm":
            return f"{stem}.pgm", f"P5\n{side} {side}\n255\n".encode() + b"\0" * 64, kind
        return f"{stem}.dcm", dicom_bytes(rng, np.zeros((4, 4), np.uint16), rows=min(side, 65535), cols=min(side, 65535)), kind
    if kind == "dicom_nopixels":
        return stem + str(rng.choice([".dcm", ""])), dicom_bytes(rng, pixel_data=False), kind
    if kind == "dicom_noext":
        data = dicom_bytes(rng)
        if rng.random() < 0.3:
            data = data[: int(rng.integers(132, len(data)))]
        return f"IM{i:05d}", data, kind
    if kind == "dicom_odd":
        sub = int(rng.integers(0, 5))
        if sub == 0:  # colour
            data = dicom_bytes(rng, rng.integers(0, 255, (FILM_PX, FILM_PX, 3)).astype(np.uint8), samples=3, photometric="RGB", bits=8)
        elif sub == 1:  # two frames
            data = dicom_bytes(rng, rng.integers(0, 4096, (2, FILM_PX, FILM_PX)).astype(np.uint16), rows=FILM_PX, cols=FILM_PX, frames=2)
        elif sub == 2:  # constant MONOCHROME1
            data = dicom_bytes(rng, np.full((FILM_PX, FILM_PX), 100, np.uint16), photometric="MONOCHROME1")
        elif sub == 3:  # header says more rows than the pixel data holds
            data = dicom_bytes(rng, rows=FILM_PX * 2)
        else:  # odd tag values: spacing, window, rescale
            key = str(rng.choice(["PixelSpacing", "ImagerPixelSpacing", "WindowCenter", "RescaleSlope"]))
            value = str(rng.choice(["0", "-1", "1000", "0.0001", "inf", "nan", "abc", "1e308", "0.1", "0.05"]))
            tags = {key: [value, value] if "Spacing" in key else value}
            if key == "WindowCenter":
                tags["WindowWidth"] = str(rng.choice(["0", "-5", "4096", "nan", "x"]))
            data = dicom_bytes(rng, tags=tags)
        return f"{stem}.dcm", data, kind
    if kind == "odd_mode":
        from PIL import Image

        sub = str(rng.choice(["RGBA", "LA", "P", "1", "F", "I", "RGB"]))
        img = Image.fromarray(base).convert(sub)
        if sub == "I":
            img = Image.fromarray((base.astype(np.int32) - 1000))
        f = "tif" if sub in ("F", "I") else "png"
        return f"{stem}.{f}", pil_bytes(img, {"png": "PNG", "tif": "TIFF"}[f]), kind
    if kind == "random":
        return name, rng.integers(0, 256, int(rng.integers(1, 5000))).astype(np.uint8).tobytes(), kind
    if kind == "text":
        return name, "hello, not an image\n".encode(), kind
    if kind == "wrong_suffix":
        other = {"png": "pgm", "pgm": "png", "jpg": "png", "tif": "jpg"}[fmt]
        return name, encode(base, other), kind
    return name, encode(base), kind


def base_coco(n_images: int = 3) -> dict:
    images, anns = [], []
    for k in range(1, n_images + 1):
        images.append({"id": k, "file_name": f"im{k}.png", "width": FILM_PX, "height": FILM_PX, "patient_id": f"p{k}"})
        anns.append({"id": k, "image_id": k, "category_id": 1, "bbox": [20.0 * k, 30.0, 40.0, 25.0],
                     "attributes": {"severity": "benign" if k % 2 else "malignant"}})
    anns.append({"id": 99, "image_id": 1, "category_id": 1, "bbox": [100, 100, 30, 30],
                 "attributes": {"center_xy": [115, 115], "radius_px": 15, "class": "CIRC", "severity": "malignant"}})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "lesion"}]}


JUNK = [float("nan"), float("inf"), float("-inf"), -1, 0, "5", True, False, None, [], {}, 1e308, -1e308, 10**30, "",
        "../x.png", [1, 2], {"a": 1}, 2**63]


def coco_text(rng: np.random.Generator) -> tuple[str | bytes, str]:
    """``(file content, kind)`` of one mutated COCO file."""
    coco = base_coco()
    kind = str(rng.choice(["bbox", "drop_key", "junk_field", "dup_id", "file_name", "top_level", "attributes",
                           "categories", "serialised", "valid"]))
    pick = lambda seq: seq[int(rng.integers(0, len(seq)))]  # noqa: E731
    for _ in range(int(rng.integers(1, 4))):
        images = coco.get("images") or [{}]  # an earlier mutation may have dropped them
        anns = coco.get("annotations") or [{"bbox": [1, 1, 1, 1]}]
        if kind == "bbox":
            a = pick(anns)
            if rng.random() < 0.2 and isinstance(a.get("bbox"), list):
                a["bbox"] = a["bbox"][: int(rng.integers(0, 4))] if rng.random() < 0.5 else a["bbox"] + [1]
            else:
                box = a.get("bbox")
                if isinstance(box, list) and box:
                    box[int(rng.integers(0, len(box)))] = pick(JUNK)
                else:
                    a["bbox"] = pick(JUNK)
        elif kind == "drop_key":
            where = pick([coco, pick(images), pick(anns)])
            if where:
                where.pop(pick(list(where)), None)
        elif kind == "junk_field":
            where = pick([pick(images), pick(anns)])
            where[pick(list(where) + ["extra", "image_labels", "refnum", "side", "tissue", "source"])] = pick(JUNK)
        elif kind == "dup_id":
            group = pick([images, anns])
            group.append(dict(pick(group)))
        elif kind == "file_name":
            pick(images)["file_name"] = pick(["../x.png", "/abs.png", "C:\\x.png", "", "missing.png",
                                                      "a/../../b.png", ".", "im1.png", "\x00.png", "im2.PNG"])
        elif kind == "top_level":
            coco = pick([[], "coco", 3, None, {"images": {}}, {"images": [], "annotations": {}}, {"images": [1, 2]}])
            break
        elif kind == "attributes":
            a = pick(anns)
            a["attributes"] = pick([{"center_xy": [float("nan"), 5], "radius_px": 3}, {"center_xy": [5, 5], "radius_px": -1},
                                    {"center_xy": "5,5", "radius_px": 3}, {"center_xy": [9000, 9000], "radius_px": 3},
                                    {"center_xy": [5, 5], "radius_px": float("inf")}, {"severity": 5}, {"class": []}, [], "x"])
        elif kind == "categories":
            coco["categories"] = pick([[{"id": [1]}], [{"id": None}], {"id": 1}, [1, 2], [{"id": 1, "name": None}]])
    text = json.dumps(coco)
    if kind == "serialised":
        sub = int(rng.integers(0, 5))
        if sub == 0:
            return text[: int(rng.integers(0, len(text)))], kind
        if sub == 1:
            return b"\xff\xfe" + text.encode("utf-16-le"), kind
        if sub == 2:
            return "[" * 100_000 + "]" * 100_000, kind
        if sub == 3:
            return "", kind
        return "\ufeff" + text, kind
    return text, kind
