"""Bad input a new user meets: oversized images, overlay name clashes, NaN boxes, foreign
output folders, DICOM without an extension."""

import json
import os
import struct
import zlib

import numpy as np
import pytest

from converters.atomic import write_json_atomic
from converters.coco import coco_to_films
from converters.errors import InputError
from converters.images import DEFAULT_MAX_PIXELS, encode_pgm, read_image_any_depth
from phantoms import phantom_film, small_mias
from screening.pipeline import ScreenConfig
from screening.readers import find_films, is_dicom, read_film
from screening.report import validate_report
from screening.run import screen_paths, unique_overlay_names
from test_screening import stub_screener, write_dicom


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims ``width x height`` 8-bit gray pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def good_film(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_pgm(phantom_film(128, [(40, 60, 10)])))


# ---- oversized images ------------------------------------------------------------------


def test_bomb_header_png_is_one_failure_rest_screened(tmp_path):
    d = tmp_path / "films"
    good_film(d / "good.pgm")
    (d / "bomb.png").write_bytes(png_claiming(60_000, 60_000))
    assert len((d / "bomb.png").read_bytes()) < 120
    doc = screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    assert [f["file"] for f in doc["films"]] == ["good.pgm"]
    (fail,) = doc["failures"]
    assert fail["file"] == "bomb.png" and "bomb.png" in fail["error"] and f"{DEFAULT_MAX_PIXELS:,}" in fail["error"]
    validate_report(json.loads((tmp_path / "o" / "report.json").read_text()))


def test_real_14000_px_png_refused_before_decoding(tmp_path):
    from PIL import Image

    d = tmp_path / "films"
    good_film(d / "good.pgm")
    Image.new("L", (14_000, 14_000)).save(d / "huge.png", compress_level=1)
    doc = screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    assert [f["file"] for f in doc["films"]] == ["good.pgm"]
    (fail,) = doc["failures"]
    assert "14000x14000" in fail["error"] and "limit" in fail["error"]
    # the limit is a setting: raised above the image, the same file is read
    assert read_image_any_depth(d / "huge.png", max_pixels=14_000 * 14_000).shape == (14_000, 14_000)


def test_pixel_limit_is_a_setting_and_recorded(tmp_path):
    d = tmp_path / "films"
    good_film(d / "a.pgm")  # 128 x 128 = 16384 px
    doc = screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False, max_pixels=16_000)
    # the message names the flag and the config key that set the limit
    assert not doc["films"] and "above the --max-pixels (max_pixels) limit of 16,000" in doc["failures"][0]["error"]
    assert doc["config"]["max_pixels"] == 16_000
    doc = screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False, max_pixels=16_384)
    assert [f["file"] for f in doc["films"]] == ["a.pgm"]


@pytest.mark.parametrize("kind", ["pgm", "dicom", "tiff"])
def test_oversized_headers_of_other_formats(tmp_path, kind):
    path = tmp_path / f"big.{ {'pgm': 'pgm', 'dicom': 'dcm', 'tiff': 'tif'}[kind] }"
    if kind == "pgm":
        path.write_bytes(b"P5\n60000 60000\n255\n" + b"\0" * 100)
    elif kind == "dicom":
        write_dicom(path, np.zeros((8, 8), np.uint16))
        import pydicom

        ds = pydicom.dcmread(path)
        ds.Rows, ds.Columns = 60_000, 60_000  # header claims it; the pixel data is 128 bytes
        ds.save_as(path)
    else:
        from PIL import Image

        Image.new("L", (12_000, 10_000)).save(path, compression="tiff_deflate")
    with pytest.raises(InputError, match="limit of 100,000,000 pixels") as exc:
        read_film(path)
    assert str(path) in str(exc.value)


# ---- overlay names ---------------------------------------------------------------------


@pytest.mark.parametrize("names", [["mdb028.pgm", "mdb028.png"], ["a/b.png", "a__b.png"], ["A.png", "a.png"]])
def test_overlay_names_unique_and_named_in_report(tmp_path, names):
    from PIL import Image

    d = tmp_path / "films"
    for i, name in enumerate(names):
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        img = phantom_film(128, [(40, 60, 10 + 15 * i)], seed=i)  # the second is 'malignant' (bigger)
        if name.endswith(".png"):
            Image.fromarray(img).save(p)
        else:
            p.write_bytes(encode_pgm(img))
    if len(list(d.rglob("*.png")) + list(d.rglob("*.pgm"))) < len(names):
        pytest.skip("case-insensitive file system")
    doc = screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    overlays = {f["file"]: f["overlay"] for f in doc["films"]}
    assert set(overlays) == set(names)
    assert len({o.casefold() for o in overlays.values()}) == len(names)
    written = sorted(p.name for p in (tmp_path / "o" / "overlays").iterdir())
    assert sorted(o.split("/", 1)[1] for o in overlays.values()) == written
    # each overlay is its own film's: the verdict text colour differs, so the images differ
    imgs = [np.asarray(Image.open(tmp_path / "o" / overlays[n])) for n in names]
    assert not np.array_equal(imgs[0], imgs[1])


