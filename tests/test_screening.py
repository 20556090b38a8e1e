import json

import numpy as np
import pytest

from converters.errors import InputError
from converters.images import encode_pgm
from detector.detections import Detections
from phantoms import phantom_film
from screening.pipeline import Screener, ScreenConfig, film_verdict
from screening.readers import read_film
from screening.report import validate_report
from screening.run import screen_paths


class BlobDetector:
    """Test double: boxes around bright blobs (what a perfect detector would return)."""

    backend = "blob-stub"

    def predict(self, image):
        import cv2

        n, _, stats, _ = cv2.connectedComponentsWithStats((image > 170).astype(np.uint8))
        boxes = [[s[0], s[1], s[0] + s[2], s[1] + s[3]] for s in stats[1:] if s[4] > 20]
        if not boxes:
            return Detections.empty()
        return Detections(np.array(boxes, float), np.full(len(boxes), 0.9))


class MalignantIfBigGrader:
    def grade(self, image, boxes_xyxy):
        side = np.maximum(boxes_xyxy[:, 2] - boxes_xyxy[:, 0], boxes_xyxy[:, 3] - boxes_xyxy[:, 1])
        return np.array([[0.1, 0.2, 0.7] if s > 30 else [0.1, 0.7, 0.2] for s in side]).reshape(-1, 3)


def stub_screener(**kw):
    """Mass path only (the earlier verdict rule): a stub detector and grader, no cluster model, no film model."""
    kw = {"calcifications": False, "film_model": "none", **kw}
    return Screener(ScreenConfig(**kw), detector=BlobDetector(), grader=MalignantIfBigGrader())


def write_dicom(path, pixels, monochrome1=False, spacing=None, window=None):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality = "MG"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if spacing:
        ds.PixelSpacing = [spacing, spacing]
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def test_phantom_screened_end_to_end(tmp_path):
    img = phantom_film(256, [(80, 120, 20)], seed=4)
    (tmp_path / "films").mkdir()
    (tmp_path / "films" / "a.pgm").write_bytes(encode_pgm(img))
    doc = screen_paths([tmp_path / "films"], tmp_path / "out", ScreenConfig(), screener=stub_screener(), progress=False)
    validate_report(json.loads((tmp_path / "out" / "report.json").read_text()))
    (film,) = doc["films"]
    assert film["file"] == "a.pgm" and (film["width"], film["height"]) == (256, 256)
    (det,) = film["detections"]
    x1, y1, x2, y2 = det["xyxy"]
    assert abs((x1 + x2) / 2 - 80.5) <= 1 and abs((y1 + y2) / 2 - 120.5) <= 1
    assert det["grade"] == "malignant" and film["verdict"] == "malignant"
    assert (tmp_path / "out" / "overlays" / "a.png").is_file()
    assert "a.pgm,malignant,mass" in (tmp_path / "out" / "report.csv").read_text()


def test_verdict_rule():
    probs = np.array([[0.1, 0.2, 0.7], [0.2, 0.7, 0.1]])
    assert film_verdict(np.array([0.9, 0.9]), probs, 0.5) == "malignant"
    assert film_verdict(np.array([0.1, 0.9]), probs, 0.5) == "benign"
    assert film_verdict(np.array([0.1, 0.2]), probs, 0.5) == "normal"
    assert film_verdict(np.zeros(0), np.zeros((0, 3)), 0.5) == "normal"


