"""A real Orthanc on 127.0.0.1 (temporary config and storage): store an SR and its image, read them
back over REST, and screen a study pulled from it with its SRs pushed back."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from converters.errors import InputError
from screening.dicom_sr import FINDING_CODES, box_polyline
from screening.orthanc import OrthancClient, screen_orthanc_study
from test_dicom_sr import BLOB, COMPREHENSIVE_SR, GSPS_SOP_CLASS, stub_screener, synthetic_mammogram

ORTHANC = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None)
pytestmark = pytest.mark.skipif(ORTHANC is None, reason="Orthanc not installed (apt-get install orthanc)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """An Orthanc process of this test module only; stopped by SIGTERM to its PID at the end."""
    root = tmp_path_factory.mktemp("orthanc")
    http_port, dicom_port = _free_port(), _free_port()
    config = {
        "Name": "mammoscreen-test", "StorageDirectory": str(root / "db"), "IndexDirectory": str(root / "db"),
        "HttpPort": http_port, "DicomPort": dicom_port, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "HttpServerEnabled": True, "DicomServerEnabled": True, "Plugins": [],
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    log = open(root / "orthanc.log", "wb")
    proc = subprocess.Popen([ORTHANC, str(root / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    client = OrthancClient(f"http://127.0.0.1:{http_port}", timeout_s=30)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.system()
                break
            except InputError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Orthanc did not answer on port {http_port}: {(root / 'orthanc.log').read_text()[-800:]}")
                time.sleep(0.3)
        yield client
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_sr_and_image_stored_and_read_back(orthanc, tmp_path):
    import highdicom as hd
    import pydicom

    from screening.dicom_sr import write_film_objects
    from screening.run import screen_paths

    films = tmp_path / "films"
    films.mkdir()
    src = synthetic_mammogram(films / "a.dcm")
    doc = screen_paths([films], tmp_path / "out", stub_screener().config, screener=stub_screener(), progress=False)
    (entry,), _ = write_film_objects(doc, films, tmp_path / "sr", gsps=True)
    image = orthanc.upload_file(films / "a.dcm")
    sr = orthanc.upload_file(tmp_path / "sr" / entry["sr"])
    pr = orthanc.upload_file(tmp_path / "sr" / entry["gsps"])
    assert image["Status"] == sr["Status"] == pr["Status"] == "Success"
    assert image["ParentStudy"] == sr["ParentStudy"] == pr["ParentStudy"]  # filed with its image

    listed = {i["SOPInstanceUID"]: i for i in orthanc.study_instances(src.StudyInstanceUID)}
    assert listed[src.SOPInstanceUID]["SOPClassUID"] == src.SOPClassUID
    sr_ds = pydicom.dcmread(tmp_path / "sr" / entry["sr"])
    assert listed[sr_ds.SOPInstanceUID]["SOPClassUID"] == COMPREHENSIVE_SR
    back = tmp_path / "back.sr.dcm"
    back.write_bytes(orthanc.download(sr["ID"]))
    groups = hd.sr.srread(back).content.get_planar_roi_measurement_groups()
    dets = doc["films"][0]["detections"]
    assert [g.finding_type.value for g in groups] == [FINDING_CODES[d["finding"]][0] for d in dets]
    for g, d in zip(groups, dets):
        assert abs(g.roi.value - box_polyline(d["xyxy"])).max() < 1e-3
    tags = orthanc.get_json(f"/instances/{image['ID']}/simplified-tags")
    assert tags["SOPInstanceUID"] == src.SOPInstanceUID and int(tags["Rows"]) == 512


def test_screen_study_round_trip(orthanc, tmp_path):
    import pydicom

    from screening.report import load_report

    study = pydicom.uid.generate_uid()
    left = synthetic_mammogram(tmp_path / "l.dcm", study_uid=study, seed=1)
    right = synthetic_mammogram(tmp_path / "r.dcm", study_uid=study, seed=2, blobs=[(200, 300, 30)])
    other = synthetic_mammogram(tmp_path / "other.dcm", seed=3)  # another study: must not be screened
    for p in ("l.dcm", "r.dcm", "other.dcm"):
        orthanc.upload_file(tmp_path / p)
    out = tmp_path / "out"
    doc = screen_orthanc_study(orthanc.url, study, stub_screener(), out, gsps=True, progress=False)

    assert sorted(f["file"] for f in doc["films"]) == sorted(f"{d.SOPInstanceUID}.dcm" for d in (left, right))
    assert doc["failures"] == [] and doc["orthanc"]["screened"] == 2 and doc["orthanc"]["skipped"] == []
    assert load_report(out / "report.json")["orthanc"]["study_instance_uid"] == study
    by_file = {f["file"]: f for f in doc["films"]}
    x1, y1, x2, y2 = next(d for d in by_file[f"{left.SOPInstanceUID}.dcm"]["detections"] if d["finding"] == "mass")["xyxy"]
    assert abs((x1 + x2) / 2 - BLOB[0]) <= 3 and abs((y1 + y2) / 2 - BLOB[1]) <= 3

    classes = sorted(i["SOPClassUID"] for i in orthanc.study_instances(study))
    assert classes == sorted([left.SOPClassUID] * 2 + [COMPREHENSIVE_SR] * 2 + [GSPS_SOP_CLASS] * 2)
    for pushed in doc["orthanc"]["pushed"]:
        ds = pydicom.dcmread(__import__("io").BytesIO(orthanc.download(pushed["sr"])))
        src_uid = pushed["file"].removesuffix(".dcm")
        refs = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence
        assert ds.StudyInstanceUID == study and refs[0].ReferencedSOPInstanceUID == src_uid
    assert other.StudyInstanceUID != study

    # A second run screens the images only: its own SRs and presentation states are skipped, and counted.
    again = screen_orthanc_study(orthanc.url, study, stub_screener(), out, push=False, progress=False)
    assert again["orthanc"]["screened"] == 2 and len(again["orthanc"]["skipped"]) == 4
    assert again["orthanc"]["pushed"] == []


def test_unknown_study_and_bad_url_are_one_clear_error(orthanc, tmp_path):
    with pytest.raises(InputError, match="holds no study with Study Instance UID 1.2.3.999"):
        screen_orthanc_study(orthanc.url, "1.2.3.999", stub_screener(), tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="Study Instance UID"):
        orthanc.find_study("not-a-uid")
    with pytest.raises(InputError, match="http"):
        OrthancClient("127.0.0.1:8042")
    with pytest.raises(InputError, match="cannot reach Orthanc"):
        OrthancClient(f"http://127.0.0.1:{_free_port()}", timeout_s=5).system()