def test_unique_overlay_names_keeps_plain_names_without_clash():
    assert unique_overlay_names(["a.pgm", "sub/b.png"]) == ["a.png", "sub__b.png"]
    same = unique_overlay_names(["x.png", "x.png", "x.pgm"])
    assert len(set(same)) == 3


def test_rerun_keeps_user_files_in_overlays_and_drops_own_stale(tmp_path):
    d = tmp_path / "films"
    good_film(d / "a.pgm")
    good_film(d / "b.pgm")
    out = tmp_path / "o"
    screen_paths([d], out, ScreenConfig(), screener=stub_screener(), progress=False)
    (out / "overlays" / "my-notes.txt").write_text("mine")
    screen_paths([d / "a.pgm"], out, ScreenConfig(), screener=stub_screener(), progress=False)
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["a.png", "my-notes.txt"]


def test_output_folder_inside_the_screened_folder_is_not_screened(tmp_path):
    d = tmp_path / "films"
    good_film(d / "a.pgm")
    for _ in range(2):
        doc = screen_paths([d], d / "out", ScreenConfig(), screener=stub_screener(), progress=False)
        assert [f["file"] for f in doc["films"]] == ["a.pgm"] and not doc["failures"]
    assert (d / "out" / "overlays" / "a.png").is_file()


# ---- COCO boxes and strict JSON --------------------------------------------------------


def coco_with_bbox(bbox, **image):
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100, **image}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": bbox}],
        "categories": [{"id": 1, "name": "lesion"}],
    }


@pytest.mark.parametrize(
    "bbox",
    [[10, 10, float("nan"), 20], [10, 10, 20, float("inf")], [float("-inf"), 1, 2, 3], [10, 10, 0, 5],
     [10, 10, -3, 5], [10, 10, "20", 5], [10, 10, True, 5], [10, 10, 20], None, "10 10 20 20"],
)
def test_bad_bbox_names_file_annotation_and_expectation(bbox):
    with pytest.raises(InputError) as exc:
        coco_to_films(coco_with_bbox(bbox), where="set.json")
    msg = str(exc.value)
    assert msg.startswith("set.json: annotations[0] (id 7)") and "[x, y, w, h]" in msg and "\n" not in msg


def test_nan_bbox_from_a_json_file_is_refused(tmp_path):
    from converters.coco import load_coco

    p = tmp_path / "set.json"
    p.write_text(json.dumps(coco_with_bbox([10, 10, 20, 20])).replace("[10, 10, 20, 20]", "[10, 10, NaN, 20]"))
    with pytest.raises(InputError, match=r"set.json: annotations\[0\] \(id 7\): bbox"):
        load_coco(p)


@pytest.mark.parametrize("image", [{"width": 0}, {"width": -5}, {"height": True}, {"extra": [1, 2]}, {"image_labels": "CALC"}])
def test_bad_image_fields_are_input_errors(image):
    with pytest.raises(InputError, match=r"images\[0\]"):
        coco_to_films(coco_with_bbox([10, 10, 20, 20], **image), where="set.json")


def test_write_json_never_writes_bare_nan(tmp_path):
    p = tmp_path / "m.json"
    write_json_atomic(p, {"auc": float("nan"), "ci": [float("-inf"), np.float64("inf"), 0.5], "n": np.int64(3)})
    text = p.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"auc": None, "ci": [None, None, 0.5], "n": 3}


# ---- output folders --------------------------------------------------------------------


def test_foreign_nonempty_out_refused_unless_overwrite(tmp_path):
    d = tmp_path / "films"
    good_film(d / "a.pgm")
    out = tmp_path / "mine"
    (out / "overlays").mkdir(parents=True)
    (out / "overlays" / "holiday.png").write_bytes(b"not ours")
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(InputError, match="non-empty folder that mammo did not write.*--overwrite"):
        screen_paths([d], out, ScreenConfig(), screener=stub_screener(), progress=False)
    assert sorted(p.name for p in out.rglob("*")) == ["holiday.png", "overlays", "thesis.tex"]
    screen_paths([d], out, ScreenConfig(), screener=stub_screener(), progress=False, overwrite=True)
    assert (out / "thesis.tex").read_text() == "years of work"
    assert (out / "overlays" / "holiday.png").read_bytes() == b"not ours"
    assert (out / "overlays" / "a.png").is_file() and (out / ".mammo-output").is_file()
    # now it is a previous output: a re-run needs no --overwrite
    screen_paths([d], out, ScreenConfig(), screener=stub_screener(), progress=False)


