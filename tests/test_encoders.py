"""Encoders: output widths, stems, parameter counts and named errors."""

from itertools import pairwise

import pytest
import torch

from selfsup.encoders import ENCODERS, count_parameters, create_encoder, wrap_module


@pytest.mark.parametrize("name,size,out_dim", [("small_cnn", 32, 192), ("resnet18_cifar", 32, 512),
                                               ("resnet18", 64, 512), ("resnet50_cifar", 32, 2048),
                                               ("resnet50", 64, 2048), ("vit_tiny", 32, 192)])
def test_registry_encoders_output_width(name, size, out_dim):
    kw = {"image_size": size} if name == "vit_tiny" else {}
    enc = create_encoder(name, **kw).eval()
    with torch.no_grad():
        y = enc(torch.randn(2, 3, size, size))
    assert enc.out_dim == out_dim and y.shape == (2, out_dim)


def test_parameter_counts_match_the_published_architectures():
    widths = (3, 32, 64, 128, 192)  # 3x3 convs without bias + BatchNorm scale and shift
    assert count_parameters(create_encoder("small_cnn")) == sum(9 * a * b + 2 * b for a, b in pairwise(widths))
    assert count_parameters(create_encoder("resnet18")) == pytest.approx(11.18e6, rel=0.01)  # torchvision minus fc
    assert count_parameters(create_encoder("resnet50")) == pytest.approx(23.51e6, rel=0.01)
    assert count_parameters(create_encoder("vit_tiny")) == pytest.approx(5.52e6, rel=0.02)


def test_cifar_stem_keeps_resolution_imagenet_stem_downsamples():
    cifar, imnet = create_encoder("resnet18_cifar"), create_encoder("resnet18")
    x = torch.randn(1, 3, 32, 32)
    assert cifar.stem(x).shape[-1] == 32 and imnet.stem(x).shape[-1] == 8


def test_named_errors():
    with pytest.raises(ValueError, match="unknown encoder 'resnet19'"):
        create_encoder("resnet19")
    with pytest.raises(ValueError, match="multiple of patch_size"):
        create_encoder("vit_tiny", image_size=30, patch_size=4)
    with pytest.raises(ValueError, match="multiple of 4"):
        create_encoder("vit_tiny", image_size=32)(torch.randn(1, 3, 30, 30))
    with pytest.raises(ValueError, match="needs its output width"):
        wrap_module(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="unknown encoder library"):
        create_encoder("keras:resnet")


def test_vit_takes_other_sizes_with_resized_positions():
    vit = create_encoder("vit_tiny", image_size=32)
    assert vit(torch.randn(2, 3, 16, 16)).shape == (2, 192)  # a multi-crop local view
    full = vit.patch_tokens(torch.zeros(1, 3, 32, 32))
    assert torch.allclose(full, vit.patch_embed.bias.view(1, 1, -1) + vit.pos_embed[:, 1:])


def test_registry_is_listed():
    assert {"small_cnn", "resnet18", "resnet18_cifar", "resnet50", "resnet50_cifar", "vit_tiny"} <= set(ENCODERS)
