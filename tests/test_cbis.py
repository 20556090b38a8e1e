"""COCO importer and CBIS-DDSM case-table join on a tiny synthetic set written here.

The synthetic set mirrors the real one's shapes: ``PATIENT_SIDE_VIEW`` file names, COCO
category ``Mass`` with id 0, a case table with one row per abnormality. It holds a film
without a row, a row without a film, a film with two boxes of different pathology and a
film with two boxes that agree (one BENIGN_WITHOUT_CALLBACK).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark_script
from phantoms import phantom_film, small_mias

from converters.cbis import (
    find_case_tables,
    join_case_table,
    load_coco_set,
    parse_case_table,
    parse_cbis_name,
)
from converters.errors import InputError
from converters.mias import load_mias
from converters.splits import kfold_patients, split_patients
from screening.cli import main

W, H = 96, 128  # not square, so width/height mix-ups show
HEADER = "patient_id,breast_density,side,view,abn_num,abnormality_type,mass_shape,mass_margins,assessment,pathology,subtlety,od_img_path\n"

# film stem -> boxes (x, y, w, h); case-table rows: (patient, density, side, view, abn, assessment, pathology, subtlety)
FILMS = {
    "00001_LEFT_CC": [(10, 20, 20, 16)],
    "00001_LEFT_MLO": [(12, 40, 18, 20)],
    "00002_RIGHT_CC": [(10, 10, 20, 20), (50, 70, 30, 25)],  # benign + malignant: mixed
    "00002_RIGHT_MLO": [(30, 30, 20, 20), (40, 80, 20, 20)],  # benign + benign-without-callback
    "00003_LEFT_MLO": [(20, 50, 24, 24)],  # no row
}
ROWS = [
    ("P_00001", 3, "LEFT", "CC", 1, 5, "MALIGNANT", 4),
    ("P_00001", 3, "LEFT", "MLO", 1, 4, "MALIGNANT", 3),
    ("P_00002", 2, "RIGHT", "CC", 1, 3, "BENIGN", 5),
    ("P_00002", 2, "RIGHT", "CC", 2, 5, "MALIGNANT", 2),
    ("P_00002", 2, "RIGHT", "MLO", 1, 3, "BENIGN", 5),
    ("P_00002", 2, "RIGHT", "MLO", 2, 2, "BENIGN_WITHOUT_CALLBACK", 4),
    ("P_00009", 1, "RIGHT", "CC", 1, 4, "BENIGN", 3),  # no film
]


def _row_line(r) -> str:
    pid, dens, side, view, abn, assess, path, subtle = r
    return f"{pid},{dens},{side},{view},{abn},mass,OVAL,CIRCUMSCRIBED,{assess},{path},{subtle},x\\y\\000000.dcm\n"


def write_cbis_set(root: Path, films=FILMS, rows=ROWS, extra_patients: int = 0, seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/train/*.{png,jpg}``, ``root/train/_annotations.coco.json`` and the case table.

    ``extra_patients`` adds single-film patients (one box, alternating pathology) so splits
    have enough patients per stratum.
    """
    from PIL import Image

    films, rows = dict(films), list(rows)
    for k in range(extra_patients):
        stem = f"{100 + k:05d}_{'LEFT' if k % 2 else 'RIGHT'}_{'CC' if k % 3 else 'MLO'}"
        films[stem] = [(20 + k % 30, 30, 20, 20)]
        rows.append((f"P_{100 + k:05d}", 1 + k % 4, stem.split("_")[1], stem.split("_")[2], 1, 4, ("BENIGN", "MALIGNANT")[k % 2], 3))
    img_dir = root / "train"
    img_dir.mkdir(parents=True)
    images, anns = [], []
    for i, (stem, boxes) in enumerate(films.items()):
        ext = ".jpg" if i % 2 else ".png"
        img = phantom_film(max(W, H), [(x + w / 2, y + h / 2, w / 2) for x, y, w, h in boxes], seed=seed + i)[:H, :W]
        Image.fromarray(np.ascontiguousarray(img)).save(img_dir / f"{stem}{ext}")
        images.append({"id": i, "file_name": f"{stem}{ext}", "height": H, "width": W})
        for b in boxes:
            anns.append({"id": len(anns), "image_id": i, "category_id": 0, "bbox": list(b), "area": b[2] * b[3], "segmentation": [], "iscrowd": 0})
    coco = {"categories": [{"id": 0, "name": "Mass", "supercategory": "none"}], "images": images, "annotations": anns}
    coco_path = img_dir / "_annotations.coco.json"
    coco_path.write_text(json.dumps(coco))
    (root / "mass_case_description_train_set.csv").write_text(HEADER + "".join(_row_line(r) for r in rows))
    return coco_path, img_dir


