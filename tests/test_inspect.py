"""mammo inspect: report parsing, both hit rules, the FiftyOne dataset, saved views, gallery, CLI.

The synthetic set is a MIAS-like folder (Info.txt + 1024x1024 PGM phantoms with bright
circles) and a report.json whose detections are placed to produce every outcome once:
correct hit, misgraded hit, centre-hit with a low IoU, missed lesions, a false alarm,
and verdict mistakes. Expected values below come from that construction.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from converters.errors import InputError
from converters.images import encode_pgm, read_gray8
from converters.masks import circle_mask
from converters.mias import load_mias
from phantoms import phantom_film
from screening.inspect import SAVED_VIEWS, inspect_film, load_report, match_report, parse_report

SIZE = 1024
# refnum, tissue, [(class, severity letter, x, mias_y, radius)]
LABELS = [
    ("mdb001", "G", [("CIRC", "B", 300, 700, 40)]),
    ("mdb002", "G", [("SPIC", "M", 500, 500, 30)]),
    ("mdb003", "D", []),
    ("mdb004", "F", [("CALC", "M", 200, 800, 20), ("CALC", "M", 700, 300, 25)]),
    ("mdb005", "F", [("CIRC", "B", 400, 400, 35), ("MISC", "B", 650, 650, 30)]),
    ("mdb006", "D", []),
    ("mdb007", "G", []),  # labelled but not in the report: skipped
]


def _box(x, mias_y, r):
    row = SIZE - mias_y
    return [x - r, row - r, x + r + 1, row + r + 1]


def _det(xyxy, score, grade):
    p = {"normal": 0.1, "benign": 0.1, "malignant": 0.1}
    p[grade] = 0.8
    return {"xyxy": xyxy, "score": score, "grade": grade, "probabilities": p}


def synthetic_report() -> dict:
    return {
        "films": [
            {"file": "mdb001.pgm", "width": SIZE, "height": SIZE, "verdict": "benign", "seconds": 0.2,
             "detections": [_det(_box(300, 700, 40), 0.9, "benign")]},
            # hit, graded benign although malignant -> misgraded; verdict malignant-as-benign
            {"file": "mdb002.pgm", "width": SIZE, "height": SIZE, "verdict": "benign", "seconds": 0.2,
             "detections": [_det(_box(500, 500, 30), 0.8, "benign")]},
            # normal film with one false alarm -> verdict normal-as-benign
            {"file": "mdb003.pgm", "width": SIZE, "height": SIZE, "verdict": "benign", "seconds": 0.2,
             "detections": [_det([100, 100, 160, 160], 0.7, "benign")]},
            # first CALC missed; second hit by a 6 px box at its centre (centre rule: hit; IoU: miss)
            {"file": "sub/mdb004.pgm", "width": SIZE, "height": SIZE, "verdict": "malignant", "seconds": 0.2,
             "detections": [_det([697, 721, 703, 727], 0.6, "malignant")]},
            # both lesions missed, nothing found -> verdict benign-as-normal
            {"file": "mdb005.pgm", "width": SIZE, "height": SIZE, "verdict": "normal", "seconds": 0.2,
             "detections": []},
            # a weak box kept in the report below the operating threshold: not counted by default
            {"file": "mdb006.pgm", "width": SIZE, "height": SIZE, "verdict": "normal", "seconds": 0.2,
             "detections": [_det([500, 500, 540, 540], 0.1, "benign")]},
            {"file": "extra_film.png", "width": SIZE, "height": SIZE, "verdict": "normal", "seconds": 0.2,
             "detections": []},
        ],
        "config": {"score_threshold": 0.25, "report_min_score": 0.05},
        "failures": [],
    }


def write_synthetic_set(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """MIAS-like folder + report.json under ``root``; returns ``(mias_dir, report_path)``."""
    mias = root / "mias"
    mias.mkdir(parents=True)
    rows = []
    for i, (refnum, tissue, lesions) in enumerate(LABELS):
        img = phantom_film(SIZE, [(x, SIZE - y, r) for _, _, x, y, r in lesions], seed=seed + i)
        for cls, sev, x, y, r in lesions:
            rows.append(f"{refnum} {tissue} {cls} {sev} {x} {y} {r}")
        if not lesions:
            rows.append(f"{refnum} {tissue} NORM")
        (mias / f"{refnum}.pgm").write_bytes(encode_pgm(img))
    (mias / "Info.txt").write_text("synthetic MIAS-like labels\n\n" + "\n".join(rows) + "\n=====\n")
    report = root / "out" / "report.json"
    report.parent.mkdir()
    report.write_text(json.dumps(synthetic_report()))
    return mias, report


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic_set(tmp_path_factory.mktemp("inspect"))


@pytest.fixture(scope="module")
def inspections(synthetic):
    mias, report = synthetic
    screened = load_report(report)
    return match_report(load_mias(mias).films, screened, min_score=screened.score_threshold)


# ----------------------------------------------------------------------------- pure parts
def _bad(mutate):
    obj = synthetic_report()
    mutate(obj)
    return obj


@pytest.mark.parametrize("obj, where", [
    ({}, "missing key 'films'"),
    (_bad(lambda o: o["films"][0].pop("verdict")), "films[0].verdict"),
    (_bad(lambda o: o["films"][1]["detections"][0].update(xyxy=[10, 10, 5, 20])), "films[1].detections[0].xyxy"),
    (_bad(lambda o: o["films"][1]["detections"][0].update(xyxy=[1, 2, 3])), "films[1].detections[0].xyxy"),
    (_bad(lambda o: o["films"][0]["detections"][0].update(grade="cancer")), "films[0].detections[0].grade"),
    (_bad(lambda o: o["films"][0]["detections"][0]["probabilities"].pop("normal")), "missing key 'normal'"),
    (_bad(lambda o: o["films"][0]["detections"][0].update(score="high")), "films[0].detections[0].score"),
    (_bad(lambda o: o["films"].append(dict(o["films"][0], file="other/mdb001.png"))), "same stem"),
])
def test_parse_report_rejects_bad_input_with_location(obj, where):
    with pytest.raises(InputError, match=re.escape(where)) as err:
        parse_report(obj, "runs/report.json")
    assert str(err.value).startswith("runs/report.json: ")


def test_parse_report_accepts_the_schema_and_empty_films():
    report = parse_report(synthetic_report())
    films = report.films
    assert [f.stem for f in films][:4] == ["mdb001", "mdb002", "mdb003", "mdb004"]
    assert films[0].findings[0].xyxy == tuple(float(v) for v in _box(300, 700, 40))
    assert films[4].findings == []
    assert report.score_threshold == 0.25
    assert parse_report({"films": []}).films == () and parse_report({"films": []}).score_threshold is None


def test_load_report_names_line_of_broken_json(tmp_path):
    p = tmp_path / "report.json"
    p.write_text('{"films": [\n  {"file": }\n]}')
    with pytest.raises(InputError, match=r"report\.json:2: not valid JSON"):
        load_report(p)


def test_match_report_counts_unlabelled_and_applies_both_rules(inspections):
    insp, unlabelled = inspections
    assert unlabelled == ["extra_film.png"]
    by_id = {i.film.film_id: i for i in insp}
    assert sorted(by_id) == ["mdb001", "mdb002", "mdb003", "mdb004", "mdb005", "mdb006"]  # mdb007 not screened
    assert (by_id["mdb001"].lesion_hit, by_id["mdb001"].lesion_misgraded, by_id["mdb001"].verdict_tags) == ([True], [False], [])
    assert by_id["mdb002"].lesion_misgraded == [True] and by_id["mdb002"].pred_misgraded == [True]
    assert by_id["mdb002"].verdict_tags == ["verdict-wrong", "verdict-malignant-as-benign"]
    assert by_id["mdb003"].pred_hit == [False] and by_id["mdb003"].n_false_alarms == 1
    assert by_id["mdb004"].lesion_hit == [False, True] and by_id["mdb004"].pred_hit == [True]
    assert by_id["mdb005"].n_missed == 2 and by_id["mdb005"].verdict_tags[1] == "verdict-benign-as-normal"
    assert by_id["mdb006"].n_mistakes == 0


@pytest.mark.parametrize("grades_scores, severity, misgraded, pred_misgraded", [
    ([("malignant", 0.9), ("benign", 0.5)], "malignant", False, [False, False]),  # the best-scoring one grades
    ([("benign", 0.9), ("malignant", 0.5)], "malignant", True, [True, False]),
    ([("benign", 0.9)], None, False, [False]),  # unknown severity: never misgraded
])
def test_best_hitting_prediction_decides_the_grade(grades_scores, severity, misgraded, pred_misgraded):
    from converters.records import Film, Lesion
    from screening.report import Finding, FilmResult

    def probs(grade):  # the grade is the most probable class
        return tuple(0.8 if g == grade else 0.1 for g in ("normal", "benign", "malignant"))

    lesion = Lesion((100, 100, 140, 150), "MASS", severity)  # a box-only lesion (COCO-like source)
    film = Film("f1", "f1.png", 256, 256, "p1", lesions=(lesion,), source="coco")
    dets = [Finding("mass", (105 + k, 110, 135, 140), s, probs(g)) for k, (g, s) in enumerate(grades_scores)]
    dets += [Finding("mass", (0, 0, 10, 10), 0.99, probs("benign"))]  # centre (5, 5): outside the box
    out = inspect_film(film, FilmResult("f1.png", 256, 256, "benign", dets, 0.1))
    assert out.lesion_hit == [True] and out.lesion_misgraded == [misgraded]
    assert out.pred_hit == [True] * len(grades_scores) + [False]
    assert out.pred_misgraded == pred_misgraded + [False]


def test_min_score_drops_low_detections(synthetic):
    mias, report = synthetic
    insp, _ = match_report(load_mias(mias).films, load_report(report), min_score=0.65)
    by_id = {i.film.film_id: i for i in insp}
    assert by_id["mdb004"].detections == () and by_id["mdb004"].n_missed == 2
    assert len(by_id["mdb003"].detections) == 1
    keep_all, _ = match_report(load_mias(mias).films, load_report(report), min_score=0.0)
    assert {i.film.film_id: i.n_false_alarms for i in keep_all}["mdb006"] == 1


def test_size_mismatch_is_an_input_error(synthetic):
    mias, _ = synthetic
    obj = synthetic_report()
    obj["films"][0]["width"] = 512
    with pytest.raises(InputError, match="512x1024"):
        match_report(load_mias(mias).films, parse_report(obj))


def test_png_copy_is_made_once_and_identical(synthetic, tmp_path):
    from screening.inspect import browser_image

    mias, _ = synthetic
    film = load_mias(mias).films[0]
    png = browser_image(film, mias, tmp_path / "cache")
    assert png.suffix == ".png" and png.is_relative_to(tmp_path / "cache")
    assert np.array_equal(read_gray8(png), read_gray8(mias / film.image_path))
    mtime = png.stat().st_mtime_ns
    assert browser_image(film, mias, tmp_path / "cache") == png
    assert png.stat().st_mtime_ns == mtime  # not rewritten


# ----------------------------------------------------------------------------- gallery
def test_gallery_groups_crops_by_tissue(inspections, synthetic, tmp_path):
    from screening.gallery import export_gallery, gallery_items

    mias, _ = synthetic
    insp, _ = inspections
    items = gallery_items(insp)
    kinds = sorted(it.kind for it in items)
    assert kinds == ["false alarm", "misgraded", "missed lesion", "missed lesion", "missed lesion"]
    page = export_gallery(insp, mias, tmp_path / "gallery")
    text = page.read_text()
    srcs = re.findall(r"<img src='([^']+)'", text)
    assert len(srcs) == len(items)
    for src in srcs:
        from PIL import Image

        with Image.open(page.parent / src) as im:
            assert im.format == "PNG" and im.size[0] == im.size[1] >= 128
    # F (mdb004, mdb005: 3 missed) before G (mdb002 misgraded) before D (mdb003 false alarm)
    assert text.index("Fatty (F): 3 item(s)") < text.index("Fatty-glandular (G): 1 item(s)") < text.index("Dense-glandular (D): 1 item(s)")


# ----------------------------------------------------------------------------- FiftyOne
@pytest.fixture(scope="module")
def fo_db(tmp_path_factory):
    from screening.inspect_app import MongoDatabase, use_fiftyone_database

    with MongoDatabase(tmp_path_factory.mktemp("fo-db")) as db:
        use_fiftyone_database(db.uri)
        yield db


@pytest.fixture(scope="module")
def dataset(fo_db, inspections, synthetic, tmp_path_factory):
    from screening.inspect import browser_image, build_dataset
    from screening.inspect_app import use_fiftyone_database

    use_fiftyone_database(fo_db.uri)
    mias, _ = synthetic
    insp, _ = inspections
    cache = tmp_path_factory.mktemp("png")
    paths = {i.film.film_id: browser_image(i.film, mias, cache) for i in insp}
    return build_dataset(insp, "mammo-test", paths, iou=0.5)


def test_second_user_of_a_folder_reuses_its_mongod_and_only_the_owner_stops_it(tmp_path):
    import psutil

    from screening.inspect_app import MongoDatabase

    owner = MongoDatabase(tmp_path / "db").start()
    try:
        guest = MongoDatabase(tmp_path / "db").start()
        assert (guest.owned, guest.port, guest.pid) == (False, owner.port, None)
        guest.stop()
        assert psutil.pid_exists(owner.pid) and psutil.Process(owner.pid).status() != psutil.STATUS_ZOMBIE
    finally:
        pid = owner.pid
        owner.stop()
    assert not psutil.pid_exists(pid)
    assert not (tmp_path / "db" / "mammo-mongod.json").exists()


def test_database_lives_in_the_chosen_folder(fo_db):
    import fiftyone.core.odm.database as fod

    opts = fod.get_db_client().admin.command("getCmdLineOpts")
    assert Path(opts["parsed"]["storage"]["dbPath"]) == fo_db.db_dir


def test_dataset_fields_match_the_report(dataset):
    assert len(dataset) == 6 and dataset.persistent
    s = dataset.match({"film_id": "mdb002"}).first()
    assert (s.refnum, s.patient_id, s.side, s.tissue) == ("mdb002", "p001", "left", "G")
    assert (s.true_verdict, s.pred_verdict, s.report_file) == ("malignant", "benign", "mdb002.pgm")
    assert s.filepath.endswith(".png") and s.metadata.width == SIZE
    gt = s.ground_truth.detections[0]
    assert (gt.label, gt.lesion_class, gt.severity, gt.radius_px, gt.found_grade) == ("lesion", "SPIC", "malignant", 30.0, "benign")
    x1, y1 = 500 - 30, SIZE - 500 - 30
    assert gt.bounding_box == pytest.approx([x1 / SIZE, y1 / SIZE, 61 / SIZE, 61 / SIZE])
    # box-relative circle mask: 61x61, corners empty, centre set, area of the pixel circle
    assert gt.mask.shape == (61, 61) and gt.mask[30, 30] and not gt.mask[0, 0]
    assert gt.mask.sum() == circle_mask((500, SIZE - 500), 30, (SIZE, SIZE)).sum()
    pred = s.predictions.detections[0]
    assert (pred.label, pred.grade, pred.confidence, pred.score) == ("lesion", "benign", 0.8, 0.8)
    assert (pred.p_normal, pred.p_benign, pred.p_malignant) == pytest.approx((0.1, 0.8, 0.1))
    assert set(s.tags) == {"verdict-wrong", "verdict-malignant-as-benign"}


def test_both_hit_rules_are_recorded_per_label(dataset):
    s = dataset.match({"film_id": "mdb004"}).first()
    missed, found = s.ground_truth.detections
    assert missed.tags == ["miss"] and missed.eval == "fn"
    # the 6 px box at the lesion centre: a hit for the centre rule, not for IoU >= 0.5
    assert found.tags == ["hit"] and found.eval == "fn"
    assert s.predictions.detections[0].tags == ["tp_center"] and s.predictions.detections[0].eval == "fp"
    ok = dataset.match({"film_id": "mdb001"}).first()
    assert ok.ground_truth.detections[0].eval == "tp" and ok.ground_truth.detections[0].tags == ["hit"]
    assert dataset.count_label_tags() == {"hit": 3, "miss": 3, "misgraded": 2, "tp_center": 3, "fp_center": 1}
    assert dataset.count_sample_tags()["verdict-wrong"] == 3


def test_saved_views_counts(dataset, inspections):
    from screening.inspect import summarize

    insp, _ = inspections
    assert sorted(dataset.list_saved_views()) == sorted(SAVED_VIEWS)
    missed = dataset.load_saved_view("missed-lesions")
    assert missed.count("ground_truth.detections") == sum(i.n_missed for i in insp) == 3
    assert missed.values("film_id") == ["mdb005", "mdb004"]  # most misses first
    alarms = dataset.load_saved_view("false-alarms")
    assert alarms.count("predictions.detections") == 1 and alarms.values("film_id") == ["mdb003"]
    mis = dataset.load_saved_view("misgraded")
    assert mis.values("film_id") == ["mdb002"] and mis.count("ground_truth.detections") == 1
    calc = dataset.load_saved_view("missed-calcifications")
    assert calc.values("film_id") == ["mdb004"] and calc.count("ground_truth.detections") == 1
    assert calc.values("ground_truth.detections.lesion_class") == [["CALC"]]
    worst = dataset.load_saved_view("worst-films")
    assert worst.values("film_id")[:2] == ["mdb005", "mdb004"] and "mdb006" not in worst.values("film_id")
    s = summarize(dataset, insp)
    assert (s["center_misses"], s["center_false_alarms"], s["misgraded"], s["verdict_wrong"]) == (3, 1, 1, 3)
    assert (s["iou_tp"], s["iou_fp"], s["iou_fn"]) == (2, 2, 4)  # mdb001, mdb002 at IoU 1; mdb003 and the tiny mdb004 box


def test_rebuild_replaces_without_duplicates(dataset, inspections, synthetic, tmp_path):
    import fiftyone as fo

    from screening.inspect import build_dataset

    insp, _ = inspections
    paths = {i.film.film_id: Path(dataset.match({"film_id": i.film.film_id}).first().filepath) for i in insp}
    again = build_dataset(insp, "mammo-test", paths, iou=0.3)
    assert len(again) == 6 and sorted(again.distinct("film_id")) == sorted(i.film.film_id for i in insp)
    assert again.info["iou"] == 0.3 and len(again.list_saved_views()) == len(SAVED_VIEWS)
    assert "misgraded" in again.list_saved_views()
    assert "mammo-test" in fo.list_datasets() and "mammo-test.building" not in fo.list_datasets()


def test_cli_no_launch_prints_view_urls(fo_db, synthetic, tmp_path):
    import typer
    from typer.testing import CliRunner

    from screening.inspect_app import use_fiftyone_database
    from screening.inspect_cmd import inspect_command

    app = typer.Typer()
    app.command()(inspect_command)
    mias, report = synthetic
    args = ["--mias-dir", str(mias), "--report", str(report), "--name", "mammo-cli", "--no-launch", "--port", "5199",
            "--db-dir", str(fo_db.db_dir), "--cache-dir", str(tmp_path / "png"), "--export-gallery", str(tmp_path / "g")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5199/datasets/mammo-cli?view=missed-lesions" in result.output
    assert "missed-lesions (2 films)" in result.output and "1 report films without labels skipped" in result.output
    assert "3 missed, 1 false alarms; 1 misgraded; 3 film verdicts wrong" in result.output
    assert "detections with score >= 0.25 count" in result.output  # the report's own threshold
    assert (tmp_path / "g" / "index.html").is_file()
    use_fiftyone_database(fo_db.uri)
    import fiftyone as fo

    ds = fo.load_dataset("mammo-cli")
    assert len(ds) == 6  # reused the fixture's running database
    assert ds.info["min_score"] == 0.25 and ds.info["report_config"]["report_min_score"] == 0.05


def test_cli_rejects_contradictory_options(synthetic):
    import typer
    from typer.testing import CliRunner

    from screening.inspect_cmd import inspect_command

    app = typer.Typer()
    app.command()(inspect_command)
    mias, report = synthetic
    result = CliRunner().invoke(app, ["--mias-dir", str(mias), "--report", str(report), "--no-dataset", "--launch"])
    assert isinstance(result.exception, InputError) and "--no-dataset" in str(result.exception)


def test_clusters_and_specks_get_their_own_label_fields(synthetic):
    """A calcification finding goes to ``calc_clusters`` (not ``predictions``), its specks to ``specks``."""
    from screening.inspect import to_sample

    mias, _ = synthetic
    doc = synthetic_report()
    doc["schema_version"] = 2
    film = doc["films"][3]  # mdb004: the second CALC (700, row 724) is hit by a cluster
    film["detections"] = [{**_det([690, 714, 711, 735], 0.6, "malignant"), "finding": "calcification", "n_specks": 3,
                           "specks_xy": [[695.0, 720.0], [700.0, 724.0], [706.0, 729.0]]},
                          {**_det([100, 100, 160, 160], 0.3, "benign"), "finding": "asymmetry"}]
    report = parse_report(doc)
    labelled = {f.film_id: f for f in load_mias(mias).films}
    insp = inspect_film(labelled["mdb004"], report.films[3])
    assert insp.lesion_hit == [False, True]
    sample = to_sample(insp, "/tmp/mdb004.png")
    assert len(sample.predictions.detections) == 0
    (cluster,) = sample.calc_clusters.detections
    assert cluster.label == "calcification" and cluster.n_specks == 3 and "tp_center" in cluster.tags
    (asym,) = sample.asymmetries.detections
    assert "fp_center" in asym.tags
    (kp,) = sample.specks.keypoints
    assert len(kp.points) == 3 and kp.points[1] == pytest.approx((700 / SIZE, 724 / SIZE))
