"""EquiCaps — Konstantinou et al. 2025, "EquiCaps: Predictor-Free Pose-Aware Pre-Trained Capsule
Networks" [000#5], for in-plane rotations.

The capsule encoder (``encoders/capsules.py``) gives activations and 2 x m pose matrices. The
invariant part (activations and the poses' column norms, which a rotation leaves alone) follows
VICReg between two views; the poses must turn with the image: view 1's poses rotated by the angle
between the views should equal view 2's. No predictor: the rotation acts on the poses directly.
Variance and covariance terms on the poses keep them from collapsing to zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params, encode_views
from selfsup.objectives import VICRegLoss


def rotation_matrices(degrees: Tensor) -> Tensor:
    """(B,) angles in degrees -> (B, 2, 2) counter-clockwise rotation matrices."""
    rad = torch.deg2rad(degrees.float())
    cos, sin = rad.cos(), rad.sin()
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def _unit_rms(pose: Tensor, eps: float = 1e-6) -> Tensor:
    """Scale each capsule's (2, m) pose to root-mean-square 1 (a rotation keeps the norm)."""
    return pose / pose.pow(2).mean((-2, -1), keepdim=True).add(eps).sqrt()


class EquiCaps(Method):
    """VICReg on the rotation-invariant capsule features; ``R(angle2 - angle1) P_1 = P_2`` on the poses."""

    default_views = "equivariant"
    modalities = ("image",)
    default_encoder = "capsule_cnn"
    recommended_trainer = {"optimizer": "adamw"}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 1024, proj_dim: int = 512,
                 equivariance_weight: float = 25.0, lam: float = 25.0, mu: float = 25.0, nu: float = 1.0) -> None:
        super().__init__(encoder)
        if not all(hasattr(encoder, a) for a in ("split", "n_capsules", "pose_dim")):
            raise ValueError("EquiCaps needs a capsule encoder (encoder capsule_cnn, or "
                             "selfsup.encoders.CapsuleEncoder(backbone)); got "
                             f"{type(encoder).__name__}")
        n, m = encoder.n_capsules, encoder.pose_dim
        self.projector = MLPHead(n * (1 + m), proj_hidden_dim, proj_dim)
        self.invariant_loss = VICRegLoss(lam, mu, nu)
        self.regulariser = VICRegLoss(0.0, mu, nu)
        self.equivariance_weight = equivariance_weight

    def invariant_features(self, act: Tensor, pose: Tensor) -> Tensor:
        return torch.cat([act, pose.norm(dim=2).flatten(1)], 1)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        if len(views) != 2 or not params or "angle" not in params[0]:
            raise ValueError("EquiCaps needs two views with rotation params: use the 'equivariant' view preset")
        h1, h2 = encode_views(self.encoder, views)
        (a1, p1), (a2, p2) = self.encoder.split(h1), self.encoder.split(h2)
        inv_loss, logs = self.invariant_loss(self.projector(self.invariant_features(a1, p1)),
                                             self.projector(self.invariant_features(a2, p2)))
        p1, p2 = _unit_rms(p1), _unit_rms(p2)  # shrinking the poses cannot lower the equivariance error
        rot = rotation_matrices(params[1]["angle"] - params[0]["angle"]).to(p1.dtype)  # view 1 -> view 2
        turned = torch.einsum("bij,bcjm->bcim", rot, p1)
        equivariance = F.mse_loss(turned.float(), p2.float())
        reg, _ = self.regulariser(p1.flatten(1), p2.flatten(1))
        loss = inv_loss + self.equivariance_weight * equivariance + reg
        return {"loss": loss, "embedding": h1.detach(), "invariance": logs["invariance"],
                "equivariance": equivariance.detach(), "eq_regulariser": reg.detach()}
