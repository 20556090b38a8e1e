"""Detector side of the CBIS-DDSM stretch question: leave the stretch, or undo it at prediction?

The CBIS-DDSM copy was resized to 800 x 800 without keeping the aspect ratio;
``benchmarks/cbis_stretch.py`` measured a sideways stretch of about 1.6 (docs/cbis.md).
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

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def score_condition(detector, films, images_dir: Path, x_scale: float, n_boot: int, seed: int, split: str) -> dict:
    """Score the detector with its preprocessing at ``x_scale`` (`detector_compare.score_condition`)."""
    from detector_compare import score_condition as score
    from detector_compare import set_x_scale

    set_x_scale(detector, x_scale)
    return {"x_scale": x_scale, **score(detector, films, images_dir, n_boot, seed, split)}


@app.command()
def main(
    cbis_dir: Annotated[Path, typer.Option(help="data/cbis-ddsm-mass (train/ with the COCO file and case table).")],
    splits: Annotated[Path, typer.Option(help="splits.json of `mammo convert --coco-json ...`.")],
    out: Annotated[Path, typer.Option(help="JSON with both conditions and the paired differences.")],
    split: Annotated[str, typer.Option(help="Which patients: val to choose, test once after choosing.")] = "val",
    weights: Annotated[Path | None, typer.Option(help="Detector weights (default: the shipped detector).")] = None,
    factor: Annotated[float, typer.Option(help="Sideways stretch to undo (docs/cbis.md measured about 1.6).")] = 1.6,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
) -> None:
    import torch

    from converters.atomic import write_json_atomic
    from converters.cbis import load_coco_set
    from converters.splits import load_splits, select_split
    from detector.api import default_weights_path, load_detector
    from detector_compare import paired_differences, public
    from evaluation.bootstrap import format_estimate

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
        "conditions": [public(r) for r in runs],
        "restored_minus_stretched": diff,
    }
    write_json_atomic(out, result)
    print(f"CBIS {split} patients: {result['films']} films, {result['patients']} patients, {result['lesions']} masses; "
          f"{result['ci']}")
    for r in result["conditions"]:
        print(f"  width x {r['x_scale']:.3f}: sensitivity@1FP/film {format_estimate(r['sensitivity_at_1fp'])}, "
              f"mean FROC {format_estimate(r['mean_froc_sensitivity'])}, mAP50 {format_estimate(r['map50'])}")
    print(f"  restored - stretched: sensitivity@1FP {format_estimate(diff['sensitivity_at_1fp'])}, "
          f"mean FROC {format_estimate(diff['mean_froc_sensitivity'])}")


if __name__ == "__main__":
    app()
