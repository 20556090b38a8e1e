"""Write a single-source (mini-MIAS) detector model card from what a run and its evaluations measured.

It wrote the mini-MIAS-only part of ``detector/weights/MODEL_CARD.md``; the pooled
(mini-MIAS + CBIS-DDSM) section above it was written from ``mammo evaluate`` outputs.

Every figure in the card is read from files the run and ``mammo detector evaluate`` wrote
(``results.csv``, ``summary.json`` of the conversion, ``metrics.json``, ``timing.json``);
the prose around them (what was tried, the gap to the targets) is passed in as a
Markdown file, so no number is typed by hand.

Example:
    python benchmarks/detector_model_card.py --run work/runs/yolo-mias --converted work/mias-converted \
        --weights detector/weights/yolo11n-mias.safetensors --choice last \
        --val work/runs/yolo-mias/eval-val-last --test work/runs/yolo-mias/eval-test \
        --candidates work/runs/yolo-mias/eval-val-best work/runs/yolo-mias/eval-val-last \
        --notes work/detector-card-notes.md --out detector/weights/MODEL_CARD.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path

from converters.atomic import write_text_atomic
from evaluation.bootstrap import format_estimate

TARGETS = (
    ("lesion sensitivity at 1 FP/film, all lesions", ("froc", "all", 1.0), 0.70),
    ("lesion sensitivity at 1 FP/film, masses", ("froc", "mass", 1.0), 0.80),
    ("mAP50, all lesions", ("coco", "all", "map50"), 0.50),
)


def _figure(metrics: dict, key) -> dict:
    kind, subset, what = key
    if kind == "froc":
        f = metrics["froc"][subset]
        return f["sensitivity"][list(f["fp_per_film"]).index(what)]
    return metrics["coco"][subset][what]


def epoch_times(results_csv: Path) -> list[float]:
    import csv

    with open(results_csv) as fh:
        rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(fh)]
    cum = [float(r["time"]) for r in rows if r.get("time")]
    # the clock restarts when a run is resumed: a drop means the run was resumed
    return [b - a if b >= a else b for a, b in zip([0.0] + cum[:-1], cum)]


def _epoch_text(meta: dict, n_epochs: int) -> str:
    epoch = int(meta.get("epoch", -1))
    # ultralytics strips the epoch (-1) from checkpoints of a finished run
    return f"the run's final epoch ({n_epochs} epochs)" if epoch < 0 else f"{epoch + 1} of {n_epochs}"


def build_card(run: Path, converted: Path, weights: Path, choice: str, val: Path, test: Path,
               candidates: list[Path], notes: str) -> str:
    meta = json.loads(weights.with_suffix(".json").read_text())
    vm = json.loads((val / "metrics.json").read_text())
    tm = json.loads((test / "metrics.json").read_text())
    timing = json.loads((test / "timing.json").read_text())
    summary = json.loads((converted / "summary.json").read_text())
    ep = epoch_times(run / "ultralytics" / "results.csv")
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    size_mb = weights.stat().st_size / 1e6
    cfg = (run / "config.yaml").read_text().rstrip()
    split_rows = "\n".join(
        f"| {r['split']} | {r['patients']} | {r['films']} | {r['normal_films']} | {r['boxes']} | {r['image_level_only']} |"
        for r in summary["per_split"]
    )
    cand_rows = []
    for c in candidates:
        m = json.loads((c / "metrics.json").read_text())
        cand_rows.append(
            f"| {c.name} | {format_estimate(m['froc']['all']['mean_sensitivity'])} | {format_estimate(_figure(m, ('froc', 'all', 1.0)))} "
            f"| {format_estimate(m['coco']['all']['map50'])} |"
        )
    target_rows = "\n".join(
        f"| {name} | >= {goal:.2f} | {format_estimate(_figure(vm, key))} | {format_estimate(_figure(tm, key))} |" for name, key, goal in TARGETS
    )
    val_md = (val / "metrics.md").read_text().replace("### ", "#### ")
    test_md = (test / "metrics.md").read_text().replace("### ", "#### ")
    return f"""# Model card: default lesion detector (`{weights.name}`)

