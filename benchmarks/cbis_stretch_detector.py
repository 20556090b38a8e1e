"""Detector side of the CBIS-DDSM stretch question: leave the stretch, or undo it at prediction?

The CBIS-DDSM copy was resized to 800 x 800 without keeping the aspect ratio;
``benchmarks/cbis_stretch.py`` measured a sideways stretch of about 1.6 (notes/cbis.md).
This script scores ONE trained detector on the films of one split twice, with the film's
width multiplied by 1 (the stored, stretched frame) and by ``1/factor`` (approximately the
original aspect) before the detector's own resize (``PreprocessConfig.x_scale``; boxes map
back to the stored frame exactly, so both runs are scored against the same labels). It
answers whether restoring the aspect at prediction time helps the detector the project
ships; it does not measure a detector TRAINED on restored films (hours of CPU per run).

Every figure has a bootstrap 95% CI over patients; the differences are paired (same
resampled patients for both conditions). Run it on validation patients to choose, and on
test patients once, after choosing.

Usage:
    python benchmarks/cbis_stretch_detector.py --cbis-dir $CBIS_DIR \\
        --splits work/cbis-converted/splits.json --split val --out work/cbis_stretch_detector_val.json
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

# Run as a script, this folder comes first on sys.path, and benchmarks/detector.py would
# shadow the detector package: drop that entry.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np
import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def score_condition(detector, films, images_dir: Path, x_scale: float, n_boot: int, seed: int, split: str) -> dict:
    """Predict every film with the detector's preprocessing at ``x_scale``; detection figures and FROC events."""
    from detector.detection_metrics import evaluate_predictions
    from detector.evaluate import predict_films
    from detector.froc import FrocEvents, match_predictions

    detector.preprocess_config = dataclasses.replace(detector.preprocess_config, x_scale=x_scale)
    predictions, seconds = predict_films(detector, films, images_dir)
    m = evaluate_predictions(films, predictions, n_resamples=n_boot, seed=seed, split_name=split)
    at1 = list(m["froc"]["all"]["fp_per_film"]).index(1.0)
    return {
        "x_scale": x_scale,
        "sensitivity_at_1fp": m["froc"]["all"]["sensitivity"][at1],
        "mean_froc_sensitivity": m["froc"]["all"]["mean_sensitivity"],
        "map50": m["coco"]["all"]["map50"],
        "film_auc": m["film_level"]["roc_auc"],
        "median_predict_s": float(np.median(seconds)),
        "_events": FrocEvents(match_predictions(films, predictions, "center", 0.3)),
    }


def paired_differences(films, a: dict, b: dict, n_boot: int, seed: int) -> dict:
    """``b - a`` for sensitivity at 1 FP/film and mean FROC sensitivity, same patient resamples."""
    from converters.bootstrap import bootstrap_over_patients
    from detector.detection_metrics import _est
    from detector.froc import FP_RATES_PER_FILM

    pids = [f.patient_id for f in films]
    at1 = list(FP_RATES_PER_FILM).index(1.0)

    def sens(ev, idx):
        return ev.sensitivity_at(FP_RATES_PER_FILM, np.bincount(idx, minlength=len(films)).astype(float))

    out = {}
    for name, pick in (("sensitivity_at_1fp", lambda s: s[at1]), ("mean_froc_sensitivity", np.mean)):
        out[name] = _est(bootstrap_over_patients(
            pids, lambda idx: float(pick(sens(b["_events"], idx)) - pick(sens(a["_events"], idx))), n_boot, seed))
    return out


def _f(e: dict) -> str:
    def num(x):
        return "n/a" if x is None else f"{x:.3f}"

    return f"{num(e['value'])} [{num(e['ci95'][0])}, {num(e['ci95'][1])}]"


@app.command()
def main(
    cbis_dir: Annotated[Path, typer.Option(help="data/cbis-ddsm-mass (train/ with the COCO file and case table).")],
    splits: Annotated[Path, typer.Option(help="splits.json of `mammo convert --coco-json ...`.")],
    out: Annotated[Path, typer.Option(help="JSON with both conditions and the paired differences.")],
    split: Annotated[str, typer.Option(help="Which patients: val to choose, test once after choosing.")] = "val",
    weights: Annotated[Path | None, typer.Option(help="Detector weights (default: the shipped detector).")] = None,
    factor: Annotated[float, typer.Option(help="Sideways stretch to undo (notes/cbis.md measured about 1.6).")] = 1.6,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
) -> None:
    import torch

    from converters.atomic import write_json_atomic
    from converters.cbis import load_coco_set
    from converters.splits import load_splits, select_split
    from detector.api import default_weights_path, load_detector

    if not 1.0 < factor <= 10.0:
        raise typer.BadParameter(f"expected a stretch factor in (1, 10], got {factor}", param_hint="--factor")
    torch.set_num_threads(threads)
    images = cbis_dir / "train"
    films = select_split(list(load_coco_set(images / "_annotations.coco.json", images, verbose=False).films),
                         load_splits(splits), split)
    detector = load_detector(weights)
    runs = [score_condition(detector, films, images, x, n_bootstrap, seed, split) for x in (1.0, 1.0 / factor)]
    diff = paired_differences(films, runs[0], runs[1], n_bootstrap, seed)
    result = {
        "split": split, "films": len(films), "patients": len({f.patient_id for f in films}),
        "lesions": sum(len(f.lesions) for f in films),
        "weights": (weights or default_weights_path()).name, "factor": factor,
        "sidecar_x_scale": detector.meta.get("preprocess", {}).get("x_scale", 1.0),
        "hit_rule": "center (predicted box centre inside the labelled box)",
        "ci": f"bootstrap 95% over patients, {n_bootstrap} resamples, seed {seed}",
        "conditions": [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs],
        "restored_minus_stretched": diff,
    }
    write_json_atomic(out, result)
    print(f"CBIS {split} patients: {result['films']} films, {result['patients']} patients, {result['lesions']} masses; "
          f"{result['ci']}")
    for r in result["conditions"]:
        print(f"  width x {r['x_scale']:.3f}: sensitivity@1FP/film {_f(r['sensitivity_at_1fp'])}, "
              f"mean FROC {_f(r['mean_froc_sensitivity'])}, mAP50 {_f(r['map50'])}")
    print(f"  restored - stretched: sensitivity@1FP {_f(diff['sensitivity_at_1fp'])}, "
          f"mean FROC {_f(diff['mean_froc_sensitivity'])}")


if __name__ == "__main__":
    app()
