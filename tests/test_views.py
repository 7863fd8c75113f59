"""Views: per-sample parameters, determinism under a seed, and each op against a direct computation."""

import math

import pytest
import torch
import torch.nn.functional as F

from selfsup.views import (
    ColorJitter,
    GaussianBlur,
    Normalize,
    Preprocess,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
    image_views,
)
from selfsup.views.image import crop_resize, gaussian_blur


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def batch(b=16, s=32):
    return (torch.rand(b, 3, s, s, generator=gen(9)) * 255).to(torch.uint8)


@pytest.mark.parametrize("preset,size", [("simclr", 32), ("byol", 32), ("simclr", 64), ("byol", 96)])
def test_presets_return_views_and_params(preset, size):
    x = batch(8, size + 8)
    out = image_views(preset, size)(x, gen())
    assert len(out) == 2
    for v, p in out:
        assert v.shape == (8, 3, size, size) and v.dtype == torch.float32
        assert p["crop"].shape == (8, 4) and p["flip"].shape == (8,) and p["jitter"].shape == (8, 4)
        assert p["gray"].dtype == torch.bool


def test_same_seed_same_views_other_seed_differs():
    v = image_views("byol", 64)
    x = batch(8, 64)
    a, b, c = v(x, gen(1)), v(x, gen(1)), v(x, gen(2))
    for (va, pa), (vb, pb) in zip(a, b, strict=True):
        assert torch.equal(va, vb) and all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not torch.equal(a[0][0], c[0][0])


def test_crop_full_box_is_identity_and_flip_mirrors():
    x = torch.rand(4, 3, 16, 16)
    full = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(4, 1)
    assert torch.allclose(crop_resize(x, full, (16, 16)), x, atol=1e-5)
    flip = torch.tensor([True, False, True, False])
    y = crop_resize(x, full, (16, 16), flip)
    assert torch.allclose(y[0], x[0].flip(-1), atol=1e-5) and torch.allclose(y[1], x[1], atol=1e-5)


def test_crop_takes_the_box_it_reports():
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(1, 3, 1, 1)
    box = torch.tensor([[0.25, 0.5, 0.5, 0.25]])  # x0=2, y0=4, w=4, h=2 pixels
    y = crop_resize(x, box, (2, 4))
    assert torch.allclose(y[0, 0], x[0, 0, 4:6, 2:6], atol=1e-5)


def test_crop_boxes_respect_scale_and_ratio():
    op = RandomResizedCrop(32, scale=(0.2, 0.5), ratio=(0.5, 2.0))
    _, p = op(batch(256, 40), gen())
    box = p["crop"]
    area = box[:, 2] * box[:, 3]
    assert (box[:, 0] >= 0).all() and (box[:, 0] + box[:, 2] <= 1 + 1e-6).all()
    assert (box[:, 1] >= 0).all() and (box[:, 1] + box[:, 3] <= 1 + 1e-6).all()
    assert (area >= 0.2 - 1e-5).all() and (area <= 0.5 + 1e-5).all()
    aspect = box[:, 2] / box[:, 3]
    assert (aspect >= 0.5 - 1e-4).all() and (aspect <= 2.0 + 1e-4).all()


def test_flip_op_and_probability():
    x = torch.rand(200, 3, 4, 4)
    y, p = RandomHorizontalFlip(0.5)(x, gen())
    assert torch.equal(y[p["flip"]], x[p["flip"]].flip(-1)) and torch.equal(y[~p["flip"]], x[~p["flip"]])
    assert 60 < int(p["flip"].sum()) < 140


def test_jitter_brightness_only_matches_direct_formula():
    x = torch.rand(10, 3, 8, 8)
    y, p = ColorJitter(0.5, 0.0, 0.0, 0.0, p=1.0)(x, gen())
    f = p["jitter"][:, 0].view(-1, 1, 1, 1)
    assert torch.allclose(y, (x * f).clamp(0, 1), atol=1e-6)
    assert torch.equal(x, x.clone())  # the input is untouched


def test_jitter_saturation_zero_gives_luma_and_hue_keeps_luma():
    x = torch.rand(6, 3, 8, 8) * 0.5 + 0.25
    op = ColorJitter(0, 0, 0, 0, p=1.0)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    from selfsup.views.image import _hue, _saturation

    sat0 = _saturation(x.clone(), torch.zeros(6, 1, 1, 1))
    assert torch.allclose(sat0, luma.unsqueeze(1).expand_as(x), atol=1e-6)
    h = _hue(x.clone(), torch.full((6,), 0.1))
    h_luma = 0.299 * h[:, 0] + 0.587 * h[:, 1] + 0.114 * h[:, 2]
    small = (h > 0) & (h < 1)
    assert small.all() and torch.allclose(h_luma, luma, atol=1e-5)
    assert torch.allclose(_hue(x.clone(), torch.zeros(6)), x, atol=1e-5)
    y, _ = op(x, gen())
    assert torch.allclose(y, x, atol=1e-5)  # zero strengths: identity


def test_jitter_probability_leaves_others_untouched():
    x = torch.rand(100, 3, 4, 4)
    y, p = ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.5)(x, gen())
    off = (p["jitter"] == torch.tensor([1.0, 1.0, 1.0, 0.0])).all(1)
    assert 20 < int(off.sum()) < 80
    assert torch.equal(y[off], x[off])


def test_grayscale_and_solarize():
    x = torch.rand(50, 3, 4, 4)
    y, p = RandomGrayscale(0.5)(x, gen())
    g = p["gray"]
    assert torch.allclose(y[g][:, 0], y[g][:, 1]) and torch.equal(y[~g], x[~g])
    y, p = RandomSolarize(1.0, threshold=0.5)(x, gen())
    assert torch.allclose(y, torch.where(x >= 0.5, 1 - x, x))


def test_blur_matches_explicit_2d_gaussian():
    x = torch.rand(3, 3, 12, 12)
    sig = torch.tensor([0.5, 1.0, 2.0])
    y = gaussian_blur(x, sig, 5)
    for i, s in enumerate(sig.tolist()):
        t = torch.arange(-2, 3, dtype=torch.float32)
        k1 = torch.exp(-(t**2) / (2 * s * s))
        k2 = torch.outer(k1, k1) / k1.sum() ** 2
        ref = F.conv2d(F.pad(x[i:i + 1], (2, 2, 2, 2), mode="reflect"), k2.expand(3, 1, 5, 5), groups=3)
        assert torch.allclose(y[i:i + 1], ref, atol=1e-5)
    _, p = GaussianBlur(p=0.5)(x, gen())
    assert ((p["blur_sigma"] == 0) | ((p["blur_sigma"] >= 0.1) & (p["blur_sigma"] <= 2.0))).all()


def test_normalize_and_preprocess():
    x = torch.full((2, 3, 8, 8), 128, dtype=torch.uint8)
    y, _ = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(x, gen())
    assert torch.allclose(y, torch.full_like(y, (128 / 255 - 0.5) / 0.25), atol=1e-6)
    z = Preprocess(4, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(x)
    assert z.shape == (2, 3, 4, 4) and torch.allclose(z, torch.full_like(z, (128 / 255 - 0.5) / 0.25), atol=1e-5)


def test_unknown_preset_named():
    with pytest.raises(ValueError, match="unknown view preset 'moco'"):
        image_views("moco", 32)


def test_views_keep_input_device_and_accept_float():
    x = torch.rand(4, 3, 32, 32)
    (v, _), _ = image_views("simclr", 32)(x, gen())
    assert v.device == x.device and math.isfinite(float(v.sum()))
