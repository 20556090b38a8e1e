import json

import pytest

from phantoms import small_mias
from test_screening import BlobDetector, MalignantIfBigGrader


@pytest.fixture
def stub_models(monkeypatch):
    import screening.pipeline as pipeline

    def fake_init(self, config=None, detector=None, grader=None, calc=None, film_model=None):
        self.config = config or pipeline.ScreenConfig()
        self.detector = BlobDetector()
        self.grader = MalignantIfBigGrader()
        self.calc = None  # mass path only: the earlier verdict rule
        self.film_model = None
        self._recent = {}

    monkeypatch.setattr(pipeline.Screener, "__init__", fake_init)


def test_evaluate_on_phantoms_with_a_perfect_detector(tmp_path, stub_models, capsys):
    from screening.cli import main

    # MIAS labels refer to 1024 px films, so the phantoms are drawn at that size.
    src = small_mias(tmp_path / "mias1024", size=1024)
    out = tmp_path / "eval"
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--mias-dir", str(src), "--all", "--out", str(out), "--quiet", "--n-bootstrap", "50"])
    assert exc.value.code in (0, None)
    m = json.loads((out / "metrics.json").read_text())
    assert m["films"] == 10 and m["patients"] == 5
    froc = m["detection"]["froc"]["all"]
    assert froc["mean_sensitivity"]["value"] == pytest.approx(1.0)
    assert m["detection"]["coco"]["all"]["map50"]["value"] == pytest.approx(1.0, abs=0.02)
    assert m["film_level"]["normal_vs_abnormal_auc"]["value"] > 0.8  # the image-level-only film has no box
    assert m["grading"]["found_lesions"] == m["grading"]["located_lesions"] == 6
    for name in ("report.json", "report.md", "film_roc.png", "detection/froc.png"):
        assert (out / name).is_file(), name
    md = (out / "report.md").read_text()
    assert "95% CI" in md and "mAP@0.5" in md and "BCSC" in md
    # the mass-only rule: its operating point is in the report's config
    assert json.loads((out / "report.json").read_text())["config"]["abnormal_threshold"] == 0.2085


class ThresholdFilmModel:
    """Test double of the film model: the mass features as scores, the verdict at fixed thresholds."""

    abnormal_threshold, malignant_threshold = 0.5, 0.3
    abnormal = type("Scorer", (), {"feature_names": ("mass_abnormal",)})()

    def scores(self, features):
        return round(features["mass_abnormal"], 5), round(features["mass_malignant"], 5)

    def verdict(self, a, m):
        return "normal" if a < self.abnormal_threshold else "malignant" if m >= self.malignant_threshold else "benign"


def test_evaluate_with_the_film_model_reports_its_threshold_once(tmp_path, stub_models, monkeypatch):
    import screening.pipeline as pipeline
    from screening.cli import main

    plain_init = pipeline.Screener.__init__

    def with_film_model(self, *a, **k):
        plain_init(self, *a, **k)
        self.film_model = ThresholdFilmModel()

    monkeypatch.setattr(pipeline.Screener, "__init__", with_film_model)
    src = small_mias(tmp_path / "mias1024", size=1024)
    out = tmp_path / "eval"
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--mias-dir", str(src), "--all", "--out", str(out), "--quiet", "--n-bootstrap", "20"])
    assert exc.value.code in (0, None)
    md = (out / "report.md").read_text()
    # the verdict is "not normal" exactly from the threshold on: one pair of rows, not two identical ones
    assert "sensitivity at threshold" not in md
    assert md.count("| film | sensitivity of the verdict (not normal: abnormal_score >= 0.50000: the film model's own") == 1
    fl = json.loads((out / "metrics.json").read_text())["film_level"]
    assert "operating_point" not in fl and fl["verdict_point"]["flagged_from"].startswith("abnormal_score >= 0.50000")
    assert "abnormal_threshold" not in json.loads((out / "report.json").read_text())["config"]


def test_verdict_score_is_the_threshold_of_the_verdict():
    import numpy as np

    from screening.evaluate import verdict_score
    from screening.pipeline import film_verdict
    from screening.report import Finding, FilmResult

    probs = np.eye(3)[[0, 1, 2]]
    scores = np.array([0.9, 0.3, 0.1])
    dets = [Finding("mass", (0, 0, 10, 10), s, tuple(p)) for s, p in zip(scores, probs)]
    film = FilmResult("a.png", 64, 64, "benign", dets, 0.1)
    assert verdict_score(film) == 0.3
    assert verdict_score(FilmResult("a.png", 64, 64, "normal", [], 0.1)) == 0.0
    cluster = FilmResult("a.png", 64, 64, "benign", dets + [Finding("calcification", (0, 0, 5, 5), 0.95, (0, 0, 1))], 0.1)
    assert verdict_score(cluster) == 0.3  # the mass-only rule counts masses only
    for thr in (0.05, 0.1, 0.2, 0.3, 0.31, 0.95):
        flagged = film_verdict(scores, probs, thr) != "normal"
        assert flagged == (verdict_score(film) >= thr), thr


def test_evaluate_names_unreadable_film_and_exits_1(tmp_path, stub_models, capsys):
    from screening.cli import main

    src = small_mias(tmp_path / "m", size=1024)
    (src / "mdb003.pgm").write_bytes(b"P5\n1024 1024\n255\n")
    out = tmp_path / "eval"
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--mias-dir", str(src), "--all", "--out", str(out), "--quiet", "--n-bootstrap", "20"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "failed mdb003.pgm" in err and "truncated" in err
    assert json.loads((out / "metrics.json").read_text())["failures"] == 1
    assert (out / ".mammo-output").is_file()
    foreign = tmp_path / "foreign"; foreign.mkdir(); (foreign / "x.txt").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--mias-dir", str(src), "--all", "--out", str(foreign), "--quiet"])
    assert exc.value.code == 2