@pytest.mark.parametrize("mono1", [False, True])
def test_dicom_reads_like_its_png_twin(tmp_path, mono1):
    from PIL import Image

    img8 = phantom_film(128, [(40, 60, 10)], seed=2)
    Image.fromarray(img8).save(tmp_path / "twin.png")
    stored = phantom_film(128, [(40, 60, 10)], seed=2, dtype=np.uint16)  # the same film, 16-bit full range
    if mono1:
        stored = 65535 - stored
    write_dicom(tmp_path / "f.dcm", stored, monochrome1=mono1, window=(32767.5, 65535))
    a = read_film(tmp_path / "f.dcm").image
    b = read_film(tmp_path / "twin.png").image
    assert a.dtype == np.uint8 and a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_16bit_png_windowed_not_truncated(tmp_path):
    from PIL import Image

    img = phantom_film(128, [(40, 60, 10)], dtype=np.uint16, bits_stored=12)  # 12-bit data in 16-bit PNG
    Image.fromarray(img).save(tmp_path / "a.png")
    out = read_film(tmp_path / "a.png")
    assert out.image.max() == 255 and "windowed" in out.note
    assert out.image[60, 40] > 200 and out.image[60, 20] < 150


def test_dicom_spacing_rescaled_and_boxes_map_back(tmp_path):
    img = phantom_film(256, [(100, 140, 24)], seed=5, dtype=np.uint16)
    write_dicom(tmp_path / "f.dcm", img, spacing=0.1)
    film = read_film(tmp_path / "f.dcm")
    assert film.image.shape == (128, 128) and film.scale == pytest.approx(0.5)
    assert film.original_wh == (256, 256)
    doc = screen_paths([tmp_path / "f.dcm"], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    x1, y1, x2, y2 = doc["films"][0]["detections"][0]["xyxy"]
    assert abs((x1 + x2) / 2 - 100.5) <= 2.5 and abs((y1 + y2) / 2 - 140.5) <= 2.5


def test_corrupt_file_reported_rest_screened(tmp_path):
    d = tmp_path / "films"
    d.mkdir()
    (d / "good.pgm").write_bytes(encode_pgm(phantom_film(128, [(40, 60, 10)])))
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (d / "notes.txt").write_text("ignored")
    doc = screen_paths([d, tmp_path / "missing.pgm"], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    assert [f["file"] for f in doc["films"]] == ["good.pgm"]
    by_file = {fl["file"].rsplit("/", 1)[-1]: fl["error"] for fl in doc["failures"]}
    assert set(by_file) == {"bad.png", "missing.pgm"}
    assert "bad.png" in by_file["bad.png"] and "not a readable PNG" in by_file["bad.png"]
    assert "no such file" in by_file["missing.pgm"]


def test_screen_cli_exit_code_nonzero_on_failure(tmp_path, monkeypatch, capsys):
    import screening.run as run
    from screening.cli import main

    monkeypatch.setattr(run, "Screener", lambda cfg: stub_screener())
    d = tmp_path / "films"
    d.mkdir()
    (d / "good.pgm").write_bytes(encode_pgm(phantom_film(128, [(40, 60, 10)])))
    (d / "bad.pgm").write_bytes(b"P5\n128 128\n255\n")
    with pytest.raises(SystemExit) as exc:
        main(["screen", str(d), "--out", str(tmp_path / "o"), "--quiet"])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "bad.pgm" in out and "truncated" in out
    assert json.loads((tmp_path / "o" / "report.json").read_text())["films"][0]["file"] == "good.pgm"


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda d: d.pop("failures"), "'failures'"),
        (lambda d: d["films"][0].update(verdict="bad"), "verdict"),
        (lambda d: d["films"][0]["detections"][0].update(xyxy=[0, 0, 2000, 10]), "inside"),
        (lambda d: d["films"][0]["detections"][0].update(score=1.5), "score"),
        (lambda d: d["films"][0]["detections"][0]["probabilities"].pop("normal"), "probabilities"),
    ],
)
def test_schema_rejects(mutate, words):
    doc = {
        "films": [{"file": "a.pgm", "width": 100, "height": 100, "verdict": "benign", "seconds": 0.1,
                   "detections": [{"xyxy": [1, 2, 30, 40], "score": 0.5, "grade": "benign",
                                   "probabilities": {"normal": 0.2, "benign": 0.5, "malignant": 0.3}}]}],
        "config": {}, "failures": [],
    }
    validate_report(doc)
    mutate(doc)
    with pytest.raises(InputError, match=words):
        validate_report(doc)