@pytest.fixture
def cbis_set(tmp_path):
    return write_cbis_set(tmp_path / "cbis")


def by_id(films):
    return {f.film_id: f for f in films}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("00484_RIGHT_CC.jpg", ("P_00484", "right", "CC")),
        ("sub/00001_LEFT_MLO.png", ("P_00001", "left", "MLO")),
        ("Mass-Test_P_00016_LEFT_CC_1.jpg", ("P_00016", "left", "CC")),
        ("00484_RIGHT_CC_jpg.rf.3a9f0c.jpg", ("P_00484", "right", "CC")),
        ("mdb001.pgm", None),
        ("00484_RIGHT_CCX.jpg", None),
        ("0484_RIGHT_CC.jpg", None),
    ],
)
def test_parse_cbis_name(name, expected):
    assert parse_cbis_name(name) == expected


def test_join_attaches_case_table(cbis_set):
    s = load_coco_set(*cbis_set, verbose=False)
    films = by_id(s.films)
    assert len(s.films) == 5 and s.n_rows == 7
    f = films["00001_LEFT_CC"]
    assert (f.patient_id, f.side, f.source, f.width, f.height) == ("P_00001", "left", "cbis", W, H)
    assert f.extra["view"] == "CC" and f.extra["assessment"] == 5 and f.extra["subtlety"] == 4
    assert f.extra["breast_density"] == 3 and f.extra["pathology"] == "malignant"
    assert [l.severity for l in f.lesions] == ["malignant"] and f.verdict == "malignant"
    assert f.lesions[0].xyxy == (10.0, 20.0, 30.0, 36.0) and f.lesions[0].lesion_class == "MASS"
    # all rows agree (BENIGN + BENIGN_WITHOUT_CALLBACK): both boxes benign, raw kept
    f = films["00002_RIGHT_MLO"]
    assert [l.severity for l in f.lesions] == ["benign", "benign"] and f.verdict == "benign"
    assert f.extra["pathology_raw"] == ["BENIGN", "BENIGN_WITHOUT_CALLBACK"]
    assert f.extra["assessment"] == 3 and f.extra["subtlety"] == 4  # most suspicious / most subtle
    assert not f.image_labels
    r = s.join_report
    assert r["films_joined"] == 4 and r["rows_joined"] == 6 and r["patients"] == 3
    assert r["rows_without_film"] == 1 and "mass_case_description_train_set.csv:8" in r["rows_without_film_where"][0]
    assert r["boxes_with_pathology"] == 4 and r["boxes_without_pathology"] == 3


def test_unmatched_film_is_kept_and_counted(cbis_set):
    s = load_coco_set(*cbis_set, verbose=False)
    f = by_id(s.films)["00003_LEFT_MLO"]
    assert f.patient_id == "P_00003" and f.side == "left" and f.extra["view"] == "MLO"
    assert "pathology" not in f.extra and [l.severity for l in f.lesions] == [None]
    assert s.join_report["films_without_row"] == 1 and s.join_report["films_without_row_ids"] == ["00003_LEFT_MLO"]


