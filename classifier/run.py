"""One training run end to end: crops -> train -> weights -> held-out evaluations.

Run folder layout::

    RUN/config.yaml         resolved config
    RUN/counts.json         crops kept/dropped per side, class counts, film split
    RUN/checkpoint.pt       latest checkpoint (weights_only loadable), for --resume
    RUN/model.safetensors   final weights;  RUN/model.json  arch, crop size, class names
    RUN/eval_{val,test}/    metrics.json, table.md, confusion.png for the CNN, and
                            texture/ and fused/ subfolders for the feature baselines
    RUN/eval_{val,test}_coco/  with an added COCO source: its own validation / test patients

An added COCO source (``coco_sources``, e.g. CBIS-DDSM masses) is split by patient with the
same function and seed; crops of its training patients (lesion boxes, plus
``coco_normals_per_film`` normal crops away from the boxes) join the training side, its
validation and test patients become the held-out sides ``val_coco`` and ``test_coco``. Validation and test stay mini-MIAS
patients, so the figures compare with a mini-MIAS-only run. With ``coco_cv`` and ``fold >= 0``
the source's development patients are cut into the same ``kfold`` patient folds as mini-MIAS
(:func:`classifier.data.patient_film_split`): the other folds train, fold ``fold`` is
``test_coco``, its fixed test patients are left out.

With ``start_weights`` the sidecar records the file's name (its folder and file name only),
sha256, and how many tensors were loaded (:func:`classifier.model.load_start_weights`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.baselines import fit_logistic, proba_all_classes, texture_features
from classifier.config import ClassifierConfig
from classifier.data import Crops, FilmCache, build_dataset, cut_crops, lesion_sides
from classifier.evaluate import evaluate_probs, predict
from classifier.train import save_weights, train_model
from converters.atomic import write_json_atomic
from converters.config import config_to_dict, save_config

CROP_RULE = ("square of side 2*radius_px (detection box: centre, side max(w,h)), 0 outside the film, "
             "resized INTER_AREA to input_px; input = uint8/255")


def model_meta(cfg: ClassifierConfig, side_pool_px: np.ndarray, info: dict) -> dict:
    return {
        "arch": cfg.arch, "input_px": cfg.input_px, "in_chans": 1, "drop_rate": cfg.drop_rate,
        "class_names": list(cfg.class_names), "input_scale": "uint8 / 255", "crop_rule": CROP_RULE,
        "protocol": cfg.protocol, "leaky": cfg.leaky, "subset": cfg.subset, "seed": cfg.seed,
        "split_seed": cfg.split_seed, "fold": cfg.fold, "max_background_frac": cfg.max_background_frac,
        "normals_per_normal_film": cfg.normals_per_normal_film, "normal_size": cfg.normal_size,
        "normal_fixed_px": cfg.normal_fixed_px, "normal_side_pool_px": [float(s) for s in side_pool_px],
        **info,
    }


def coco_source_name(coco_json: str | Path) -> str:
    """``COCO folder/split/file.json``: names the source without the machine's absolute path."""
    return "COCO " + "/".join(Path(coco_json).parts[-3:])


def add_coco_source(ds, cache: FilmCache, cfg: ClassifierConfig, coco_json: Path, images: Path) -> None:
    """Pool a COCO source's training patients into ``ds.sides['train']``; add sides ``val_coco``,
    ``test_coco``; record its crop counts under ``ds.counts['coco']``."""
    from dataclasses import replace

    from converters.cbis import load_coco_set
    from converters.errors import InputError
    from converters.splits import split_patients

    if cfg.protocol != "patient":
        raise InputError("an added COCO source needs --protocol patient (the paper protocol is MIAS only)")
    films = load_coco_set(coco_json, images, verbose=False).films
    cache.add_source(films, images)
    if cfg.coco_cv and cfg.fold >= 0:  # the source's development patients folded like mini-MIAS's
        from classifier.data import patient_film_split

        split = patient_film_split(films, cfg)
    else:
        split = split_patients(films, val_frac=cfg.val_frac, test_frac=cfg.test_frac, seed=cfg.split_seed)
    train = [f for f in films if split.get(f.film_id) == "train"]
    val = [f for f in films if split.get(f.film_id) == "val"]
    test = [f for f in films if split.get(f.film_id) == "test"]
    coco_cfg = replace(cfg, normals_per_abnormal_film=cfg.coco_normals_per_film)
    pool = lesion_sides(train)
    counts = {"train": {}, "val": {}, "test": {}}
    tr = cut_crops(train, cache, coco_cfg, pool, counts["train"])
    ds.sides["train"] = Crops.concat([ds.sides["train"], tr.augmented() if cfg.augment else tr])
    ds.sides["val_coco"] = cut_crops(val, cache, coco_cfg, pool, counts["val"])
    ds.sides["test_coco"] = cut_crops(test, cache, coco_cfg, pool, counts["test"])
    ds.counts["coco"] = {"coco_json": coco_source_name(coco_json),
                         "films": {"train": len(train), "val": len(val), "test": len(test)}, **counts}


