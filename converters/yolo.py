"""YOLO detection labels <-> boxes (symmetric, pure) and the YOLO dataset writer.

A YOLO label line is ``class cx cy w h`` with all four numbers normalised by the image
width/height of the image the label belongs to (here: the PREPROCESSED image written
beside it, not the original film). ultralytics cannot read PGM, so images are PNG.
A re-run replaces the whole ``yolo/`` folder: labels never append, folders never rename.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converters.errors import InputError


def xyxy_to_cxcywh_norm(boxes_xyxy, resolution_wh) -> np.ndarray:
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    w, h = resolution_wh
    return np.stack(
        [(b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h, (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h],
        axis=1,
    )


def cxcywh_norm_to_xyxy(boxes_cxcywh_norm, resolution_wh) -> np.ndarray:
    b = np.asarray(boxes_cxcywh_norm, dtype=np.float64).reshape(-1, 4)
    w, h = resolution_wh
    cx, cy, bw, bh = b[:, 0] * w, b[:, 1] * h, b[:, 2] * w, b[:, 3] * h
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)


def format_yolo_labels(class_ids, boxes_xyxy, resolution_wh) -> str:
    """Label file text for boxes in an image of ``resolution_wh`` (empty string: negative)."""
    rows = xyxy_to_cxcywh_norm(boxes_xyxy, resolution_wh)
    return "".join(f"{int(c)} {r[0]:.6f} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f}\n" for c, r in zip(class_ids, rows))


def parse_yolo_labels(text: str, resolution_wh, path="<labels>") -> tuple[np.ndarray, np.ndarray]:
    """``(class_ids, boxes_xyxy)`` from label file text; raises on malformed lines."""
    ids, boxes = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        toks = line.split()
        if not toks:
            continue
        if len(toks) != 5:
            raise InputError(f"expected 'class cx cy w h', got {line!r}", path, lineno)
        try:
            c = int(toks[0])
            vals = [float(t) for t in toks[1:]]
        except ValueError:
            raise InputError(f"expected an integer class and four numbers, got {line!r}", path, lineno) from None
        if c < 0 or not all(0 <= v <= 1 for v in vals) or vals[2] <= 0 or vals[3] <= 0:
            raise InputError(f"expected class >= 0 and normalised values in [0, 1] with w, h > 0, got {line!r}", path, lineno)
        ids.append(c)
        boxes.append(vals)
    if not boxes:
        return np.zeros(0, dtype=int), np.zeros((0, 4))
    return np.asarray(ids), cxcywh_norm_to_xyxy(boxes, resolution_wh)


def clip_xyxy(boxes_xyxy, resolution_wh, min_size_px: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Clip boxes to the image; returns ``(boxes, keep)`` where keep drops slivers."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4).copy()
    w, h = resolution_wh
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    keep = ((b[:, 2] - b[:, 0]) >= min_size_px) & ((b[:, 3] - b[:, 1]) >= min_size_px)
    return b, keep


def dataset_yaml(root: Path, names: list[str]) -> str:
    """ultralytics dataset YAML (absolute ``path``: ultralytics resolves relative ones elsewhere)."""
    lines = [f"path: {root.resolve()}", "train: images/train", "val: images/val", "test: images/test", "names:"]
    lines += [f"  {i}: {n}" for i, n in enumerate(names)]
    return "\n".join(lines) + "\n"
