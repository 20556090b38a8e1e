"""The pipeline's grader: film + detection boxes -> (normal, benign, malignant) probabilities.

Usage::

    from classifier.grade import load_grader
    grader = load_grader()                       # shipped weights, CPU
    probs = grader.grade(image_u8, boxes_xyxy)   # (N, 3), rows sum to 1

Boxes are ``xyxy`` in film pixels (top-left origin, exclusive right/bottom edges), the
convention of :mod:`converters.records`. Each box is cut with the training crop rule
(:mod:`classifier.crops`: square centred on the box, side ``max(w, h)``, 0 outside the
film, INTER_AREA to the model's input size) and all boxes of a film go through the
network in one batch. Weights are safetensors plus a JSON of arch, crop size and class
names: nothing is unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from classifier.crops import crop_boxes
from classifier.model import build_model
from classifier.train import images_to_tensor
from converters.errors import InputError

SHIPPED_WEIGHTS = "bcdcnn.safetensors"
GRADE_ORDER = ("normal", "benign", "malignant")


def shipped_weights_path() -> Path:
    """Path of the default weights inside the installed package."""
    from importlib.resources import files

    return Path(str(files("classifier") / "weights" / SHIPPED_WEIGHTS))


def meta_path_for(weights: Path) -> Path:
    """``x.safetensors`` -> ``x.json`` (``model.safetensors`` -> ``model.json``)."""
    return weights.with_suffix(".json")


def read_meta(meta_file: Path, beside: str, required=("arch", "input_px", "class_names")) -> dict:
    """The JSON beside a grader's weights, with its ``required`` keys; one clear InputError otherwise."""
    if not meta_file.is_file():
        raise InputError(f"no {meta_file.name} beside the {beside} (expected {', '.join(required)})", meta_file)
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON (line {err.lineno})", meta_file) from None
    for key in required:
        if key not in meta:
            raise InputError(f"missing key {key!r}; expected {', '.join(required)}", meta_file)
    return meta


def load_model(weights: str | Path, device: str = "cpu"):
    """``(model, meta)`` from a ``.safetensors`` file and the JSON beside it."""
    from converters.safetensors_io import read_safetensors

    weights = Path(weights)
    meta_file = meta_path_for(weights)
    if not weights.is_file():
        raise InputError("classifier weights not found (expected a .safetensors file)", weights)
    meta = read_meta(meta_file, "weights")
    model = build_model(meta["arch"], num_classes=len(meta["class_names"]), in_chans=int(meta.get("in_chans", 1)),
                        drop_rate=float(meta.get("drop_rate", 0.0)), input_px=int(meta["input_px"]))
    # Shipped weights may be stored as float16 (classifier.export); compute in float32.
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in read_safetensors(weights).items()}
    model.load_state_dict(state)
    model.to(device).eval()
    return model, meta


@dataclass
class Grader:
    """A loaded crop classifier; :meth:`grade` is what the pipeline calls."""

    model: torch.nn.Module
    meta: dict
    device: str = "cpu"

    @property
    def input_px(self) -> int:
        return int(self.meta["input_px"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.meta["class_names"])

    @torch.no_grad()
    def grade(self, image_u8: np.ndarray, boxes_xyxy: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities ``(N, 3)`` in the order (normal, benign, malignant), one row per box.

        Args:
            image_u8: the film, 2-D ``uint8`` (the original film, not a preprocessed copy).
            boxes_xyxy: ``(N, 4)`` boxes in that film's pixels; ``N = 0`` gives ``(0, 3)``.
        """
        if image_u8.ndim != 2 or image_u8.dtype != np.uint8:
            raise InputError(f"grade expects a 2-D uint8 film, got {image_u8.dtype} {image_u8.shape}")
        boxes = np.asarray(boxes_xyxy, dtype=np.float64)
        if boxes.size == 0:
            return np.zeros((0, 3), np.float32)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise InputError(f"boxes_xyxy must have shape (N, 4), got {boxes.shape}")
        crops = crop_boxes(image_u8, boxes, self.input_px)
        out = []
        for i in range(0, len(crops), batch_size):
            x = images_to_tensor(crops[i : i + batch_size]).to(self.device)
            out.append(torch.softmax(self.model(x), dim=1).cpu().numpy())
        return np.concatenate(out).astype(np.float32)


def load_grader(weights: str | Path | None = None, device: str = "cpu") -> Grader:
    """Load a 3-class grader; ``weights=None`` loads the shipped ``classifier/weights/bcdcnn.safetensors``."""
    path = shipped_weights_path() if weights is None else Path(weights)
    model, meta = load_model(path, device)
    if tuple(meta["class_names"]) != GRADE_ORDER:
        raise InputError(f"the grader needs 3-class weights {GRADE_ORDER}, these have {meta['class_names']} "
                         "(mass/calc subset weights grade benign vs malignant only)", path)
    return Grader(model, meta, device)
