"""The scattering encoder (ScatNet front-end + adapter) and ScatSimCLR."""

import pytest
import torch
from helpers import tiny_images

import selfsup

pytest.importorskip("kymatio", reason="the scattering extra is not installed")


def test_scattering_maps_count_shape_and_only_the_adapter_learns():
    enc = selfsup.create_encoder("scatnet", image_size=16, scales=2, orientations=4, adapter_widths=(16,))
    assert enc.n_coefficients == 3 * (1 + 2 * 4 + 4 * 4 * 2 * 1 // 2)  # orders 0, 1 and 2
    x = torch.rand(4, 3, 16, 16)
    assert enc.coefficients(x).shape == (4, enc.n_coefficients, 4, 4)
    enc(x).sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
    assert not any(k.startswith("scattering.") for k in enc.state_dict())  # filters are rebuilt, not saved
    with pytest.raises(ValueError, match="built for 16x16 input, got 20x20"):
        enc(torch.rand(1, 3, 20, 20))
    with pytest.raises(ValueError, match="multiple of 2\\^scales"):
        selfsup.create_encoder("scatnet", image_size=18, scales=2)


def test_scattering_coefficients_are_stable_to_small_shifts_unlike_pixels():
    enc = selfsup.create_encoder("scatnet", image_size=32, adapter_widths=(8,))
    x = selfsup.demo_dataset("train").batch(torch.arange(16).numpy())
    x = torch.nn.functional.pad(torch.as_tensor(x).float() / 255, (2, 2, 2, 2)).expand(-1, 3, -1, -1)
    shifted = torch.roll(x, shifts=1, dims=-1)
    s, s_shift = enc.coefficients(x), enc.coefficients(shifted)

    def rel(a, b):
        return ((a - b).norm() / a.norm()).item()

    assert rel(s, s_shift) < 0.5 * rel(x, shifted)  # measured about 0.1 vs 0.7


def test_scatsimclr_builds_its_scattering_encoder_and_trains_with_four_views(tmp_path):
    enc = selfsup.pretrain(tiny_images(32, 16), "scatsimclr", n_views=4, encoder_kwargs={"adapter_widths": (16,)},
                           method_kwargs={"proj_hidden_dim": 32, "proj_dim": 16, "pretext": "rotation"}, max_steps=2,
                           batch_size=16, progress=False, run_dir=tmp_path / "r")
    assert enc.name == "scatnet" and enc.out_dim == 16
    config = (tmp_path / "r" / "config.yaml").read_text()
    assert "name: scatnet" in config and "n_views: 4" in config
    again = selfsup.load(tmp_path / "r" / "encoder.safetensors")
    x = torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8).numpy()
    assert torch.allclose(torch.as_tensor(enc.embed(x)), torch.as_tensor(again.embed(x)), atol=1e-5)


def test_scattering_matches_reference_values_on_constant_images_and_gratings():
    """Reference computations a Morlet scattering must reproduce: a constant image keeps its value in the order-0
    (low-pass, unit mass) map and has no wavelet energy (Morlet wavelets have zero mean); a grating's order-1
    energy sits at the orientation across its stripes, a quarter turn away for the crossed grating, and moves
    to the coarser scale when its frequency halves."""
    import math

    orientations = 8
    enc = selfsup.create_encoder("scatnet", image_size=32, in_channels=1, scales=2, orientations=orientations,
                                 adapter_widths=(4,))
    s = enc.coefficients(torch.full((1, 1, 32, 32), 0.7))[0]
    assert torch.allclose(s[0], torch.full_like(s[0], 0.7), atol=1e-4)
    assert s[1:].abs().max() < 1e-5
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")

    def order1(img):  # (scales, orientations) mean order-1 energy; channel 1 + j * L + l
        return enc.coefficients(img.view(1, 1, 32, 32))[0, 1:1 + 2 * orientations].mean((1, 2)).view(2, orientations)

    vertical, horizontal = order1(torch.cos(2 * math.pi * xx / 4)), order1(torch.cos(2 * math.pi * yy / 4))
    lv, lh = int(vertical.sum(0).argmax()), int(horizontal.sum(0).argmax())
    assert (lv - lh) % orientations == orientations // 2
    assert vertical[:, lh].max() < 0.01 * vertical[:, lv].max()  # nothing along the stripes
    coarse = order1(torch.cos(2 * math.pi * xx / 8))
    assert coarse[1, lv] / coarse[0, lv] > 2 * vertical[1, lv] / vertical[0, lv]  # measured 2.4 vs 1.1
