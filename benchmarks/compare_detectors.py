"""Two detector weights files on the same films: each one's figures and their paired difference.

Scores weights A and B on the films of one source and split, and prints ``B - A`` for
sensitivity at 1 FP/film and mean FROC sensitivity with a bootstrap 95% CI over patients
(the same resampled patients for both, `benchmarks/detector_compare.py`). A choice between two
detectors should rest on validation patients and on a paired CI that excludes zero; the
test split is scored once, after choosing, and only reported.

Usage (mini-MIAS, or any COCO set with --coco-json/--images):
    python benchmarks/compare_detectors.py --weights-a A.safetensors --weights-b B.safetensors \\
        --mias-dir $MIAS_DIR --splits work/mias-converted/splits.json --split val --out OUT.json
    python benchmarks/compare_detectors.py --weights-a A.safetensors --weights-b B.safetensors \\
        --coco-json $CBIS_DIR/train/_annotations.coco.json --images $CBIS_DIR/train \\
        --splits work/cbis-converted/splits.json --split val --out OUT.json

``--x-scale-a/--x-scale-b`` set a detector's width factor (``PreprocessConfig.x_scale``) for
these films, e.g. 0.625 for a detector trained on CBIS-DDSM films with their aspect restored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def load_films(mias_dir: Path | None, coco_json: Path | None, images: Path | None,
               splits: Path | None, split: str | None) -> tuple[list, Path]:
    """The films to score (``mammo evaluate``'s loader) and the folder their image paths are relative to."""
    from converters.errors import InputError
    from converters.splits import load_splits, select_split
    from screening.evaluate_cmd import load_labelled_films

    if mias_dir is not None and images is not None:
        raise InputError("--images goes with --coco-json; a MIAS folder holds its own films")
    if (split is None) != (splits is None):
        raise InputError("--split and --splits go together (omit both to score every film)")
    films, root = load_labelled_films(mias_dir, coco_json, images)
    films = list(films)
    if split is not None:
        films = select_split(films, load_splits(splits), split)
    return films, root


@app.command()
def main(
    weights_a: Annotated[Path, typer.Option(help="Reference detector weights (.safetensors + .json sidecar).")],
    weights_b: Annotated[Path, typer.Option(help="Challenger detector weights.")],
    out: Annotated[Path, typer.Option(help="JSON with both detectors' figures and B - A.")],
    mias_dir: Annotated[Path | None, typer.Option(help="MIAS folder (Info.txt + films).")] = None,
    coco_json: Annotated[Path | None, typer.Option(help="COCO detection file (with --images).")] = None,
    images: Annotated[Path | None, typer.Option(help="Image folder of --coco-json.")] = None,
    splits: Annotated[Path | None, typer.Option(help="splits.json of `mammo convert` for this source.")] = None,
    split: Annotated[str | None, typer.Option(help="val to choose; test once, after choosing; omit for every film.")] = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    x_scale_a: Annotated[float | None, typer.Option(help="Width factor applied to A's films before its resize (e.g. 0.625 restores CBIS-DDSM's aspect); default: A's sidecar.")] = None,
    x_scale_b: Annotated[float | None, typer.Option(help="The same for B.")] = None,
) -> None:
    import torch

    from converters.atomic import write_json_atomic
    from converters.errors import InputError
    from detector.api import load_detector
    from detector_compare import paired_differences, public, score_condition, set_x_scale
    from evaluation.bootstrap import format_estimate

    torch.set_num_threads(threads)
    try:
        films, root = load_films(mias_dir, coco_json, images, splits, split)
        detectors = [load_detector(w) for w in (weights_a, weights_b)]  # both load before minutes of scoring
        for flag, d, xs in (("--x-scale-a", detectors[0], x_scale_a), ("--x-scale-b", detectors[1], x_scale_b)):
            if xs is not None:
                try:
                    set_x_scale(d, xs)
                except ValueError as err:
                    raise InputError(f"{flag}: {err}") from None
        runs = [score_condition(d, films, root, n_bootstrap, seed, split or "all") for d in detectors]
    except InputError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    diff = paired_differences(films, runs[0], runs[1], n_bootstrap, seed)
    result = {
        "source": "mias" if mias_dir is not None else "coco", "split": split or "all", "films": len(films),
        "patients": len({f.patient_id for f in films}), "lesions": sum(len(f.lesions) for f in films),
        "hit_rule": "center (predicted box centre inside the labelled circle or box)",
        "ci": f"bootstrap 95% over patients, {n_bootstrap} resamples, seed {seed}",
        "a": {"weights": str(weights_a), "x_scale": detectors[0].preprocess_config.x_scale, **public(runs[0])},
        "b": {"weights": str(weights_b), "x_scale": detectors[1].preprocess_config.x_scale, **public(runs[1])},
        "b_minus_a": diff,
    }
    write_json_atomic(out, result)
    print(f"{result['source']} {result['split']}: {result['films']} films, {result['patients']} patients, "
          f"{result['lesions']} lesions; {result['ci']}")
    for tag in ("a", "b"):
        r = result[tag]
        print(f"  {tag} {r['weights']} (width x {r['x_scale']:.3f}): sensitivity@1FP/film {format_estimate(r['sensitivity_at_1fp'])}, "
              f"mean FROC {format_estimate(r['mean_froc_sensitivity'])}, mAP50 {format_estimate(r['map50'])}")
    print(f"  b - a: sensitivity@1FP {format_estimate(diff['sensitivity_at_1fp'])}, mean FROC {format_estimate(diff['mean_froc_sensitivity'])}")


if __name__ == "__main__":
    app()
