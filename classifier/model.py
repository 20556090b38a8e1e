"""Crop classifiers: the paper's BCDCNN and a small ResNet-18, behind one contract.

Both follow timm's small model contract: constructor keyword arguments ``num_classes``
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


ARCHS: dict[str, type[nn.Module]] = {"bcdcnn": BCDCNN, "resnet18": ResNet18Crops}


def build_model(arch: str, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.5, input_px: int = 48) -> nn.Module:
    """Build ``ARCHS[arch]`` with plain keyword arguments (InputError for unknown names)."""
    cls = ARCHS[look_up_option(arch, ARCHS, "classifier arch")]
    return cls(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, input_px=input_px)
