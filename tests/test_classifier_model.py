"""BCDCNN / ResNet-18 crop models: the timm-style contract, shapes, no NaNs."""

import pytest
import torch

from classifier.model import ARCHS, BCDCNN, build_model
from converters.errors import InputError


@pytest.mark.parametrize("arch,px,n_cls", [("bcdcnn", 48, 3), ("bcdcnn", 48, 2), ("resnet18", 64, 3)])
def test_forward_shapes_and_finite(arch, px, n_cls):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=n_cls, in_chans=1, input_px=px).eval()
    x = torch.rand(5, 1, px, px)
    feats = model.forward_features(x)
    logits = model.forward_head(feats)
    assert feats.shape == (5, model.num_features)
    assert logits.shape == (5, n_cls)
    assert torch.isfinite(logits).all()
    assert torch.allclose(model(x), logits)


def test_bcdcnn_dense_layer_sees_12x12x64():
    model = BCDCNN(num_classes=3, in_chans=1, drop_rate=0.5)
    dense = [m for m in model.features if isinstance(m, torch.nn.Linear)][0]
    assert dense.in_features == 12 * 12 * 64
    assert dense.out_features == 1024
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64]
    assert all(c.kernel_size == (5, 5) for c in convs)


def test_bcdcnn_backward_gives_finite_grads():
    model = BCDCNN()
    loss = torch.nn.functional.cross_entropy(model(torch.rand(4, 1, 48, 48)), torch.tensor([0, 1, 2, 1]))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_unknown_arch_names_options():
    with pytest.raises(InputError, match="bcdcnn"):
        build_model("bcdcn")
    assert set(ARCHS) == {"bcdcnn", "resnet18", "yolov5n_stem"}
