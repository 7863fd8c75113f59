"""Contrastive objectives: the InfoNCE family over two or more views.

Every loss here sees ``V`` views of the same ``n`` local samples. Anchors are the local
embeddings; keys are the embeddings gathered from all processes (``m = n * world``).
Row ``v * n + i`` of the logits is view ``v`` of local sample ``i``; column ``w * m + k``
is view ``w`` of global sample ``k``. The anchor's positives are the other views of
the same sample, its negatives every other sample in every view.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives.distributed import fp32, full_precision, gather, rank


class _Contrast:
    """Cosine logits of local anchors against gathered keys, with the index bookkeeping."""

    def __init__(self, views: tuple[Tensor, ...], temperature: float | Tensor, gather_distributed: bool) -> None:
        if len(views) < 2:
            raise ValueError(f"contrastive losses need at least 2 views, got {len(views)}")
        z = [F.normalize(fp32(v), dim=1) for v in views]
        self.z = z
        self.V, self.n = len(z), z[0].shape[0]
        keys = [gather(v) for v in z] if gather_distributed else z
        self.m = keys[0].shape[0]
        self.offset = rank() * self.n if gather_distributed else 0
        self.anchors, self.keys = torch.cat(z), torch.cat(keys)
        self.temperature = temperature
        # cosine / t, dividing the (V n, d) anchors rather than the (V n, V m) product: one pass fewer each way
        self.logits = (self.anchors / temperature) @ self.keys.T  # (V n, V m)
        dev = self.logits.device
        local = torch.arange(self.n, device=dev) + self.offset
        view = torch.arange(self.V, device=dev)
        # column of the anchor itself, and of its V - 1 positives (other views, same sample)
        self.self_col = (view[:, None] * self.m + local[None, :]).reshape(-1)                  # (V n,)
        others = torch.stack([torch.cat([view[:v], view[v + 1:]]) for v in range(self.V)])   # (V, V-1)
        self.pos_col = (others[:, None, :] * self.m + local[None, :, None]).reshape(-1, self.V - 1)
        self.rows = torch.arange(self.V * self.n, device=dev)

    @functools.cached_property
    def cos(self) -> Tensor:
        """The cosine similarities, for losses that need them rather than the logits."""
        return self.logits * self.temperature

    def without_self(self, logits: Tensor) -> Tensor:
        return logits.index_put((self.rows, self.self_col), logits.new_tensor(float("-inf")))

    def negatives_only(self, logits: Tensor) -> Tensor:
        out = self.without_self(logits)
        rows = self.rows[:, None].expand_as(self.pos_col)
        return out.index_put((rows.reshape(-1), self.pos_col.reshape(-1)), logits.new_tensor(float("-inf")))

    def positive(self, x: Tensor) -> Tensor:
        """(V n, V - 1) entries of ``x`` at each anchor's positives."""
        return x.gather(1, self.pos_col)

    @torch.no_grad()
    def logs(self, masked: Tensor | None = None) -> dict[str, Tensor]:
        """Positive similarity and pair accuracy; ``masked``: the logits without self, when already made."""
        hits = (masked if masked is not None else self.without_self(self.logits)).argmax(1)
        acc = (hits[:, None] == self.pos_col).any(1).float().mean()
        return {"pos_similarity": self.positive(self.logits).mean() * self.temperature, "pair_accuracy": acc}


def _check_temperature(name: str, t: float) -> None:
    if t <= 0:
        raise ValueError(f"{name} temperature must be > 0, got {t}")