def test_two_boxes_of_different_pathology(cbis_set, capsys):
    s = load_coco_set(*cbis_set)
    f = by_id(s.films)["00002_RIGHT_CC"]
    assert [l.severity for l in f.lesions] == [None, None]  # the table does not say which is which
    assert f.verdict == "malignant" and f.extra["pathology"] == "malignant"
    assert [(l.lesion_class, l.severity) for l in f.image_labels] == [("MASS", "malignant")]
    assert [row["pathology"] for row in f.extra["case_rows"]] == ["benign", "malignant"]
    assert s.join_report["films_both_pathologies_ids"] == ["00002_RIGHT_CC"] and s.n_image_level == 1
    err = capsys.readouterr().err
    assert "both pathologies" in err and "films without a row: 1" in err


def test_case_table_optional_and_explicit(cbis_set, tmp_path):
    coco, images = cbis_set
    plain = load_coco_set(coco, images, case_table=False, verbose=False)
    assert plain.join_report["case_tables"] == [] and all(f.source == "coco" for f in plain.films)
    # without a table, patient ids still come from the CBIS names
    assert by_id(plain.films)["00001_LEFT_MLO"].patient_id == "P_00001"
    assert all(l.severity is None for f in plain.films for l in f.lesions)
    moved = tmp_path / "elsewhere.csv"
    moved.write_text((coco.parent.parent / "mass_case_description_train_set.csv").read_text())
    assert find_case_tables(coco, images) == [coco.parent.parent / "mass_case_description_train_set.csv"]
    given = load_coco_set(coco, images, case_table=moved, verbose=False)
    assert given.join_report["films_joined"] == 4


def test_calcification_rows_ignored_for_a_mass_set(tmp_path):
    rows = ROWS[:2]
    coco, images = write_cbis_set(tmp_path / "c", films={k: FILMS[k] for k in ("00001_LEFT_CC", "00001_LEFT_MLO")}, rows=rows)
    (coco.parent.parent / "calc_case_description_train_set.csv").write_text(
        HEADER.replace("breast_density", "breast density") + _row_line(("P_00001", 3, "LEFT", "CC", 1, 3, "BENIGN", 3)).replace(",mass,", ",calcification,")
    )
    s = load_coco_set(coco, images, verbose=False)
    assert s.join_report["rows_other_abnormality_type"] == 1 and len(s.case_tables) == 2
    assert by_id(s.films)["00001_LEFT_CC"].verdict == "malignant"
    assert by_id(s.films)["00001_LEFT_CC"].extra["pathology_raw"] == ["MALIGNANT"]


def _corrupt(coco_path: Path, edit) -> None:
    d = json.loads(coco_path.read_text())
    edit(d)
    coco_path.write_text(json.dumps(d))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["images"][0].update(file_name="../escape.png"), "escapes the image folder"),
        (lambda d: d["images"][0].update(file_name="/etc/passwd"), "escapes the image folder"),
        (lambda d: d["images"][1].update(file_name="00001_LEFT_MLO_gone.jpg"), "00001_LEFT_MLO_gone.jpg"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 0, 5]), "w, h > 0"),
        (lambda d: d["annotations"][0].update(bbox=[500, 500, 5, 5]), "outside its 96x128 image"),
        (lambda d: d["annotations"][0].update(image_id=99), "not in images"),
        (lambda d: d["images"][1].update(id=0), "repeats image id"),
    ],
)
def test_bad_coco_input_raises(cbis_set, edit, message):
    coco, images = cbis_set
    _corrupt(coco, edit)
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        load_coco_set(coco, images, verbose=False)


def test_missing_image_names_the_file(cbis_set):
    coco, images = cbis_set
    (images / "00002_RIGHT_CC.png").unlink()
    with pytest.raises(InputError) as err:
        load_coco_set(coco, images, verbose=False)
    assert "1 of 5 images" in str(err.value) and "00002_RIGHT_CC.png" in str(err.value)


