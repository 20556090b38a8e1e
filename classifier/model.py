"""Crop classifiers: the paper's BCDCNN, a small ResNet-18 and the YOLOv5n stem, behind one contract.

All follow timm's small model contract: constructor keyword arguments ``num_classes``
and ``in_chans``, ``forward_features(x) -> (B, F)`` and ``forward_head(features) -> (B,
num_classes)``; ``forward`` chains them. Inputs are float tensors ``(B, in_chans, S, S)``.
The architecture is chosen by name through the explicit dict :data:`ARCHS` (no registry).
"""

from __future__ import annotations

import torch
from torch import nn

from converters.errors import look_up_option


class BCDCNN(nn.Module):
    """The paper's breast cancer detection CNN, for 48x48 single-channel crops.

    Layers: conv 5x5, 32 filters, same padding, ReLU; max-pool 2x2 stride 2; conv 5x5,
    64 filters, same padding, ReLU; max-pool 2x2 stride 2; dense 1024 with ReLU and
    dropout; dense ``num_classes`` (logits; 0 normal, 1 benign, 2 malignant).

    The paper's text says the dense layer sees 7x7x64 features: that figure comes from
    the 28x28 MNIST tutorial the network was adapted from. With the 48x48 input the paper
    states and same padding, the two 2x2 pools give 48 -> 24 -> 12, so the dense layer
    here sees 12x12x64 = 9216 features. This implements what 48x48 implies.

    Args:
        num_classes: number of output logits.
        in_chans: input channels (1 for grey films).
        drop_rate: dropout probability before the last layer (paper's tutorial: 0.4-0.5).
        input_px: side of the square input; must be divisible by 4.
    """

    def __init__(self, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.5, input_px: int = 48):
        super().__init__()
        if input_px % 4:
            raise ValueError(f"BCDCNN input_px must be divisible by 4, got {input_px}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.input_px = input_px
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 32, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(64 * (input_px // 4) ** 2, 1024),
            nn.ReLU(inplace=True),
        )
        self.num_features = 1024
        self.drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(1024, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, S, S) -> (B, 1024) dense-layer activations (after ReLU)."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 1024) -> (B, num_classes) logits."""
        return self.head(self.drop(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class ResNet18Crops(nn.Module):
    """torchvision ResNet-18 (``weights=None``: random init, no download) on grey crops.

    The first convolution takes ``in_chans`` channels; everything else is torchvision's
    ResNet-18. Meant for larger crops (default 64 px) than BCDCNN's 48.

    Args:
        num_classes: number of output logits.
        in_chans: input channels.
        drop_rate: dropout before the final linear layer.
        input_px: side of the square input (recorded for the grader; any size >= 32 works).
    """

    def __init__(self, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.0, input_px: int = 64):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.input_px = input_px
        self.num_features = net.fc.in_features
        self.head = net.fc
        net.fc = nn.Identity()
        self.body = net
        self.drop = nn.Dropout(drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, S, S) -> (B, 512) pooled features."""
        return self.body(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class ConvBNSiLU(nn.Module):
    """ultralytics' ``Conv``: conv (no bias), batch norm (eps 1e-3, momentum 0.03), SiLU.

    Attribute names ``conv``/``bn`` match ultralytics' state-dict keys.
    """

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, p: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """ultralytics' ``Bottleneck`` inside C3 (expansion 1.0): 1x1 conv, 3x3 conv, residual add."""

    def __init__(self, c: int):
        super().__init__()
        self.cv1 = ConvBNSiLU(c, c, 1)
        self.cv2 = ConvBNSiLU(c, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.cv2(self.cv1(x))


class C3(nn.Module):
    """ultralytics' ``C3``: ``cv3(cat(m(cv1(x)), cv2(x)))`` with ``n`` bottlenecks on half the channels."""

    def __init__(self, c_in: int, c_out: int, n: int):
        super().__init__()
        c = c_out // 2
        self.cv1 = ConvBNSiLU(c_in, c, 1)
        self.cv2 = ConvBNSiLU(c_in, c, 1)
        self.cv3 = ConvBNSiLU(2 * c, c_out, 1)
        self.m = nn.Sequential(*(Bottleneck(c) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], dim=1))


def yolov5n_stem_layers(in_chans: int = 1) -> nn.Sequential:
    """Layers ``model.0`` .. ``model.6`` of ultralytics' ``yolov5n.yaml`` (stride 16, 128 channels).

    Same names and shapes as that model's state dict (``model.K.*``), so its tensors load by
    name; only the first convolution's input channels follow ``in_chans``.
    """
    return nn.Sequential(
        ConvBNSiLU(in_chans, 16, 6, 2, 2),  # model.0  stride 2
        ConvBNSiLU(16, 32, 3, 2),  # model.1  stride 4
        C3(32, 32, 1),  # model.2
        ConvBNSiLU(32, 64, 3, 2),  # model.3  stride 8
        C3(64, 64, 2),  # model.4
        ConvBNSiLU(64, 128, 3, 2),  # model.5  stride 16
        C3(128, 128, 3),  # model.6
    )


class YOLOv5nStem(nn.Module):
    """The first seven layers of YOLOv5n's backbone, global average pool, dropout, linear head.

    Built from plain torch modules under ultralytics' parameter names (``model.0.conv.weight``
    ...), so COCO-pretrained YOLOv5n tensors load by name and shape
    (:func:`load_start_weights`); ultralytics is not needed. On a 64 px crop the last
    stage sees 4x4 cells, on 96 px 6x6. Input: grey crops in [0, 1], as YOLO's input scale.

    Args:
        num_classes: number of output logits.
        in_chans: input channels (1 for grey films; pretrained RGB filters are summed over colour).
        drop_rate: dropout before the linear head.
        input_px: side of the square input; must be divisible by 16.
    """

    def __init__(self, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.2, input_px: int = 64):
        super().__init__()
        if input_px % 16 or input_px < 32:
            raise ValueError(f"yolov5n_stem input_px must be a multiple of 16 and >= 32, got {input_px}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.input_px = input_px
        self.model = yolov5n_stem_layers(in_chans)
        self.num_features = 128
        self.drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(128, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, S, S) -> (B, 128) globally average-pooled ``model.6`` activations."""
        return self.model(x).mean(dim=(2, 3))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


ARCHS: dict[str, type[nn.Module]] = {"bcdcnn": BCDCNN, "resnet18": ResNet18Crops, "yolov5n_stem": YOLOv5nStem}


def build_model(arch: str, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.5, input_px: int = 48) -> nn.Module:
    """Build ``ARCHS[arch]`` with plain keyword arguments (InputError for unknown names)."""
    cls = ARCHS[look_up_option(arch, ARCHS, "classifier arch")]
    return cls(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, input_px=input_px)


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


FIRST_CONV = "model.0.conv.weight"


def load_start_weights(model: nn.Module, path) -> dict:
    """Copy the tensors of a ``.safetensors`` file into ``model`` BY NAME AND SHAPE; return a report.

    A tensor is copied when the model has a tensor of the same name and shape. The first
    convolution (``model.0.conv.weight``) of an RGB file, ``(O, 3, k, k)``, goes into a grey
    model's ``(O, 1, k, k)`` as the sum over its colour channels (a grey crop repeated as R,
    G and B gives the same activations). File tensors the model lacks (a detector's neck)
    are counted as ``unused_in_file``; model tensors the file lacks (the linear head) stay
    at initialisation and are listed.

    Raises InputError (one line, naming the file) when no tensor fits, or when a tensor has
    one of the model's names but another shape: another architecture or width.
    """
    from pathlib import Path

    from converters.errors import InputError
    from converters.safetensors_io import read_safetensors

    path = Path(path)
    state = read_safetensors(path)
    own = model.state_dict()
    loaded, summed, mismatch = [], [], []
    for key, dst in own.items():
        if key not in state:
            continue
        src = state[key]
        if tuple(src.shape) == tuple(dst.shape):
            loaded.append((key, src))
        elif (key == FIRST_CONV and src.ndim == 4 and dst.shape[1] == 1 and src.shape[1] == 3
              and (src.shape[0], *src.shape[2:]) == (dst.shape[0], *dst.shape[2:])):
            loaded.append((key, src.sum(dim=1, keepdim=True)))
            summed.append(key)
        else:
            mismatch.append(f"{key} {tuple(src.shape)} vs {tuple(dst.shape)}")
    if mismatch or not loaded:
        what = (f"{len(mismatch)} tensors share the model's names but not its shapes, e.g. {mismatch[0]}"
                if mismatch else f"none of its {len(state)} tensor names is one of the model's {len(own)}")
        raise InputError(f"start_weights do not fit arch {type(model).__name__}: {what}", path)
    with torch.no_grad():
        for key, src in loaded:
            own[key].copy_(src.to(own[key].dtype))
    names = {k for k, _ in loaded}
    return {"file": "/".join(path.parts[-2:]), "sha256": file_sha256(path), "loaded": len(loaded),
            "model_tensors": len(own), "channel_summed": summed,
            "left_at_init": sorted(k for k in own if k not in names),
            "unused_in_file": len([k for k in state if k not in own])}


def start_tensor_matches(model: nn.Module, path, key: str = FIRST_CONV) -> bool:
    """Whether ``model``'s ``key`` equals the file's (channel-summed for a grey first conv)."""
    from converters.safetensors_io import read_safetensors

    src = read_safetensors(path)[key]
    dst = model.state_dict()[key]
    if src.shape != dst.shape:
        src = src.sum(dim=1, keepdim=True)
    return bool(torch.equal(src.to(dst.dtype), dst))