class NTXentLoss(nn.Module):
    """Normalised-temperature cross entropy (SimCLR, Chen et al. 2020) for two or more views.

    ``loss = mean over anchors a and positives p of [logsumexp_{k != a}(s_ak / t) - s_ap / t]``
    with cosine similarities ``s``. Two views give SimCLR's NT-Xent exactly; more views give
    the multi-positive form (each view is an anchor for every other view of its sample).
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = True) -> None:
        super().__init__()
        _check_temperature("NTXentLoss", temperature)
        self.temperature, self.gather_distributed = temperature, gather_distributed

    @full_precision
    def forward(self, *views: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        c = _Contrast(views, self.temperature, self.gather_distributed)
        masked = c.without_self(c.logits)
        log_prob = c.positive(c.logits) - torch.logsumexp(masked, 1, keepdim=True)
        return -log_prob.mean(), c.logs(masked.detach())


class DecoupledContrastiveLoss(nn.Module):
    """DCL (Yeh et al. 2022, "Decoupled Contrastive Learning"): the positive leaves the denominator.

    ``loss = -w * s_ap / t + logsumexp_{k negative}(s_ak / t)``. ``weighting="vmf"`` is DCLW:
    ``w = 2 - n * softmax_i(s_ip / sigma)`` over the batch, so easy positives weigh less.
    """

    def __init__(self, temperature: float = 0.1, weighting: str | None = None, sigma: float = 0.5,
                 gather_distributed: bool = True) -> None:
        super().__init__()
        _check_temperature("DecoupledContrastiveLoss", temperature)
        if weighting not in (None, "vmf"):
            raise ValueError(f"DecoupledContrastiveLoss weighting must be None or 'vmf', got {weighting!r}")
        self.temperature, self.weighting, self.sigma = temperature, weighting, sigma
        self.gather_distributed = gather_distributed

    @full_precision
    def forward(self, *views: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        c = _Contrast(views, self.temperature, self.gather_distributed)
        pos = c.positive(c.logits)                                                 # (V n, V - 1)
        weight = 1.0
        if self.weighting == "vmf":  # softmax over the whole (gathered) batch of positive pairs
            k = c.keys.reshape(c.V, c.m, -1)
            pair_cos = torch.einsum("vjd,wjd->vwj", k, k)                             # (V, V, m)
            w = 2 - c.m * torch.softmax(pair_cos / self.sigma, dim=2)
            local = torch.arange(c.n, device=w.device) + c.offset
            others = [[u for u in range(c.V) if u != v] for v in range(c.V)]
            weight = torch.stack([w[v][others[v]][:, local].T for v in range(c.V)]).reshape(-1, c.V - 1)
        negative = torch.logsumexp(c.negatives_only(c.logits), 1, keepdim=True)
        return (negative - weight * pos).mean(), c.logs()


class DebiasedContrastiveLoss(nn.Module):
    """Debiased contrastive loss (Chuang et al. 2020) for an assumed class prior ``tau_plus``.

    A random "negative" shares the anchor's class with probability ``tau_plus``; the negative
    term is corrected to ``Ng = max((sum_neg e^{s/t} - tau_plus * N * e^{s_p/t}) / (1 - tau_plus),
    N e^{-1/t})`` over ``N`` negatives, and ``loss = -log(e^{s_p/t} / (e^{s_p/t} + Ng))``.
    """

    def __init__(self, temperature: float = 0.5, tau_plus: float = 0.1, gather_distributed: bool = True) -> None:
        super().__init__()
        _check_temperature("DebiasedContrastiveLoss", temperature)
        if not 0 <= tau_plus < 1:
            raise ValueError(f"DebiasedContrastiveLoss tau_plus is a class prior in [0, 1), got {tau_plus}")
        self.temperature, self.tau_plus, self.gather_distributed = temperature, tau_plus, gather_distributed

    @full_precision
    def forward(self, *views: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        c = _Contrast(views, self.temperature, self.gather_distributed)
        shift = 1.0 / self.temperature  # cosine <= 1, so exp(logit - shift) <= 1 never overflows
        pos = (c.positive(c.logits) - shift).exp()                                     # (V n, V - 1)
        neg = (c.negatives_only(c.logits) - shift).exp().sum(1, keepdim=True)           # (V n, 1)
        n_neg = c.V * c.m - c.V
        ng = (neg - self.tau_plus * n_neg * pos) / (1 - self.tau_plus)
        ng = ng.clamp(min=n_neg * torch.exp(torch.tensor(-2.0 * shift, device=ng.device)))  # e^{-1/t}, shifted
        return -(pos / (pos + ng)).log().mean(), c.logs()


class MultiViewInfoNCELoss(nn.Module):
    """MV-InfoNCE and MV-DHEL (Koromilas et al. 2025, "A Principled Framework for Multi-View CL").

    One term per sample covering all of its views at once. MV-InfoNCE:
    ``-log sum_{v != w} e^{s_i^v,i^w / t} + log sum_v sum_{(k,u) != (i,v)} e^{s_i^v,k^u / t}``.
    MV-DHEL (``decoupled=True``) keeps the alignment term over view pairs ``v < w`` and
    measures uniformity within each view: ``+ sum_v log sum_{k != i} e^{s_i^v,k^v / t}``.
    """

    def __init__(self, temperature: float = 0.2, decoupled: bool = False, gather_distributed: bool = True) -> None:
        super().__init__()
        _check_temperature("MultiViewInfoNCELoss", temperature)
        self.temperature, self.decoupled, self.gather_distributed = temperature, decoupled, gather_distributed

    @full_precision
    def forward(self, *views: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        c = _Contrast(views, self.temperature, self.gather_distributed)
        pos = c.positive(c.logits).reshape(c.V, c.n, c.V - 1).permute(1, 0, 2).reshape(c.n, -1)  # all v != w
        logits = c.without_self(c.logits).reshape(c.V, c.n, c.V, c.m)
        if self.decoupled:
            same_view = torch.stack([logits[v, :, v] for v in range(c.V)])                   # (V, n, m)
            uniformity = torch.logsumexp(same_view, 2).sum(0)
            alignment = torch.logsumexp(pos, 1) - torch.log(torch.tensor(2.0))               # pairs v < w
        else:
            uniformity = torch.logsumexp(logits.permute(1, 0, 2, 3).reshape(c.n, -1), 1)
            alignment = torch.logsumexp(pos, 1)
        return (uniformity - alignment).mean(), c.logs()


class InfoNCELoss(nn.Module):
    """Query/key InfoNCE (MoCo, He et al. 2020): each query's positive is its own key.

    Negatives are the other (gathered) keys and, when given, a queue of past keys (MoCo v2).
    ``scale`` multiplies the loss (MoCo v3 uses ``2 t``).
    """

    def __init__(self, temperature: float = 0.2, scale: float = 1.0, gather_distributed: bool = True) -> None:
        super().__init__()
        _check_temperature("InfoNCELoss", temperature)
        self.temperature, self.scale, self.gather_distributed = temperature, scale, gather_distributed

    @full_precision
    def forward(self, q: Tensor, k: Tensor, queue: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        q, k = F.normalize(fp32(q), dim=1), F.normalize(fp32(k), dim=1)
        keys = gather(k) if self.gather_distributed else k
        if queue is not None:
            keys = torch.cat([keys, F.normalize(fp32(queue), dim=1)])
        logits = q @ keys.T / self.temperature
        target = torch.arange(len(q), device=q.device) + (rank() * len(q) if self.gather_distributed else 0)
        loss = F.cross_entropy(logits, target) * self.scale
        with torch.no_grad():
            acc = (logits.argmax(1) == target).float().mean()
        return loss, {"pair_accuracy": acc, "pos_similarity": (q * k).sum(1).mean().detach()}


class BilinearInfoNCELoss(nn.Module):
    """CURL's contrastive loss (Srinivas et al. 2020): logits ``q W k^T`` with a learned ``W``, each query's
    positive its own key, the other keys of the batch its negatives; no normalisation, no temperature.

    Keys come from a momentum encoder and are detached. Each row's maximum is subtracted before the
    cross-entropy (CURL's numerical guard; the loss is unchanged by it).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.rand(dim, dim))

    @full_precision
    def forward(self, q: Tensor, k: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        logits = fp32(q) @ self.W.float() @ fp32(k).detach().T
        logits = logits - logits.max(1, keepdim=True).values.detach()
        target = torch.arange(len(q), device=q.device)
        loss = F.cross_entropy(logits, target)
        with torch.no_grad():
            acc = (logits.argmax(1) == target).float().mean()
        return loss, {"pair_accuracy": acc}


class RobustContrastiveLoss(nn.Module):
    """iSogCLR (Qiu et al. 2023, "Not All Semantics are Created Equal"): one learned temperature per sample.

    The robust (KL-DRO) loss of anchor ``i`` is ``tau_i log g_i + tau_i rho`` with
    ``g_i = mean_{k negative} exp((s_ik - s_ip) / tau_i)``. ``g_i`` is tracked per sample by a
    moving average ``u_i <- (1 - gamma) u_i + gamma g_i`` (SogCLR), which makes small batches
    work; the encoder gets the gradient ``tau_i / u_i * grad g_i`` and ``tau_i`` takes a
    momentum step on ``log u_i + rho + tau_i / u_i * dg_i/dtau_i``, clamped to
    ``[tau_min, tau_max]``. Frequent semantics end with large temperatures, rare ones small.
    """

    def __init__(self, num_samples: int, tau_init: float = 0.1, rho: float = 0.4, gamma: float = 0.8,
                 tau_lr: float = 0.03, tau_beta: float = 0.5, tau_min: float = 0.05, tau_max: float = 0.7,
                 gather_distributed: bool = True) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError("RobustContrastiveLoss needs num_samples >= 1 (the dataset size)")
        if not tau_min <= tau_init <= tau_max:
            raise ValueError(f"tau_init={tau_init} must lie in [tau_min, tau_max] = [{tau_min}, {tau_max}]")
        self.rho, self.gamma, self.tau_lr, self.tau_beta = rho, gamma, tau_lr, tau_beta
        self.tau_min, self.tau_max, self.gather_distributed = tau_min, tau_max, gather_distributed
        self.register_buffer("tau", torch.full((num_samples,), float(tau_init)))
        self.register_buffer("u", torch.zeros(num_samples))
        self.register_buffer("tau_momentum", torch.zeros(num_samples))

    @full_precision
    def forward(self, *views: Tensor, index: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        c = _Contrast(views, 1.0, self.gather_distributed)
        tau = self.tau[index].repeat(c.V)[:, None, None]                              # (V n, 1, 1)
        neg = c.negatives_only(c.cos)                                                  # -inf at non-negatives
        diff = neg[:, None, :] - c.positive(c.cos)[:, :, None]                         # (V n, V - 1, V m)
        e = torch.exp(diff / tau)                                                      # exp(-inf) = 0
        n_neg = c.V * c.m - c.V
        g = e.sum(2).reshape(c.V, c.n, -1).mean((0, 2)) / n_neg                       # (n,) per sample
        with torch.no_grad():
            d = torch.where(torch.isfinite(diff), diff, torch.zeros_like(diff))
            dg_dtau = (-(e * d) / tau**2).sum(2).reshape(c.V, c.n, -1).mean((0, 2)) / n_neg
            u_old = self.u[index]
            u = torch.where(u_old > 0, (1 - self.gamma) * u_old + self.gamma * g, g)
            tau_i = self.tau[index]
            grad_tau = u.log() + self.rho + tau_i * dg_dtau / u
            self._update(index, u, grad_tau)
        loss = (tau_i / u * g).mean()
        return loss, {**c.logs(), "tau_mean": tau_i.mean(), "tau_std": self.tau.std()}

    @torch.no_grad()
    def _update(self, index: Tensor, u: Tensor, grad_tau: Tensor) -> None:
        if self.gather_distributed:  # every process applies every process's updates: buffers stay equal
            index, u, grad_tau = gather(index), gather(u), gather(grad_tau)
        self.u[index] = u
        m = self.tau_beta * self.tau_momentum[index] + (1 - self.tau_beta) * grad_tau
        self.tau_momentum[index] = m
        self.tau[index] = (self.tau[index] - self.tau_lr * m).clamp(self.tau_min, self.tau_max)


class CrossViewNCELoss(nn.Module):
    """GraphCL's loss (You et al. 2020): view-1 anchors against view-2 keys only, the positive left out of
    the denominator: ``loss = mean_i [logsumexp_{k != i}(s(a_i, b_k) / t) - s(a_i, b_i) / t]``.

    Unlike NT-Xent there are no negatives from the anchor's own view and one direction only, as in
    the paper's code. Not gathered across processes.
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        _check_temperature("CrossViewNCELoss", temperature)
        self.temperature = temperature

    @full_precision
    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        cos = F.normalize(fp32(a), dim=1) @ F.normalize(fp32(b), dim=1).T
        logits = cos / self.temperature
        eye = torch.eye(len(a), dtype=torch.bool, device=a.device)
        loss = torch.logsumexp(logits.masked_fill(eye, float("-inf")), 1) - logits.diagonal()
        with torch.no_grad():
            acc = (cos.argmax(1) == torch.arange(len(a), device=a.device)).float().mean()
        return loss.mean(), {"pos_similarity": cos.diagonal().mean().detach(), "pair_accuracy": acc}