@pytest.mark.parametrize(
    "line, message",
    [
        ("P_00001,3,LEFT,CC,1,mass,OVAL,X,4,MALIGNNT,3,x\n", "did you mean 'MALIGNANT'"),
        ("P_00001,3,TOP,CC,1,mass,OVAL,X,4,BENIGN,3,x\n", "side"),
        ("P_00001,3,LEFT,ML,1,mass,OVAL,X,4,BENIGN,3,x\n", "view"),
        ("00001,3,LEFT,CC,1,mass,OVAL,X,4,BENIGN,3,x\n", "patient_id"),
        ("P_00001,3,LEFT,CC,1,mass,OVAL,X,four,BENIGN,3,x\n", "assessment"),
        ("P_00001,7,LEFT,CC,1,mass,OVAL,X,4,BENIGN,3,x\n", "breast_density"),
    ],
)
def test_bad_case_table_row_names_line(line, message):
    with pytest.raises(InputError, match=message) as err:
        parse_case_table(HEADER + _row_line(ROWS[0]) + line, "t.csv")
    assert err.value.line == 3 and err.value.path == "t.csv"


def test_case_table_missing_column():
    with pytest.raises(InputError, match="pathology"):
        parse_case_table("patient_id,side,view\nP_00001,LEFT,CC\n", "t.csv")


def test_convert_cli_end_to_end(tmp_path, capsys):
    coco, images = write_cbis_set(tmp_path / "cbis", extra_patients=12)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["convert", "--coco-json", str(coco), "--images", str(images), "--out", str(out), "--quiet", "--imgsz", "64"])
    assert exc.value.code in (0, None), capsys.readouterr()
    assert "both pathologies" in capsys.readouterr().err
    all_coco = json.loads((out / "coco" / "all.json").read_text())
    assert len(all_coco["images"]) == 17 and len(all_coco["annotations"]) == 19
    im = next(i for i in all_coco["images"] if i["refnum"] == "00002_RIGHT_CC")
    assert im["patient_id"] == "P_00002" and im["verdict"] == "malignant" and im["extra"]["view"] == "CC"
    splits = json.loads((out / "splits.json").read_text())
    assert splits["films"]["00001_LEFT_CC"] == splits["films"]["00001_LEFT_MLO"]
    assert splits["films"]["00002_RIGHT_CC"] == splits["films"]["00002_RIGHT_MLO"]
    n_labels = sum(len(p.read_text().splitlines()) for p in (out / "yolo" / "labels").rglob("*.txt"))
    assert n_labels == 19
    # the export reads back (no case table beside it) with patients, severities and film labels intact
    back = load_coco_set(out / "coco" / "all.json", images, case_table=False, verbose=False)
    first = load_coco_set(coco, images, verbose=False)
    assert [(f.film_id, f.patient_id, f.verdict, [l.severity for l in f.lesions]) for f in back.films] == [
        (f.film_id, f.patient_id, f.verdict, [l.severity for l in f.lesions]) for f in first.films
    ]


