"""Objectives against independent computations written from the papers' formulas."""

import math

import pytest
import torch
import torch.nn.functional as F

from selfsup.objectives import BarlowTwinsLoss, NegativeCosineLoss, NTXentLoss


def ntxent_reference(z1, z2, t):
    """SimCLR eq. (1), summed over all 2N anchors with explicit loops."""
    z = torch.cat([z1, z2])
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        sim = [F.cosine_similarity(z[i], z[k], dim=0) / t for k in range(n2)]
        denom = sum(math.exp(float(sim[k])) for k in range(n2) if k != i)
        total += -math.log(math.exp(float(sim[j])) / denom)
    return total / n2


def barlow_reference(z1, z2, lam):
    n, d = z1.shape
    a = (z1 - z1.mean(0)) / z1.std(0, unbiased=False)
    b = (z2 - z2.mean(0)) / z2.std(0, unbiased=False)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c = float(sum(a[k, i] * b[k, j] for k in range(n)) / n)
            loss += (1 - c) ** 2 if i == j else lam * c**2
    return loss


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
def test_ntxent_matches_paper_formula(t):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    loss, logs = NTXentLoss(t)(z1, z2)
    assert loss.item() == pytest.approx(ntxent_reference(z1, z2, t), rel=1e-9)
    assert 0 <= logs["pair_accuracy"] <= 1


def test_ntxent_is_low_for_aligned_pairs_and_gradcheck():
    z = torch.randn(8, 4, dtype=torch.float64)
    aligned, _ = NTXentLoss(0.1)(z, z)
    shuffled, _ = NTXentLoss(0.1)(z, z[torch.randperm(8)])
    assert aligned < shuffled
    z1 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: NTXentLoss(0.5)(a, b)[0], (z1, z2))


def test_ntxent_rejects_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0.0)


@pytest.mark.parametrize("lam", [5e-3, 0.5])
def test_barlow_twins_matches_formula(lam):
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(7, 4, generator=g, dtype=torch.float64), torch.randn(7, 4, generator=g, dtype=torch.float64)
    loss, _ = BarlowTwinsLoss(lam, eps=0.0)(z1, z2)
    assert loss.item() == pytest.approx(barlow_reference(z1, z2, lam), rel=1e-9)


def test_barlow_twins_zero_for_identical_decorrelated_views_and_gradcheck():
    q, _ = torch.linalg.qr(torch.randn(16, 4, dtype=torch.float64))
    z = (q - q.mean(0)) * 4  # decorrelated columns
    z = (z - z.mean(0)) / z.std(0, unbiased=False)
    c = z.T @ z / 16
    off = (c - torch.diag(torch.diagonal(c))).abs().max()
    loss, _ = BarlowTwinsLoss(5e-3, eps=0.0)(z, z)
    assert loss.item() < 1e-6 + 5e-3 * 16 * off.item() ** 2
    a = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: BarlowTwinsLoss(0.1)(x, y)[0], (a, b))


def test_negative_cosine_value_and_stop_gradient():
    p = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    t = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    loss, _ = NegativeCosineLoss()(p, t)
    ref = (2 - 2 * (p * t).sum(1) / (p.norm(dim=1) * t.norm(dim=1))).mean()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    loss.backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    assert t.grad is None  # the target is detached


def test_bf16_inputs_are_computed_in_float32():
    z1, z2 = torch.randn(8, 6).bfloat16(), torch.randn(8, 6).bfloat16()
    loss, _ = NTXentLoss(0.5)(z1, z2)
    assert loss.dtype == torch.float32
    ref, _ = NTXentLoss(0.5)(z1.float(), z2.float())
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
