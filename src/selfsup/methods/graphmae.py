"""GraphMAE — Hou et al. 2022, "GraphMAE: Self-Supervised Masked Graph Autoencoders"."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.encoders.graph import AggregateFirstGATConv, _pyg, gat_init_, require_graph_encoder
from selfsup.methods.base import Method, Params
from selfsup.objectives import ScaledCosineError


class GraphMAE(Method):
    """Reconstruct the features of masked nodes.

    Pick ``mask_rate`` of the nodes; give most of them a learnable [MASK] feature vector and
    ``replace_rate`` of them another node's features; encode; map to the decoder width and
    *re-mask* (zero the masked nodes' codes, so the decoder must read their neighbours); decode with
    one GAT layer back to feature space; score the masked nodes with the scaled cosine error
    ``(1 - cos(x, x_hat))^alpha``. Defaults: the paper's Cora setting (GAT 2 x 4 heads x 128, mask
    0.5, replace 0.05, alpha 3, Adam lr 1e-3 with cosine decay, weight decay 2e-4, 1500 full-graph steps).
    """

    default_views = "none"
    default_encoder = "gat"
    modalities = ("graph",)
    recommended_trainer = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 2e-4, "betas": (0.9, 0.999),  # noqa: RUF012
                           "warmup_epochs": 0.0, "epochs": 1500, "batch_size": 0}  # lr: cosine to 0
    # the raw (binary bag-of-words) features. GraphMAE's own code row-normalises them, but here row normalisation
    # cost 3 points on Cora at 150 epochs (0.796 vs 0.825) and 2.3 at the full 1500 (79.7 vs 82.0, one seed each)
    recommended_preprocess = {"feature_norm": "none"}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, mask_rate: float = 0.5, replace_rate: float = 0.05, alpha: float = 3.0,
                 decoder_dropout: float = 0.1, decoder_input_dropout: float = 0.0,
                 decoder_init: str = "xavier_relu") -> None:
        super().__init__(encoder)
        require_graph_encoder(encoder, "GraphMAE")
        if not 0 < mask_rate < 1 or not 0 <= replace_rate < 1:
            raise ValueError(f"mask_rate must be in (0, 1) and replace_rate in [0, 1), got {mask_rate}, {replace_rate}")
        self.mask_rate, self.replace_rate = mask_rate, replace_rate
        self.decoder_input_dropout = nn.Dropout(decoder_input_dropout)
        features = encoder.in_channels
        self.mask_token = nn.Parameter(torch.zeros(1, features))
        self.encoder_to_decoder = nn.Linear(encoder.out_dim, encoder.out_dim, bias=False)
        # the same one-head GAT either way; widening, it is cheaper to aggregate before projecting
        self.decoder = (AggregateFirstGATConv(encoder.out_dim, features, dropout=decoder_dropout)
                        if features > encoder.out_dim else
                        _pyg().GATConv(encoder.out_dim, features, heads=1, dropout=decoder_dropout))
        gat_init_(self.decoder, decoder_init)
        self.criterion = ScaledCosineError(alpha)

    def mask(self, n_candidates: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """Positions (into the candidates) of the masked nodes, those given the token and those given noise."""
        order = torch.randperm(n_candidates, device=device)
        masked = order[: max(1, round(self.mask_rate * n_candidates))]
        n_noise = round(self.replace_rate * len(masked))
        shuffled = masked[torch.randperm(len(masked), device=device)]
        return masked, shuffled[n_noise:], shuffled[:n_noise]

    def forward(self, views: list, params: list[Params] | None = None) -> dict[str, Tensor]:
        gb = views[0]
        x = gb.x
        candidates = gb.center if gb.center is not None else torch.arange(gb.num_nodes, device=x.device)
        masked, token, noise = (candidates[i] for i in self.mask(len(candidates), x.device))
        x_in = x.clone()
        x_in[token] = 0.0
        x_in[token] += self.mask_token.to(x.dtype)
        x_in[noise] = x[torch.randint(gb.num_nodes, (len(noise),), device=x.device)]
        h = self.encoder.nodes(gb.replace(x=x_in))
        code = self.encoder_to_decoder(h)
        code = code.index_fill(0, masked, 0.0)  # re-mask: the decoder sees the masked nodes' neighbours only
        recon = self.decoder(self.decoder_input_dropout(code), gb.edge_index)
        loss, logs = self.criterion(recon[masked], x[masked])
        return {"loss": loss, "embedding": self.encoder.samples(h, gb).detach(), **logs}
