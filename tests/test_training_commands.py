"""The commands that made the shipped calcification scorer and film model, end to end on a
subset of mini-MIAS patients (MIAS_DIR): what they write, that it loads, that a seed repeats."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from converters.mias import load_mias
from detector.calc_train import calc_circles, load_calc_detector
from screening.film_model import FEATURE_SETS, load_film_model


def _mammo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("mammo") or str(Path(sys.executable).with_name("mammo"))
    return subprocess.run([exe, *args, "--quiet"], capture_output=True, text=True, cwd=cwd, timeout=900)


@pytest.fixture
def small_splits(mias_dir_env, tmp_path) -> Path:
    """24 training patients (8 with located calcifications, then others), 6 validation
    patients; everything else is 'test' and unused."""
    films = load_mias(mias_dir_env).films
    patients = sorted({f.patient_id for f in films})
    calc = sorted({f.patient_id for f in films if calc_circles(f)})
    rest = [p for p in patients if p not in calc]
    train = set(calc[:8] + rest[:16])
    val = set([p for p in rest if p not in train][:6])
    split = {f.film_id: "train" if f.patient_id in train else "val" if f.patient_id in val else "test" for f in films}
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"unit": "patient", "films": split}))
    return path


@pytest.mark.slow
def test_calcification_training_and_verdict_fit_write_loadable_models(mias_dir_env, small_splits, tmp_path):
    root = Path(__file__).resolve().parents[1]
    calc_args = ("calcifications", "train", "--mias-dir", str(mias_dir_env), "--splits", str(small_splits),
                 "--config", str(root / "configs" / "calc_clusters.yaml"))
    res = _mammo(*calc_args, "--out", str(tmp_path / "calc"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    cv = json.loads((tmp_path / "calc" / "cv_metrics.json").read_text())
    assert cv["clusters_labelled"] > 0 and len(cv["cluster_sensitivity"]) == len(cv["fp_per_film"])
    assert 0.0 <= cv["calc_films_vs_normal_auc"]["value"] <= 1.0
    detector = load_calc_detector(tmp_path / "calc" / "calc-clusters.json")
    assert detector.scorer is not None
    # the same seed gives the same model, byte for byte apart from the run's own minutes
    res = _mammo(*calc_args, "--out", str(tmp_path / "calc2"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = (json.loads((tmp_path / d / "calc-clusters.json").read_text()) for d in ("calc", "calc2"))
    a.pop("minutes", None), b.pop("minutes", None)
    assert a == b

    res = _mammo("verdict", "fit", "--mias-dir", str(mias_dir_env), "--splits", str(small_splits),
                 "--calc-run", str(tmp_path / "calc"), "--out", str(tmp_path / "verdict"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    fit = json.loads((tmp_path / "verdict" / "fit_metrics.json").read_text())
    assert set(fit["feature_sets_out_of_fold_auc"]) == set(FEATURE_SETS)
    best = max(fit["feature_sets_out_of_fold_auc"].values())
    assert fit["feature_sets_out_of_fold_auc"][fit["feature_set"]] == best
    model = load_film_model(tmp_path / "verdict" / "film-model.json")
    assert 0.0 < model.abnormal_threshold < 1.0
    assert (tmp_path / "verdict" / "reliability.png").stat().st_size > 1000
    assert "/" not in json.loads((tmp_path / "verdict" / "film-model.json").read_text())["command"].split("--splits ")[1].split()[0]