def test_text_file_named_png_after_ultralytics_import_is_one_clear_failure(tmp_path):
    # ultralytics patches PIL's Image.open; on an unidentifiable file the patch tries an
    # optional HEIF plugin import, which must still end as one clear error, not a traceback
    from detector.offline import import_ultralytics

    import_ultralytics()
    bad = tmp_path / "bad.png"
    bad.write_text("hello, not an image")
    with pytest.raises(InputError, match="not a readable PNG"):
        read_film(bad)


@pytest.mark.parametrize(
    "args, words",
    [
        (lambda t: ["screen", str(t / "empty")], "no films found"),
        (lambda t: ["screen", str(t / "nowhere")], "no such file or folder"),
        (lambda t: ["screen", str(t / "films"), "--out", str(t / "films" / "good.pgm")], "--out is a file"),
        (lambda t: ["screen", str(t / "films"), "--score-threshold", "5"], "score_threshold must be in [0, 1]"),
        (lambda t: ["screen", str(t / "films"), "--threads", "0"], "--threads (num_threads) must be >= 1"),
        (lambda t: ["screen", str(t / "films"), "--max-pixels", "0"], "--max-pixels (max_pixels) must be"),
    ],
)
def test_screen_bad_arguments_are_one_line_exit_2(tmp_path, capsys, args, words):
    from screening.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "films").mkdir()
    (tmp_path / "films" / "good.pgm").write_bytes(encode_pgm(phantom_film(128, [(40, 60, 10)])))
    with pytest.raises(SystemExit) as exc:
        main(args(tmp_path))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mammo-screen").exists()


