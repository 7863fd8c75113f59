"""ScatSimCLR — Kinakh, Taran and Voloshynovskiy 2021, "ScatSimCLR: self-supervised contrastive learning
with pretext task regularization for small-scale datasets" [000#3].

SimCLR's NT-Xent over any number of views, on an encoder whose front-end is a fixed scattering
transform with a small trainable adapter (``encoders/scattering.py``; the default encoder).
Their pretext-task regularisation is ``pretext="rotation"`` or ``"jigsaw"`` with a weight, as
for any method; the number of views is ``pretrain(n_views=...)`` / ``views.n_views``.
"""

from __future__ import annotations

from torch import nn

from selfsup.methods.simclr import SimCLR


class ScatSimCLR(SimCLR):
    """SimCLR on a scattering encoder; the paper's projection head (512 -> 128) and temperature 0.5."""

    default_encoder = "scatnet"
    modalities = ("image",)

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 512, proj_dim: int = 128,
                 temperature: float = 0.5) -> None:
        super().__init__(encoder, proj_hidden_dim, proj_dim, temperature)
