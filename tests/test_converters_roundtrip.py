import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converters.coco import coco_to_films, films_to_coco
from converters.masks import circle_mask, mask_to_xyxy, rle_to_mask
from converters.mias import parse_mias
from converters.preprocess import PreprocessConfig, Transform, breast_mask, preprocess
from converters.yolo import format_yolo_labels, parse_yolo_labels
from phantoms import phantom_film


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 255), st.integers(1, 256), st.integers(1, 90))
def test_mias_row_to_coco_to_mask_to_bbox(x, y, r):
    """MIAS row -> COCO bbox + RLE -> decoded mask -> its bbox equals the COCO bbox."""
    lab = parse_mias(["mdb001 G CIRC B %d %d %d" % (x, y, r)], resolution_wh=(256, 256))
    coco = films_to_coco(lab.films)
    ann = coco["annotations"][0]
    mask = rle_to_mask(ann["segmentation"])
    assert mask.shape == (256, 256)
    assert mask.sum() == ann["area"] > 0
    x1, y1, x2, y2 = mask_to_xyxy(mask)
    assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]
    assert mask[256 - y, x]  # the centre pixel, after the y flip


def test_circle_mask_edges():
    m = circle_mask((5, 5), 2, (12, 10))
    assert m.sum() == 13 and mask_to_xyxy(m) == (3.0, 3.0, 8.0, 8.0)


def test_coco_roundtrip_films(tmp_path):
    from phantoms import small_mias
    from converters.mias import load_mias

    films = load_mias(small_mias(tmp_path / "m"), resolution_wh=(256, 256)).films
    back = coco_to_films(films_to_coco(films, "class"))
    assert back == films  # dataclass equality: ids, boxes, circles, labels, patients


@settings(max_examples=100, deadline=None)
@given(
    st.integers(32, 900), st.integers(32, 900),
    st.lists(st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0.02, 0.1), st.floats(0.02, 0.1)), max_size=5),
)
def test_coco_to_yolo_to_coco_within_a_pixel(w, h, rel):
    boxes = np.array([[a * w, b * h, min(w, (a + c) * w), min(h, (b + d) * h)] for a, b, c, d in rel]).reshape(-1, 4)
    text = format_yolo_labels([0] * len(boxes), boxes, (w, h))
    ids, back = parse_yolo_labels(text, (w, h))
    assert len(ids) == len(boxes)
    assert np.abs(back - boxes).max(initial=0) < 1.0


def test_yolo_bad_line_is_named():
    from converters.errors import InputError

    with pytest.raises(InputError, match=r"a.txt:2: "):
        parse_yolo_labels("0 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n", (10, 10), "a.txt")


@pytest.mark.parametrize("right_side", [False, True])
@pytest.mark.parametrize("imgsz", [None, 96])
def test_preprocess_transform_round_trip(right_side, imgsz):
    img = phantom_film(256, [(60, 100, 12)], seed=3)
    if right_side:
        img = img[:, ::-1].copy()
    cols = slice(6, 26) if right_side else slice(230, 250)
    img[5:15, cols] = 255  # a film label outside the breast
    out, tr = preprocess(img, PreprocessConfig(imgsz=imgsz))
    assert tr.flipped == right_side
    assert out.shape == (tr.output_wh[1], tr.output_wh[0])
    boxes = np.array([[10, 20, 50, 70], [100.5, 30.25, 120, 90]])
    assert np.allclose(tr.inverse_xyxy(tr.forward_xyxy(boxes)), boxes)
    assert Transform.from_dict(tr.as_dict()) == tr
    # The lesion is where the transform says it is, in the model frame.
    cx = 256 - 60 if right_side else 60
    (px, py), = tr.forward_points([[cx + 0.5, 100.5]])
    assert out[int(py), int(px)] > 150
    # The film label is blanked by segmentation (or cropped away).
    label = np.zeros(img.shape, bool)
    label[5:15, cols] = True
    label_in_frame = tr.forward_image(label)
    assert label_in_frame.shape == out.shape
    assert not (out[label_in_frame] > 200).any()


@pytest.mark.parametrize("imgsz", [None, 96])
def test_preprocess_x_scale_narrows_the_frame_and_maps_boxes_back(imgsz):
    img = phantom_film(256, [(60, 100, 12)], seed=3)
    plain, tr1 = preprocess(img, PreprocessConfig(imgsz=imgsz))
    narrow, tr = preprocess(img, PreprocessConfig(imgsz=imgsz, x_scale=1 / 1.6))
    assert tr.crop_xyxy == tr1.crop_xyxy
    (cw, ch), (w, h) = (tr.crop_xyxy[2] - tr.crop_xyxy[0], tr.crop_xyxy[3] - tr.crop_xyxy[1]), tr.output_wh
    # Width over height shrinks by the factor (to the rounding of one pixel).
    assert abs(w / h - (cw / ch) / 1.6) < 1.5 / h
    assert narrow.shape == (h, w)
    if imgsz is None:  # same height as without x_scale, narrower
        assert h == plain.shape[0] and w < plain.shape[1]
    else:
        assert max(w, h) == imgsz
    sx, sy = tr.scale_xy
    assert sx / sy == pytest.approx(1 / 1.6, rel=0.02)
    boxes = np.array([[10, 20, 50, 70], [100.5, 30.25, 120, 90]])
    assert np.allclose(tr.inverse_xyxy(tr.forward_xyxy(boxes)), boxes)
    # The lesion still sits where the transform puts it.
    (px, py), = tr.forward_points([[60.5, 100.5]])
    assert narrow[int(py), int(px)] > 150


def test_preprocess_config_rejects_a_nonsense_x_scale():
    with pytest.raises(ValueError, match="x_scale"):
        PreprocessConfig(x_scale=0)


def test_breast_mask_keeps_breast_drops_label():
    img = phantom_film(256, [], seed=1)
    img[5:15, 230:250] = 255
    m = breast_mask(img)
    assert m[128, 20] and not m[10, 240]
    assert not breast_mask(np.zeros((64, 64), np.uint8)).any()