def test_rerun_replaces_overlays_whole(tmp_path):
    d = tmp_path / "films"
    d.mkdir()
    for name in ("a.pgm", "b.pgm"):
        (d / name).write_bytes(encode_pgm(phantom_film(128, [(40, 60, 10)])))
    screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    assert len(list((tmp_path / "o" / "overlays").iterdir())) == 2
    screen_paths([d / "a.pgm"], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    assert [p.name for p in (tmp_path / "o" / "overlays").iterdir()] == ["a.png"]


def test_a_missing_path_is_named_alone(tmp_path, capsys):
    from screening.cli import main

    for args in (["nowhere"], ["nowhere", "gone"]):
        with pytest.raises(SystemExit) as exc:
            main(["screen", *[str(tmp_path / a) for a in args], "--out", str(tmp_path / "o")])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        # what is wrong, once: not "no films found (...): nowhere: no such file or folder"
        assert err == "error: " + "; ".join(f"{tmp_path / a}: no such file or folder" for a in args) + "\n"
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        main(["screen", str(tmp_path / "empty"), str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "no films found" in err and "nowhere: no such file or folder" in err


def test_report_config_lists_only_the_keys_of_the_rule_in_use(tmp_path):
    from converters.config import load_config
    from screening.run import verdict_rule

    d = tmp_path / "films"
    d.mkdir()
    (d / "a.pgm").write_bytes(encode_pgm(phantom_film(128, [(40, 60, 10)])))
    doc = screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    cfg = json.loads((tmp_path / "o" / "report.json").read_text())["config"]
    assert cfg == doc["config"]
    # the mass-only rule: its operating point is written; malignant_threshold belongs to no rule
    assert cfg["abnormal_threshold"] == 0.2085 and "malignant_threshold" not in cfg
    assert cfg["verdict_rule"] == verdict_rule(None)
    # the film model (the default): its thresholds are in the rule, the mass-only one is not written
    assert "abnormal_threshold" not in ScreenConfig().report_dict()
    assert ScreenConfig(film_model="none").report_dict()["abnormal_threshold"] == 0.2085
    # older configs that set both still load
    (tmp_path / "old.yaml").write_text("abnormal_threshold: 0.3\nmalignant_threshold: 0.6\n")
    old = load_config(ScreenConfig, tmp_path / "old.yaml")
    assert (old.abnormal_threshold, old.malignant_threshold) == (0.3, 0.6)


def test_verdict_rule_prints_thresholds_on_the_score_grid():
    from types import SimpleNamespace

    from screening.run import verdict_rule

    rule = verdict_rule(SimpleNamespace(abnormal_threshold=0.40963, malignant_threshold=0.13936))
    # 5 decimals like the scores: a film at 0.40962 must not read as reaching a printed 0.4096
    assert "abnormal_score >= 0.40963," in rule and "malignant_score >= 0.13936," in rule


@pytest.mark.parametrize("pixels", [np.zeros((1024, 1024), np.uint8), np.full((1024, 1024), 128, np.uint8),
                                    np.full((1024, 1024), 255, np.uint8)], ids=["black", "grey", "white"])
def test_a_film_without_a_breast_is_a_failure_not_a_normal_film(tmp_path, pixels):
    from PIL import Image

    d = tmp_path / "films"
    d.mkdir()
    (d / "good.pgm").write_bytes(encode_pgm(phantom_film(256, [(80, 120, 20)], seed=4)))
    Image.fromarray(pixels).save(d / "blank.png")
    doc = screen_paths([d], tmp_path / "o", ScreenConfig(), screener=stub_screener(), progress=False)
    assert [f["file"] for f in doc["films"]] == ["good.pgm"]  # the rest of the batch is screened
    (fail,) = doc["failures"]
    assert fail["file"] == "blank.png" and "no breast found (the image is blank or constant)" in fail["error"]


def test_every_sample_film_has_a_breast():
    from pathlib import Path

    from screening.pipeline import breast_of

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    films = sorted(sample.glob("*.pgm"))
    assert len(films) == 6
    for f in films:
        assert breast_of(read_film(f).image, f.name).mean() > 0.1


def test_every_mias_film_has_a_breast(mias_dir_env):
    from screening.pipeline import breast_of

    films = sorted(mias_dir_env.glob("mdb*.png")) or sorted(mias_dir_env.glob("mdb*.pgm"))
    assert len(films) == 258
    for f in films:
        breast_of(read_film(f).image, f.name)  # raises for a film without a breast


def _summary_doc(n: int) -> dict:
    films = [{"file": f"mdb{i:03d}.pgm", "verdict": "malignant", "abnormal_score": 0.81, "detections": [],
              "contralateral": f"mdb{i + 1:03d}.pgm", "seconds": 0.09} for i in range(n)]
    return {"films": films, "failures": [], "config": {"score_threshold": 0.2121, "verdict_rule": "rule"}}


def test_summary_says_1_film_and_fits_80_columns_with_labels(tmp_path):
    from rich.console import Console

    from screening.run import print_screen_summary

    console = Console(width=80, record=True)
    print_screen_summary(_summary_doc(1), tmp_path, console=console)
    text = console.export_text()
    assert "mammo screen: 1 film, 0 failed" in text and "1 films" not in text
    console = Console(width=80, record=True)
    doc = _summary_doc(6)
    print_screen_summary(doc, tmp_path, console=console, truth={f["file"]: "malignant (CIRC)" for f in doc["films"]})
    table = console.export_text().split("median")[0]
    assert "…" not in table  # no column cut, the labels included (mammo demo at 80 columns)
    assert "labelled" in table and table.count("malignant (CIRC)") == 6
    assert max(len(line) for line in table.splitlines()) <= 80
    console = Console(width=80, record=True)
    print_screen_summary({**_summary_doc(0), "films": None, "n_films": 1, "verdicts": {"normal": 1}}, tmp_path, console=console)
    assert "mammo screen: 1 film screened (1 normal)" in console.export_text()
