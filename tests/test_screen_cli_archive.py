"""`mammo screen` flags for archives: --dicom-sr/--dicom-gsps, --runtime onnxruntime, --resume, argument checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_dicom_sr import synthetic_mammogram

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _run(args):
    from screening.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def test_dicom_sr_from_the_command_line(tmp_path):
    films = tmp_path / "films"
    films.mkdir()
    synthetic_mammogram(films / "a.dcm")
    out = tmp_path / "out"
    assert _run(["screen", str(films), "--out", str(out), "--dicom-sr", "--dicom-gsps", "--quiet"]) in (0, None)
    doc = json.loads((out / "report.json").read_text())
    (film,) = doc["films"]
    assert (out / film["dicom_sr"]).is_file() and (out / film["dicom_gsps"]).is_file()
    import pydicom

    sr = pydicom.dcmread(out / film["dicom_sr"])
    src = pydicom.dcmread(films / "a.dcm")
    assert sr.StudyInstanceUID == src.StudyInstanceUID and sr.Modality == "SR"


def test_onnxruntime_gives_the_same_report_as_torch(tmp_path):
    args = ["screen", str(SAMPLE / "mdb028.pgm"), "--quiet"]
    assert _run(args + ["--out", str(tmp_path / "t")]) in (0, None)
    assert _run(args + ["--out", str(tmp_path / "o"), "--runtime", "onnxruntime"]) in (0, None)
    a, b = (json.loads((tmp_path / k / "report.json").read_text())["films"][0] for k in ("t", "o"))
    assert a["verdict"] == b["verdict"] and len(a["detections"]) == len(b["detections"])
    for da, db in zip(a["detections"], b["detections"]):
        assert da["finding"] == db["finding"] and abs(da["score"] - db["score"]) <= 1e-3
        assert max(abs(x - y) for x, y in zip(da["xyxy"], db["xyxy"])) <= 0.5
    assert abs(a["abnormal_score"] - b["abnormal_score"]) <= 1e-3


@pytest.mark.parametrize("args, message", [
    (["screen", "--out", "x"], "give films or folders"),
    (["screen", "--orthanc", "http://127.0.0.1:9", "--out", "x"], "go together"),
    (["screen", "data/sample", "--dicom-gsps", "--out", "x"], "--dicom-gsps needs"),
    (["screen", "data/sample", "--runtime", "tensorrt", "--out", "x"], "runtime must be one of"),
])
def test_bad_flag_combinations_are_one_line_and_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    args = [a if a != "x" else str(tmp_path / "x") for a in args]
    assert _run(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_export_format_onnx_from_the_command_line(tmp_path, capsys):
    assert _run(["detector", "export", "--format", "onnx", "--out", str(tmp_path / "d.onnx")]) in (0, None)
    assert _run(["classifier", "export", "--weights", str(SAMPLE.parents[1] / "classifier" / "weights" / "bcdcnn.safetensors"),
                 "--format", "onnx", "--out", str(tmp_path / "g.onnx")]) in (0, None)
    for name in ("d", "g"):
        assert (tmp_path / f"{name}.onnx").stat().st_size > 1000
        assert json.loads((tmp_path / f"{name}.json").read_text())["runtime"] == "onnxruntime"
    assert _run(["detector", "export", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "--run RUN is needed" in capsys.readouterr().err
