"""How much are the CBIS-DDSM films stretched sideways, measured two independent ways.

The CBIS-DDSM copy in ``data/cbis-ddsm-mass`` was resized to 800 x 800 without keeping
the aspect ratio; the original sizes are not recorded. Estimates of the horizontal
stretch factor ``s`` (film width multiplied by ``s`` relative to height):

1. Breast outline: height/width of the bounding box of
   :func:`converters.preprocess.breast_mask`, CBIS vs mini-MIAS (all MLO, isotropic
   200 micron pixels). Printed with the fraction of outlines that touch both the top and
   the bottom edge: where the breast fills the frame the box measures the frame.
2. Texture: ``sqrt(mean gy^2 / mean gx^2)`` inside the eroded breast mask. Breast tissue
   is anisotropic by itself, so mini-MIAS films are stretched by known factors and ``s``
   is where their median meets the CBIS median (a calibration curve, not an assumption).
3. Mass boxes: the width/height of the CBIS mass boxes (about 1 on isotropic pixels if
   masses have no preferred orientation; the MIAS labels are circles, so no reference).

Every figure has a bootstrap 95% CI over patients (for ``s``: the patients of both
sources resampled). Reads every film once plus each mini-MIAS film at six factors
(a few minutes on one core).

Usage:
    python benchmarks/cbis_stretch.py --cbis-dir $CBIS_DIR --mias-dir $MIAS_DIR --out work/cbis_stretch.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def outline_stats(image: np.ndarray) -> dict:
    """Bounding box of the breast mask: height/width, and whether it touches both top and bottom."""
    from converters.preprocess import breast_mask

    mask = breast_mask(image)
    if not mask.any():
        return {"h_over_w": float("nan"), "touches_top_bottom": False}
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    return {
        "h_over_w": float(h / w),
        "touches_top_bottom": bool(rows[0] == 0 and rows[-1] == mask.shape[0] - 1),
    }


def texture_anisotropy(image: np.ndarray, sigma_px: float = 2.0, erode_px: int = 15, margin_px: int = 16) -> float:
    """``sqrt(mean gy^2 / mean gx^2)`` of the smoothed film inside the eroded breast mask.

    Stretching a film sideways by ``s`` divides its x-gradients by about ``s``, so this
    grows with ``s``; breast tissue itself is not isotropic (strands run towards the
    nipple), so it is compared with mini-MIAS films stretched by known factors.
    """
    import cv2

    from converters.preprocess import breast_mask

    mask = breast_mask(image).astype(np.uint8)
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1,) * 2))
    mask[:margin_px], mask[-margin_px:], mask[:, :margin_px], mask[:, -margin_px:] = 0, 0, 0, 0
    sel = mask.astype(bool)
    if sel.sum() < 100:
        return float("nan")
    smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma_px)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)[sel]
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)[sel]
    return float(np.sqrt(np.mean(gy.astype(np.float64) ** 2) / max(np.mean(gx.astype(np.float64) ** 2), 1e-12)))


def stretch_mias(image: np.ndarray, s: float) -> np.ndarray:
    """A mini-MIAS film made ``s`` times wider (as the CBIS conversion did)."""
    import cv2

    h, w = image.shape
    return image if s == 1.0 else cv2.resize(image, (round(w * s), h), interpolation=cv2.INTER_LINEAR)


def _groups(patients) -> list[np.ndarray]:
    uniq, inv = np.unique(np.asarray(patients), return_inverse=True)
    return [np.flatnonzero(inv == g) for g in range(len(uniq))]


def _median_ci(values, patients, seed: int, n_resamples: int):
    from evaluation.bootstrap import bootstrap_over_patients

    values = np.asarray(values, dtype=float)
    return bootstrap_over_patients(patients, lambda idx: float(np.nanmedian(values[idx])), n_resamples, seed)


def calibrated_stretch(mias_curve: np.ndarray, factors, cbis_values: np.ndarray) -> float:
    """The factor at which the median anisotropy of stretched MIAS films equals CBIS's.

    Args:
        mias_curve: ``(n_mias_films, len(factors))`` anisotropy of each MIAS film at each factor.
        factors: increasing stretch factors.
        cbis_values: anisotropy of CBIS films.
    """
    med = np.nanmedian(mias_curve, axis=0)
    target = np.nanmedian(cbis_values)
    if not np.all(np.diff(med) > 0) or not med[0] <= target <= med[-1]:
        return float("nan")
    return float(np.interp(target, med, factors))


def measure(
    cbis_dir: Path, mias_dir: Path, seed: int = 0, n_resamples: int = 1000, limit: int | None = None,
    factors=(1.0, 1.25, 1.5, 1.75, 2.0, 2.25), sigma_px: float = 2.0,
) -> dict:
    """All figures of this benchmark as a dict (see the module docstring)."""
    from tqdm import tqdm

    from converters.cbis import load_coco_set
    from converters.images import read_gray8
    from converters.mias import load_mias

    cbis = load_coco_set(cbis_dir / "train" / "_annotations.coco.json", cbis_dir / "train", verbose=False)
    mias = load_mias(mias_dir)
    cbis_films = cbis.films if limit is None else cbis.films[:limit]
    mias_films = mias.films if limit is None else mias.films[:limit]
    rows = []
    for f in tqdm(cbis_films, desc="CBIS films", unit="film"):
        img = read_gray8(cbis.source_dir / f.image_path, expected_wh=(f.width, f.height))
        rows.append({"source": "cbis", "view": f.extra.get("view"), "patient": f.patient_id,
                     "aniso": texture_anisotropy(img, sigma_px), **outline_stats(img)})
    mias_curve = []
    for f in tqdm(mias_films, desc="mini-MIAS films x stretch factors", unit="film"):
        img = read_gray8(Path(mias_dir) / f.image_path, expected_wh=(f.width, f.height))
        rows.append({"source": "mias", "view": "MLO", "patient": f.patient_id,
                     "aniso": texture_anisotropy(img, sigma_px), **outline_stats(img)})
        mias_curve.append([texture_anisotropy(stretch_mias(img, s), sigma_px) for s in factors])
    mias_curve = np.asarray(mias_curve)

    def sel(source, view=None):
        return [r for r in rows if r["source"] == source and (view is None or r["view"] == view)]

    out: dict = {"n_films": {"cbis": len(cbis_films), "mias": len(mias_films)}, "outline_h_over_w": {}, "anisotropy": {}}
    for name, rs in (("mias_mlo", sel("mias")), ("cbis_mlo", sel("cbis", "MLO")), ("cbis_cc", sel("cbis", "CC"))):
        est = _median_ci([r["h_over_w"] for r in rs], [r["patient"] for r in rs], seed, n_resamples)
        out["outline_h_over_w"][name] = {
            "median": est.value, "ci95": [est.ci_low, est.ci_high], "n_films": len(rs),
            "frac_touching_top_and_bottom": float(np.mean([r["touches_top_bottom"] for r in rs])),
        }
        est = _median_ci([r["aniso"] for r in rs], [r["patient"] for r in rs], seed, n_resamples)
        out["anisotropy"][name] = {"median": est.value, "ci95": [est.ci_low, est.ci_high], "n_films": len(rs),
                                   "iqr": [float(np.nanpercentile([r["aniso"] for r in rs], q)) for q in (25, 75)]}
    out["anisotropy"]["mias_stretched_median"] = {f"{s:g}": float(v) for s, v in zip(factors, np.nanmedian(mias_curve, axis=0))}
    out["anisotropy"]["sigma_px"] = sigma_px
    mias_pat = [f.patient_id for f in mias_films]
    rng = np.random.default_rng(seed)
    gm = _groups(mias_pat)
    for view in ("MLO", "CC"):
        rs = sel("cbis", view)
        vals, gc = np.array([r["aniso"] for r in rs]), _groups([r["patient"] for r in rs])
        stats = []
        for _ in range(n_resamples):
            im = np.concatenate([gm[g] for g in rng.integers(0, len(gm), len(gm))])
            ic = np.concatenate([gc[g] for g in rng.integers(0, len(gc), len(gc))])
            stats.append(calibrated_stretch(mias_curve[im], factors, vals[ic]))
        stats = np.asarray(stats)
        ok = stats[np.isfinite(stats)]
        lo, hi = np.percentile(ok, [2.5, 97.5]) if ok.size >= n_resamples // 10 else (float("nan"), float("nan"))
        out[f"stretch_from_texture_{view.lower()}"] = {
            "value": calibrated_stretch(mias_curve, factors, vals), "ci95": [float(lo), float(hi)],
            "resamples_out_of_range": int((~np.isfinite(stats)).sum()),
        }
    s_hat = out["stretch_from_texture_mlo"]["value"]
    view_of = {f.film_id: f.extra.get("view") for f in cbis.films}
    boxes = [(f.patient_id, view_of[f.film_id], l.xyxy) for f in cbis.films for l in f.lesions]
    wh = np.array([(x2 - x1) / (y2 - y1) for _, _, (x1, y1, x2, y2) in boxes])
    pats = [p for p, _, _ in boxes]
    est = _median_ci(wh, pats, seed, n_resamples)
    out["cbis_box_w_over_h"] = {"median": est.value, "ci95": [est.ci_low, est.ci_high], "n_boxes": len(wh),
                                "n_patients": est.n_patients, "frac_wider_than_tall": float(np.mean(wh > 1)),
                                "median_after_texture_correction": float(np.median(wh) / s_hat)}
    for view in ("MLO", "CC"):
        idx = [i for i, b in enumerate(boxes) if b[1] == view]
        est = _median_ci(wh[idx], [pats[i] for i in idx], seed, n_resamples)
        out["cbis_box_w_over_h"][view.lower()] = {"median": est.value, "ci95": [est.ci_low, est.ci_high], "n_boxes": len(idx)}
    heights = [y2 - y1 for _, _, (x1, y1, x2, y2) in boxes]
    est = _median_ci(heights, pats, seed, n_resamples)
    out["cbis_box_height_px"] = {"median": est.value, "ci95": [est.ci_low, est.ci_high]}
    mass = [(f.patient_id, l.radius_px) for f in mias.films for l in f.lesions if l.is_mass]
    est = _median_ci([2 * r for _, r in mass], [p for p, _ in mass], seed, n_resamples)
    out["mias_mass_diameter_px"] = {"median": est.value, "ci95": [est.ci_low, est.ci_high], "n_masses": len(mass)}
    out["seed"], out["n_resamples"], out["factors"] = seed, n_resamples, list(factors)
    return out


def _fmt(d: dict, key: str = "median") -> str:
    """``d[key]`` and its ``ci95`` through the one estimate formatter."""
    from evaluation.bootstrap import format_estimate

    return format_estimate({"value": d[key], "ci95": d["ci95"]})


@app.command()
def main(
    cbis_dir: Annotated[Path, typer.Option(help="data/cbis-ddsm-mass (train/ and the case table).")],
    mias_dir: Annotated[Path, typer.Option(help="mini-MIAS folder (Info.txt and films).")],
    out: Annotated[Path | None, typer.Option(help="Write all figures to this JSON file.")] = None,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    n_resamples: Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap resamples over patients.")] = 1000,
    limit: Annotated[int | None, typer.Option(help="Only the first N films of each source (a quick look).")] = None,
    sigma_px: Annotated[float, typer.Option(help="Gaussian smoothing before the gradients, pixels.")] = 2.0,
) -> None:
    """Measure the CBIS-DDSM sideways stretch from breast outlines and mass boxes.

    Example:
        python benchmarks/cbis_stretch.py --cbis-dir $CBIS_DIR --mias-dir $MIAS_DIR
    """
    from converters.atomic import write_json_atomic

    r = measure(cbis_dir, mias_dir, seed, n_resamples, limit, sigma_px=sigma_px)
    print("median [95% CI over patients]")
    print("breast outline height/width (bounding box of breast_mask):")
    for k, v in r["outline_h_over_w"].items():
        print(f"  {k:9s} {_fmt(v)}  films {v['n_films']}  touching top and bottom {v['frac_touching_top_and_bottom']:.2f}")
    a = r["anisotropy"]
    print(f"texture anisotropy sqrt(E gy^2 / E gx^2), Gaussian sigma {a['sigma_px']} px:")
    for k in ("mias_mlo", "cbis_mlo", "cbis_cc"):
        print(f"  {k:9s} {_fmt(a[k])}  IQR {a[k]['iqr'][0]:.3f}-{a[k]['iqr'][1]:.3f}  films {a[k]['n_films']}")
    print("  mini-MIAS stretched sideways by s: " + ", ".join(f"s={s}: {v:.3f}" for s, v in a["mias_stretched_median"].items()))
    for view in ("mlo", "cc"):
        t = r[f"stretch_from_texture_{view}"]
        print(f"stretch factor from texture, CBIS {view.upper()} vs stretched MIAS: {_fmt(t, 'value')}"
              + (f"  ({t['resamples_out_of_range']} resamples outside the calibrated range)" if t["resamples_out_of_range"] else ""))
    b = r["cbis_box_w_over_h"]
    print(f"CBIS mass box width/height: {_fmt(b)}  boxes {b['n_boxes']}  wider than tall {b['frac_wider_than_tall']:.2f}; "
          f"MLO {_fmt(b['mlo'])}, CC {_fmt(b['cc'])}; after dividing widths by the MLO texture factor: "
          f"{b['median_after_texture_correction']:.3f}")
    print(f"CBIS mass box height px (800-px frame, unstretched axis): {_fmt(r['cbis_box_height_px'])}; "
          f"mini-MIAS mass circle diameter px (1024 frame): {_fmt(r['mias_mass_diameter_px'])}")
    if out:
        write_json_atomic(out, r)
        print(f"wrote {out}")


if __name__ == "__main__":
    app()
