"""`mammo demo` on a fresh install: the console script, the bundled sample, the shipped weights."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from screening.report import validate_report


@pytest.mark.slow
def test_mammo_demo_runs_offline(tmp_path):
    exe = shutil.which("mammo") or str(Path(sys.executable).with_name("mammo"))
    if not Path(exe).exists():
        pytest.fail("the mammo console script is not installed (pip install -e .)")
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "MAMMO_CACHE_DIR": str(tmp_path / "cache"), "NO_PROXY": "*", "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    res = subprocess.run([exe, "demo", "--out", str(tmp_path / "demo"), "--quiet"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    doc = validate_report(json.loads((tmp_path / "demo" / "report.json").read_text()))
    assert sorted(f["file"] for f in doc["films"]) == [f"mdb{n}.pgm" for n in ("009", "010", "028", "181", "218", "231")]
    assert doc["failures"] == []
    assert len(list((tmp_path / "demo" / "overlays").glob("*.png"))) == 6
    assert "demo done" in res.stdout
    _readme_example_matches(doc)


def _readme_example_matches(doc: dict) -> None:
    """The README's report.json example is real output of `mammo demo`: every value it shows
    (the parts marked "..." and the timing are left out) equals the demo's."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split('```json\n{"schema_version"', 1)[1].split("```", 1)[0]
    example = json.loads('{"schema_version"' + block)
    shown = example["films"][0]
    film = next(f for f in doc["films"] if f["file"] == shown["file"])
    for key, value in shown.items():
        if key == "detections":
            for det in (d for d in value if "..." not in d):
                assert det in film["detections"], f"README detection {det} is not in the demo's output"
        elif key == "seconds":  # a timing: differs between runs
            assert film[key] > 0
        elif key == "features":
            assert {k: v for k, v in value.items() if k != "..."}.items() <= film["features"].items()
        else:
            assert film[key] == value, f"README {key}={value!r}, demo {film[key]!r}"
    assert doc["config"]["verdict_rule"] == example["config"]["verdict_rule"]
    assert doc["config"]["score_threshold"] == example["config"]["score_threshold"]
