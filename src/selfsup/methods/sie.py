"""SIE — Garrido, Najman and LeCun 2023, "Self-supervised learning of Split Invariant Equivariant
representations" [003#28].

The representation is split in two. The invariant part follows VICReg between two views. The
equivariant part must be predictable across views: a predictor whose weight matrix is generated
from the transformation between the views by a hypernetwork maps view 1's equivariant embedding
to view 2's; variance and covariance terms keep it from collapsing. The transformation is read
from the views' params (by default the rotation angle of the ``equivariant`` view preset).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params, encode_views
from selfsup.objectives import VICRegLoss

#: transformation parameter -> width of its relative encoding between two views
RELATIVE_PARAMETERS = {"angle": 2, "crop": 4, "jitter": 4}


def relative_transform(p1: Params, p2: Params, keys: tuple[str, ...]) -> Tensor:
    """How view 2's transformation differs from view 1's, per sample: the rotation between them as
    (cos, sin) of ``angle2 - angle1``; crop boxes and jitter factors as differences."""
    parts = []
    for k in keys:
        if k not in p1 or k not in p2:
            raise ValueError(f"the views carry no {k!r} params; use the 'equivariant' view preset (angle) or one "
                             f"with crop and colour jitter, or change transform_params")
        if k == "angle":
            d = torch.deg2rad((p2[k] - p1[k]).float())
            parts += [d.cos().unsqueeze(1), d.sin().unsqueeze(1)]
        else:
            parts.append((p2[k] - p1[k]).float().view(len(p1[k]), -1))
    return torch.cat(parts, 1)


class HyperPredictor(nn.Module):
    """``z_hat = W(t) z``: a small MLP turns the transformation ``t`` into the (dim x dim) matrix W.

    The last layer starts at zero weight and identity bias, so at first W(t) = I for every t.
    """

    def __init__(self, dim: int, param_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.dim = dim
        self.hyper = nn.Sequential(nn.Linear(param_dim, hidden_dim), nn.ReLU(inplace=True),
                                   nn.Linear(hidden_dim, dim * dim))
        nn.init.zeros_(self.hyper[-1].weight)
        with torch.no_grad():
            self.hyper[-1].bias.copy_(torch.eye(dim).flatten())

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        w = self.hyper(t.to(z.dtype)).view(-1, self.dim, self.dim)
        return torch.bmm(w, z.unsqueeze(-1)).squeeze(-1)


class SIE(Method):
    """Invariant half: VICReg. Equivariant half: hypernetwork prediction across views + variance/covariance.

    ``invariant_fraction`` of the encoder's output is the invariant part (the first features);
    each part has its own projector. ``transform_params`` name the view params the predictor reads.
    """

    default_views = "equivariant"
    modalities = ("image",)
    recommended_trainer = {"optimizer": "adamw"}  # noqa: RUF012 - the paper trains with Adam

    def __init__(self, encoder: nn.Module, invariant_fraction: float = 0.5, proj_hidden_dim: int = 1024,
                 proj_dim: int = 512, transform_params: tuple[str, ...] | list[str] = ("angle",),
                 equivariance_weight: float = 25.0, lam: float = 25.0, mu: float = 25.0, nu: float = 1.0,
                 hyper_hidden_dim: int = 64) -> None:
        super().__init__(encoder)
        d = int(encoder.out_dim)
        self.invariant_dim = round(d * invariant_fraction)
        if not 0 < self.invariant_dim < d:
            raise ValueError(f"invariant_fraction {invariant_fraction} leaves no invariant or no equivariant "
                             f"features of the encoder's {d}")
        unknown = [k for k in transform_params if k not in RELATIVE_PARAMETERS]
        if unknown or not transform_params:
            raise ValueError(f"unknown transform_params {unknown}; choose from {', '.join(RELATIVE_PARAMETERS)}")
        self.transform_params = tuple(transform_params)
        eq_proj = max(2, proj_dim // 4)  # the predictor's matrix is eq_proj²: keep it small
        self.inv_projector = MLPHead(self.invariant_dim, proj_hidden_dim, proj_dim)
        self.eq_projector = MLPHead(d - self.invariant_dim, proj_hidden_dim, eq_proj)
        self.predictor = HyperPredictor(eq_proj, sum(RELATIVE_PARAMETERS[k] for k in self.transform_params),
                                        hyper_hidden_dim)
        self.invariant_loss = VICRegLoss(lam, mu, nu)
        self.regulariser = VICRegLoss(0.0, mu, nu)  # variance and covariance only
        self.equivariance_weight = equivariance_weight

    def split(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder output -> (invariant part, equivariant part)."""
        return h[:, :self.invariant_dim], h[:, self.invariant_dim:]

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        if len(views) != 2 or not params:
            raise ValueError("SIE needs exactly two views and their params (n_views=2)")
        h1, h2 = encode_views(self.encoder, views)
        (i1, e1), (i2, e2) = self.split(h1), self.split(h2)
        inv_loss, logs = self.invariant_loss(self.inv_projector(i1), self.inv_projector(i2))
        z1, z2 = self.eq_projector(e1), self.eq_projector(e2)
        t12 = relative_transform(params[0], params[1], self.transform_params)
        t21 = relative_transform(params[1], params[0], self.transform_params)
        equivariance = (F.mse_loss(self.predictor(z1, t12).float(), z2.float())
                        + F.mse_loss(self.predictor(z2, t21).float(), z1.float())) / 2
        reg, _ = self.regulariser(z1, z2)
        loss = inv_loss + self.equivariance_weight * equivariance + reg
        return {"loss": loss, "embedding": h1.detach(), "invariance": logs["invariance"],
                "equivariance": equivariance.detach(), "eq_regulariser": reg.detach()}