def test_output_folders_get_umask_and_stale_temps_are_removed(tmp_path):
    d = tmp_path / "films"
    good_film(d / "a.pgm")
    out = tmp_path / "o"
    out.mkdir()
    (out / ".overlays.tmpab12cd34").mkdir()  # left by killed runs of the earlier naming
    (out / ".report.jsonq1w2e3.tmp").write_text('{"films": [')
    dead = out / ".overlays.tmp-999999999-xyz"  # no process has this id
    dead.mkdir()
    (dead / "a.png").write_bytes(b"half")
    alive = out / f".overlays.tmp-{os.getppid()}-xyz"  # a running process: not touched
    alive.mkdir()
    old = os.umask(0o022)
    try:
        screen_paths([d], out, ScreenConfig(), screener=stub_screener(), progress=False)
    finally:
        os.umask(old)
    names = sorted(p.name for p in out.iterdir())
    assert ".overlays.tmpab12cd34" not in names and ".report.jsonq1w2e3.tmp" not in names
    assert dead.name not in names and alive.name in names
    assert (out / "overlays").stat().st_mode & 0o777 == 0o755
    assert (out / "overlays" / "a.png").stat().st_mode & 0o777 == 0o644


def test_convert_refuses_foreign_folder_and_keeps_user_files(tmp_path, capsys):
    from screening.cli import main

    src = small_mias(tmp_path / "mias")
    out = tmp_path / "out"
    (out / "coco").mkdir(parents=True)
    (out / "coco" / "annotations-by-hand.json").write_text("{}")
    args = ["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "coco" / "annotations-by-hand.json").is_file()
    with pytest.raises(SystemExit) as exc:
        main(args + ["--overwrite"])
    assert exc.value.code in (0, None)
    assert (out / "coco" / "all.json").is_file() and (out / "coco").stat().st_mode & 0o700 == 0o700


# ---- DICOM without an extension --------------------------------------------------------


def test_dicom_without_extension_found_and_screened(tmp_path):
    d = tmp_path / "pacs"
    d.mkdir()
    img = phantom_film(128, [(40, 60, 10)], seed=3, dtype=np.uint16)
    write_dicom(d / "1.2.840.113619.2.55.3", img)  # PACS names: no extension, dots inside
    write_dicom(d / "IM0001", img, window=(32767.5, 65535))
    (d / "README").write_text("not a film")
    assert is_dicom(d / "IM0001") and not is_dicom(d / "README")
    files, _ = find_films([d])
    assert sorted(name for _, name in files) == ["1.2.840.113619.2.55.3", "IM0001"]
    doc = screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    assert sorted(f["file"] for f in doc["films"]) == ["1.2.840.113619.2.55.3", "IM0001"] and not doc["failures"]
    assert all(f["detections"] for f in doc["films"])


def test_dicom_without_pixels_is_one_clear_error(tmp_path):
    import pydicom

    p = tmp_path / "SR0001"
    write_dicom(p, np.zeros((64, 64), np.uint16))
    ds = pydicom.dcmread(p)
    del ds.PixelData
    ds.save_as(p)
    with pytest.raises(InputError, match="no pixel data"):
        read_film(p)


@pytest.mark.parametrize("spacing, words", [(5.0, "implausible pixel spacing 5.0 mm"), (0.001, "implausible pixel spacing"),
                                            (0.01, "too small to be a mammogram")])
def test_dicom_odd_pixel_spacing_is_one_clear_error(tmp_path, spacing, words):
    p = tmp_path / "f.dcm"
    write_dicom(p, phantom_film(128, [(40, 60, 10)], dtype=np.uint16), spacing=spacing)
    with pytest.raises(InputError, match=words):
        read_film(p)


def test_dicom_resampled_size_counts_against_the_limit(tmp_path):
    p = tmp_path / "f.dcm"
    write_dicom(p, phantom_film(128, [(40, 60, 10)], dtype=np.uint16), spacing=0.4)  # 128 px -> 256 px
    assert read_film(p, max_pixels=256 * 256).image.shape == (256, 256)
    with pytest.raises(InputError, match="resampled"):
        read_film(p, max_pixels=200 * 200)


def test_text_file_named_dcm_says_the_whole_reason(tmp_path):
    p = tmp_path / "text.dcm"
    p.write_text("hello, not a DICOM file\n")
    with pytest.raises(InputError) as exc:
        read_film(p)
    msg = str(exc.value)
    # pydicom's message whole (it was cut at 80 characters, mid-word), without its force=True advice
    assert "'DICM' prefix is missing from the header" in msg and "force=True" not in msg
    assert msg.startswith(f"{p}: not a readable DICOM image (InvalidDicomError: ")


def test_long_library_messages_are_cut_at_a_word():
    from screening.readers import error_text

    assert error_text(ValueError("short\n  message")) == "short message"
    long = ValueError(" ".join(["word"] * 100))
    text = error_text(long, limit=42)
    assert text.endswith(" ...") and len(text) <= 46 and set(text[:-4].split()) == {"word"}
