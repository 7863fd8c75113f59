"""Graph encoders on torch-geometric message passing: GCN, GAT, GIN (the ``graph`` extra).

Each maps a ``GraphBatch`` to one row per sample: the center nodes' representations for
node-level data, a readout (sum, mean or max over nodes) per graph for graph-level data.
``nodes(batch)`` returns every node's representation, for methods that work on nodes (GraphMAE,
DGI). ``jk="cat"`` concatenates every layer's output (jumping knowledge, the GraphCL/InfoGraph
readout); ``jk="last"`` keeps the last layer's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.data.graphs import GraphBatch, readout

ACTIVATIONS = {"relu": nn.ReLU, "prelu": nn.PReLU, "elu": nn.ELU, "gelu": nn.GELU}


def require_graph_encoder(encoder: nn.Module, method: str) -> None:
    """Methods that work on node representations need ``nodes``/``samples``: a ``GraphEncoder``."""
    if not isinstance(encoder, GraphEncoder):
        raise ValueError(f"{method} needs a graph encoder (gcn, gat, gin or a GraphEncoder subclass), got "
                         f"{type(encoder).__name__}")


def _pyg() -> Any:
    try:
        import torch_geometric.nn as pyg_nn
    except ImportError as e:
        raise ImportError("graph encoders need torch-geometric: pip install 'selfsup[graph]' (or torch_geometric)") \
            from e
    return pyg_nn


class GraphEncoder(nn.Module):
    """Shared frame: ``layers`` of message passing, each followed by norm, activation and dropout."""

    def __init__(self, in_channels: int, hidden: int, layers: int, out_dim: int, activation: str, dropout: float,
                 norm: str | None, jk: str, readout: str) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if jk not in ("last", "cat"):
            raise ValueError(f"jk must be 'last' or 'cat', got {jk!r}")
        if layers < 1:
            raise ValueError(f"a graph encoder needs at least one layer, got {layers}")
        self.in_channels, self.jk, self.how = in_channels, jk, readout
        self.widths = [hidden] * (layers - 1) + [out_dim]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList([nn.BatchNorm1d(w) if norm == "batch" else (nn.LayerNorm(w) if norm == "layer"
                                                                               else nn.Identity())
                                    for w in self.widths])
        self.acts = nn.ModuleList([ACTIVATIONS[activation]() for _ in self.widths])
        self.dropout = nn.Dropout(dropout)
        self.out_dim = sum(self.widths) if jk == "cat" else out_dim

    def conv(self, i: int, x: Tensor, gb: GraphBatch) -> Tensor:
        return self.convs[i](x, gb.edge_index)

    def nodes(self, gb: GraphBatch) -> Tensor:
        """(N, out_dim): every node's representation."""
        if gb.x.shape[1] != self.in_channels:
            raise ValueError(f"the encoder was built for {self.in_channels} node features but the graph has "
                             f"{gb.x.shape[1]}; build it with in_channels={gb.x.shape[1]}")
        h, outs = gb.x, []
        for i in range(len(self.convs)):
            h = self.acts[i](self.norms[i](self.conv(i, self.dropout(h) if i else h, gb)))
            outs.append(h)
        return torch.cat(outs, 1) if self.jk == "cat" else h

    def samples(self, h: Tensor, gb: GraphBatch) -> Tensor:
        """One row per sample from node rows ``h``: the centers' rows, or each graph's readout."""
        if gb.center is not None:
            return h[gb.center]
        return readout(h, gb.batch, gb.num_graphs, self.how)

    def forward(self, gb: GraphBatch) -> Tensor:
        return self.samples(self.nodes(gb), gb)


class GCN(GraphEncoder):
    """Graph convolutions (Kipf & Welling 2017); defaults are GRACE's Cora encoder: 2 layers,
    1433 -> 256 -> 128, ReLU after each. Edge weights (e.g. diffusion) are used when present."""

    def __init__(self, in_channels: int = 1, out_dim: int = 128, hidden: int | None = None, layers: int = 2,
                 activation: str = "relu", dropout: float = 0.0, norm: str | None = None, jk: str = "last",
                 readout: str = "mean") -> None:
        super().__init__(in_channels, hidden or 2 * out_dim, layers, out_dim, activation, dropout, norm, jk, readout)
        pyg = _pyg()
        dims = [in_channels, *self.widths]
        self.convs = nn.ModuleList([pyg.GCNConv(dims[i], dims[i + 1], cached=False) for i in range(layers)])

    def conv(self, i: int, x: Tensor, gb: GraphBatch) -> Tensor:
        return self.convs[i](x, gb.edge_index, gb.edge_weight)


class GAT(GraphEncoder):
    """Graph attention (Veličković et al. 2018); defaults are GraphMAE's Cora encoder: 2 layers of 4 heads of
    128 (concatenated to 512), PReLU, feature dropout 0.2, attention dropout 0.1."""

    def __init__(self, in_channels: int = 1, out_dim: int = 512, hidden: int = 512, layers: int = 2, heads: int = 4,
                 activation: str = "prelu", dropout: float = 0.2, attn_dropout: float = 0.1, norm: str | None = None,
                 jk: str = "last", readout: str = "mean") -> None:
        super().__init__(in_channels, hidden, layers, out_dim, activation, dropout, norm, jk, readout)
        for w in self.widths:
            if w % heads:
                raise ValueError(f"GAT width {w} must divide by heads={heads}")
        pyg = _pyg()
        dims = [in_channels, *self.widths]
        self.convs = nn.ModuleList([pyg.GATConv(dims[i], dims[i + 1] // heads, heads=heads, dropout=attn_dropout)
                                    for i in range(layers)])
        self.input_dropout = nn.Dropout(dropout)

    def conv(self, i: int, x: Tensor, gb: GraphBatch) -> Tensor:
        return self.convs[i](self.input_dropout(x) if i == 0 else x, gb.edge_index)


class GIN(GraphEncoder):
    """Graph isomorphism network (Xu et al. 2019) with sum readout of every layer (GraphCL / InfoGraph):
    5 layers of width 32, batch norm, out_dim 160."""

    def __init__(self, in_channels: int = 1, hidden: int = 32, layers: int = 5, activation: str = "relu",
                 dropout: float = 0.0, norm: str | None = "batch", jk: str = "cat", readout: str = "sum",
                 out_dim: int | None = None) -> None:
        super().__init__(in_channels, hidden, layers, out_dim or hidden, activation, dropout, norm, jk, readout)
        pyg = _pyg()
        dims = [in_channels, *self.widths]
        self.convs = nn.ModuleList([
            pyg.GINConv(nn.Sequential(nn.Linear(dims[i], dims[i + 1]), nn.ReLU(), nn.Linear(dims[i + 1], dims[i + 1])))
            for i in range(layers)])


__all__ = ["GAT", "GCN", "GIN", "GraphEncoder", "readout", "require_graph_encoder"]
