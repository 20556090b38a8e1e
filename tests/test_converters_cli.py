import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from converters.images import encode_pgm, read_gray8
from converters.mias import load_mias
from phantoms import small_mias
from screening.cli import build_app, main

runner = CliRunner()


def run_main(args, capsys):
    """Run the real entry point (InputError -> one line, exit 2)."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr()


def test_convert_writes_everything(tmp_path):
    src = small_mias(tmp_path / "mias", fmt="png")
    out = tmp_path / "out"
    res = runner.invoke(build_app(), ["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256", "--imgsz", "128"])
    assert res.exit_code == 0, res.output
    assert "image" in res.output and "boxes" in res.output
    for name in ("all", "train", "val", "test"):
        assert (out / "coco" / f"{name}.json").is_file()
    splits = json.loads((out / "splits.json").read_text())
    # films 2k-1 and 2k are one patient: same split
    for k in range(1, 6):
        assert splits["films"][f"mdb{2*k-1:03d}"] == splits["films"][f"mdb{2*k:03d}"]
    coco = json.loads((out / "coco" / "all.json").read_text())
    assert len(coco["images"]) == 10 and len(coco["annotations"]) == 6
    assert {im["refnum"] for im in coco["images"]} >= {"mdb002", "mdb007"}
    im7 = next(im for im in coco["images"] if im["refnum"] == "mdb007")
    assert im7["image_labels"] == [{"class": "CALC", "severity": "malignant"}]
    n_labels = sum(len(p.read_text().splitlines()) for p in (out / "yolo" / "labels").rglob("*.txt"))
    assert n_labels == 6
    assert len(list((out / "yolo" / "images").rglob("*.png"))) == 10
    # a re-run replaces, never appends or renames
    res = runner.invoke(build_app(), ["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256", "--imgsz", "128"])
    assert res.exit_code == 0
    assert sum(len(p.read_text().splitlines()) for p in (out / "yolo" / "labels").rglob("*.txt")) == 6
    assert sorted(p.name for p in out.iterdir()) == [".mammo-output", "coco", "convert.yaml", "splits.json", "summary.json", "yolo"]


def test_pycocotools_accepts_export(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    src = small_mias(tmp_path / "mias")
    out = tmp_path / "out"
    assert runner.invoke(build_app(), ["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256"]).exit_code == 0
    gt = COCO(str(out / "coco" / "all.json"))
    dets = [
        {"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
        for a in gt.dataset["annotations"]
    ]
    for iou_type in ("bbox", "segm"):
        if iou_type == "segm":
            for d, a in zip(dets, gt.dataset["annotations"]):
                d["segmentation"] = a["segmentation"]
        ev = COCOeval(gt, gt.loadRes(dets), iou_type)
        ev.evaluate(), ev.accumulate(), ev.summarize()
        assert ev.stats[0] == pytest.approx(1.0)


def test_ultralytics_accepts_yolo_export(tmp_path):
    src = small_mias(tmp_path / "mias")
    out = tmp_path / "out"
    assert runner.invoke(build_app(), ["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256", "--imgsz", "128"]).exit_code == 0
    cfg = tmp_path / "ycfg"
    code = (
        "from ultralytics.data.utils import check_det_dataset\n"
        f"d = check_det_dataset({str(out / 'yolo' / 'dataset.yaml')!r}, autodownload=False)\n"
        "print('NC', d['nc'], d['names'])\n"
        "from ultralytics.data.utils import verify_image_label\n"
    )
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_CONFIG_DIR": str(cfg)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "NC 1 {0: 'lesion'}" in res.stdout


@pytest.mark.slow
def test_fiftyone_coco_importer_accepts_export(tmp_path):
    src = small_mias(tmp_path / "mias", fmt="png")
    out = tmp_path / "out"
    assert runner.invoke(build_app(), ["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256"]).exit_code == 0
    code = (
        "import fiftyone as fo, fiftyone.types as fot\n"
        f"ds = fo.Dataset.from_dir(dataset_type=fot.COCODetectionDataset, data_path={str(src)!r},"
        f" labels_path={str(out / 'coco' / 'all.json')!r}, label_types=['detections', 'segmentations'], include_all_data=True)\n"
        "n = sum(len(s.detections.detections) if s.detections else 0 for s in ds)\n"
        "print('SAMPLES', len(ds), 'DETS', n)\n"
        "ds.delete()\n"
    )
    env = {
        **os.environ,
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_DATABASE_DIR": str(tmp_path / "fodb"),
        "FIFTYONE_DEFAULT_DATASET_DIR": str(tmp_path / "fods"),
    }
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "SAMPLES 10 DETS 6" in res.stdout


def _pgm_header_only(path: Path):
    path.write_bytes(b"P5\n256 256\n255\n" + b"\x00" * 1000)


@pytest.mark.parametrize(
    "break_it, words",
    [
        (lambda p: _pgm_header_only(p), "truncated PGM"),
        (lambda p: p.write_bytes(b"this is not an image"), "P5"),
        (lambda p: p.write_bytes(b"P2\n2 2\n255\n0 0 0 0\n"), "ASCII PGM"),
        (lambda p: p.write_bytes(encode_pgm(np.zeros((200, 256), np.uint8))), "expected a 256x256 image, got 256x200"),
        (lambda p: p.write_bytes(b"P5\n256 256\n65535\n" + b"\x00" * 256 * 256 * 2), "8-bit"),
        (lambda p: p.unlink(), "image is missing"),
    ],
)
def test_corrupt_image_clear_error_no_output(tmp_path, capsys, break_it, words):
    src = small_mias(tmp_path / "mias")
    break_it(src / "mdb003.pgm")
    out = tmp_path / "out"
    code, cap = run_main(["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256"], capsys)
    assert code == 2
    lines = [l for l in cap.err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), cap.err
    assert words in lines[0] and ("mdb003" in lines[0])
    assert "Traceback" not in cap.err
    assert not out.exists() or not any(out.iterdir())


def test_16bit_png_and_png_truncated(tmp_path, capsys):
    from PIL import Image

    src = small_mias(tmp_path / "mias", fmt="png")
    Image.fromarray(np.zeros((256, 256), np.uint16) + 1000).save(src / "mdb001.png")
    code, cap = run_main(["convert", "--mias-dir", str(src), "--out", str(tmp_path / "o"), "--quiet", "--film-size", "256"], capsys)
    assert code == 2 and "mdb001.png" in cap.err and "16-bit" in cap.err
    data = (src / "mdb002.png").read_bytes()
    small_mias(tmp_path / "m2", fmt="png")
    (tmp_path / "m2" / "mdb002.png").write_bytes(data[: len(data) // 2])
    code, cap = run_main(["convert", "--mias-dir", str(tmp_path / "m2"), "--out", str(tmp_path / "o2"), "--quiet", "--film-size", "256"], capsys)
    assert code == 2 and "mdb002.png" in cap.err and "truncated" in cap.err


def test_bad_label_row_names_file_and_line(tmp_path, capsys):
    src = small_mias(tmp_path / "mias")
    lines = (src / "Info.txt").read_text().splitlines()
    idx = next(i for i, l in enumerate(lines) if l.startswith("mdb005"))
    lines[idx] = "mdb005 F CALC X 60 196 8"
    (src / "Info.txt").write_text("\n".join(lines) + "\n")
    code, cap = run_main(["convert", "--mias-dir", str(src), "--out", str(tmp_path / "o"), "--quiet", "--film-size", "256"], capsys)
    assert code == 2
    assert f"Info.txt:{idx + 1}: unknown severity 'X'; expected B or M" in cap.err


def test_failed_run_keeps_previous_output(tmp_path, capsys):
    src = small_mias(tmp_path / "mias")
    out = tmp_path / "out"
    assert runner.invoke(build_app(), ["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256"]).exit_code == 0
    before = (out / "coco" / "all.json").read_text()
    (src / "mdb004.pgm").write_bytes(b"P5\n256 256\n255\n")
    code, _ = run_main(["convert", "--mias-dir", str(src), "--out", str(out), "--quiet", "--film-size", "256"], capsys)
    assert code == 2
    assert (out / "coco" / "all.json").read_text() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".mammo-output"]


def test_pgm_and_png_read_identically(tmp_path):
    a = small_mias(tmp_path / "a", fmt="pgm")
    b = small_mias(tmp_path / "b", fmt="png")
    for f in load_mias(a, resolution_wh=(256, 256)).films:
        assert np.array_equal(read_gray8(a / f.image_path), read_gray8(b / f"{f.film_id}.png"))


# ---- real data (MIAS_DIR) -------------------------------------------------------------


def test_real_mias_counts(mias_dir_env):
    lab = load_mias(mias_dir_env)
    assert len(lab.films) == 258
    assert lab.n_rows == 263
    assert lab.n_boxes == 95
    assert lab.n_image_level == 2
    assert sum(not f.is_abnormal for f in lab.films) == 166
    assert sum(f.is_abnormal for f in lab.films) == 92


def _contrast_ok_fraction(films, mias_dir, flip: bool) -> float:
    """Share of lesions brighter inside their circle than in a ring around it."""
    ok = n = 0
    rows, cols = np.mgrid[0:1024, 0:1024]
    for film in films:
        if not film.lesions:
            continue
        img = read_gray8(mias_dir / film.image_path).astype(float)
        for l in film.lesions:
            cx, cy = l.center_xy
            if not flip:
                cy = 1024 - cy  # undo the conversion: the bug this test guards against
            r = max(l.radius_px, 4)
            d2 = (cols - cx) ** 2 + (rows - cy) ** 2
            inside, ring = d2 <= r**2, (d2 > (1.5 * r) ** 2) & (d2 <= (2.5 * r) ** 2)
            if inside.any() and ring.any():
                n += 1
                ok += img[inside].mean() > img[ring].mean()
    return ok / n


def test_real_mias_y_flip_is_right(mias_dir_env):
    films = load_mias(mias_dir_env).films
    right = _contrast_ok_fraction(films, mias_dir_env, flip=True)
    wrong = _contrast_ok_fraction(films, mias_dir_env, flip=False)
    assert right > 0.75, right
    assert right - wrong > 0.2, (right, wrong)
