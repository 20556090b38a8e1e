"""Detection plots as PNG: the FROC curve and the precision-recall curve.

matplotlib with the Agg backend (chosen per figure, no global state), its bundled DejaVu
font only (nothing downloaded). Files are written through a temporary name and a rename.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

SUBSET_LABELS = {"all": "all lesions", "mass": "masses", "calc": "calcifications"}
SUBSET_COLORS = {"all": "tab:blue", "mass": "tab:orange", "calc": "tab:green"}


def _new_figure(size_in=(6.0, 4.5)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size_in, dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def save_figure_atomic(fig, path: str | Path) -> Path:
    """Save a matplotlib Figure as PNG through a temporary file and a rename."""
    from converters.atomic import temp_file_beside

    path = Path(path)
    fd, tmp = temp_file_beside(path, suffix=".tmp.png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def plot_froc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    points: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str = "FROC",
) -> Path:
    """FROC PNG: sensitivity against false positives per film on a log axis.

    Args:
        curves: subset -> (fp_per_film, sensitivity) full step curve (ascending fp).
        points: subset -> (fp_rates, sensitivity, ci_low, ci_high) at the reported rates;
            drawn as markers with a shaded 95% CI band.
        path: output PNG.
        title: figure title (say the split and the hit rule).
    """
    fig, ax = _new_figure()
    rates_all = [r for p in points.values() for r in p[0]]
    x_min = min(rates_all) / 2 if rates_all else 0.0625
    x_max = max(rates_all) * 2 if rates_all else 16.0
    for subset, (fp, sens) in curves.items():
        fp = np.asarray(fp, dtype=float)
        sens = np.asarray(sens, dtype=float)
        if fp.size == 0 or not np.isfinite(sens).any():
            continue
        # Extend the last operating point to the right edge: no more predictions exist.
        xs = np.concatenate([np.clip(fp, x_min, None), [x_max]])
        ys = np.concatenate([sens, [sens[-1]]])
        ax.step(xs, ys, where="post", color=SUBSET_COLORS.get(subset), lw=1.2, alpha=0.8)
    for subset, (rates, sens, lo, hi) in points.items():
        rates, sens, lo, hi = (np.asarray(v, dtype=float) for v in (rates, sens, lo, hi))
        if not np.isfinite(sens).any():
            continue
        color = SUBSET_COLORS.get(subset)
        ax.plot(rates, sens, "o", color=color, label=SUBSET_LABELS.get(subset, subset))
        band = np.isfinite(lo) & np.isfinite(hi)
        if band.any():
            ax.fill_between(rates[band], lo[band], hi[band], color=color, alpha=0.18, lw=0)
    ax.set_xscale("log", base=2)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(0, 1.02)
    ticks = sorted(set(rates_all)) or [0.125, 0.25, 0.5, 1, 2, 4, 8]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlabel("false positives per film")
    ax.set_ylabel("lesion sensitivity")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8, title="markers: reported points\nband: 95% CI", title_fontsize=7)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def plot_pr(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    ap50: Mapping[str, float],
    path: str | Path,
    title: str = "Precision-recall at IoU 0.5",
) -> Path:
    """Precision-recall PNG, one line per subset, AP@0.5 in the legend.

    Args:
        curves: subset -> (recall, precision), detections ranked by score.
        ap50: subset -> mAP@0.5 for the legend (``nan`` shown as n/a).
        path: output PNG.
        title: figure title.
    """
    fig, ax = _new_figure()
    for subset, (rc, pr) in curves.items():
        rc, pr = np.asarray(rc, dtype=float), np.asarray(pr, dtype=float)
        if rc.size == 0:
            continue
        ap = ap50.get(subset, float("nan"))
        ap_txt = "n/a" if not np.isfinite(ap) else f"{ap:.3f}"
        ax.plot(rc, pr, color=SUBSET_COLORS.get(subset), lw=1.2,
                label=f"{SUBSET_LABELS.get(subset, subset)} (AP50 {ap_txt})")
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no ground truth or no predictions", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


__all__ = ["plot_froc", "plot_pr", "save_figure_atomic"]
