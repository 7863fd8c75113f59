"""The method zoo's objectives against explicit-loop computations of the papers' formulas."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.heads import DirectPredictor
from selfsup.objectives import (
    DebiasedContrastiveLoss,
    DecoupledContrastiveLoss,
    InfoNCELoss,
    MixedCorrelationLoss,
    MultiViewInfoNCELoss,
    NTXentLoss,
    RobustContrastiveLoss,
    VICRegLoss,
    WhiteningMSELoss,
    whiten,
)


def _views(v=3, n=5, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(v)]


def _cos(a, b):
    return float(F.cosine_similarity(a, b, dim=0))


def _items(views):
    """(view, sample, vector) for every embedding."""
    return [(v, i, views[v][i]) for v in range(len(views)) for i in range(len(views[0]))]


def test_multi_positive_ntxent_matches_loop():
    views, t = _views(), 0.3
    items = _items(views)
    terms = []
    for va, ia, za in items:
        denom = sum(math.exp(_cos(za, zk) / t) for vk, ik, zk in items if (vk, ik) != (va, ia))
        for vp, ip, zp in items:
            if ip == ia and vp != va:
                terms.append(-math.log(math.exp(_cos(za, zp) / t) / denom))
    loss, _ = NTXentLoss(t)(*views)
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-9)


@pytest.mark.parametrize("weighting", [None, "vmf"])
def test_decoupled_contrastive_matches_loop(weighting):
    views, t, sigma = _views(v=2, n=6), 0.2, 0.5
    z1, z2 = views
    n = len(z1)
    items = _items(views)
    total = 0.0
    for va, ia, za in items:
        zp = views[1 - va][ia]
        neg = sum(math.exp(_cos(za, zk) / t) for vk, ik, zk in items if ik != ia)
        w = 1.0
        if weighting == "vmf":  # 2 - n * softmax over the batch of cos(z1_i, z2_i) / sigma
            e = [math.exp(_cos(z1[j], z2[j]) / sigma) for j in range(n)]
            w = 2 - n * e[ia] / sum(e)
        total += -w * _cos(za, zp) / t + math.log(neg)
    loss, _ = DecoupledContrastiveLoss(t, weighting, sigma)(z1, z2)
    assert loss.item() == pytest.approx(total / (2 * n), rel=1e-9)


@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.3])
def test_debiased_contrastive_matches_chuang_formula(tau_plus):
    views, t = _views(v=2, n=6, seed=3), 0.5
    items = _items(views)
    total = 0.0
    for va, ia, za in items:
        pos = math.exp(_cos(za, views[1 - va][ia]) / t)
        negs = [math.exp(_cos(za, zk) / t) for vk, ik, zk in items if ik != ia]
        big_n = len(negs)
        ng = max((sum(negs) - tau_plus * big_n * pos) / (1 - tau_plus), big_n * math.exp(-1 / t))
        total += -math.log(pos / (pos + ng))
    loss, _ = DebiasedContrastiveLoss(t, tau_plus)(*views)
    assert loss.item() == pytest.approx(total / len(items), rel=1e-9)
    if tau_plus == 0.0:  # no correction: plain decoupled-free InfoNCE, i.e. NT-Xent
        assert loss.item() == pytest.approx(NTXentLoss(t)(*views)[0].item(), rel=1e-9)


@pytest.mark.parametrize("decoupled", [False, True])
def test_multiview_infonce_and_dhel_match_loops(decoupled):
    views, t = _views(v=4, n=5, seed=4), 0.4
    nv, n = len(views), len(views[0])
    total = 0.0
    for i in range(n):
        pos = sum(math.exp(_cos(views[v][i], views[w][i]) / t) for v in range(nv) for w in range(nv) if v < w)
        if decoupled:
            uni = sum(math.log(sum(math.exp(_cos(views[v][i], views[v][k]) / t) for k in range(n) if k != i))
                      for v in range(nv))
            total += uni - math.log(pos)
        else:
            den = sum(math.exp(_cos(views[v][i], views[w][k]) / t)
                      for v in range(nv) for w in range(nv) for k in range(n) if (w, k) != (v, i))
            total += -math.log(2 * pos / den)
    loss, _ = MultiViewInfoNCELoss(t, decoupled)(*views)
    assert loss.item() == pytest.approx(total / n, rel=1e-9)


def test_query_key_infonce_with_queue_matches_loop():
    q, k = _views(v=2, n=4, seed=5)
    queue = torch.randn(7, 4, dtype=torch.float64)
    t = 0.2
    total = 0.0
    for i in range(len(q)):
        keys = [*k, *queue]
        logits = [_cos(q[i], kk) / t for kk in keys]
        total += -logits[i] + math.log(sum(math.exp(x) for x in logits))
    loss, _ = InfoNCELoss(t, scale=2 * t)(q, k, queue)
    assert loss.item() == pytest.approx(2 * t * total / len(q), rel=1e-9)


def test_robust_contrastive_first_visit_gradient_is_the_robust_loss_gradient():
    """At a sample's first visit u = g, so the surrogate's gradient is that of tau log g (iSogCLR eq. 5)."""
    z1, z2 = (v.requires_grad_() for v in _views(v=2, n=6, seed=6))
    tau0, rho = 0.25, 0.5  # exact in float32, the buffers' dtype
    crit = RobustContrastiveLoss(10, tau_init=tau0, rho=rho, tau_lr=0.0).double()
    index = torch.tensor([0, 2, 4, 6, 8, 9])
    loss, _logs = crit(z1, z2, index=index)
    assert loss.item() == pytest.approx(tau0, rel=1e-9)  # tau / u * g with u = g
    grad = torch.autograd.grad(loss, (z1, z2))

    def robust(a, b, tau):
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
        z = torch.cat([a, b])
        n = len(a)
        per_sample = []
        for i in range(n):
            g = 0.0
            for anchor, pos in ((i, i + n), (i + n, i)):
                neg = [k for k in range(2 * n) if k % n != i]
                g = g + torch.exp((z[anchor] @ z[neg].T - z[anchor] @ z[pos]) / tau[i]).mean() / 2
            per_sample.append(tau[i] * torch.log(g) + tau[i] * rho)
        return torch.stack(per_sample)

    ref = robust(z1, z2, torch.full((6,), tau0, dtype=torch.float64)).mean()
    ref_grad = torch.autograd.grad(ref, (z1, z2))
    for a, b in zip(grad, ref_grad, strict=True):
        assert torch.allclose(a, b, atol=1e-10)
    # the temperature gradient the loss used equals d/dtau of the robust loss (checked through one SGD step)
    tau = torch.full((6,), tau0, dtype=torch.float64, requires_grad=True)
    (dtau,) = torch.autograd.grad(robust(z1.detach(), z2.detach(), tau).sum(), tau)
    crit2 = RobustContrastiveLoss(10, tau_init=tau0, rho=rho, tau_lr=0.01, tau_beta=0.0, tau_max=1.0).double()
    crit2(z1.detach(), z2.detach(), index=index)
    assert torch.allclose(crit2.tau[index], tau0 - 0.01 * dtau, atol=1e-10)
    untouched = torch.tensor([1, 3, 5, 7])
    assert torch.all(crit2.tau[untouched] == tau0) and torch.all(crit2.u[untouched] == 0)


def test_robust_contrastive_moving_average_and_clamp():
    z1, z2 = _views(v=2, n=4, seed=7)
    idx = torch.arange(4)
    crit = RobustContrastiveLoss(4, tau_init=0.5, gamma=0.8, tau_lr=0.0).double()
    crit(z1, z2, index=idx)
    g = crit.u.clone()  # first visit: u = g
    crit(z1, 2 * z2, index=idx)  # same cosines, so the same g: u = 0.2 g + 0.8 g
    assert torch.allclose(crit.u, g, rtol=1e-9)
    crit = RobustContrastiveLoss(4, tau_init=0.5, tau_lr=10.0, tau_min=0.1, tau_max=0.7).double()
    for _ in range(3):
        crit(z1, z2, index=idx)
    assert torch.all((crit.tau >= 0.1) & (crit.tau <= 0.7)) and torch.any(crit.tau != 0.5)


def test_vicreg_matches_formula():
    z1, z2 = _views(v=2, n=8, d=3, seed=8)
    n, d = z1.shape
    inv = float(((z1 - z2) ** 2).mean())
    var, cov = 0.0, 0.0
    for z in (z1, z2):
        zc = z - z.mean(0)
        for j in range(d):
            std = math.sqrt(float((zc[:, j] ** 2).sum()) / (n - 1) + 1e-4)
            var += max(0.0, 1 - std) / d / 2
            for k in range(d):
                if j != k:
                    cov += (float((zc[:, j] * zc[:, k]).sum()) / (n - 1)) ** 2 / d
    loss, _ = VICRegLoss(25, 25, 1)(z1, z2)
    assert loss.item() == pytest.approx(25 * inv + 25 * var + cov, rel=1e-9)


def test_whitening_gives_identity_covariance_and_wmse_value():
    x = torch.randn(64, 5, dtype=torch.float64) @ torch.randn(5, 5, dtype=torch.float64)
    w = whiten(x)
    cov = (w - w.mean(0)).T @ (w - w.mean(0)) / 63
    assert torch.allclose(cov, torch.eye(5, dtype=torch.float64), atol=1e-9)
    # the reference: L^-1 from numpy's Cholesky, applied to the centred joint batch of both views
    z1, z2 = _views(v=2, n=20, d=3, seed=9)
    joint = torch.cat([z1, z2]).numpy()
    joint = joint - joint.mean(0)
    inv_l = np.linalg.inv(np.linalg.cholesky(joint.T @ joint / (len(joint) - 1)))
    white = joint @ inv_l.T
    a, b = white[:20], white[20:]
    a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    ref = float(np.mean(2 - 2 * (a * b).sum(1)))
    loss, _ = WhiteningMSELoss(w_size=128)(z1, z2)
    assert loss.item() == pytest.approx(ref, rel=1e-9)
    with pytest.raises(ValueError, match="more samples than dimensions"):
        WhiteningMSELoss(w_size=1)(z1, z2)


def test_mixed_correlation_matches_formula_and_vanishes_for_linear_features():
    z1, z2 = _views(v=2, n=6, d=3, seed=10)
    perm, alpha = torch.tensor([2, 0, 1, 5, 3, 4]), 0.3

    def std(z):
        return (z - z.mean(0)) / z.std(0, unbiased=False)

    zm = torch.randn(6, 3, dtype=torch.float64)
    a, b, bp, m = std(z1), std(z2), std(z2[perm]), std(zm)
    ref = 0.0
    for v in (a, b):
        for i, j in itertools.product(range(3), range(3)):
            c_m = float((m[:, i] * v[:, j]).sum()) / 6
            c_gt = alpha * float((a[:, i] * v[:, j]).sum()) / 6 + (1 - alpha) * float((bp[:, i] * v[:, j]).sum()) / 6
            ref += (c_m - c_gt) ** 2
    got = MixedCorrelationLoss(eps=0.0)(zm, z1, z2, perm, alpha)
    assert got.item() == pytest.approx(ref, rel=1e-9)
    # alpha = 1: the "mixed" sample is view 1 itself, and the mixed correlations are exact
    assert MixedCorrelationLoss(eps=0.0)(z1, z1, z2, perm, 1.0).item() < 1e-20


def test_direct_predictor_is_set_from_the_correlation_eigenbasis():
    pred = DirectPredictor(4, rho=0.3, eps=0.1)
    f = torch.randn(100, 4) @ torch.diag(torch.tensor([3.0, 1.0, 0.5, 0.1]))
    pred(f)
    pred.update()
    corr = f.T @ f / 100
    s, u = torch.linalg.eigh(corr)
    expected = u @ torch.diag((s / s.max()).sqrt() + 0.1) @ u.T
    assert torch.allclose(pred.weight, expected, atol=1e-5)
    assert not any(p.requires_grad for p in pred.parameters())  # set, never trained
    pred(f * 2)
    pred.update()  # EMA: F <- 0.3 F + 0.7 E[f f^T]
    assert torch.allclose(pred.correlation, 0.3 * corr + 0.7 * 4 * corr, rtol=1e-5)


def test_swav_loss_is_swapped_cross_entropy():
    from selfsup.objectives import SwAVLoss

    g = torch.Generator().manual_seed(11)
    s1, s2 = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    q1, q2 = torch.softmax(torch.randn(5, 4, generator=g), 1).double(), torch.softmax(torch.randn(5, 4), 1).double()
    t = 0.1
    ref = 0.0
    for scores, codes in ((s2, q1), (s1, q2)):  # view 2 predicts view 1's code and vice versa
        for i in range(5):
            logz = math.log(sum(math.exp(float(scores[i, k]) / t) for k in range(4)))
            ref += -sum(float(codes[i, k]) * (float(scores[i, k]) / t - logz) for k in range(4)) / 5
    loss, _ = SwAVLoss(t)([s1, s2], [q1, q2], [(1, 0), (0, 1)])
    assert loss.item() == pytest.approx(ref / 2, rel=1e-9)


def test_dino_loss_centres_and_sharpens_the_teacher():
    from selfsup.objectives import DINOLoss

    g = torch.Generator().manual_seed(12)
    s1, s2, t1, t2 = (torch.randn(4, 3, generator=g, dtype=torch.float64) for _ in range(4))
    crit = DINOLoss(3, student_temperature=0.1, center_momentum=0.9).double()
    crit.center.fill_(0.25)
    tt = 0.04
    ref = 0.0
    for student, teacher in ((s2, t1), (s1, t2)):
        for i in range(4):
            p = [math.exp((float(teacher[i, k]) - 0.25) / tt) for k in range(3)]
            p = [x / sum(p) for x in p]
            logz = math.log(sum(math.exp(float(student[i, k]) / 0.1) for k in range(3)))
            ref += -sum(p[k] * (float(student[i, k]) / 0.1 - logz) for k in range(3)) / 4
    loss, _ = crit([s1, s2], [t1, t2], [(1, 0), (0, 1)], tt)
    assert loss.item() == pytest.approx(ref / 2, rel=1e-9)
    expected_center = 0.9 * 0.25 + 0.1 * torch.cat([t1, t2]).mean(0)
    assert torch.allclose(crit.center[0], expected_center)


def test_hpm_ranking_loss_matches_pairwise_formula():
    from selfsup.methods.hpm import HPM

    vit = __import__("selfsup").create_encoder("vit_tiny", image_size=8, patch_size=4)
    m = HPM(vit, decoder_dim=8, decoder_depth=1)
    feats = torch.randn(1, 4, 8)
    per_patch = torch.tensor([[0.5, 0.1, 0.9, 0.3]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0]])  # patch 2 visible: not ranked
    out = m.extra_loss({"loss": torch.tensor(0.0)}, per_patch, mask, feats)
    pred = m.loss_predictor(feats).squeeze(-1)[0].detach()
    masked = [0, 1, 3]
    terms = []
    for i in masked:
        for j in masked:
            if i != j:
                target = 1.0 if per_patch[0, i] > per_patch[0, j] else 0.0
                p = 1 / (1 + math.exp(-float(pred[i] - pred[j])))
                terms.append(-(target * math.log(p) + (1 - target) * math.log(1 - p)))
    assert out["ranking"].item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)
