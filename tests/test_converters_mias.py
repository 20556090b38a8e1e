from contextlib import nullcontext as does_not_raise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converters.errors import InputError
from converters.mias import mias_y_to_row, parse_mias, patient_of

HEADER = ["MIAS", "some prose", "1st column: reference number", "====", ""]


def parse(rows):
    return parse_mias(HEADER + rows + ["", "=" * 10], path="Info.txt")


def test_rows_films_and_flip():
    lab = parse(
        [
            "mdb001 G CIRC B 535 425 197",
            "mdb002 G CIRC B 522 280 69   ",
            "mdb003 D NORM ",
            "mdb059 F CIRC B",
            "mdb233 G CALC M *NOTE 3*",
            "mdb226 D CALC B 287 610 7",
            "mdb226 D CALC B 329 550 25",
            "mdb226 D CALC B 531 721 8",
        ]
    )
    assert [f.film_id for f in lab.films] == ["mdb001", "mdb002", "mdb003", "mdb059", "mdb233", "mdb226"]
    assert (lab.n_rows, lab.n_boxes, lab.n_image_level, lab.n_normal_rows) == (8, 5, 2, 1)
    f1 = lab.films[0]
    assert f1.lesions[0].center_xy == (535.0, 1024 - 425.0)
    assert f1.lesions[0].xyxy == (338.0, 402.0, 733.0, 797.0)  # clipped circle box, exclusive edges
    assert lab.films[3].lesions == () and lab.films[3].image_labels[0].severity == "benign"
    assert lab.films[4].verdict == "malignant"
    assert len(lab.films[5].lesions) == 3
    assert lab.films[2].verdict == "normal" and not lab.films[2].is_abnormal
    assert (f1.patient_id, f1.side, lab.films[1].patient_id, lab.films[1].side) == ("p001", "right", "p001", "left")


def test_flip_is_its_own_inverse():
    assert mias_y_to_row(mias_y_to_row(300, 1024), 1024) == 300
    assert mias_y_to_row(1, 1024) == 1023


@pytest.mark.parametrize(
    "row, expectation, words",
    [
        ("mdb001 G CIRC B 535 425 197", does_not_raise(), None),
        ("mdb001 X CIRC B 535 425 197", pytest.raises(InputError), "tissue"),
        ("mdb001 G BLOB B 535 425 197", pytest.raises(InputError), "class"),
        ("mdb001 G CIRC Q 535 425 197", pytest.raises(InputError), "severity"),
        ("mdb001 G CIRC B 1024 425 197", pytest.raises(InputError), "outside"),
        ("mdb001 G CIRC B 535 0 197", pytest.raises(InputError), "outside"),
        ("mdb001 G CIRC B 535 425 0", pytest.raises(InputError), "0 < RADIUS"),
        ("mdb001 G CIRC B 535 425 -3", pytest.raises(InputError), "0 < RADIUS"),
        ("mdb001 G CIRC B 535 425 5000", pytest.raises(InputError), "RADIUS <= 1024"),
        ("mdb003 D CIRC B 535 425 20", pytest.raises(InputError), "NORM and abnormal"),
        ("mdb003 D NORM", pytest.raises(InputError), "repeats line 6"),
        ("mdb001 G CIRC B 535 abc 197", pytest.raises(InputError), "number for Y"),
        ("mdb001 G CIRC B 535 425", pytest.raises(InputError), "X Y RADIUS"),
        ("mdb001 G CIRC", pytest.raises(InputError), "severity"),
        ("mdb001 G NORM B", pytest.raises(InputError), "NORM"),
        ("mdb001 G", pytest.raises(InputError), "at least"),
        ("garbage row here", pytest.raises(InputError), "mdbNNN"),
    ],
)
def test_row_table(row, expectation, words):
    with expectation as err:
        parse(["mdb003 D NORM", row])
    if words:
        msg = str(err.value)
        assert words in msg
        assert msg.startswith("Info.txt:7: "), msg  # file and line named


def test_no_label_rows_is_an_error():
    with pytest.raises(InputError, match="no label rows"):
        parse(["just a header", "", "=========="])


def test_tissue_disagreement_names_both_lines():
    with pytest.raises(InputError, match=r"Info.txt:7: .*tissue D here but G on line 6"):
        parse(["mdb001 G CIRC B 535 425 197", "mdb001 D CIRC B 100 100 10"])


def test_patient_of():
    assert patient_of("mdb321") == ("p161", "right")
    assert patient_of("mdb322") == ("p161", "left")
    with pytest.raises(ValueError):
        patient_of("abc")


_token = st.text(alphabet="mdb0123456789GDFCIRSPAMBNOQXYZ*. -", min_size=0, max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(_token, min_size=1, max_size=6))
def test_fuzz_rows_only_clear_errors(rows):
    """Any row soup either parses or raises InputError naming the file and a line."""
    try:
        lab = parse(rows)
    except InputError as err:
        assert str(err).startswith("Info.txt:")
        assert err.line is not None and 1 <= err.line <= len(HEADER) + len(rows) + 2
    else:
        for film in lab.films:
            for lesion in film.lesions:
                x1, y1, x2, y2 = lesion.xyxy
                assert 0 <= x1 < x2 <= 1024 and 0 <= y1 < y2 <= 1024


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 1023), st.integers(1, 1024), st.integers(1, 400),
    st.sampled_from(["CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM"]), st.sampled_from("BM"),
)
def test_fuzz_valid_rows_parse(x, y, r, cls, sev):
    lab = parse([f"mdb010 F {cls} {sev} {x} {y} {r}   "])
    lesion = lab.films[0].lesions[0]
    assert lesion.center_xy == (x, 1024 - y)
    assert lesion.contains_point(x + 0.5, 1024 - y + 0.5)
