"""Load a trained detector and run it on films: ``load_detector(...).predict(image) -> Detections``.

Every backend sits behind the same :class:`Detector`: the film goes through the SAME
:func:`converters.preprocess.preprocess` its training images got (stored in the weights'
JSON sidecar), the network predicts in that frame, and ``Transform.inverse_xyxy`` maps the
boxes back to ORIGINAL film pixels (masks are mapped back too). Backends are chosen by
the explicit mapping :data:`BACKEND_LOADERS`; an ``ensemble`` file (:mod:`detector.ensemble`)
fuses several members and test-time flips behind the same interface.

Example::

    from detector.api import load_detector
    det = load_detector()                    # shipped default: detector/weights/
    found = det.predict(read_gray8("mdb001.pgm"))
    found.xyxy, found.scores
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from converters.errors import InputError, look_up_option
from converters.preprocess import PreprocessConfig, Transform, preprocess
from detector.detections import Detections
from detector.weights_io import read_weights

DEFAULT_WEIGHTS_NAME = "yolov5n-coco-mias-cbis.safetensors"


def default_weights_path() -> Path:
    """The shipped default model inside the package (``detector/weights/``)."""
    return Path(str(resources.files("detector") / "weights" / DEFAULT_WEIGHTS_NAME))


def _load_yolo(state, meta, device, conf):
    from detector.yolo_backend import YoloNet

    return YoloNet(state, meta["model_yaml"], int(meta["imgsz"]), nc=int(meta.get("nc", 1)), conf=conf, device=device)


def _load_rcnn(backend):
    def load(state, meta, device, conf):
        from detector.rcnn_models import RcnnNet

        return RcnnNet(backend, state, int(meta["imgsz"]), conf=conf, device=device)

    return load


def _load_ensemble(state, meta, device, conf):
    from detector.ensemble import load_fused_net

    return load_fused_net(state, meta, device, conf, BACKEND_LOADERS)


BACKEND_LOADERS = {"yolo": _load_yolo, "faster-rcnn": _load_rcnn("faster-rcnn"), "mask-rcnn": _load_rcnn("mask-rcnn"),
                   "ensemble": _load_ensemble}


def inverse_masks(masks: np.ndarray, transform: Transform) -> np.ndarray:
    """Masks in the model frame (N, h, w) -> bool masks over the film (N, H, W)."""
    import cv2

    w, h = transform.source_wh
    x1, y1, x2, y2 = transform.crop_xyxy
    out = np.zeros((masks.shape[0], h, w), dtype=bool)
    for i, m in enumerate(masks):
        crop = cv2.resize(m.astype(np.uint8), (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST).astype(bool)
        out[i, y1:y2, x1:x2] = crop
    if transform.flipped:
        out = out[:, :, ::-1].copy()
    return out


class Detector:
    """A loaded detector: one network, one preprocessing recipe, reused for every film.

    Args:
        net: backend object with ``predict_frame(image_u8) -> (xyxy, scores[, masks])`` in its input frame.
        preprocess_config: how films are prepared (must match training).
        backend: backend name, for reports.
        meta: the weights' sidecar.
    """

    def __init__(self, net, preprocess_config: PreprocessConfig, backend: str, meta: dict | None = None):
        self.net = net
        self.preprocess_config = preprocess_config
        self.backend = backend
        self.meta = meta or {}

    def predict(self, image: np.ndarray) -> Detections:
        """Detect lesions on one 8-bit grayscale film; boxes in ORIGINAL film pixels, best first."""
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[2] in (1, 3, 4):
            image = image[..., 0]
        if image.ndim != 2 or image.dtype != np.uint8:
            raise InputError(f"expected an 8-bit grayscale film (H, W) uint8, got {image.dtype} {image.shape}")
        frame, transform = preprocess(image, self.preprocess_config)
        out = self.net.predict_frame(frame)
        xyxy, scores = out[0], out[1]
        masks = out[2] if len(out) > 2 else None
        if len(scores) == 0:
            return Detections.empty()
        film_xyxy = transform.inverse_xyxy(xyxy)
        keep = (film_xyxy[:, 2] > film_xyxy[:, 0]) & (film_xyxy[:, 3] > film_xyxy[:, 1])
        film_masks = inverse_masks(masks[keep], transform) if masks is not None else None
        return Detections(film_xyxy[keep], np.asarray(scores)[keep], film_masks).sorted()


def load_detector(weights: str | Path | None = None, backend: str | None = None,
                  device: str = "cpu", conf: float = 0.001) -> Detector:
    """Load weights (``.safetensors`` + ``.json`` sidecar) into a :class:`Detector`.

    Args:
        weights: weights file; ``None`` loads the shipped default (:func:`default_weights_path`).
        backend: expected backend (``yolo``, ``faster-rcnn``, ``mask-rcnn``, ``ensemble``); ``None`` trusts the sidecar.
        device: torch device.
        conf: lowest score kept (low by default so FROC sees the low-confidence end).
    """
    path = Path(weights) if weights is not None else default_weights_path()
    if weights is None and not path.is_file():
        raise InputError("no shipped default detector weights in the package; pass --weights", path)
    state, meta = read_weights(path)
    name = look_up_option(meta["backend"], BACKEND_LOADERS, "backend in the weights sidecar")
    if backend is not None and look_up_option(backend, BACKEND_LOADERS, "backend") != name:
        raise InputError(f"weights are for backend {name!r}, not {backend!r}", path)
    net = BACKEND_LOADERS[name](state, meta, device, conf)
    return Detector(net, PreprocessConfig(**meta["preprocess"]), name, meta)
