"""Several detectors and test-time flips fused into one: a weights file like any other.

An ensemble file is ``NAME.safetensors`` holding each member's tensors under ``m{i}.`` and
``NAME.json`` with ``backend: "ensemble"``, the members' own sidecars, the flips and the
fusion setting. :func:`detector.api.load_detector` loads it into the same
:class:`detector.api.Detector` as a single model: the film is preprocessed once (members must
share one :class:`converters.preprocess.PreprocessConfig`), every member predicts every flipped
view of the frame, and :func:`detector.fusion.weighted_boxes_fusion` merges the ``members x
flips`` box sets. One member with ``flips=("none", "flipud")`` is plain test-time augmentation.

Example::

    write_ensemble(["stage1.safetensors", "stage2.safetensors"], "fused.safetensors",
                   flips=("none", "flipud"), imgsz=640)
    load_detector("fused.safetensors").predict(film)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converters.errors import InputError
from converters.preprocess import PreprocessConfig
from detector.fusion import FLIPS, flip_image, flips_are_valid, unflip_xyxy, weighted_boxes_fusion
from detector.weights_io import check_imgsz, read_weights, write_weights

MEMBER_BACKENDS = ("yolo", "faster-rcnn")  # box-only fusion: mask-rcnn's masks would be dropped


class FusedNet:
    """Members x flips predictions of one frame, fused; the ``predict_frame`` of one backend.

    Args:
        nets: member networks, each with ``predict_frame(image_u8) -> (xyxy, scores, ...)``.
        flips: views of the frame each member predicts (:data:`detector.fusion.FLIPS`).
        iou_thr: weighted boxes fusion IoU.
        conf: lowest fused score kept.
        max_det: most boxes kept, best first.
    """

    def __init__(self, nets: list, flips: tuple[str, ...] = ("none",), iou_thr: float = 0.55,
                 conf: float = 0.001, max_det: int = 100):
        if not nets:
            raise ValueError("FusedNet needs at least one member")
        if not flips_are_valid(flips):
            raise ValueError(f"flips must be distinct names from {FLIPS}, got {list(flips)}")
        self.nets, self.flips, self.iou_thr, self.conf, self.max_det = list(nets), tuple(flips), iou_thr, conf, max_det

    def predict_frame(self, image_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fused boxes ``xyxy`` (N, 4) in ``image_u8`` pixels and scores (N,), best first."""
        h, w = image_u8.shape[:2]
        if len(self.nets) == 1 and self.flips == ("none",):  # one box set: nothing to fuse
            xyxy, scores = self.nets[0].predict_frame(image_u8)[:2]
            return xyxy, scores
        sets = []
        for net in self.nets:
            for flip in self.flips:
                out = net.predict_frame(flip_image(image_u8, flip))
                sets.append((unflip_xyxy(out[0], flip, (w, h)), np.asarray(out[1], dtype=np.float64)))
        xyxy, scores = weighted_boxes_fusion(sets, self.iou_thr)
        keep = np.flatnonzero(scores >= self.conf)[: self.max_det]
        return xyxy[keep], scores[keep]


def _member_meta(path: Path, imgsz: int | None) -> tuple[dict, dict]:
    state, meta = read_weights(path)
    if meta["backend"] not in MEMBER_BACKENDS:
        raise InputError(f"an ensemble member must be one of {MEMBER_BACKENDS} (boxes only), "
                         f"this file is {meta['backend']!r}", path)
    if imgsz is not None:
        meta = {**meta, "imgsz": check_imgsz(imgsz)}
    return state, meta


def write_ensemble(members: list[str | Path], dst: str | Path, flips: tuple[str, ...] = ("none",),
                   iou_thr: float = 0.55, imgsz: int | None = None) -> Path:
    """Write one weights file that predicts with every member on every flip and fuses the boxes.

    Args:
        members: weights files (``.safetensors`` + sidecar) of yolo or faster-rcnn detectors,
            all trained on identically preprocessed films.
        dst: destination ``.safetensors`` (its ``.json`` sidecar is written beside it).
        flips: test-time views, each of :data:`detector.fusion.FLIPS`.
        iou_thr: weighted boxes fusion IoU, in (0, 1].
        imgsz: prediction size for every member (default: each member's own).
    """
    if not members:
        raise InputError("an ensemble needs at least one --member")
    if not flips_are_valid(flips):
        raise InputError(f"--flip must name distinct views from {', '.join(FLIPS)}, got {', '.join(flips) or 'none'}")
    if not 0.0 < iou_thr <= 1.0:
        raise InputError(f"--iou must lie in (0, 1], got {iou_thr}")
    state, metas = {}, []
    for i, path in enumerate(members):
        member_state, meta = _member_meta(Path(path), imgsz)
        if metas and PreprocessConfig(**meta["preprocess"]) != PreprocessConfig(**metas[0]["preprocess"]):
            raise InputError("ensemble members must share one preprocessing; this one differs from "
                             f"{Path(members[0]).name}'s ({meta['preprocess']} vs {metas[0]['preprocess']})", path)
        state.update({f"m{i}.{k}": v for k, v in member_state.items()})
        metas.append({**meta, "member_file": Path(path).name})
    meta = {"backend": "ensemble", "imgsz": metas[0]["imgsz"], "preprocess": metas[0]["preprocess"],
            "members": metas, "flips": list(flips), "fusion": {"method": "wbf", "iou": iou_thr}}
    return write_weights(dst, state, meta)


def load_fused_net(state: dict, meta: dict, device: str, conf: float, loaders: dict) -> FusedNet:
    """The :class:`FusedNet` of an ensemble file (``loaders``: backend name -> member loader)."""
    members = meta.get("members") or []
    if not members:
        raise InputError("ensemble sidecar lists no members")
    nets = []
    for i, member in enumerate(members):
        backend = member.get("backend")
        if backend not in MEMBER_BACKENDS:
            raise InputError(f"ensemble member {i} has backend {backend!r}; expected one of {MEMBER_BACKENDS}")
        prefix = f"m{i}."
        member_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not member_state:
            raise InputError(f"ensemble file holds no tensors for member {i} (keys {prefix}*)")
        nets.append(loaders[backend](member_state, member, device, conf))
    fusion = meta.get("fusion", {})
    return FusedNet(nets, tuple(meta.get("flips", ["none"])), float(fusion.get("iou", 0.55)), conf=conf)
