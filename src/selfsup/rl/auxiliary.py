"""Self-supervised auxiliary losses for pixel-based agents, built from selfsup's objectives and views.

* ``CURLAuxiliary`` — Srinivas et al. 2020: two random shifts of the same observation; the query comes
  from the agent's encoder, the key from a momentum copy of it; bilinear InfoNCE over the batch.
* ``SPRAuxiliary`` — Schwarzer et al. 2021: from the agent's latent state, a convolutional transition
  model rolls K steps forward under the actions taken; each predicted latent, projected and passed
  through a predictor, is scored by cosine similarity against the projection an EMA target network
  gives the observation actually reached (steps past an episode's end are left out).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import EMATeacher
from selfsup.objectives import BilinearInfoNCELoss, NegativeCosineLoss


class _Projected(nn.Module):
    """encoder -> flatten -> projection: the branch a momentum or EMA target copies."""

    def __init__(self, encoder: nn.Module, projection: nn.Module) -> None:
        super().__init__()
        self.encoder, self.projection = encoder, projection

    def forward(self, x: Tensor) -> Tensor:
        return self.projection(self.encoder(x))


class _LatentProjected(nn.Module):
    """encoder feature map -> renormalise -> flatten -> projection: SPR's target branch (the online rollout
    renormalises its latents the same way)."""

    def __init__(self, encoder: nn.Module, projection: nn.Module) -> None:
        super().__init__()
        self.encoder, self.projection = encoder, projection

    def forward(self, x: Tensor) -> Tensor:
        return self.projection(renormalize(self.encoder.feature_map(x)).flatten(1))


class CURLAuxiliary(nn.Module):
    """CURL: query = W-bilinear match of ``projection(encoder(anchor))`` against the momentum encoder's
    ``projection(encoder(positive))``; the key encoder tracks the online one as ``m k + (1 - m) q``
    (``momentum`` 0.999: CURL's tau = 0.001)."""

    name = "curl"

    def __init__(self, encoder: nn.Module, proj_dim: int = 128, momentum: float = 0.999) -> None:
        super().__init__()
        self.online = _Projected(encoder, nn.Sequential(nn.Linear(encoder.out_dim, proj_dim), nn.LayerNorm(proj_dim)))
        self.key = EMATeacher(self.online, base=momentum, final=momentum)
        self.criterion = BilinearInfoNCELoss(proj_dim)

    def forward(self, anchor_features: Tensor, positive: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``anchor_features``: the online encoder's output on the anchor view (the Q-learning pass already
        computed it); ``positive``: another augmentation of the same observations."""
        q = self.online.projection(anchor_features)
        with torch.no_grad():
            k = self.key(positive)
        return self.criterion(q, k)

    def update_target(self) -> None:
        self.key.update(self.online, 0, 1)


def renormalize(z: Tensor) -> Tensor:
    """Min-max scale each sample's latent to [0, 1] (SPR keeps its rolled-out latents on one scale)."""
    flat = z.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo + 1e-5)).view_as(z)


class TransitionModel(nn.Module):
    """SPR's latent dynamics: the (64, 7, 7) latent with the action broadcast as one-hot planes, two 3x3
    convolutions with batch norm and ReLU, renormalised."""

    def __init__(self, channels: int, n_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.net = nn.Sequential(nn.Conv2d(channels + n_actions, hidden, 3, padding=1), nn.BatchNorm2d(hidden),
                                 nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 3, padding=1),
                                 nn.BatchNorm2d(channels), nn.ReLU(inplace=True))

    def forward(self, z: Tensor, action: Tensor) -> Tensor:
        planes = F.one_hot(action, self.n_actions).to(z.dtype)[:, :, None, None].expand(-1, -1, *z.shape[-2:])
        return renormalize(self.net(torch.cat([z, planes], 1)))


class SPRAuxiliary(nn.Module):
    """SPR: K-step latent rollouts predicted against an EMA target network (``momentum`` 0: the target is the
    online network without gradient, SPR's setting with augmentation). ``projection`` is shared with the
    Q head's first layer, as in SPR. The loss sums ``2 - 2 cos`` over the K steps (BYOL's form: with
    weight 1 it is SPR's lambda = 2 on -cos)."""

    name = "spr"

    def __init__(self, encoder: nn.Module, projection: nn.Module, n_actions: int, horizon: int = 5,
                 momentum: float = 0.0, pred_dim: int | None = None) -> None:
        super().__init__()
        if horizon < 1:
            raise ValueError(f"SPR predicts at least one step ahead, got horizon={horizon}")
        channels = encoder.map_shape[0]
        self.horizon = horizon
        self.online = _LatentProjected(encoder, projection)
        self.transition = TransitionModel(channels, n_actions)
        dim = pred_dim or projection.out_features
        self.predictor = nn.Linear(projection.out_features, dim)
        self.target = EMATeacher(self.online, base=momentum, final=momentum)
        self.criterion = NegativeCosineLoss()

    def forward(self, feature_map: Tensor, actions: Tensor, future_obs: Tensor,
                valid: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``feature_map`` (B, 64, 7, 7): the online encoder's map of the (augmented) observations; ``actions``
        (B, K) the actions taken from them on; ``future_obs`` (B, K, C, H, W) the (augmented) observations
        reached; ``valid`` (B, K) which of those belong to the same episode."""
        b, k = actions.shape
        with torch.no_grad():
            targets = self.target(future_obs.flatten(0, 1)).view(b, k, -1)
        z, rolled = renormalize(feature_map), []
        for step in range(k):
            z = self.transition(z, actions[:, step])
            rolled.append(z.flatten(1))
        predictions = self.predictor(self.online.projection(torch.cat(rolled))).view(k, b, -1)  # one matmul for all K
        total = feature_map.new_zeros(())
        cosines = []
        for step in range(k):
            keep = valid[:, step]
            if keep.any():
                loss, logs = self.criterion(predictions[step][keep], targets[keep, step])
                total = total + loss
                cosines.append(logs["cosine"])
        return total, {"cosine": torch.stack(cosines).mean() if cosines else total.detach()}

    def update_target(self) -> None:
        self.target.update(self.online, 0, 1)
