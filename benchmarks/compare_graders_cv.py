"""Pool two graders' 5-fold held-out predictions and compare them, paired, per source.

    python benchmarks/compare_graders_cv.py --a RUNS/stem --b RUNS/bcdcnn --out compare.json

Each ARM/foldF folder is a `mammo classifier train --fold F` run (coco_cv: true): its
predictions_test.npz holds the mini-MIAS held-out fold, predictions_test_coco.npz the CBIS one.
AUCs: evaluation.classification.auc_scores (normal vs abnormal: 1 - p(normal); benign vs malignant
among lesion crops: p(malignant) / (p(benign) + p(malignant))). CIs: bootstrap over patients.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from converters.atomic import write_json_atomic
from evaluation.classification import auc_scores
from evaluation.roc import roc_auc as auc
from evaluation.bootstrap import Estimate, bootstrap_over_patients, format_estimate

CLASSES = ("normal", "benign", "malignant")
SIDES = {"mini-MIAS": "predictions_test.npz", "CBIS-DDSM": "predictions_test_coco.npz"}


def pooled(arm: Path, name: str, k: int = 5) -> dict:
    parts = [np.load(arm / f"fold{f}" / name) for f in range(k)]
    return {key: np.concatenate([p[key] for p in parts]) for key in ("probs", "labels", "patient_ids", "film_ids", "kinds", "side_px")}


def est(pids, fn, n, seed) -> Estimate:
    return bootstrap_over_patients(pids, fn, n, seed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=Path, required=True)
    ap.add_argument("--b", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = {"a": str(args.a), "b": str(args.b), "ci": f"bootstrap over patients, {args.n_bootstrap} resamples, seed {args.seed}"}
    for source, name in SIDES.items():
        a, b = pooled(args.a, name), pooled(args.b, name)
        for key in ("labels", "patient_ids", "film_ids", "kinds", "side_px"):
            if not np.array_equal(a[key], b[key]):
                raise SystemExit(f"{source}: the two arms' held-out crops differ in {key}")
        y, pids = a["labels"], a["patient_ids"]
        res = {"n_crops": int(y.size), "n_patients": int(np.unique(pids).size),
               "class_counts": np.bincount(y, minlength=3).tolist()}
        qa, qb = auc_scores(a["probs"], y, CLASSES), auc_scores(b["probs"], y, CLASSES)
        for q in qa:
            truth, sa, mask = qa[q]
            sb = qb[q][1]
            m = np.flatnonzero(mask)
            t, s1, s2, p = truth[m].astype(int), sa[m], sb[m], pids[m]
            res[q] = {"a": est(p, lambda i: auc(t[i], s1[i]), args.n_bootstrap, args.seed),
                      "b": est(p, lambda i: auc(t[i], s2[i]), args.n_bootstrap, args.seed),
                      "a_minus_b": est(p, lambda i: auc(t[i], s1[i]) - auc(t[i], s2[i]), args.n_bootstrap, args.seed),
                      "n": int(m.size), "n_positive": int(t.sum())}
        for tag, arr in (("a", a), ("b", b)):
            pred = arr["probs"].argmax(1)
            res[f"accuracy_{tag}"] = est(pids, lambda i, pr=pred: float((pr[i] == y[i]).mean()), args.n_bootstrap, args.seed)
        out[source] = res
    write_json_atomic(args.out, out)
    for source in SIDES:
        r = out[source]
        print(f"{source}: {r['n_crops']} crops, {r['n_patients']} patients, classes {r['class_counts']}")
        for q in ("normal_vs_abnormal", "benign_vs_malignant"):
            d = r[q]
            print(f"  {q}: a {format_estimate(d['a'])}  b {format_estimate(d['b'])}  "
                  f"a-b {format_estimate(d['a_minus_b'], signed=True)}  (n {d['n']}, pos {d['n_positive']})")
        print(f"  accuracy: a {format_estimate(r['accuracy_a'])}  b {format_estimate(r['accuracy_b'])}")


if __name__ == "__main__":
    main()
