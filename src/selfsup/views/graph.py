"""Graph views: batched transformations of a ``GraphBatch`` that return what they did.

Edge dropping and feature masking (GRACE, BGRL), node dropping and subgraph sampling (GraphCL),
graph diffusion (personalised PageRank, MVGRL). Each op draws from the generator it is given,
so a seeded run replays its views, and reports per-sample parameters: for graph-level batches
one row per graph, for node-level batches one row per center node. Center nodes are never
dropped: they are the samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from selfsup.data.graphs import GraphBatch, readout
from selfsup.views.base import MultiView, Params, ViewOp, ViewPipeline


def _rate(p: float, name: str) -> float:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p}")
    return float(p)


def _per_sample(gb: GraphBatch, per_graph: Tensor) -> Tensor:
    """A per-graph value as one row per sample (per center node for node-level batches)."""
    return per_graph[gb.batch[gb.center]] if gb.center is not None else per_graph


def _per_graph_mean(values: Tensor, graph: Tensor, num_graphs: int) -> Tensor:
    return readout(values.float()[:, None], graph, num_graphs, "mean")[:, 0]


def _keep_nodes(gb: GraphBatch, keep: Tensor) -> GraphBatch:
    """The induced subgraph on ``keep`` (bool per node); ids renumbered, centers mapped."""
    new_id = torch.cumsum(keep.long(), 0) - 1
    e = gb.edge_index
    ekeep = keep[e[0]] & keep[e[1]]
    return gb.replace(x=gb.x[keep], edge_index=new_id[e[:, ekeep]], batch=gb.batch[keep],
                      center=new_id[gb.center] if gb.center is not None else None,
                      edge_weight=gb.edge_weight[ekeep] if gb.edge_weight is not None else None)


def _protected(gb: GraphBatch) -> Tensor:
    """Nodes no op may drop: the centers, and one node per graph so no graph ends empty."""
    keep = torch.zeros(gb.num_nodes, dtype=torch.bool, device=gb.x.device)
    if gb.center is not None:
        keep[gb.center] = True
    first = torch.full((gb.num_graphs,), gb.num_nodes, dtype=torch.long, device=gb.x.device)
    first = first.scatter_reduce(0, gb.batch, torch.arange(gb.num_nodes, device=gb.x.device), reduce="amin")
    keep[first[first < gb.num_nodes]] = True
    return keep


class EdgeDrop(ViewOp):
    """Remove each directed edge with probability ``p`` (GRACE's edge removal, GraphCL's edge perturbation)."""

    name = "edge_drop"

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = _rate(p, "edge drop rate")

    def forward(self, gb: GraphBatch, g: torch.Generator) -> tuple[GraphBatch, Params]:
        e = gb.edge_index
        keep = torch.rand(e.shape[1], generator=g, device=e.device) >= self.p
        kept = _per_graph_mean(keep, gb.batch[e[0]], gb.num_graphs) if e.shape[1] else \
            torch.ones(gb.num_graphs, device=e.device)
        out = gb.replace(edge_index=e[:, keep],
                         edge_weight=gb.edge_weight[keep] if gb.edge_weight is not None else None)
        return out, {"edges_kept": _per_sample(gb, kept)}


class FeatureMask(ViewOp):
    """Zero node features. ``mode="columns"``: each feature dimension with probability ``p``, the same
    dimensions for every node of a graph (GRACE's feature masking); ``mode="nodes"``: all features of
    each node with probability ``p`` (GraphCL's attribute masking)."""

    name = "feature_mask"

    def __init__(self, p: float, mode: str = "columns") -> None:
        super().__init__()
        if mode not in ("columns", "nodes"):
            raise ValueError(f"feature mask mode must be 'columns' or 'nodes', got {mode!r}")
        self.p, self.mode = _rate(p, "feature mask rate"), mode

    def forward(self, gb: GraphBatch, g: torch.Generator) -> tuple[GraphBatch, Params]:
        dev = gb.x.device
        if self.mode == "columns":
            keep_cols = torch.rand(gb.num_graphs, gb.x.shape[1], generator=g, device=dev) >= self.p
            x = gb.x * keep_cols[gb.batch].to(gb.x.dtype)
            masked = 1.0 - keep_cols.float().mean(1)
        else:
            keep_nodes = torch.rand(gb.num_nodes, generator=g, device=dev) >= self.p
            x = gb.x * keep_nodes[:, None].to(gb.x.dtype)
            masked = 1.0 - _per_graph_mean(keep_nodes, gb.batch, gb.num_graphs)
        return gb.replace(x=x), {"features_masked": _per_sample(gb, masked)}


class NodeDrop(ViewOp):
    """Remove each node (and its edges) with probability ``p`` (GraphCL); centers are kept."""

    name = "node_drop"

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = _rate(p, "node drop rate")

    def forward(self, gb: GraphBatch, g: torch.Generator) -> tuple[GraphBatch, Params]:
        keep = (torch.rand(gb.num_nodes, generator=g, device=gb.x.device) >= self.p) | _protected(gb)
        kept = _per_graph_mean(keep, gb.batch, gb.num_graphs)
        return _keep_nodes(gb, keep), {"nodes_kept": _per_sample(gb, kept)}


class Subgraph(ViewOp):
    """Keep a connected region of about ``keep`` of each graph's nodes, grown from a random seed node
    (from the centers for node-level batches) by adding random frontier neighbours (GraphCL's subgraph)."""

    name = "subgraph"

    def __init__(self, keep: float = 0.8, max_rounds: int = 64) -> None:
        super().__init__()
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"subgraph keep fraction must be in (0, 1], got {keep}")
        self.keep, self.max_rounds = float(keep), max_rounds

    def forward(self, gb: GraphBatch, g: torch.Generator) -> tuple[GraphBatch, Params]:
        dev, n = gb.x.device, gb.num_nodes
        sizes = torch.bincount(gb.batch, minlength=gb.num_graphs)
        target = (sizes.float() * self.keep).ceil()
        if gb.center is not None:
            inside = torch.zeros(n, dtype=torch.bool, device=dev)
            inside[gb.center] = True
        else:  # one random seed node per graph
            offsets = torch.cumsum(sizes, 0) - sizes
            pick = (torch.rand(gb.num_graphs, generator=g, device=dev) * sizes.clamp_min(1)).long()
            inside = torch.zeros(n, dtype=torch.bool, device=dev)
            inside[(offsets + pick)[sizes > 0]] = True
        src, dst = gb.edge_index
        for _ in range(self.max_rounds):
            count = torch.bincount(gb.batch[inside], minlength=gb.num_graphs).float()
            growing = count < target
            if not growing.any():
                break
            frontier = inside[src] & ~inside[dst] & growing[gb.batch[dst]]
            if not frontier.any():
                break
            # each frontier node joins with the chance that fills its graph's remaining quota
            cand = torch.zeros(n, dtype=torch.bool, device=dev)
            cand[dst[frontier]] = True
            n_cand = torch.bincount(gb.batch[cand], minlength=gb.num_graphs).float()
            chance = ((target - count) / n_cand.clamp_min(1)).clamp(0, 1)
            inside |= cand & (torch.rand(n, generator=g, device=dev) < chance[gb.batch])
        inside |= _protected(gb)
        kept = _per_graph_mean(inside, gb.batch, gb.num_graphs)
        return _keep_nodes(gb, inside), {"nodes_kept": _per_sample(gb, kept)}


class PPRDiffusion(ViewOp):
    """Replace the edges by personalised-PageRank diffusion ``S = a (I - (1 - a) D^-1/2 A D^-1/2)^-1`` (MVGRL,
    Hassani & Khasahmadi 2020), keeping each node's ``top_k`` strongest entries as weighted edges.

    Deterministic; computed per graph (dense, so meant for graphs up to a few thousand nodes) and cached
    for the last graph seen, so a node-level run diffuses its one graph once.
    """

    name = "ppr"

    def __init__(self, alpha: float = 0.2, top_k: int = 32) -> None:
        super().__init__()
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"PPR teleport probability alpha must be in (0, 1), got {alpha}")
        self.alpha, self.top_k = float(alpha), int(top_k)
        self._cache: tuple[tuple, tuple[Tensor, Tensor]] | None = None

    def _diffuse(self, n: int, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        a = torch.zeros(n, n, device=edge_index.device)
        a[edge_index[0], edge_index[1]] = 1.0
        a = ((a + a.T) > 0).float()  # diffusion of the undirected graph
        d = a.sum(1).clamp_min(1).rsqrt()
        t = d[:, None] * a * d[None, :]
        s = self.alpha * torch.linalg.inv(torch.eye(n, device=a.device) - (1 - self.alpha) * t)
        k = min(self.top_k, n)
        vals, cols = s.topk(k, dim=1)
        rows = torch.arange(n, device=a.device).repeat_interleave(k)
        return torch.stack([cols.reshape(-1), rows]), vals.reshape(-1)  # messages flow from col to row

    def forward(self, gb: GraphBatch, g: torch.Generator) -> tuple[GraphBatch, Params]:
        key = (gb.num_nodes, gb.edge_index.shape[1], int(gb.edge_index.sum()), gb.num_graphs)
        if self._cache is not None and self._cache[0] == key:
            ei, w = self._cache[1]
        else:
            sizes = torch.bincount(gb.batch, minlength=gb.num_graphs).tolist()
            starts = [0]
            for s in sizes[:-1]:
                starts.append(starts[-1] + s)
            e = gb.edge_index
            parts_e, parts_w = [], []
            graph_of_edge = gb.batch[e[0]]
            for gi, (st, sz) in enumerate(zip(starts, sizes, strict=True)):
                if sz == 0:
                    continue
                local = e[:, graph_of_edge == gi] - st
                pe, pw = self._diffuse(sz, local)
                parts_e.append(pe + st)
                parts_w.append(pw)
            ei, w = torch.cat(parts_e, 1), torch.cat(parts_w)
            self._cache = (key, (ei, w))
        ones = torch.ones(len(gb), device=gb.x.device)
        return gb.replace(edge_index=ei, edge_weight=w), {"diffused": ones}


class RandomChoice(ViewOp):
    """One of ``ops`` per view, chosen uniformly (GraphCL's random augmentation pools)."""

    name = "random_choice"

    def __init__(self, ops: Sequence[ViewOp]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, gb: GraphBatch, g: torch.Generator) -> tuple[GraphBatch, Params]:
        i = int(torch.randint(len(self.ops), (1,), generator=g, device=g.device))
        out, p = self.ops[i](gb, g)
        return out, {**p, "choice": torch.full((len(gb),), float(i), device=gb.x.device)}


GRAPH_PRESETS = ("grace", "bgrl", "graphcl", "mvgrl", "none")


def graph_views(preset: str = "grace", n_views: int = 2, edge_drop: Sequence[float] | None = None,
                feature_mask: Sequence[float] | None = None) -> nn.Module:
    """Graph view recipes.

    ``grace``: edge dropping 0.2 / 0.4 and feature-column masking 0.3 / 0.4 for the two views (GRACE's
    Cora setting). ``bgrl``: edge dropping 0.2 / 0.4, feature masking 0.2 / 0.1. ``graphcl``: per view one
    of node dropping, subgraph, edge perturbation or attribute masking at 20 % (GraphCL's random pool).
    ``mvgrl``: the graph and its PPR diffusion. ``none``: the graph itself (masked autoencoders, DGI).
    ``edge_drop`` / ``feature_mask`` override the per-view rates of grace and bgrl.
    """
    if preset in ("grace", "bgrl"):
        pe = tuple(edge_drop) if edge_drop else (0.2, 0.4)
        pf = tuple(feature_mask) if feature_mask else ((0.3, 0.4) if preset == "grace" else (0.2, 0.1))
        pipes = [ViewPipeline([EdgeDrop(pe[i % len(pe)]), FeatureMask(pf[i % len(pf)])]) for i in range(n_views)]
        return MultiView(pipes, n_views=n_views)
    if preset == "graphcl":
        pool = RandomChoice([NodeDrop(0.2), Subgraph(0.8), EdgeDrop(0.2), FeatureMask(0.2, mode="nodes")])
        return MultiView([ViewPipeline([pool])], n_views=n_views)
    if preset == "mvgrl":
        return MultiView([ViewPipeline([]), ViewPipeline([PPRDiffusion()])], n_views=n_views)
    if preset == "none":
        return MultiView([ViewPipeline([])], n_views=n_views)
    raise ValueError(f"unknown graph view preset {preset!r}; choose one of {', '.join(GRAPH_PRESETS)}")


__all__ = ["GRAPH_PRESETS", "EdgeDrop", "FeatureMask", "NodeDrop", "PPRDiffusion", "RandomChoice", "Subgraph",
           "graph_views"]
