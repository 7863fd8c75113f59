"""A capsule encoder whose poses carry in-plane rotations, in the spirit of EquiCaps (Konstantinou et al.
2025, "EquiCaps: Predictor-Free Pose-Aware Pre-Trained Capsule Networks", [000#5]).

A backbone's features become primary capsules, each a pose (a 2 x m matrix) and an activation;
self-routing (Hahn et al. 2019) sends them to output capsules through votes ``P_i W_ij``. A
rotation acts on the left of every pose and the learnt weights on the right, so if the primary
poses turn with the image the output poses turn too, with no predictor: the routing
coefficients depend only on the column norms of the poses, which a rotation leaves unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn


class CapsuleEncoder(nn.Module):
    """Backbone -> ``n_primary`` primary capsules -> ``n_capsules`` self-routed capsules.

    Output: ``[activations (n_capsules), poses (n_capsules x 2 x pose_dim) flattened]``;
    ``split(h)`` gives them back as (activations, poses). ``backbone`` is an encoder name
    (with ``backbone_kwargs``) or a module with ``out_dim``.
    """

    def __init__(self, backbone: str | nn.Module = "small_cnn", n_primary: int = 32, n_capsules: int = 16,
                 pose_dim: int = 4, **backbone_kwargs: Any) -> None:
        super().__init__()
        if isinstance(backbone, str):
            from selfsup.encoders import create_encoder

            backbone = create_encoder(backbone, **backbone_kwargs)
        self.backbone = backbone
        self.n_primary, self.n_capsules, self.pose_dim = n_primary, n_capsules, pose_dim
        self.primary = nn.Linear(int(backbone.out_dim), n_primary * (2 * pose_dim + 1))
        self.weights = nn.Parameter(torch.randn(n_primary, n_capsules, pose_dim, pose_dim) / math.sqrt(pose_dim))
        self.router = nn.Parameter(torch.randn(n_primary, pose_dim, n_capsules) * 0.1)
        self.out_dim = n_capsules * (1 + 2 * pose_dim)

    def primary_capsules(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images -> primary poses (B, n_primary, 2, m) and activations (B, n_primary) in (0, 1)."""
        u = self.primary(self.backbone(x)).view(x.shape[0], self.n_primary, 2 * self.pose_dim + 1)
        return u[..., :-1].reshape(-1, self.n_primary, 2, self.pose_dim), torch.sigmoid(u[..., -1])

    def route(self, poses: Tensor, activations: Tensor) -> tuple[Tensor, Tensor]:
        """Self-routing: output activations (B, n_capsules) and poses (B, n_capsules, 2, m)."""
        coupling = torch.softmax(torch.einsum("bpm,pmc->bpc", poses.norm(dim=2), self.router), -1)
        votes = torch.einsum("bpim,pcmn->bpcin", poses, self.weights)  # P_i W_ij
        weight = coupling * activations.unsqueeze(-1)  # (B, n_primary, n_capsules)
        out_act = weight.sum(1) / coupling.sum(1).clamp_min(1e-6)
        out_pose = torch.einsum("bpc,bpcin->bcin", weight, votes) / weight.sum(1).clamp_min(1e-6)[..., None, None]
        return out_act, out_pose

    def split(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder output -> (activations (B, n_capsules), poses (B, n_capsules, 2, m))."""
        return h[:, :self.n_capsules], h[:, self.n_capsules:].reshape(-1, self.n_capsules, 2, self.pose_dim)

    def forward(self, x: Tensor) -> Tensor:
        act, pose = self.route(*self.primary_capsules(x))
        return torch.cat([act, pose.flatten(1)], 1)
