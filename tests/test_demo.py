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
