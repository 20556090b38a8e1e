"""results.jsonl: written as films finish, safe against a kill, and --resume skips finished films."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from converters.images import encode_pgm
from phantoms import phantom_film
from screening.results_log import LOG_NAME, ResultsLog, parse_log
from screening.run import screen_paths
from test_screening import stub_screener


def _films(d: Path, n: int) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (d / f"f{i}.pgm").write_bytes(encode_pgm(phantom_film(128, [(40 + i, 60, 12)], seed=i)))
    return d


class CountingScreener:
    """Wraps a screener and counts the films it actually screens."""

    def __init__(self, inner):
        self.inner, self.names = inner, []
        self.config, self.detector, self.film_model = inner.config, inner.detector, inner.film_model

    def screen_image(self, film, name, *a, **k):
        self.names.append(name)
        return self.inner.screen_image(film, name, *a, **k)


def test_log_has_one_line_per_film_as_they_finish(tmp_path):
    d = _films(tmp_path / "films", 3)
    (d / "bad.png").write_bytes(b"not a png")
    doc = screen_paths([d], tmp_path / "out", stub_screener().config, screener=stub_screener(), progress=False)
    lines = (tmp_path / "out" / LOG_NAME).read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    assert len(recs) == 4 and sum("failure" in r for r in recs) == 1
    by_file = {r["key"]["file"]: r for r in recs}
    assert by_file["f0.pgm"]["film"]["detections"] == next(f for f in doc["films"] if f["file"] == "f0.pgm")["detections"]
    assert all(len(r["key"]["sha256"]) == 64 for r in recs)


def test_resume_skips_finished_films_and_rescreens_changed_ones(tmp_path):
    d = _films(tmp_path / "films", 4)
    out = tmp_path / "out"
    first = screen_paths([d], out, stub_screener().config, screener=stub_screener(), progress=False)
    # A kill in the middle of the next film leaves half a line behind.
    with open(out / LOG_NAME, "a") as fh:
        fh.write('{"key": {"file": "f9.pgm", "sha2')
    (d / "f2.pgm").write_bytes(encode_pgm(phantom_film(128, [(90, 90, 20)], seed=42)))  # changed since
    counting = CountingScreener(stub_screener())
    again = screen_paths([d], out, counting.config, screener=counting, progress=False, resume=True)
    assert counting.names == ["f2.pgm"]
    assert again["resumed"] == {"kept": 3, "screened": 1} and "resumed" not in first
    from rich.console import Console

    from screening.run import print_screen_summary

    console = Console(width=200, record=True)
    print_screen_summary(again, out, console=console)
    assert "resumed: 3 films kept from the earlier run, 1 screened now" in console.export_text()
    assert [f["file"] for f in again["films"]] == [f["file"] for f in first["films"]]
    f2 = next(f for f in again["films"] if f["file"] == "f2.pgm")
    assert f2 != next(f for f in first["films"] if f["file"] == "f2.pgm")
    assert len(list((out / "overlays").glob("*.png"))) == 4  # reused films get their overlays too
    recs, skipped = parse_log((out / LOG_NAME).read_text().splitlines())
    assert skipped == 0 and len(recs) == 5  # the truncated line is gone; f2 has its old and new record


def test_without_resume_everything_is_screened_again(tmp_path):
    d = _films(tmp_path / "films", 2)
    out = tmp_path / "out"
    screen_paths([d], out, stub_screener().config, screener=stub_screener(), progress=False)
    counting = CountingScreener(stub_screener())
    screen_paths([d], out, counting.config, screener=counting, progress=False)
    assert sorted(counting.names) == ["f0.pgm", "f1.pgm"]
    assert len((out / LOG_NAME).read_text().splitlines()) == 2


def test_parse_log_skips_what_is_not_a_record():
    good = json.dumps({"key": {"file": "a", "sha256": "ab"}, "film": {"file": "a"}})
    both = json.dumps({"key": {"file": "b", "sha256": "cd"}, "film": {}, "failure": {}})
    done, skipped = parse_log([good, both, "{", "[]", json.dumps({"key": {"file": "c", "sha256": ""}, "film": {}})])
    assert list(done) == [("a", "ab")] and skipped == 4


def test_a_moved_copy_of_the_folder_resumes_by_name_and_content(tmp_path):
    d = _films(tmp_path / "films", 2)
    out = tmp_path / "out"
    screen_paths([d], out, stub_screener().config, screener=stub_screener(), progress=False)
    shutil.copytree(d, tmp_path / "moved")
    counting = CountingScreener(stub_screener())
    screen_paths([tmp_path / "moved"], out, counting.config, screener=counting, progress=False, resume=True)
    assert counting.names == []
    log = ResultsLog(out, resume=True)
    log.close()
    assert len(log.done) == 2 and np.all([len(k[1]) == 64 for k in log.done])


def test_report_is_merged_from_the_log_one_film_at_a_time(tmp_path):
    from screening.report import validate_report

    d = _films(tmp_path / "films", 3)
    kept = screen_paths([d], tmp_path / "a", stub_screener().config, screener=stub_screener(), progress=False)
    lean = screen_paths([d], tmp_path / "b", stub_screener().config, screener=stub_screener(), progress=False,
                        keep_films=False)
    assert lean["films"] is None and lean["n_films"] == 3 and sum(lean["verdicts"].values()) == 3
    a, b = (json.loads((tmp_path / k / "report.json").read_text()) for k in ("a", "b"))
    validate_report(b)
    strip = lambda doc: [{k: v for k, v in f.items() if k != "seconds"} for f in doc["films"]]  # noqa: E731
    assert strip(a) == strip(b) == strip(kept)
    assert (tmp_path / "a" / "report.csv").read_text().splitlines()[0].startswith("file,verdict,finding")
