"""A run's balanced accuracy, from its metrics.json or recomputed for older runs (:mod:`classifier.cv`)."""

from __future__ import annotations

from pathlib import Path

from evaluation.bootstrap import Estimate


def balanced_accuracy_of(run_dir: Path, side: str, metrics: dict, n_bootstrap: int = 1000) -> Estimate:
    """From metrics.json, or recomputed from the run's saved predictions (older runs)."""
    if "balanced_accuracy" in metrics:
        return Estimate.from_json(metrics["balanced_accuracy"])
    import numpy as np

    from evaluation.bootstrap import bootstrap_over_patients

    from evaluation.classification import balanced_accuracy

    z = np.load(Path(run_dir) / f"predictions_{side}.npz")
    y, pred, n = z["labels"], z["probs"].argmax(1), z["probs"].shape[1]
    return bootstrap_over_patients(z["patient_ids"], lambda i: balanced_accuracy(y[i], pred[i], n),
                                   n_resamples=n_bootstrap, seed=0)