def feature_baselines(model, train: Crops, held: Crops, seed: int) -> dict[str, np.ndarray]:
    """Texture-only and CNN+texture logistic regressions trained on the un-augmented training crops."""
    tr = train.take(np.flatnonzero(train.orientation == 0))
    n_cls = len(train.class_names)
    if len(np.unique(tr.labels)) < 2 or not len(held):
        return {}
    tex_tr, tex_te = texture_features(tr.images, tr.side_px), texture_features(held.images, held.side_px)
    _, f_tr = predict(model, tr.images, features=True)
    _, f_te = predict(model, held.images, features=True)
    out = {"texture": proba_all_classes(fit_logistic(tex_tr, tr.labels, seed), tex_te, n_cls)}
    fused_tr, fused_te = np.hstack([f_tr, tex_tr]), np.hstack([f_te, tex_te])
    out["fused"] = proba_all_classes(fit_logistic(fused_tr, tr.labels, seed, c=0.05), fused_te, n_cls)
    return out


def run_training(cfg: ClassifierConfig, mias_dir: str | Path, run_dir: str | Path, resume: bool = False,
                 progress: bool = True, baselines: bool = True, coco_source: tuple[Path, Path] | None = None) -> dict:
    """Train per ``cfg`` on the films of ``mias_dir`` (plus the training patients of
    ``coco_source = (coco_json, images_dir)`` if given); write the run folder; return a summary."""
    from converters.mias import load_mias

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    films = load_mias(mias_dir).films
    cache = FilmCache(mias_dir)
    ds = build_dataset(films, cache, cfg)
    if coco_source is not None:
        add_coco_source(ds, cache, cfg, *coco_source)
    counts = {"protocol": cfg.protocol, "leaky": cfg.leaky, "subset": cfg.subset, "cut": ds.counts,
              "crops": {s: {"n": len(c), "patients": int(np.unique(c.patient_ids).size),
                            "class_counts": np.bincount(c.labels, minlength=len(cfg.class_names)).tolist()}
                        for s, c in ds.sides.items()},
              "film_split": ds.film_split}
    write_json_atomic(run_dir / "counts.json", counts)
    model, info = train_model(cfg, ds.sides["train"], run_dir, resume=resume, progress=progress)
    sources = ["mini-MIAS"] + ([ds.counts["coco"]["coco_json"]] if coco_source is not None else [])
    save_weights(model, run_dir, {**model_meta(cfg, ds.side_pool_px, info), "train_sources": sources})
    summary = {"run_dir": str(run_dir), "config": config_to_dict(cfg), "train": info, "eval": {}}
    tag = f"{cfg.arch} {cfg.protocol} {cfg.subset}" + (f" fold {cfg.fold}" if cfg.fold >= 0 else "")
    for side in [s for s in ds.sides if s != "train"]:
        held = ds.sides.get(side)
        if held is None or not len(held):
            continue
        probs = predict(model, held.images)
        base = {"protocol": cfg.protocol, "split": side, "subset": cfg.subset, "arch": cfg.arch, "fold": cfg.fold}
        np.savez_compressed(run_dir / f"predictions_{side}.npz", probs=probs, labels=held.labels,
                            patient_ids=held.patient_ids, film_ids=held.film_ids, kinds=held.kinds,
                            side_px=held.side_px, orientation=held.orientation)
        rep = evaluate_probs(probs, held, run_dir / f"eval_{side}", f"{tag}, {side}", cfg.leaky,
                             cfg.n_bootstrap, cfg.seed, extra=base)
        summary["eval"][side] = {"cnn": rep}
        if baselines:
            for name, p in feature_baselines(model, ds.sides["train"], held, cfg.seed).items():
                np.save(run_dir / f"predictions_{side}_{name}.npy", p)
                r = evaluate_probs(p, held, run_dir / f"eval_{side}" / name, f"{name} features, {tag}, {side}",
                                   cfg.leaky, cfg.n_bootstrap, cfg.seed, extra={**base, "model": name})
                summary["eval"][side][name] = r
    return summary
