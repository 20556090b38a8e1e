"""``mammo convert``: a MIAS folder (or a COCO set) -> COCO json, YOLO dataset, splits.

Every input is read and validated before anything is written; each output folder is
written under a temporary name and renamed into place, so a failed run leaves the
previous output (or nothing), never half of one. A non-empty ``OUT`` that mammo did not
write is refused unless ``overwrite`` (:mod:`converters.output_dir`), since ``coco/`` and
``yolo/`` are replaced whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converters.atomic import atomic_dir, write_json_atomic
from converters.coco import films_to_coco
from converters.config import save_config
from converters.errors import look_up_option
from converters.output_dir import check_output_dir, claim_output_dir
from converters.images import read_gray8, write_png_atomic
from converters.mias import MIAS_RESOLUTION_WH, load_mias
from converters.preprocess import PreprocessConfig, Transform, breast_mask, preprocess
from converters.records import Film
from converters.splits import SPLIT_NAMES, split_patients, splits_document, write_splits
from converters.yolo import clip_xyxy, dataset_yaml, format_yolo_labels
from converters.coco import CATEGORY_SCHEMES, category_id


CONVERT_OUTPUTS = ("coco", "yolo", "splits.json", "convert.yaml", "summary.json")


@dataclass
class ConvertConfig:
    """Resolved settings of one conversion (saved as ``OUT/convert.yaml``)."""

    source_dir: str = ""
    categories: str = "lesion"
    film_size: int = 1024
    seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.2
    preprocess: bool = True
    preprocessing: PreprocessConfig = field(default_factory=lambda: PreprocessConfig(imgsz=640))


@dataclass
class SourceSet:
    """Films plus what the summary reports about their labels."""

    films: list[Film]
    source_dir: Path
    n_rows: int
    n_image_level: int


def load_mias_set(mias_dir, film_size: int = MIAS_RESOLUTION_WH[0]) -> SourceSet:
    labels = load_mias(mias_dir, resolution_wh=(film_size, film_size))
    return SourceSet(labels.films, Path(mias_dir), labels.n_rows, labels.n_image_level)


def read_films(source: SourceSet, progress: bool = True):
    """Read (and so validate: depth, size, truncation) every film; yields ``(film, image)``."""
    from tqdm import tqdm

    for film in tqdm(source.films, desc="reading films", disable=not progress, unit="film"):
        yield film, read_gray8(source.source_dir / film.image_path, expected_wh=(film.width, film.height))


def summary_rows(films: list[Film], film_split: dict[str, str]) -> list[dict]:
    rows = []
    for split in SPLIT_NAMES + ("all",):
        sel = [f for f in films if split == "all" or film_split[f.film_id] == split]
        rows.append(
            {
                "split": split,
                "patients": len({f.patient_id for f in sel}),
                "films": len(sel),
                "normal_films": sum(not f.is_abnormal for f in sel),
                "label_rows": sum(len(f.lesions) + len(f.image_labels) + (0 if f.is_abnormal else 1) for f in sel),
                "boxes": sum(len(f.lesions) for f in sel),
                "image_level_only": sum(len(f.image_labels) for f in sel),
                "malignant_boxes": sum(l.severity == "malignant" for f in sel for l in f.lesions),
            }
        )
    return rows


def convert(source: SourceSet, out: str | Path, config: ConvertConfig, progress: bool = True, overwrite: bool = False) -> dict:
    """Write ``OUT/coco``, ``OUT/yolo``, ``OUT/splits.json``, ``OUT/convert.yaml``; return the summary.

    ``overwrite``: write into a non-empty ``OUT`` that mammo did not write.
    """
    look_up_option(config.categories, CATEGORY_SCHEMES, "category scheme")
    out = check_output_dir(out, overwrite, CONVERT_OUTPUTS, signature="convert.yaml")
    films = source.films
    film_split = split_patients(films, config.val_frac, config.test_frac, config.seed)
    pconf = config.preprocessing if config.preprocess else PreprocessConfig(
        segment=False, flip_to_left=False, crop=False, imgsz=config.preprocessing.imgsz,
        x_scale=config.preprocessing.x_scale,
    )
    prepared: dict[str, tuple[np.ndarray, Transform]] = {}
    outside_breast = 0
    for film, image in read_films(source, progress=progress):
        img, tr = preprocess(image, pconf)
        prepared[film.film_id] = (img, tr)
        if film.lesions:
            mask = breast_mask(image)
            outside_breast += sum(not mask[int(l.center[1]), int(l.center[0])] for l in film.lesions)
    names = list(CATEGORY_SCHEMES[config.categories])
    claim_output_dir(out, "convert", legacy_temp_names=CONVERT_OUTPUTS)
    with atomic_dir(out / "coco") as tmp:
        write_json_atomic(tmp / "all.json", films_to_coco(films, config.categories))
        for split in SPLIT_NAMES:
            sel = [f for f in films if film_split[f.film_id] == split]
            write_json_atomic(tmp / f"{split}.json", films_to_coco(sel, config.categories))
    dropped_slivers = 0
    with atomic_dir(out / "yolo") as tmp:
        transforms = {}
        for film in films:
            split = film_split[film.film_id]
            img, tr = prepared[film.film_id]
            write_png_atomic(tmp / "images" / split / f"{film.film_id}.png", img)
            boxes = tr.forward_xyxy([l.xyxy for l in film.lesions]) if film.lesions else np.zeros((0, 4))
            boxes, keep = clip_xyxy(boxes, tr.output_wh)
            dropped_slivers += int((~keep).sum())
            ids = [category_id(l, config.categories) - 1 for l, k in zip(film.lesions, keep) if k]
            label_path = tmp / "labels" / split / f"{film.film_id}.txt"
            label_path.parent.mkdir(parents=True, exist_ok=True)
            label_path.write_text(format_yolo_labels(ids, boxes[keep], tr.output_wh))
            transforms[film.film_id] = tr.as_dict()
        for split in SPLIT_NAMES:
            (tmp / "images" / split).mkdir(parents=True, exist_ok=True)
            (tmp / "labels" / split).mkdir(parents=True, exist_ok=True)
        write_json_atomic(tmp / "transforms.json", transforms)
        (tmp / "dataset.yaml").write_text(dataset_yaml(out / "yolo", names))
    write_splits(out / "splits.json", splits_document(films, film_split, config.seed, config.val_frac, config.test_frac))
    config.source_dir = str(Path(source.source_dir).resolve())
    save_config(config, out / "convert.yaml")
    rows = summary_rows(films, film_split)
    summary = {
        "films": len(films),
        "label_rows": source.n_rows,
        "boxes": sum(len(f.lesions) for f in films),
        "image_level_only": source.n_image_level,
        "lesion_centres_outside_breast_mask": int(outside_breast),
        "boxes_dropped_outside_crop": dropped_slivers,
        "per_split": rows,
    }
    if getattr(source, "join_report", None):
        summary["case_table_join"] = source.join_report
    write_json_atomic(out / "summary.json", summary)
    return summary


def print_summary(summary: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="mammo convert")
    cols = ["split", "patients", "films", "normal_films", "label_rows", "boxes", "image_level_only", "malignant_boxes"]
    for c in cols:
        table.add_column(c.replace("_", " "), justify="right" if c != "split" else "left")
    for row in summary["per_split"]:
        table.add_row(*[str(row[c]) for c in cols])
    console.print(table)
    console.print(
        f"label rows read: {summary['label_rows']}; image-level-only labels kept (no box): {summary['image_level_only']}; "
        f"lesion centres outside the breast mask: {summary['lesion_centres_outside_breast_mask']}; "
        f"boxes dropped (outside the crop): {summary['boxes_dropped_outside_crop']}"
    )
