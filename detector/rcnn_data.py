"""Training samples for the R-CNN backends from a converted folder (COCO json + MIAS films).

Each film is read from the folder ``mammo convert`` read (``source_dir`` in convert.yaml,
or ``mias_dir``), put through the same :func:`converters.preprocess.preprocess` as the YOLO
images (the converted PreprocessConfig with ``imgsz`` set to the recipe's), and its lesion
boxes and circle masks are mapped into that frame with the returned ``Transform``.
Negative films keep empty targets: they teach the model what is not a lesion.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.coco import load_coco
from converters.errors import InputError
from converters.images import read_gray8
from converters.masks import circle_mask
from converters.preprocess import PreprocessConfig, preprocess
from converters.records import Film
from detector.converted import coco_json, mias_dir_of, preprocess_config


@dataclass
class Sample:
    """One preprocessed film and its targets in the model frame."""

    film_id: str
    image: np.ndarray  # uint8 (h, w)
    boxes_xyxy: np.ndarray  # float (N, 4)
    masks: np.ndarray  # bool (N, h, w)


def film_sample(film: Film, image_u8: np.ndarray, config: PreprocessConfig) -> Sample:
    """Preprocess one film and map its circle lesions into the model frame."""
    frame, tf = preprocess(image_u8, config)
    h, w = frame.shape
    boxes, masks = [], []
    for lesion in film.lesions:
        b = tf.forward_xyxy(np.asarray(lesion.xyxy)[None])[0]
        b[[0, 2]] = b[[0, 2]].clip(0, w)
        b[[1, 3]] = b[[1, 3]].clip(0, h)
        if b[2] - b[0] < 1 or b[3] - b[1] < 1:
            continue  # lesion outside the breast crop (counted by the converter's summary)
        if lesion.center_xy is not None:
            m = tf.forward_image(circle_mask(lesion.center_xy, lesion.radius_px, (film.width, film.height)))
        else:
            m = np.zeros((h, w), dtype=bool)
            x1, y1, x2, y2 = (int(round(v)) for v in b)
            m[y1:y2, x1:x2] = True
        boxes.append(b)
        masks.append(m)
    return Sample(
        film.film_id,
        frame,
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(masks, dtype=bool).reshape(-1, h, w),
    )


def load_samples(data_dir: str | Path, split: str, imgsz: int, mias_dir: str | Path | None = None,
                 progress: bool = True) -> tuple[list[Sample], PreprocessConfig]:
    """Samples of one split of a converted folder and the PreprocessConfig used."""
    films = load_coco(coco_json(data_dir, split))
    src = Path(mias_dir) if mias_dir is not None else mias_dir_of(data_dir)
    if src is None:
        raise InputError("convert.yaml does not say where the films are (source_dir); pass mias_dir", Path(data_dir) / "convert.yaml")
    config = dataclasses.replace(preprocess_config(data_dir), imgsz=imgsz)
    it = films
    if progress:
        from tqdm import tqdm

        it = tqdm(films, desc=f"preprocess {split}", unit="film")
    samples = [film_sample(f, read_gray8(src / f.image_path, expected_wh=(f.width, f.height)), config) for f in it]
    return samples, config
