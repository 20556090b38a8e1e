"""DICOM SR (TID 1500) and GSPS of screened films: read back, checked against report.json, validated by dsrdump."""

import shutil
import subprocess

import numpy as np
import pytest

from converters.errors import InputError
from detector.calc_clusters import CalcCluster
from detector.detections import Detections
from phantoms import make_phantom, phantom_film
from screening.dicom_sr import (FINDING_CODES, GRADE_CODES, box_polyline, build_gsps, build_sr, film_sources,
                                write_dicom_atomic, write_film_objects)
from screening.pipeline import Screener, ScreenConfig
from screening.run import screen_paths

MAMMO_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
GSPS_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"
SPACING_MM = 0.1  # half the model grid: the screener halves the film, boxes must come back doubled
BLOB = (300, 200, 40)  # col, row, radius_px in the file's own pixels


def synthetic_mammogram(path, size=512, blobs=(BLOB,), seed=0, study_uid=None, patient_id="PHANTOM1", spacing_mm=SPACING_MM):
    """A small 16-bit MONOCHROME2 mammogram (MG, For Presentation) with patient and study attributes."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = make_phantom(size, blobs, seed=seed, dtype=np.uint16, bits_stored=12).image
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MAMMO_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = MAMMO_SOP_CLASS, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Phantom^One", patient_id, "", "F"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "20261203", "120000", "1", "", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber, ds.Manufacturer = "MG", 1, 1, "phantom"
    ds.Laterality, ds.ImageLaterality = "L", "L"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.PixelData = pixels.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return ds


class BlobDetector:
    """Test double: one box per bright blob, score 0.8."""

    backend = "blob-stub"

    def predict(self, image):
        import cv2

        _, _, stats, _ = cv2.connectedComponentsWithStats((image > 170).astype(np.uint8))
        boxes = [[s[0], s[1], s[0] + s[2], s[1] + s[3]] for s in stats[1:] if s[4] > 20]
        return Detections(np.array(boxes, float), np.full(len(boxes), 0.8)) if boxes else Detections.empty()


class FixedGrader:
    def grade(self, image, boxes_xyxy):
        return np.tile([0.1, 0.3, 0.6], (len(boxes_xyxy), 1))


class OneClusterCalc:
    """Test double: one calcification cluster of 3 specks at a fixed place on the model grid."""

    def detect(self, image, breast=None):
        specks = np.array([[60.0, 150.0], [66.0, 155.0], [62.0, 160.0]])
        return [CalcCluster((55.0, 145.0, 71.0, 165.0), 0.4, specks)], None


def stub_screener():
    cfg = ScreenConfig(film_model="none", bilateral=False, overlays=False)
    return Screener(cfg, detector=BlobDetector(), grader=FixedGrader(), calc=OneClusterCalc(), film_model=None)


@pytest.fixture
def screened(tmp_path):
    """A synthetic DICOM film screened into a report; ``(doc, films folder, source dataset, out)``."""
    films = tmp_path / "films"
    films.mkdir()
    src = synthetic_mammogram(films / "left.dcm")
    doc = screen_paths([films], tmp_path / "out", stub_screener().config, screener=stub_screener(), progress=False)
    return doc, films, src, tmp_path / "out"


def _evidence_uids(ds):
    seq = ds.CurrentRequestedProcedureEvidenceSequence[0]
    series = seq.ReferencedSeriesSequence[0]
    return seq.StudyInstanceUID, series.SeriesInstanceUID, series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID


def test_sr_read_back_matches_report(screened):
    import highdicom as hd
    import pydicom

    doc, films, src, out = screened
    (film,) = doc["films"]
    kinds = sorted(d["finding"] for d in film["detections"])
    assert kinds == ["calcification", "mass"]
    mass = next(d for d in film["detections"] if d["finding"] == "mass")
    # The blob's box in the file's own pixels (the screener saw the film at half size).
    x1, y1, x2, y2 = mass["xyxy"]
    assert abs((x1 + x2) / 2 - BLOB[0]) <= 3 and abs((y1 + y2) / 2 - BLOB[1]) <= 3 and x2 - x1 > 60
    (entry,), _ = write_film_objects(doc, films, out / "dicom-sr")
    path = out / "dicom-sr" / entry["sr"]

    raw = pydicom.dcmread(path)
    assert raw.SOPClassUID == COMPREHENSIVE_SR
    assert (raw.StudyInstanceUID, raw.PatientID) == (src.StudyInstanceUID, src.PatientID)
    assert raw.SeriesInstanceUID != src.SeriesInstanceUID
    assert _evidence_uids(raw) == (src.StudyInstanceUID, src.SeriesInstanceUID, src.SOPInstanceUID)

    sr = hd.sr.srread(path)
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == len(film["detections"])
    for g, d in zip(groups, film["detections"]):
        assert (g.finding_type.value, g.finding_type.scheme_designator) == FINDING_CODES[d["finding"]][:2]
        np.testing.assert_allclose(g.roi.value, box_polyline(d["xyxy"]), atol=1e-3)
        ref = g.roi.ContentSequence[0].ReferencedSOPSequence[0]
        assert (ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID) == (src.SOPClassUID, src.SOPInstanceUID)
        values = {m.name.value: m.value for m in g.get_measurements()}
        assert values["111012"] == pytest.approx(d["score"]) and values["111047"] == pytest.approx(d["probabilities"]["malignant"])
        assert values.get("111038") == d.get("n_specks")
        (grade,) = g.get_qualitative_evaluations()
        assert grade.value.value == GRADE_CODES[d["grade"]][0]
    (overall,) = sr.content.get_image_measurement_groups()
    (assessment,) = overall.get_qualitative_evaluations()
    assert (assessment.name.value, assessment.value.value) == ("111413", GRADE_CODES[film["verdict"]][0])
    scores = {m.name.value: m.value for m in overall.get_measurements()}
    assert scores["abnormal_score"] == pytest.approx(film["abnormal_score"])
    assert raw.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99MAMMO"


@pytest.mark.parametrize("kind", sorted(FINDING_CODES))
@pytest.mark.parametrize("grade", sorted(GRADE_CODES))
def test_each_finding_type_and_grade_is_coded(tmp_path, kind, grade):
    import highdicom as hd

    src = synthetic_mammogram(tmp_path / "a.dcm", size=64, blobs=())
    probs = {"normal": 0.1, "benign": 0.1, "malignant": 0.1} | {grade: 0.8}
    film = {"file": "a.dcm", "width": 64, "height": 64, "verdict": grade, "abnormal_score": 0.5, "malignant_score": 0.2,
            "detections": [{"finding": kind, "xyxy": [0, 1.5, 64, 30], "score": 0.7, "grade": grade, "probabilities": probs}]}
    sr = hd.sr.srread(write_dicom_atomic(build_sr(src, film), tmp_path / "a.sr.dcm"))
    (g,) = sr.content.get_planar_roi_measurement_groups()
    assert g.finding_type.value == FINDING_CODES[kind][0]
    assert g.get_qualitative_evaluations()[0].value.value == GRADE_CODES[grade][0]
    np.testing.assert_allclose(g.roi.value[[0, 2]], [[0, 1.5], [64, 30]])  # (column, row) points, as the report's x, y


def test_film_without_findings_has_only_its_assessment(tmp_path):
    import highdicom as hd

    src = synthetic_mammogram(tmp_path / "a.dcm", size=64, blobs=())
    film = {"file": "a.dcm", "width": 64, "height": 64, "verdict": "normal", "detections": []}
    sr = hd.sr.srread(write_dicom_atomic(build_sr(src, film), tmp_path / "a.sr.dcm"))
    assert sr.content.get_planar_roi_measurement_groups() == []
    (overall,) = sr.content.get_image_measurement_groups()
    assert overall.get_qualitative_evaluations()[0].value.value == GRADE_CODES["normal"][0]


def test_source_of_another_size_is_refused(tmp_path):
    src = synthetic_mammogram(tmp_path / "a.dcm", size=64, blobs=())
    film = {"file": "a.dcm", "width": 128, "height": 64, "verdict": "normal", "detections": []}
    with pytest.raises(InputError, match="64x64 pixels but the report film is 128x64"):
        build_sr(src, film)
    with pytest.raises(InputError, match="not the image"):
        build_gsps(src, film)


def test_gsps_draws_the_boxes(screened):
    import pydicom

    doc, films, src, out = screened
    (entry,), _ = write_film_objects(doc, films, out / "dicom-sr", gsps=True)
    pr = pydicom.dcmread(out / "dicom-sr" / entry["gsps"])
    assert pr.SOPClassUID == GSPS_SOP_CLASS and pr.StudyInstanceUID == src.StudyInstanceUID
    ref = pr.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == src.SeriesInstanceUID
    assert ref.ReferencedImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    (ann,) = pr.GraphicAnnotationSequence
    boxes = [np.asarray(o.GraphicData, float).reshape(-1, 2) for o in ann.GraphicObjectSequence]
    want = [box_polyline(d["xyxy"]) for d in doc["films"][0]["detections"]]
    assert len(boxes) == len(want)
    for got, exp in zip(boxes, want):
        np.testing.assert_allclose(got, exp, atol=1e-3)
    assert {o.GraphicAnnotationUnits for o in ann.GraphicObjectSequence} == {"PIXEL"}
    labels = [t.UnformattedTextValue for t in ann.TextObjectSequence]
    assert labels[0].startswith(doc["films"][0]["detections"][0]["finding"])


def test_non_dicom_films_get_no_sr(tmp_path):
    from converters.images import encode_pgm

    films = tmp_path / "films"
    films.mkdir()
    (films / "a.pgm").write_bytes(encode_pgm(phantom_film(128, [(60, 60, 10)])))
    synthetic_mammogram(films / "b.dcm", size=128, blobs=[(60, 60, 10)])
    doc = screen_paths([films], tmp_path / "out", stub_screener().config, screener=stub_screener(), progress=False)
    written, failures = write_film_objects(doc, film_sources([films / "a.pgm", films / "b.dcm"]), tmp_path / "sr")
    assert [w["file"] for w in written] == ["b.dcm"] and failures == []
    assert sorted(p.name for p in (tmp_path / "sr").iterdir()) == ["b.sr.dcm"]  # no temporaries left


def test_srs_of_two_studies_are_in_two_series(tmp_path):
    import pydicom

    films = tmp_path / "films"
    films.mkdir()
    synthetic_mammogram(films / "a.dcm", size=128, blobs=[(60, 60, 10)], patient_id="P1")
    synthetic_mammogram(films / "b.dcm", size=128, blobs=[(60, 60, 10)], patient_id="P2")
    doc = screen_paths([films], tmp_path / "out", stub_screener().config, screener=stub_screener(), progress=False)
    written, _ = write_film_objects(doc, films, tmp_path / "sr")
    srs = [pydicom.dcmread(tmp_path / "sr" / w["sr"]) for w in written]
    assert len({s.StudyInstanceUID for s in srs}) == 2 and len({s.SeriesInstanceUID for s in srs}) == 2


@pytest.mark.skipif(shutil.which("dsrdump") is None, reason="DCMTK's dsrdump not installed (apt-get install dcmtk)")
def test_sr_valid_by_dsrdump(screened):
    doc, films, src, out = screened
    (entry,), _ = write_film_objects(doc, films, out / "dicom-sr")
    run = subprocess.run(["dsrdump", "-v", "+Pt", str(out / "dicom-sr" / entry["sr"])], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    problems = [ln for ln in run.stderr.splitlines() if ln.startswith(("E:", "W:", "F:"))]
    assert problems == []
    assert "Comprehensive SR Document" in run.stdout
    assert "# TID 1500 (DCMR)" in run.stdout and run.stdout.count("# TID 1410 (DCMR)") == 2
    assert '(4147007,SCT,"Mass")' in run.stdout and '(129769006,SCT,"Calcification Cluster")' in run.stdout


def test_film_whose_header_cannot_make_an_sr_is_a_failure_entry(tmp_path):
    import pydicom

    films = tmp_path / "films"
    films.mkdir()
    synthetic_mammogram(films / "a.dcm", size=128, blobs=[(60, 60, 10)])
    synthetic_mammogram(films / "b.dcm", size=128, blobs=[(60, 60, 10)])
    ds = pydicom.dcmread(films / "b.dcm")
    del ds.StudyInstanceUID
    ds.save_as(films / "b.dcm", enforce_file_format=True)
    doc = screen_paths([films], tmp_path / "out", stub_screener().config, screener=stub_screener(), progress=False)
    written, failures = write_film_objects(doc, films, tmp_path / "sr")
    assert [w["file"] for w in written] == ["a.dcm"]
    assert [f["file"] for f in failures] == ["b.dcm"] and "lacks StudyInstanceUID" in failures[0]["error"]


def test_gsps_draws_only_boxes_above_its_threshold(screened):
    import pydicom

    doc, films, src, out = screened
    (entry,), _ = write_film_objects(doc, films, out / "dicom-sr", gsps=True, gsps_min_score=0.5)
    pr = pydicom.dcmread(out / "dicom-sr" / entry["gsps"])
    (ann,) = pr.GraphicAnnotationSequence
    kept = [d for d in doc["films"][0]["detections"] if d["score"] >= 0.5]
    assert 0 < len(kept) < len(doc["films"][0]["detections"]) and len(ann.GraphicObjectSequence) == len(kept)


def test_sr_from_a_film_result_equals_its_report_form(tmp_path):
    import highdicom as hd
    import pydicom

    synthetic_mammogram(tmp_path / "a.dcm")
    result = stub_screener().screen_file(tmp_path / "a.dcm")
    src = pydicom.dcmread(tmp_path / "a.dcm", stop_before_pixels=True)
    uid = hd.UID()
    from_result = hd.sr.srread(write_dicom_atomic(build_sr(src, result, sop_instance_uid=uid), tmp_path / "r.dcm"))
    groups = from_result.content.get_planar_roi_measurement_groups()
    assert from_result.SOPInstanceUID == uid and len(groups) == len(result.findings) == 2
    for g, f in zip(groups, result.findings):
        np.testing.assert_allclose(g.roi.value, box_polyline(f.xyxy), atol=1e-3)


def test_add_dicom_outputs_names_each_films_sr_in_the_report(tmp_path):
    from screening.dicom_sr import add_dicom_outputs
    from screening.report import load_report

    films = tmp_path / "films"
    films.mkdir()
    synthetic_mammogram(films / "a.dcm", size=128, blobs=[(60, 60, 10)])
    (films / "old.dcm").write_bytes((films / "a.dcm").read_bytes())
    out = tmp_path / "out"
    add_dicom_outputs(screen_paths([films], out, stub_screener().config, screener=stub_screener(), progress=False),
                      [films], out, gsps=True)
    assert (out / "dicom-sr" / "old.sr.dcm").is_file()
    (films / "old.dcm").unlink()  # a re-run without that film: its SR goes too, a file someone else put there stays
    (out / "dicom-sr" / "mine.txt").write_text("not mammo's")
    add_dicom_outputs(screen_paths([films], out, stub_screener().config, screener=stub_screener(), progress=False),
                      [films], out, gsps=True)
    (film,) = load_report(out / "report.json")["films"]
    assert (film["dicom_sr"], film["dicom_gsps"]) == ("dicom-sr/a.sr.dcm", "dicom-sr/a.gsps.dcm")
    assert sorted(p.name for p in (out / "dicom-sr").iterdir()) == ["a.gsps.dcm", "a.sr.dcm", "mine.txt"]
