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


GAT_INITS = ("xavier_relu", "glorot")


def gat_init_(conv: nn.Module, init: str) -> None:
    """Initialise a GAT layer: ``glorot`` is torch-geometric's (Glorot-uniform, gain 1); ``xavier_relu`` is
    the reference GAT code's of GAT and GraphMAE (DGL: Xavier-normal with the ReLU gain sqrt(2) for the
    projection and the attention vectors, zero bias)."""
    if init not in GAT_INITS:
        raise ValueError(f"GAT init must be one of {', '.join(GAT_INITS)}, got {init!r}")
    from torch_geometric.nn.inits import glorot

    gain = nn.init.calculate_gain("relu")
    with torch.no_grad():
        for name, p in conv.named_parameters():
            if name.startswith("att_") or (name.startswith("lin") and name.endswith("weight")):
                if init == "glorot":
                    glorot(p)
                else:  # attention vectors as DGL's attn_l / attn_r: (1, heads, C)
                    nn.init.xavier_normal_(p if p.dim() != 2 or name.startswith("lin") else p.view(1, 1, -1),
                                           gain=gain)
            elif name == "bias":
                p.zero_()


class GAT(GraphEncoder):
    """Graph attention (Veličković et al. 2018); defaults are GraphMAE's Cora encoder: 2 layers of 4 heads of
    128 (concatenated to 512), PReLU, feature dropout 0.2, attention dropout 0.1, initialised as GraphMAE's
    reference code (``init``, see ``gat_init_``)."""

    def __init__(self, in_channels: int = 1, out_dim: int = 512, hidden: int = 512, layers: int = 2, heads: int = 4,
                 activation: str = "prelu", dropout: float = 0.2, attn_dropout: float = 0.1, norm: str | None = None,
                 jk: str = "last", readout: str = "mean", init: str = "xavier_relu") -> None:
        super().__init__(in_channels, hidden, layers, out_dim, activation, dropout, norm, jk, readout)
        for w in self.widths:
            if w % heads:
                raise ValueError(f"GAT width {w} must divide by heads={heads}")
        pyg = _pyg()
        dims = [in_channels, *self.widths]
        self.convs = nn.ModuleList([pyg.GATConv(dims[i], dims[i + 1] // heads, heads=heads, dropout=attn_dropout)
                                    for i in range(layers)])
        for conv in self.convs:
            gat_init_(conv, init)
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


class AggregateFirstGATConv(nn.Module):
    """One-head graph attention that widens its input (GraphMAE's decoder: 512 -> 1433 features).

    The same function as ``GATConv(in, out, heads=1)``: ``out_i = W sum_j alpha_ij x_j + b`` with
    ``alpha`` the softmax over ``i``'s in-edges (and a self loop) of ``LeakyReLU(a_s.W x_j + a_d.W x_i)``.
    torch-geometric projects first and passes ``out``-wide messages along every edge; since ``W`` is
    linear this layer scores with ``W^T a`` and aggregates the narrower inputs, then projects once, which
    moves ``in / out`` of the bytes per edge (0.36 for Cora's decoder).
    """

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.dropout, self.negative_slope = dropout, negative_slope
        gat_init_(self, "glorot")  # as torch-geometric initialises GATConv

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        from torch_geometric.utils import add_self_loops, remove_self_loops, softmax

        n = x.shape[0]
        src, dst = add_self_loops(remove_self_loops(edge_index)[0], num_nodes=n)[0]
        w = self.lin.weight.to(x.dtype)
        score_src = x @ (self.att_src.to(x.dtype) @ w).squeeze(0)  # a_s . W x_j, without forming W x
        score_dst = x @ (self.att_dst.to(x.dtype) @ w).squeeze(0)
        e = nn.functional.leaky_relu(score_src[src] + score_dst[dst], self.negative_slope)
        alpha = nn.functional.dropout(softmax(e, dst, num_nodes=n), self.dropout, self.training)
        agg = x.new_zeros(x.shape).index_add_(0, dst, x[src] * alpha.unsqueeze(1).to(x.dtype))
        return self.lin(agg) + self.bias


__all__ = ["GAT", "GAT_INITS", "GCN", "GIN", "AggregateFirstGATConv", "GraphEncoder", "gat_init_", "readout",
           "require_graph_encoder"]
