"""torchvision R-CNN backends, built from scratch (``weights=None, weights_backbone=None``).

``faster-rcnn`` is ``fasterrcnn_mobilenet_v3_large_fpn`` and ``mask-rcnn`` is
``maskrcnn_resnet50_fpn`` (trained on the labelled circles as instance masks). Both get
two classes (background, lesion) and ``min_size = max_size = imgsz``: the preprocessed
film already has its longer side at ``imgsz``, so torchvision does not resize it again.
Inputs are grayscale films repeated to three channels, scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np

from converters.errors import InputError


# Films carry 0-3 lesions: far fewer proposals and sampled RoIs than COCO's defaults keep
# the box head (a 12544 -> 1024 MLP per RoI) from dominating CPU time.
_SPEED = dict(
    rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500,
    rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=300,
    box_batch_size_per_image=128,
)


def _faster(num_classes: int, imgsz: int, score_thresh: float, max_det: int):
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    return fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None, num_classes=num_classes, min_size=imgsz, max_size=imgsz,
        box_score_thresh=score_thresh, box_detections_per_img=max_det, **_SPEED,
    )


def _mask(num_classes: int, imgsz: int, score_thresh: float, max_det: int):
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    return maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=num_classes, min_size=imgsz, max_size=imgsz,
        box_score_thresh=score_thresh, box_detections_per_img=max_det, **_SPEED,
    )


BUILDERS = {"faster-rcnn": _faster, "mask-rcnn": _mask}


def build_rcnn(backend: str, imgsz: int, score_thresh: float = 0.001, max_det: int = 100, num_classes: int = 2):
    """A freshly initialised R-CNN (no download) for ``backend`` in :data:`BUILDERS`."""
    if backend not in BUILDERS:
        raise InputError(f"unknown R-CNN backend {backend!r}; expected one of {', '.join(BUILDERS)}")
    return BUILDERS[backend](num_classes, imgsz, score_thresh, max_det)


def image_to_tensor(image_u8: np.ndarray):
    """(H, W) uint8 -> (3, H, W) float tensor in [0, 1]."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(image_u8)).float().div_(255.0)
    return t[None].expand(3, *t.shape).contiguous()


class RcnnNet:
    """A trained R-CNN; predicts in the pixels of the (preprocessed) image it is given.

    Args:
        backend: ``faster-rcnn`` or ``mask-rcnn``.
        state_dict: trained tensors.
        imgsz: the size it was trained at.
        conf: lowest score kept.
        device: torch device.
    """

    def __init__(self, backend: str, state_dict: dict, imgsz: int, conf: float = 0.001, device: str = "cpu", max_det: int = 100):
        import torch

        self.model = build_rcnn(backend, imgsz, score_thresh=conf, max_det=max_det)
        missing, unexpected = self.model.load_state_dict(state_dict, strict=False)
        if missing or unexpected:
            raise InputError(f"weights do not fit {backend}: missing {missing[:3]}, unexpected {unexpected[:3]}")
        self.model.eval().to(device)
        self.backend, self.device, self._torch = backend, device, torch

    def predict_frame(self, image_u8: np.ndarray):
        """``(xyxy (N,4), scores (N,), masks (N,H,W) bool or None)`` in ``image_u8`` pixels."""
        torch = self._torch
        gray = image_u8 if image_u8.ndim == 2 else image_u8[..., 0]
        with torch.inference_mode():
            out = self.model([image_to_tensor(gray).to(self.device)])[0]
        xyxy = out["boxes"].cpu().numpy().astype(np.float64)
        scores = out["scores"].cpu().numpy().astype(np.float64)
        masks = None
        if "masks" in out:
            masks = (out["masks"][:, 0] > 0.5).cpu().numpy()
        return xyxy, scores, masks
