"""Heads: small MLPs that map representations into the space an objective compares."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives.distributed import all_reduce_mean


class MLPHead(nn.Module):
    """``num_layers`` linear layers; hidden layers use BatchNorm+ReLU, the last one optionally BatchNorm.

    Covers SimCLR's projector (2 layers), BYOL's projector and predictor (2 layers) and
    Barlow Twins' projector (3 layers).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2,
                 batch_norm: bool = True, last_batch_norm: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("MLPHead needs num_layers >= 1")
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(num_layers - 1):
            layers += [nn.Linear(d, hidden_dim, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            d = hidden_dim
        layers.append(nn.Linear(d, out_dim, bias=not last_batch_norm))
        if last_batch_norm:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class DirectPredictor(nn.Module):
    """DirectPred's linear predictor (Tian, Chen & Ganguli 2021): set from data, never trained.

    Keeps an EMA ``F <- rho F + (1 - rho) E[f f^T]`` of its inputs' correlation and sets
    ``W = U diag(p) U^T`` from the eigen-decomposition ``F = U diag(s) U^T`` with
    ``p_j = sqrt(s_j / max s) + eps``. Call ``update()`` after each optimiser step.
    """

    def __init__(self, dim: int, rho: float = 0.3, eps: float = 0.1) -> None:
        super().__init__()
        self.rho, self.eps, self.out_dim = rho, eps, dim
        self.register_buffer("weight", torch.eye(dim))
        self.register_buffer("correlation", torch.zeros(dim, dim))
        self._batch: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            f = x.detach().float()
            self._batch = f.T @ f / len(f)
        return x @ self.weight.to(x.dtype).T

    @torch.no_grad()
    def update(self) -> None:
        if self._batch is None:
            return
        batch, self._batch = all_reduce_mean(self._batch), None
        fresh = not bool(self.correlation.any())
        self.correlation.copy_(batch if fresh else self.rho * self.correlation + (1 - self.rho) * batch)
        s, u = torch.linalg.eigh(self.correlation)
        p = (s.clamp(min=0) / s.max().clamp(min=1e-12)).sqrt() + self.eps
        self.weight.copy_(u @ torch.diag(p) @ u.T)


class DINOHead(nn.Module):
    """DINO's head (Caron et al. 2021): MLP with GELU to a bottleneck, L2-normalised, then a
    weight-normalised linear layer (unit-norm rows) to ``out_dim`` prototypes.

    ``freeze_last=True`` stops the last layer's gradient (the paper freezes it for the first epoch).
    """

    def __init__(self, in_dim: int, out_dim: int = 4096, hidden_dim: int = 2048, bottleneck_dim: int = 256,
                 num_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(num_layers - 1):
            layers += [nn.Linear(d, hidden_dim), nn.GELU()]
            d = hidden_dim
        layers.append(nn.Linear(d, bottleneck_dim))
        self.mlp = nn.Sequential(*layers)
        self.last = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        nn.init.trunc_normal_(self.last, std=0.02)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.out_dim = out_dim

    def forward(self, x: Tensor, freeze_last: bool = False) -> Tensor:
        x = F.normalize(self.mlp(x), dim=1)
        w = F.normalize(self.last, dim=1)
        return F.linear(x, w.detach() if freeze_last else w)


class Prototypes(nn.Module):
    """``K`` learnable prototype vectors; scores are cosine similarities (SwAV's normalised prototypes)."""

    def __init__(self, dim: int, n_prototypes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_prototypes, dim))
        nn.init.normal_(self.weight, std=dim**-0.5)
        self.out_dim = n_prototypes

    def forward(self, z: Tensor, frozen: bool = False) -> Tensor:
        w = F.normalize(self.weight, dim=1)
        return F.normalize(z, dim=1) @ (w.detach() if frozen else w).T
