#!/usr/bin/env bash
# Score a YOLO run's checkpoints (default best and last) on VALIDATION patients of both
# sources (the rule in docs/experiments.md): FROC mean sensitivity (centre rule,
# 0.125-8 FP/film) averaged over mini-MIAS and CBIS-DDSM validation patients.
#   MIAS_DIR=... CBIS_DIR=... bash benchmarks/select_detector.sh work/runs/yolo-both-stage3 [NAME ...]
# NAMEs are weights in RUN (RUN/NAME.safetensors); default: best last.
# Needs `mammo convert` outputs in work/mias-converted and work/cbis-converted.
set -euo pipefail
RUN="${1:?usage: select_detector.sh RUN_DIR [NAME ...]}"
shift
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(best last)
: "${MIAS_DIR:?set MIAS_DIR}" "${CBIS_DIR:?set CBIS_DIR}"
C="$CBIS_DIR/train"
for w in "${NAMES[@]}"; do
  mammo evaluate --mias-dir "$MIAS_DIR" --splits work/mias-converted/splits.json --split val \
      --detector "$RUN/$w.safetensors" --out "$RUN/val-mias-$w" --quiet > "$RUN/val-mias-$w.log" 2>&1
  mammo evaluate --coco-json "$C/_annotations.coco.json" --images "$C" --splits work/cbis-converted/splits.json \
      --split val --detector "$RUN/$w.safetensors" --out "$RUN/val-cbis-$w" --quiet > "$RUN/val-cbis-$w.log" 2>&1
done
python - "$RUN" "${NAMES[@]}" <<'PY'
import json, sys
run = sys.argv[1]
for w in sys.argv[2:]:
    v = [json.load(open(f"{run}/val-{s}-{w}/detection/metrics.json"))["froc"]["all"]["mean_sensitivity"]["value"]
         for s in ("mias", "cbis")]
    print(f"{w}: FROC mean sensitivity, validation patients: mini-MIAS {v[0]:.3f}, CBIS {v[1]:.3f}, "
          f"mean {sum(v) / 2:.3f}")
PY
