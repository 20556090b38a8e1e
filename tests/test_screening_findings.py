"""Every kind of finding in one report: masses, calcification clusters, the other breast (shipped models)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from converters.errors import InputError
from screening.pipeline import ScreenConfig
from screening.report import SCHEMA_VERSION, finding_of, validate_report
from screening.run import screen_paths

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("screen")
    return screen_paths([SAMPLE], out, ScreenConfig(), progress=False), out


def test_report_has_typed_findings_and_contralateral_films(sample_report):
    doc, out = sample_report
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    validate_report(json.loads((out / "report.json").read_text()))
    by_file = {f["file"]: f for f in doc["films"]}
    assert by_file["mdb009.pgm"]["contralateral"] == "mdb010.pgm"
    assert by_file["mdb010.pgm"]["contralateral"] == "mdb009.pgm"
    for name in ("mdb028.pgm", "mdb181.pgm", "mdb218.pgm", "mdb231.pgm"):
        assert by_file[name]["contralateral"] is None  # their partners are not in the batch
    kinds = {finding_of(d) for f in doc["films"] for d in f["detections"]}
    assert "mass" in kinds and "calcification" in kinds and kinds <= {"mass", "calcification", "asymmetry"}
    for f in doc["films"]:
        assert 0 <= f["malignant_score"] <= f["abnormal_score"] <= 1
        scores = [d["score"] for d in f["detections"]]
        assert scores == sorted(scores, reverse=True)
        for d in f["detections"]:
            if finding_of(d) == "calcification":
                assert d["n_specks"] >= 3 and len(d["specks_xy"]) == d["n_specks"]
                x1, y1, x2, y2 = d["xyxy"]
                assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in d["specks_xy"])
        assert (f["contralateral"] is not None) == (f["features"]["paired"] == 1.0)
    csv = (out / "report.csv").read_text().splitlines()
    assert csv[0].split(",")[2] == "finding" and any(",calcification," in row for row in csv[1:])


def test_verdict_follows_the_film_model_thresholds(sample_report):
    from screening.film_model import load_film_model

    doc, _ = sample_report
    fm = load_film_model()
    for f in doc["films"]:
        assert f["verdict"] == fm.verdict(f["abnormal_score"], f["malignant_score"])
    rule = doc["config"]["verdict_rule"]
    assert "film model" in rule
    # the thresholds as printed are the model's own: no film reads as contradicting the rule
    printed = [float(v) for v in re.findall(r"_score >= ([0-9.]+),", rule)]
    assert printed == [fm.abnormal_threshold, fm.malignant_threshold]
    for f in doc["films"]:
        assert (f["verdict"] != "normal") == (f["abnormal_score"] >= printed[0])
    # the mass-only rule's keys are not written next to the film model's rule
    assert "abnormal_threshold" not in doc["config"] and "malignant_threshold" not in doc["config"]


def test_version_1_reports_are_still_read(sample_report):
    doc, _ = sample_report
    old = copy.deepcopy(doc)
    del old["schema_version"]
    for f in old["films"]:
        f["detections"] = [{k: v for k, v in d.items() if k not in ("finding", "n_specks", "specks_xy")}
                           for d in f["detections"] if d["finding"] == "mass"]
    validate_report(old)
    assert all(finding_of(d) == "mass" for f in old["films"] for d in f["detections"])
    newer = copy.deepcopy(doc)
    newer["schema_version"] = 3
    with pytest.raises(InputError, match="schema_version"):
        validate_report(newer)
    bad = copy.deepcopy(doc)
    bad["films"][0]["detections"].append({**bad["films"][0]["detections"][0], "finding": "tumour"})
    with pytest.raises(InputError, match="finding"):
        validate_report(bad)


def test_screening_alone_when_the_partner_is_unreadable(tmp_path):
    import shutil

    d = tmp_path / "films"
    d.mkdir()
    shutil.copy(SAMPLE / "mdb009.pgm", d / "mdb009.pgm")
    (d / "mdb010.pgm").write_bytes(b"P5\n1024 1024\n255\n" + b"\0" * 10)  # truncated
    doc = screen_paths([d], tmp_path / "out", ScreenConfig(overlays=False), progress=False)
    assert [f["file"] for f in doc["films"]] == ["mdb009.pgm"]
    assert doc["films"][0]["contralateral"] is None and doc["failures"][0]["file"] == "mdb010.pgm"
