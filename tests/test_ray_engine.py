"""`mammo screen --engine ray`: a local Ray with 2 actors gives the single-process report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("ray")

from screening.pipeline import ScreenConfig  # noqa: E402
from screening.run import screen_paths  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.mark.slow
def test_ray_with_two_actors_matches_one_process_and_reports_a_bad_film_and_a_link(tmp_path):
    films = tmp_path / "films"
    films.mkdir()
    for name in ("mdb009.pgm", "mdb010.pgm", "mdb028.pgm", "mdb218.pgm"):
        shutil.copy(SAMPLE / name, films / name)
    (films / "link.pgm").symlink_to(films / "mdb010.pgm")  # two names of one file are two films
    (films / "mdb100.pgm").write_bytes(b"P5\n1024 1024\n255\n" + b"\0" * 100)  # truncated, in the middle
    cfg = ScreenConfig()
    local = screen_paths([films], tmp_path / "local", cfg, progress=False)
    ray_doc = screen_paths([films], tmp_path / "ray", cfg, progress=False, engine="ray", actors=2)
    assert [f["file"] for f in ray_doc["films"]] == [f["file"] for f in local["films"]]
    assert [f["file"] for f in ray_doc["failures"]] == ["mdb100.pgm"] == [f["file"] for f in local["failures"]]
    assert "truncated" in ray_doc["failures"][0]["error"] and "mammo-ray-" not in ray_doc["failures"][0]["error"]
    for a, b in zip(local["films"], ray_doc["films"]):
        assert a["verdict"] == b["verdict"] and a["contralateral"] == b["contralateral"]
        assert [(d["finding"], d["xyxy"], d["score"]) for d in a["detections"]] == \
               [(d["finding"], d["xyxy"], d["score"]) for d in b["detections"]]
    assert sorted(p.name for p in (tmp_path / "ray" / "overlays").glob("*.png")) == \
           sorted(p.name for p in (tmp_path / "local" / "overlays").glob("*.png"))
    assert ray_doc["config"]["engine"] == {"name": "ray", "address": "local", "actors": 2}
    assert "link.pgm" in [f["file"] for f in ray_doc["films"]]
    assert len((tmp_path / "ray" / "results.jsonl").read_text().splitlines()) == 6
