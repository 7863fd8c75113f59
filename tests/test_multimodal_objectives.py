"""Alignment objectives across modalities: values against loops over the definitions (float64, no
matrix tricks), missing modalities excluded from every term, learnable temperature."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from selfsup.objectives import (
    LearnableTemperature,
    MultiModalInfoNCELoss,
    MultiViewInfoNCELoss,
    PairwiseCLIPLoss,
    SymileLoss,
)


def _data(b: int = 7, m: int = 3, d: int = 5, seed: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = [torch.randn(b, d, generator=g) for _ in range(m)]
    present = torch.rand(b, m, generator=g) > 0.3
    present[0] = True  # at least one complete record
    return z, present


def _unit(z: list[torch.Tensor]) -> list[np.ndarray]:
    return [(v / v.norm(dim=1, keepdim=True)).double().numpy() for v in z]


def _ce(logits: np.ndarray, target: int) -> float:
    mx = logits.max()
    return float(mx + math.log(np.exp(logits - mx).sum()) - logits[target])


def test_pairwise_clip_matches_loop_over_pairs_and_rows() -> None:
    z, present = _data()
    t = 0.3
    loss, logs = PairwiseCLIPLoss(t, learnable_temperature=False)(z, present)
    u, p = _unit(z), present.numpy()
    terms = []
    for a, b in itertools.combinations(range(3), 2):
        rows = [i for i in range(len(p)) if p[i, a] and p[i, b]]
        if len(rows) < 2:
            continue
        ab = [_ce(np.array([u[a][i] @ u[b][j] / t for j in rows]), k) for k, i in enumerate(rows)]
        ba = [_ce(np.array([u[b][i] @ u[a][j] / t for j in rows]), k) for k, i in enumerate(rows)]
        terms.append((np.mean(ab) + np.mean(ba)) / 2)
    assert float(loss) == pytest.approx(np.mean(terms), rel=1e-5)
    assert float(logs["temperature"]) == pytest.approx(t)


def test_symile_all_negatives_matches_loop_over_every_combination() -> None:
    z, present = _data(b=5)
    t = 0.5
    loss, _ = SymileLoss(t, learnable_temperature=False, negatives="all")(z, present)
    u, p = _unit(z), present.numpy()
    ones = np.ones(u[0].shape[1])

    def factor(k: int, j: int) -> np.ndarray:
        return u[k][j] if p[j, k] else ones  # a missing modality drops out of the product

    terms = []
    for m in range(3):
        others = [k for k in range(3) if k != m]
        rows = [i for i in range(len(p)) if p[i, m] and p[i, others].any()]
        if len(rows) < 2:
            continue
        per_row = []
        for i in rows:
            combos = list(itertools.product(range(len(p)), repeat=2))
            logits = np.array([np.sum(u[m][i] * factor(others[0], j1) * factor(others[1], j2)) / t
                               for j1, j2 in combos])
            per_row.append(_ce(logits, combos.index((i, i))))
        terms.append(np.mean(per_row))
    assert float(loss) == pytest.approx(np.mean(terms), rel=1e-5)


def test_symile_shuffled_negatives_match_the_reference_construction() -> None:
    z, _ = _data(b=6)
    t = 0.2
    loss, _ = SymileLoss(t, learnable_temperature=False)(z, None, generator=torch.Generator().manual_seed(3))
    u = _unit(z)
    g = torch.Generator().manual_seed(3)  # the same permutations, drawn in the same order
    terms = []
    for m in range(3):
        others = [k for k in range(3) if k != m]
        perms = [torch.randperm(6, generator=g).numpy() for _ in others]
        per_row = []
        for i in range(6):
            logits = np.array([np.sum(u[m][i] * u[others[0]][perms[0][j]] * u[others[1]][perms[1][j]]) / t
                               for j in range(6)])
            logits[i] = np.sum(u[m][i] * u[others[0]][i] * u[others[1]][i]) / t  # the positive on the diagonal
            per_row.append(_ce(logits, i))
        terms.append(np.mean(per_row))
    assert float(loss) == pytest.approx(np.mean(terms), rel=1e-5)


def test_multimodal_infonce_equals_multiview_infonce_when_complete() -> None:
    z, _ = _data()
    ours, _ = MultiModalInfoNCELoss(0.2)(z, None)
    reference, _ = MultiViewInfoNCELoss(0.2, gather_distributed=False)(*z)
    assert float(ours) == pytest.approx(float(reference), rel=1e-5)


def test_multimodal_infonce_matches_loop_with_missing_modalities() -> None:
    z, present = _data(b=6, m=4)
    t = 0.4
    loss, _ = MultiModalInfoNCELoss(t)(z, present)
    u, p = _unit(z), present.numpy()
    entries = [(k, v) for k in range(6) for v in range(4) if p[k, v]]
    terms = []
    for i in range(6):
        mods = [v for v in range(4) if p[i, v]]
        if len(mods) < 2:
            continue
        align = [u[v][i] @ u[w][i] / t for v in mods for w in mods if v != w]
        unif = [u[v][i] @ u[w][k] / t for v in mods for k, w in entries if (k, w) != (i, v)]
        terms.append(np.log(np.exp(unif).sum()) - np.log(np.exp(align).sum()))
    assert float(loss) == pytest.approx(np.mean(terms), rel=1e-5)


@pytest.mark.parametrize("loss_fn", [PairwiseCLIPLoss(0.1), SymileLoss(0.1, negatives="all"),
                                     SymileLoss(0.1), MultiModalInfoNCELoss(0.1)],
                         ids=["pairwise_clip", "symile_all", "symile_shuffle", "mv_infonce"])
def test_missing_entries_do_not_enter_the_loss_or_get_gradients(loss_fn) -> None:
    z, present = _data(b=8, m=3)
    kwargs = {"generator": torch.Generator().manual_seed(0)} if isinstance(loss_fn, SymileLoss) else {}
    clean, _ = loss_fn(z, present, **kwargs)
    garbage = [torch.where(present[:, m, None], v, torch.full_like(v, float("nan"))).requires_grad_()
               for m, v in enumerate(z)]
    if isinstance(loss_fn, SymileLoss):
        kwargs = {"generator": torch.Generator().manual_seed(0)}
    loss, _ = loss_fn(garbage, present, **kwargs)
    assert torch.isfinite(loss) and float(loss) == pytest.approx(float(clean), rel=1e-6)
    loss.backward()
    for m, v in enumerate(garbage):
        assert torch.isfinite(v.grad).all()
        assert (v.grad[~present[:, m]] == 0).all()  # a missing entry gets no gradient
        assert v.grad[present[:, m]].abs().sum() > 0  # and the present ones do


def test_a_batch_without_any_pair_gives_a_zero_loss_that_keeps_the_graph() -> None:
    z = [torch.randn(4, 3, requires_grad=True) for _ in range(3)]
    present = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=torch.bool)
    for loss_fn in (PairwiseCLIPLoss(), SymileLoss(), MultiModalInfoNCELoss()):
        loss, _ = loss_fn(z, present)
        assert float(loss) == 0.0
        loss.backward()


def test_learnable_temperature_gets_a_gradient_and_is_clamped() -> None:
    loss_fn = PairwiseCLIPLoss(0.07)
    z, present = _data()
    loss, _ = loss_fn([v.requires_grad_() for v in z], present)
    loss.backward()
    assert loss_fn.scale.log_scale.grad is not None and loss_fn.scale.log_scale.grad != 0
    scale = LearnableTemperature(0.07)
    with torch.no_grad():
        scale.log_scale.fill_(10.0)  # e^10 > 100
    assert float(scale()) == pytest.approx(100.0)
    assert not LearnableTemperature(0.1, learnable=False).log_scale.requires_grad
    with pytest.raises(ValueError, match="temperature"):
        LearnableTemperature(0.001)


def test_bad_shapes_are_named() -> None:
    z = [torch.randn(4, 3), torch.randn(5, 3)]
    with pytest.raises(ValueError, match="one row per record"):
        PairwiseCLIPLoss()(z)
    with pytest.raises(ValueError, match="present must be"):
        SymileLoss()([torch.randn(4, 3)] * 2, torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least 2 modalities"):
        MultiModalInfoNCELoss()([torch.randn(4, 3)])
