"""Random Field Augmentations: Gaussian random fields, local affine and colour transforms, presets."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_ENCODER, tiny_images

import selfsup
from selfsup.views import FieldStrength, RandomFieldAugment, image_views
from selfsup.views.random_fields import gaussian_random_fields, local_affine, local_colour


def test_fields_are_standard_normal_with_the_squared_exponential_correlation():
    g = torch.Generator().manual_seed(0)
    f = gaussian_random_fields(300, 64, 64, 0.05, g)
    assert abs(f.mean().item()) < 0.03 and abs(f.std().item() - 1) < 0.03
    sigma = 0.05 * 64  # px; filtering white noise by a Gaussian of sd s gives covariance exp(-d² / 4s²)
    for d in (3, 6, 10):
        corr = (f[:, :, :-d] * f[:, :, d:]).mean().item()
        assert corr == pytest.approx(math.exp(-d * d / (4 * sigma**2)), abs=0.04), d
    smooth = gaussian_random_fields(50, 64, 64, 0.2, g)
    rough = gaussian_random_fields(50, 64, 64, 0.02, g)
    step = [(x[:, :, 1:] - x[:, :, :-1]).abs().mean().item() for x in (smooth, rough)]
    assert step[0] < step[1] / 4  # a longer length scale varies less from pixel to pixel
    with pytest.raises(ValueError, match="length_scale must be > 0"):
        gaussian_random_fields(1, 8, 8, 0.0, g)


def test_zero_amplitude_is_the_identity_and_params_are_the_fields_used():
    x = torch.rand(4, 3, 16, 16)
    y, p = RandomFieldAugment(FieldStrength())(x, torch.Generator().manual_seed(0))
    assert torch.equal(y, x) and not p["rfa_geometry"].any() and not p["rfa_colour"].any()
    op = RandomFieldAugment(FieldStrength(rotate=10.0, hue=0.05, length_scale=0.2))
    y, p = op(x, torch.Generator().manual_seed(1))
    geo, col = p["rfa_geometry"], p["rfa_colour"]
    assert geo.shape == col.shape == (4, 4, 16, 16)
    assert not geo[:, [0, 1, 3]].any() and geo[:, 2].std() > 0.05  # only the angle field is on
    assert not col[:, :3].any() and col[:, 3].abs().max() > 0.01
    assert torch.allclose(y, local_colour(local_affine(x, geo), col), atol=1e-6)  # the params reproduce the view
    y2, _ = op(x, torch.Generator().manual_seed(1))
    assert torch.equal(y, y2)  # same generator seed, same view
    y3, p3 = RandomFieldAugment("medium", p=0.0)(x, torch.Generator().manual_seed(0))
    assert not p3["rfa_geometry"].any() and torch.allclose(y3, x, atol=1e-5)


def test_constant_fields_give_the_global_affine_and_colour_transforms():
    x = torch.rand(2, 3, 12, 12)
    s, a, tx, ty = 1.1, math.radians(20), 0.1, -0.05
    fields = torch.tensor([tx, ty, a, math.log(s)]).view(1, 4, 1, 1).expand(2, 4, 12, 12)
    theta = torch.tensor([[s * math.cos(a), -s * math.sin(a), tx], [s * math.sin(a), s * math.cos(a), ty]])
    grid = F.affine_grid(theta.expand(2, 2, 3), [2, 3, 12, 12], align_corners=False)
    expected = F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
    assert torch.allclose(local_affine(x, fields), expected, atol=1e-5)

    bright = torch.zeros(2, 4, 12, 12)
    bright[:, 0] = math.log(1.3)
    assert torch.allclose(local_colour(x, bright), (x * 1.3).clamp(0, 1), atol=1e-6)
    desat = torch.zeros(2, 4, 12, 12)
    desat[:, 2] = -30.0  # saturation factor ~0: the luma in every channel
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    assert torch.allclose(local_colour(x, desat), luma.unsqueeze(1).expand(-1, 3, -1, -1), atol=1e-5)
    hue = torch.zeros(2, 4, 12, 12)
    hue[:, 3] = 0.25
    mid = 0.4 + 0.2 * x  # away from the clamp
    out = local_colour(mid, hue)
    assert not torch.allclose(out, mid, atol=1e-2)
    assert torch.allclose(0.299 * out[:, 0] + 0.587 * out[:, 1] + 0.114 * out[:, 2],
                          0.299 * mid[:, 0] + 0.587 * mid[:, 1] + 0.114 * mid[:, 2], atol=1e-5)  # hue keeps luma


def test_presets_distort_real_images_more_as_they_get_stronger():
    x = selfsup.demo_dataset("train").batch(np.arange(128))
    x = torch.as_tensor(x).float().div(255).expand(-1, 3, -1, -1)
    change = []
    for preset in ("mild", "medium", "strong"):
        y, _ = RandomFieldAugment(preset)(x, torch.Generator().manual_seed(0))
        change.append((y - x).abs().mean().item())
    assert 0.005 < change[0] < change[1] < change[2], change
    with pytest.raises(ValueError, match="unknown random-field preset 'wild'"):
        RandomFieldAugment("wild")
    with pytest.raises(ValueError, match="amplitudes must be >= 0"):
        RandomFieldAugment(FieldStrength(rotate=-1.0))


def test_random_fields_in_the_view_presets_and_a_config(tmp_path):
    views = image_views("simclr", 16, random_fields="mild")
    made = views(torch.randint(0, 256, (6, 3, 20, 20), dtype=torch.uint8), torch.Generator().manual_seed(0))
    assert all("rfa_geometry" in p and "crop" in p and "jitter" in p for _, p in made)
    assert "rfa_colour" in image_views("mae", 16, random_fields="strong")(torch.rand(2, 3, 16, 16),
                                                                           torch.Generator())[0][1]
    selfsup.pretrain(tiny_images(32, 16), "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER, random_fields="medium",
                     method_kwargs={"proj_hidden_dim": 32, "proj_dim": 16}, max_steps=2, batch_size=16,
                     progress=False, run_dir=tmp_path / "r")
    assert "random_fields: medium" in (tmp_path / "r" / "config.yaml").read_text()
