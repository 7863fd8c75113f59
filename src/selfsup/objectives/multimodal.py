"""Alignment objectives across M >= 2 modalities of the same records, with missing modalities.

Every loss takes ``embeddings``: M tensors (B, D), row ``i`` of each the same record, and
``present``: a (B, M) bool mask (None: all present). A missing entry never enters a term: its
values can be anything (NaN included) and receive no gradient. Not gathered across processes.

* ``PairwiseCLIPLoss`` — CLIP's symmetric InfoNCE summed over modality pairs (AstroM³, Rizhko &
  Bloom 2024, extends CLIP to three modalities this way); each pair uses the records that have both.
* ``SymileLoss`` — Symile (Saporta et al. 2024): the multilinear inner product of all modalities,
  a lower bound on total correlation, so higher-order dependence counts, not only pairwise.
* ``MultiModalInfoNCELoss`` — MV-InfoNCE (Koromilas et al. 2025) with modalities as views: one term
  per record over all of its present modalities.

``LearnableTemperature`` is CLIP's learned logit scale, shared by all terms of one loss.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives.distributed import fp32, full_precision


class LearnableTemperature(nn.Module):
    """CLIP's logit scale ``exp(s)``, ``s`` initialised to ``log(1 / temperature)`` and learned (or fixed);
    the scale is clamped at ``max_scale`` (CLIP: 100) so the softmax cannot become arbitrarily sharp."""

    def __init__(self, temperature: float = 0.07, learnable: bool = True, max_scale: float = 100.0) -> None:
        super().__init__()
        if not 0.0 < temperature or 1.0 / temperature > max_scale:
            raise ValueError(f"temperature must be in [1/max_scale, inf) = [{1 / max_scale:g}, inf), got {temperature}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)), requires_grad=learnable)
        self.max_scale = max_scale

    def forward(self) -> Tensor:
        return self.log_scale.exp().clamp(max=self.max_scale)

    @property
    def temperature(self) -> float:
        return float(1.0 / self())


def _check(embeddings: Sequence[Tensor], present: Tensor | None) -> tuple[list[Tensor], Tensor]:
    """Normalised fp32 embeddings with missing rows zeroed (no NaN can leak), and the (B, M) mask."""
    if len(embeddings) < 2:
        raise ValueError(f"alignment needs at least 2 modalities, got {len(embeddings)}")
    b = embeddings[0].shape[0]
    if any(z.shape[0] != b for z in embeddings):
        raise ValueError(f"every modality needs one row per record; got rows {[z.shape[0] for z in embeddings]}")
    if present is None:
        present = torch.ones(b, len(embeddings), dtype=torch.bool, device=embeddings[0].device)
    if present.shape != (b, len(embeddings)):
        raise ValueError(f"present must be (records, modalities) = ({b}, {len(embeddings)}), got "
                         f"{tuple(present.shape)}")
    present = present.bool()
    z = [F.normalize(torch.where(present[:, m, None], fp32(e), 0.0), dim=1) for m, e in enumerate(embeddings)]
    return z, present


def _zero(z: list[Tensor]) -> Tensor:
    """A zero loss that keeps the graph (a batch where no term applies)."""
    return sum(e.sum() for e in z) * 0.0


def _mean_of_terms(losses: list[Tensor], accs: list[Tensor], z: list[Tensor],
                   scale: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """The mean of the terms that applied (zero, keeping the graph, when none did) and the logs."""
    logs = {"temperature": 1.0 / scale.detach()}
    if not losses:
        return _zero(z), logs
    return torch.stack(losses).mean(), {"pair_accuracy": torch.stack(accs).mean(), **logs}


class PairwiseCLIPLoss(nn.Module):
    """Mean over modality pairs (a, b) of CLIP's loss ``(CE(s * A B^T) + CE(s * B A^T)) / 2`` over the records
    that have both a and b (a pair with fewer than 2 such records is left out)."""

    def __init__(self, temperature: float = 0.07, learnable_temperature: bool = True) -> None:
        super().__init__()
        self.scale = LearnableTemperature(temperature, learnable_temperature)

    @full_precision
    def forward(self, embeddings: Sequence[Tensor], present: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        z, present = _check(embeddings, present)
        scale = self.scale()
        losses, accs = [], []
        for a, b in itertools.combinations(range(len(z)), 2):
            rows = present[:, a] & present[:, b]
            n = int(rows.sum())
            if n < 2:
                continue
            logits = scale * z[a][rows] @ z[b][rows].T
            target = torch.arange(n, device=logits.device)
            losses.append((F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2)
            with torch.no_grad():
                accs.append((logits.argmax(1) == target).float().mean())
        return _mean_of_terms(losses, accs, z, scale)


class SymileLoss(nn.Module):
    """Symile: for each anchor modality m, cross-entropy of ``s * MIP(z_m[i], candidates)`` with the record's
    own tuple of the other modalities as the positive; the loss is the mean over anchors.

    ``MIP(a, b, c) = sum_d a_d b_d c_d``. ``negatives="shuffle"`` (the paper's O(N)): candidate ``j`` is
    the product of each other modality's row ``pi_k(j)`` under independent random permutations;
    ``"all"`` (O(N^{M-1})): every combination of rows. A missing modality enters a product as the
    vector of ones (the product's identity), i.e. the MIP of the modalities present; anchor rows
    are the records that have modality m and at least one other.
    """

    def __init__(self, temperature: float = 0.07, learnable_temperature: bool = True,
                 negatives: str = "shuffle") -> None:
        super().__init__()
        if negatives not in ("shuffle", "all"):
            raise ValueError(f"negatives must be 'shuffle' (O(N)) or 'all' (O(N^(M-1))), got {negatives!r}")
        self.scale = LearnableTemperature(temperature, learnable_temperature)
        self.negatives = negatives

    @full_precision
    def forward(self, embeddings: Sequence[Tensor], present: Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        z, present = _check(embeddings, present)
        b, dev = present.shape[0], present.device
        # a missing entry is the vector of ones: it leaves a multilinear product unchanged
        factors = [torch.where(present[:, k, None], z[k], 1.0) for k in range(len(z))]
        scale = self.scale()
        losses, accs = [], []
        for m in range(len(z)):
            others = [k for k in range(len(z)) if k != m]
            rows = present[:, m] & present[:, others].any(1)
            if int(rows.sum()) < 2:
                continue
            anchor = z[m][rows]
            positive = torch.stack([factors[k] for k in others]).prod(0)[rows]
            idx = rows.nonzero().squeeze(1)
            if self.negatives == "shuffle":
                shuffled = torch.stack([factors[k][torch.randperm(b, generator=generator, device=dev)]
                                        for k in others]).prod(0)[rows]
                logits = anchor @ shuffled.T
                eye = torch.eye(len(idx), dtype=torch.bool, device=dev)
                logits = torch.where(eye, (anchor * positive).sum(1, keepdim=True).expand_as(logits), logits)
                target = torch.arange(len(idx), device=dev)
            else:
                combos = factors[others[0]]
                for k in others[1:]:  # every combination of rows, row-major: (j1, j2, ...) -> j1 * b + j2 ...
                    combos = (combos[:, None, :] * factors[k][None, :, :]).reshape(-1, combos.shape[1])
                logits = anchor @ combos.T
                target = idx * sum(b ** p for p in range(len(others)))
            logits = scale * logits
            losses.append(F.cross_entropy(logits, target))
            with torch.no_grad():
                accs.append((logits.argmax(1) == target).float().mean())
        return _mean_of_terms(losses, accs, z, scale)


class MultiModalInfoNCELoss(nn.Module):
    """MV-InfoNCE over modalities: for each record i with present modalities S_i (|S_i| >= 2),
    ``-log sum_{v != w in S_i} e^{s(i^v, i^w) / t} + log sum_{v in S_i} sum_{(k, u) present, != (i, v)}
    e^{s(i^v, k^u) / t}``; the loss is the mean over such records. With every modality present this is
    ``MultiViewInfoNCELoss`` with the modalities as views."""

    def __init__(self, temperature: float = 0.2, learnable_temperature: bool = False) -> None:
        super().__init__()
        self.scale = LearnableTemperature(temperature, learnable_temperature)

    @full_precision
    def forward(self, embeddings: Sequence[Tensor], present: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        z, present = _check(embeddings, present)
        n_mod, b = len(z), present.shape[0]
        dev = present.device
        valid = present.T.reshape(-1)                                     # (M b,): row v * b + i
        logits = self.scale() * torch.cat(z) @ torch.cat(z).T             # (M b, M b)
        sample = torch.arange(b, device=dev).repeat(n_mod)
        keep = valid[:, None] & valid[None, :] & ~torch.eye(n_mod * b, dtype=torch.bool, device=dev)
        positive = keep & (sample[:, None] == sample[None, :])
        records = present.sum(1) >= 2
        if not bool(records.any()):
            return _zero(z), {"temperature": 1.0 / self.scale().detach()}

        def per_record(mask: Tensor) -> Tensor:  # logsumexp over each record's rows and the masked columns
            x = logits.masked_fill(~mask, float("-inf")).reshape(n_mod, b, n_mod * b).permute(1, 0, 2)
            return torch.logsumexp(x.reshape(b, -1), 1)

        loss = (per_record(keep) - per_record(positive))[records].mean()
        with torch.no_grad():
            hits = logits.masked_fill(~keep, float("-inf")).argmax(1)
            acc = (sample[hits] == sample)[valid & records.repeat(n_mod)].float().mean()
        return loss, {"pair_accuracy": acc, "temperature": 1.0 / self.scale().detach()}


__all__ = ["LearnableTemperature", "MultiModalInfoNCELoss", "PairwiseCLIPLoss", "SymileLoss"]