Research software, not a medical device: it has not been validated for clinical use.

## What it is
- Architecture: YOLO11n built from ultralytics' `{meta['model_yaml']}` (single class `lesion`), trained
  from scratch (no pretrained weights exist offline). Epoch of the shipped weights: {_epoch_text(meta, len(ep))};
  checkpoint chosen: **{choice}** (see "Model selection").
- Files: `detector/weights/{weights.name}` ({size_mb:.1f} MB, a plain state_dict, sha256 `{sha[:16]}...`)
  and its sidecar `{weights.with_suffix(".json").name}` (model YAML, image size, preprocessing, recipe, validation metrics of the
  checkpoint). No pickles, no machine paths.
- Use: `from detector.api import load_detector; load_detector().predict(film_u8) -> Detections` (boxes `xyxy`
  in ORIGINAL film pixels, top-left origin, scores), or `mammo detector predict FILM...`.
- Input pipeline (identical at training and prediction): `converters.preprocess.preprocess` with
  `{json.dumps(meta['preprocess'])}` (breast segmentation, mirror to the left, crop to the breast, longer side 640),
  then a letterbox to {meta['imgsz']} px; boxes are mapped back with the exact inverse transform.

## Data and split
mini-MIAS development portion (`$MIAS_DIR`: {summary['films']} films, {summary['boxes']} located lesions,
{summary['image_level_only']} image-level-only labels), converted with `mammo convert --preprocess` into
`work/mias-converted`. Patient-level split, seed 0 (a patient's two films never straddle splits), stratified by worst label:

| split | patients | films | normal films | located lesions | image-level-only labels |
|---|---|---|---|---|---|
{split_rows}

Training used the train patients only (normal films included as background images); validation patients for
checkpoint selection only; the test patients were scored once, after the choice was made.

## Training
Command (from the repository root, venv active, `MAMMO_CACHE_DIR=work/cache`):

    python -m detector.cli train --data work/mias-converted --backend yolo --config configs/yolo11n.yaml \\
        --out work/runs/yolo-mias --seed 0      # == mammo detector train ...

Resolved recipe (`work/runs/yolo-mias/config.yaml`):

```yaml
{cfg}
```

Training time on the shared 2-core CPU (no GPU; other jobs ran at the same time): {len(ep)} epochs,
median {statistics.median(ep):.0f} s per epoch (min {min(ep):.0f}, max {max(ep):.0f}), {sum(ep) / 3600:.2f} h in all
(ultralytics' `time=` budget stopped it).

## Model selection (validation patients only)
| checkpoint (val) | mean FROC sensitivity | sensitivity @ 1 FP/film | mAP50 |
|---|---|---|---|
{chr(10).join(cand_rows)}

Rule fixed before looking: the higher validation mean FROC sensitivity (all lesions); ties go to `last`.
With {vm['froc']['all']['n_lesions']} validation lesions the CIs overlap heavily: this choice is close to noise.

## Figures
Hit rule: {vm['hit_rule']['description']}.
Every figure: value [bootstrap 95% CI over patients, {tm['bootstrap']['n_resamples']} resamples].

{val_md}
{test_md}
Prediction time (test films, `Detector.predict` incl. preprocessing, 1 torch thread, machine shared with other jobs):
median {timing['median_s']:.3f} s per 1024x1024 film (max {timing['max_s']:.3f} s).

## Targets
| target | goal | validation | test |
|---|---|---|---|
{target_rows}
| prediction time per 1024x1024 film | <= 0.3 s median | — | {timing['median_s']:.3f} s |

{notes}
"""


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Write the detector model card from measured files.")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--converted", type=Path, required=True)
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--choice", required=True)
    p.add_argument("--val", type=Path, required=True)
    p.add_argument("--test", type=Path, required=True)
    p.add_argument("--candidates", type=Path, nargs="+", required=True)
    p.add_argument("--notes", type=Path, required=True, help="Markdown: what was tried, gap, what would close it")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    card = build_card(a.run, a.converted, a.weights, a.choice, a.val, a.test, a.candidates, a.notes.read_text())
    write_text_atomic(a.out, card)
    print(a.out)


if __name__ == "__main__":
    main()
