"""DGI — Veličković et al. 2019, "Deep Graph Infomax"."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.encoders.graph import readout, require_graph_encoder
from selfsup.methods.base import Method, Params


class DGI(Method):
    """Maximise mutual information between node representations and a graph summary.

    ``h = f(X, A)``; corruption shuffles the feature rows, ``h~ = f(X[perm], A)``; the summary is
    ``s = sigmoid(mean_i h_i)`` per graph; a bilinear discriminator ``D(h_i, s) = h_i^T W s`` tells real
    nodes (label 1) from corrupted ones (label 0) under binary cross-entropy. Defaults: the paper's
    Cora training (Adam lr 1e-3, full graph); the paper's encoder is one GCN layer of 512 with PReLU
    (``encoder_kwargs={"layers": 1, "out_dim": 512, "activation": "prelu"}``).
    """

    default_views = "none"
    default_encoder = "gcn"
    modalities = ("graph",)
    recommended_trainer = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "betas": (0.9, 0.999),  # noqa: RUF012
                           "warmup_epochs": 0.0, "final_lr": 1e-3, "epochs": 300, "batch_size": 0}

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__(encoder)
        require_graph_encoder(encoder, "DGI")
        self.discriminator = nn.Bilinear(encoder.out_dim, encoder.out_dim, 1)

    def forward(self, views: list, params: list[Params] | None = None) -> dict[str, Tensor]:
        gb = views[0]
        h = self.encoder.nodes(gb)
        corrupted = self.encoder.nodes(gb.replace(x=gb.x[torch.randperm(gb.num_nodes, device=gb.x.device)]))
        summary = torch.sigmoid(readout(h, gb.batch, gb.num_graphs, "mean")).float()
        nodes = gb.center if gb.center is not None else torch.arange(gb.num_nodes, device=h.device)
        # h_i^T W s_g as (h_i . (W s_g)): one matrix-vector product per graph instead of nn.Bilinear's
        # trilinear kernel (100x slower on CPU); float32 (CPU autocast leaves the bilinear form out)
        w_s = (summary @ self.discriminator.weight[0].T)[gb.batch[nodes]]
        real = (h[nodes].float() * w_s).sum(1) + self.discriminator.bias
        fake = (corrupted[nodes].float() * w_s).sum(1) + self.discriminator.bias
        logits = torch.cat([real, fake])
        labels = torch.cat([torch.ones_like(real), torch.zeros_like(fake)])
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        with torch.no_grad():
            acc = ((logits > 0) == (labels > 0)).float().mean()
        return {"loss": loss, "embedding": self.encoder.samples(h, gb).detach(), "discriminator_accuracy": acc}