def test_convert_cli_missing_image_is_one_line(cbis_set, tmp_path, capsys):
    coco, images = cbis_set
    (images / "00001_LEFT_CC.png").unlink()
    with pytest.raises(SystemExit) as exc:
        main(["convert", "--coco-json", str(coco), "--images", str(images), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error:") and "00001_LEFT_CC.png" in err
    assert not (tmp_path / "o" / "coco").exists()


def _assert_patients_on_one_side(films, assignment):
    side_of = {}
    for f in films:
        side_of.setdefault(f.patient_id, set()).add(assignment[f.film_id])
    mixed = {p: s for p, s in side_of.items() if len(s) > 1}
    assert not mixed, f"patients split across sides: {mixed}"


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_patient_on_both_sides_of_a_split(tmp_path, seed):
    mias = load_mias(small_mias(tmp_path / "mias"), resolution_wh=(256, 256)).films
    cbis = load_coco_set(*write_cbis_set(tmp_path / "cbis", extra_patients=20), verbose=False).films
    for films in (mias, cbis, mias + cbis):
        assignment = split_patients(films, 0.1, 0.2, seed)
        _assert_patients_on_one_side(films, assignment)
        assert set(assignment.values()) >= {"train", "test"}
        for train, test in kfold_patients(films, 5, seed):
            fold = {**{i: "train" for i in train}, **{i: "test" for i in test}}
            _assert_patients_on_one_side(films, fold)
    # patients of the two sources never collide: CBIS ids are P_NNNNN, MIAS pNNN
    assert not {f.patient_id for f in mias} & {f.patient_id for f in cbis}
    # stratified by pathology: malignant CBIS patients reach the test split
    assignment = split_patients(cbis, 0.1, 0.3, seed)
    test_verdicts = {f.verdict for f in cbis if assignment[f.film_id] == "test"}
    assert test_verdicts == {"benign", "malignant"}


def test_join_is_pure_and_keeps_order(cbis_set):
    plain = load_coco_set(*cbis_set, case_table=False, verbose=False).films
    rows = parse_case_table(HEADER + "".join(_row_line(r) for r in ROWS), "t.csv")
    joined, report = join_case_table(plain, rows)
    assert [f.film_id for f in joined] == [f.film_id for f in plain]
    assert all(f.extra == {} for f in plain)  # inputs untouched
    assert report["films"] == 5 and report["rows"] == 7


@pytest.fixture
def cbis_dir_env() -> Path:
    value = os.environ.get("CBIS_DIR")
    if not value:
        pytest.skip("CBIS_DIR is not set (set it to data/cbis-ddsm-mass to run the real-data test)")
    return Path(value)


def test_real_cbis_counts(cbis_dir_env):
    s = load_coco_set(cbis_dir_env / "train" / "_annotations.coco.json", cbis_dir_env / "train", verbose=False)
    r = s.join_report
    assert (r["films"], r["patients"], r["boxes"]) == (1231, 691, 1318)
    assert r["films_without_row_ids"] == ["00737_LEFT_MLO"] and r["rows_without_film"] == 0
    assert r["films_both_pathologies"] == 6 and r["films_single_pathology"] == 1224
    assert all((f.width, f.height) == (800, 800) for f in s.films)
    assignment = split_patients(s.films, 0.1, 0.2, 0)
    _assert_patients_on_one_side(s.films, assignment)


def _load_benchmark():
    return load_benchmark_script("cbis_stretch")


def test_texture_anisotropy_grows_with_sideways_stretch():
    bench = _load_benchmark()
    # isotropic smooth texture on the phantom breast: anisotropy near 1, growing as the film widens
    tex = phantom_film(256, seed=3, smooth_amplitude=40.0, smooth_sigma_px=3.0)
    values = [bench.texture_anisotropy(bench.stretch_mias(tex, s)) for s in (1.0, 1.5, 2.0)]
    assert 0.8 < values[0] < 1.25
    assert values[0] < values[1] < values[2]
    curve = np.array([[1.0, 1.4, 1.8], [1.1, 1.5, 1.9]])
    assert bench.calibrated_stretch(curve, (1.0, 1.5, 2.0), np.array([1.45])) == pytest.approx(1.5)
    assert np.isnan(bench.calibrated_stretch(curve, (1.0, 1.5, 2.0), np.array([3.0])))  # outside the calibration


def test_cbis_cv_runs_on_synthetic_set(tmp_path):
    cv = load_benchmark_script("cbis_cv")
    CbisCvConfig, run = cv.CbisCvConfig, cv.run

    coco, _ = write_cbis_set(tmp_path / "cbis", extra_patients=16)
    cfg = CbisCvConfig(cbis_dir=str(coco.parent.parent), k=2, n_bootstrap=50, models=("logistic", "box_geometry"),
                       margin=True)
    s = run(cfg, tmp_path / "cv", progress=False)
    assert s["n_features"] == 69 + 12
    # 7 + 16 boxes; 2 without pathology (the mixed film) and 1 on the film without a row
    assert s["n_lesions"] == 23 - 3 and s["boxes_left_out_without_pathology"] == 3
    assert s["n_patients"] == 2 + 16
    for m in ("logistic", "box_geometry"):
        auc = s["cv"][m]["pooled_auc"]
        assert 0.0 <= auc.value <= 1.0 and auc.counts["n_lesions"] == 20
        assert len(s["cv"][m]["per_fold_auc"]) == 2
    on_disk = json.loads((tmp_path / "cv" / "summary.json").read_text())
    assert on_disk["cv"]["logistic"]["pooled_auc"] == s["cv"]["logistic"]["pooled_auc"].to_json()
    assert list(on_disk["cv"]["logistic"]["pooled_auc"]) == ["value", "ci95", "n_patients", "n_lesions", "n_malignant"]
    scores = np.load(tmp_path / "cv" / "cv_scores.npz")
    assert np.isfinite(scores["logistic"]).all() and len(scores["y"]) == 20
    assert (tmp_path / "cv" / "config.yaml").is_file()
    assert s["model_differences"] == {}  # no ensemble in this run, nothing to compare


def test_cbis_cv_ensemble_is_the_mean_of_its_two_fitted_models():
    cv = load_benchmark_script("cbis_cv")
    CbisCvConfig, make_model = cv.CbisCvConfig, cv.make_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    cfg = CbisCvConfig()
    both = make_model("ensemble", cfg)(X, y)
    parts = [make_model(m, cfg)(X, y) for m in ("logistic", "boosting")]
    p = both.predict_proba(X)
    assert p.shape == (120, 2) and np.allclose(p.sum(axis=1), 1)
    expected = np.mean([m.predict_proba(X)[:, 1] for m in parts], axis=0)
    assert np.allclose(p[:, 1], expected)
    assert not np.allclose(p[:, 1], parts[0].predict_proba(X)[:, 1])  # not just one of them


def test_cbis_cv_model_differences_are_paired_on_the_same_lesions(tmp_path):
    cv = load_benchmark_script("cbis_cv")
    CbisCvConfig, model_differences = cv.CbisCvConfig, cv.model_differences

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 40)
    good = y + rng.normal(0, 0.5, 80)
    np.savez(tmp_path / "s.npz", y=y, patients=np.arange(80) // 2, ensemble=good, logistic=good,
             boosting=rng.normal(size=80))
    d = model_differences(tmp_path / "s.npz", CbisCvConfig(n_bootstrap=200))
    same, better = d["ensemble_minus_logistic"], d["ensemble_minus_boosting"]
    assert same.value == 0 and (same.ci_low, same.ci_high) == (0, 0)
    assert better.value > 0.2 and 0 < better.ci_low < better.ci_high
    assert better.n_patients == 40


def test_margin_features_tell_a_round_mass_from_a_spiculated_one():
    margin_features = load_benchmark_script("cbis_cv").margin_features

    n = 96
    yy, xx = np.mgrid[0:n, 0:n] - (n - 1) / 2
    r, a = np.hypot(xx, yy), np.arctan2(yy, xx)
    disc = np.where(r < 24, 200, 80).astype(np.uint8)
    star = np.where(r < 24 * (1 + 0.4 * np.cos(8 * a)), 200, 80).astype(np.uint8)
    f_disc, f_star = margin_features(disc), margin_features(star)
    assert f_disc.shape == (12,) and np.isfinite(f_disc).all()
    assert f_disc[5] < 0.2 < 0.8 < f_star[5]  # gradient across the radius at the edge: spokes
    assert f_disc[9] < 0.05 < 0.2 < f_star[9]  # edge radius varies along the outline
    assert f_disc[11] == pytest.approx(1.0, abs=0.1)  # the edge lies at the box half-side
    assert margin_features(np.full((n, n), 120, np.uint8))[10] == 1.0  # flat: no ray finds an edge


def test_unlisted_images_are_counted(cbis_set):
    coco, images = cbis_set
    (images / "00005_LEFT_CC.png").write_bytes((images / "00001_LEFT_CC.png").read_bytes())
    s = load_coco_set(coco, images, verbose=False)
    assert s.join_report["images_in_folder_not_in_coco"] == 1 and len(s.films) == 5


def test_detector_benchmarks_run_on_a_synthetic_coco_split(tmp_path, capsys):
    """The stretch benchmark and the two-detector comparison, end to end on a COCO split written here."""
    from typer.testing import CliRunner

    from detector.api import default_weights_path

    coco, images = write_cbis_set(tmp_path / "cbis", extra_patients=12)
    with pytest.raises(SystemExit) as exc:
        main(["convert", "--coco-json", str(coco), "--images", str(images), "--out", str(tmp_path / "conv"),
              "--quiet", "--imgsz", "64"])
    assert exc.value.code in (0, None), capsys.readouterr()
    splits = tmp_path / "conv" / "splits.json"
    runner = CliRunner()
    stretch = load_benchmark_script("cbis_stretch_detector")
    res = runner.invoke(stretch.app, ["--cbis-dir", str(tmp_path / "cbis"), "--splits", str(splits), "--split", "test",
                                      "--n-bootstrap", "20", "--out", str(tmp_path / "stretch.json")])
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "stretch.json").read_text())
    assert [c["x_scale"] for c in got["conditions"]] == pytest.approx([1.0, 1 / 1.6])
    assert got["lesions"] >= 1 and set(got["restored_minus_stretched"]) == {"sensitivity_at_1fp", "mean_froc_sensitivity"}
    assert all(0.0 <= c["mean_froc_sensitivity"]["value"] <= 1.0 for c in got["conditions"])
    compare = load_benchmark_script("compare_detectors")
    shipped = str(default_weights_path())
    res = runner.invoke(compare.app, ["--weights-a", shipped, "--weights-b", shipped, "--coco-json", str(coco),
                                      "--images", str(images), "--splits", str(splits), "--split", "test",
                                      "--n-bootstrap", "20", "--out", str(tmp_path / "cmp.json")])
    assert res.exit_code == 0, res.output
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["source"] == "coco" and cmp["films"] == got["films"] and cmp["b_minus_a"]["sensitivity_at_1fp"]["value"] == 0.0
    # unstretched here means the first condition: both scripts agree on the same detector and films
    assert cmp["a"]["mean_froc_sensitivity"]["value"] == pytest.approx(got["conditions"][0]["mean_froc_sensitivity"]["value"])
    # --x-scale-b restores B's films: B is then the stretch benchmark's second condition
    res = runner.invoke(compare.app, ["--weights-a", shipped, "--weights-b", shipped, "--coco-json", str(coco),
                                      "--images", str(images), "--splits", str(splits), "--split", "test", "--x-scale-b",
                                      "0.625", "--n-bootstrap", "20", "--out", str(tmp_path / "cmp-restored.json")])
    assert res.exit_code == 0, res.output
    restored = json.loads((tmp_path / "cmp-restored.json").read_text())
    assert (restored["a"]["x_scale"], restored["b"]["x_scale"]) == (1.0, 0.625)
    for key in ("mean_froc_sensitivity", "sensitivity_at_1fp", "map50"):
        assert restored["b"][key]["value"] == pytest.approx(got["conditions"][1][key]["value"])
    res = runner.invoke(compare.app, ["--weights-a", shipped, "--weights-b", shipped, "--coco-json", str(coco),
                                      "--images", str(images), "--x-scale-a", "0", "--out", str(tmp_path / "bad.json")])
    assert res.exit_code == 2 and "--x-scale-a" in res.output and not (tmp_path / "bad.json").exists()
