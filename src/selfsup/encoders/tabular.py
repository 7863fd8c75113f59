"""Table encoder: an MLP over standardised numeric columns and embedded categorical codes.

Input (B, n_numeric + n_categorical) float as ``selfsup.data.tabular`` lays it out: numeric
columns first (already standardised, NaN read as 0, the column mean), then one integer code per
categorical column (0 = missing/unseen). Each categorical column has its own embedding table.
SCARF's encoder is a 4-layer ReLU MLP of width 256; that is the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def embedding_width(cardinality: int, cap: int = 16) -> int:
    """A categorical column's embedding width: fastai's rule of thumb ``1.6 * n ** 0.56``, capped."""
    return max(2, min(cap, round(1.6 * cardinality ** 0.56)))


class TabularMLP(nn.Module):
    """``depth`` Linear (+ BatchNorm if asked) + ReLU layers of width ``hidden`` over [numeric, embeddings].

    ``cardinalities``: codes per categorical column (the missing/unseen code 0 included). The layout
    facts (``n_numeric``, ``cardinalities``) are read by methods that reconstruct the input (VIME).
    """

    def __init__(self, n_numeric: int, cardinalities: Sequence[int] = (), hidden: int = 256, depth: int = 4,
                 embedding_cap: int = 16, batch_norm: bool = False) -> None:
        super().__init__()
        if n_numeric < 0 or depth < 1 or (n_numeric == 0 and not cardinalities):
            raise ValueError("TabularMLP needs at least one column and depth >= 1")
        self.n_numeric, self.cardinalities = int(n_numeric), [int(c) for c in cardinalities]
        self.embeddings = nn.ModuleList(nn.Embedding(c, embedding_width(c, embedding_cap)) for c in self.cardinalities)
        d = self.n_numeric + sum(e.embedding_dim for e in self.embeddings)
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(d, hidden, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU(inplace=True))
            d = hidden
        self.net = nn.Sequential(*layers)
        self.out_dim = hidden

    @property
    def n_features(self) -> int:
        return self.n_numeric + len(self.cardinalities)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"TabularMLP expects (B, {self.n_features}) rows ({self.n_numeric} numeric + "
                             f"{len(self.cardinalities)} categorical), got {tuple(x.shape)}")
        numeric = torch.nan_to_num(x[:, :self.n_numeric].float(), nan=0.0)
        codes = x[:, self.n_numeric:].long()
        parts = [numeric] + [emb(codes[:, j].clamp(0, emb.num_embeddings - 1)) for j, emb in enumerate(self.embeddings)]
        return self.net(torch.cat(parts, 1))


__all__ = ["TabularMLP", "embedding_width"]
