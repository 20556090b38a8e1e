"""Read what ``mammo convert`` wrote: the YOLO dataset, the COCO files, splits and preprocessing.

Layout of a converted folder::

    OUT/coco/{all,train,val,test}.json   (file_name relative to the MIAS folder)
    OUT/yolo/images/{train,val,test}/*.png, OUT/yolo/labels/..., OUT/yolo/dataset.yaml
    OUT/splits.json, OUT/convert.yaml    (resolved config incl. the PreprocessConfig)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from converters.errors import InputError
from converters.preprocess import PreprocessConfig

_PRE_FIELDS = {f.name for f in dataclasses.fields(PreprocessConfig)}


def yolo_dataset_yaml(data_dir: str | Path) -> Path:
    """``OUT/yolo/dataset.yaml`` of a converted folder (raises if missing)."""
    path = Path(data_dir) / "yolo" / "dataset.yaml"
    if not path.is_file():
        raise InputError(f"expected a converted folder with yolo/dataset.yaml (run `mammo convert` first); missing {path}")
    return path.resolve()


def coco_json(data_dir: str | Path, split: str) -> Path:
    path = Path(data_dir) / "coco" / f"{split}.json"
    if not path.is_file():
        raise InputError(f"expected coco/{split}.json in the converted folder; missing {path}")
    return path


def _find_preprocess(node):
    if isinstance(node, dict):
        for key in ("preprocessing", "preprocess", "preprocess_config"):
            sub = node.get(key)
            if isinstance(sub, dict) and set(sub) <= _PRE_FIELDS and sub:
                return sub
        for sub in node.values():
            found = _find_preprocess(sub)
            if found is not None:
                return found
    return None


def read_convert_yaml(data_dir: str | Path) -> dict:
    path = Path(data_dir) / "convert.yaml"
    if not path.is_file():
        raise InputError(f"expected convert.yaml (the resolved convert config) in the converted folder; missing {path}")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML ({err.__class__.__name__})", path) from None


def preprocess_config(data_dir: str | Path) -> PreprocessConfig:
    """The :class:`PreprocessConfig` the converted YOLO images were made with."""
    doc = read_convert_yaml(data_dir)
    found = _find_preprocess(doc)
    if found is None:
        raise InputError(
            "convert.yaml has no 'preprocess' mapping: convert with preprocessing so the detector can repeat it",
            Path(data_dir) / "convert.yaml",
        )
    pre = PreprocessConfig(**found)
    if isinstance(doc, dict) and doc.get("preprocess") is False:
        # `mammo convert` without preprocessing only rescales (see converters.convert.convert).
        pre = PreprocessConfig(segment=False, flip_to_left=False, crop=False, imgsz=pre.imgsz, x_scale=pre.x_scale)
    return pre


def mias_dir_of(data_dir: str | Path) -> Path | None:
    """The MIAS folder the conversion read (``mias_dir`` in convert.yaml), if recorded."""
    doc = read_convert_yaml(data_dir)
    for key in ("mias_dir", "source_dir", "images_dir"):
        val = doc.get(key) if isinstance(doc, dict) else None
        if isinstance(val, str):
            return Path(val)
    return None


def combined_dataset_yaml(data_dirs: list[str | Path], dst: str | Path) -> tuple[Path, PreprocessConfig]:
    """One ultralytics dataset YAML over several converted folders (e.g. mini-MIAS + CBIS-DDSM).

    Each folder keeps its own patient split; the YAML lists every folder's ``train`` and
    ``val`` image directories. All folders must have been converted with the same
    preprocessing (the detector repeats one preprocessing at prediction time), else
    InputError names the first that differs. The one field that may differ is
    ``x_scale``: it undoes a stretch of one source's scans (CBIS-DDSM films were stored
    1.6x too wide), so it belongs to the source, not to the model. The returned config
    carries the first folder's ``x_scale``, the one every ``mammo`` command predicts with;
    the sidecar lists each source's (``source_x_scale``), and films of another source are
    scored in their own frame with ``benchmarks/compare_detectors.py --x-scale-b``. ``dst``
    is written atomically.

    Returns:
        the YAML's path and the shared :class:`PreprocessConfig`.
    """
    from converters.atomic import write_text_atomic

    if not data_dirs:
        raise InputError("no converted folder given (--data)")
    pres = [preprocess_config(d) for d in data_dirs]
    for d, pre in zip(data_dirs[1:], pres[1:]):
        if dataclasses.replace(pre, x_scale=pres[0].x_scale) != pres[0]:
            raise InputError(f"converted with other preprocessing than {data_dirs[0]} ({pre} vs {pres[0]}); "
                             "convert every source with the same --imgsz/--preprocess", Path(d) / "convert.yaml")
    roots = [yolo_dataset_yaml(d).parent for d in data_dirs]
    lines = []
    for split in ("train", "val"):
        lines.append(f"{split}:")
        lines += [f"  - {root / 'images' / split}" for root in roots]
    lines += ["names:", "  0: lesion"]
    dst = Path(dst)
    write_text_atomic(dst, "\n".join(lines) + "\n")
    return dst.resolve(), pres[0]
