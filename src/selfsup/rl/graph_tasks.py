"""Reward tasks on graphs (SSL4RL's graph setting): which node was the hidden edge's other end, and which
feature vector belongs to the node whose features were hidden.

Questions are posed on a ``GraphBatch`` (one graph with sample nodes as centers, or a union of
small graphs). The anchors are the centers, or one random node per graph; candidates come from
the anchor's own graph. The policy reads node representations (``encoder.nodes``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.data.graphs import GraphBatch
from selfsup.heads import MLPHead
from selfsup.rl.image_tasks import _check_choices, _place_correct
from selfsup.rl.tasks import Question, RewardTask, one_hot_grades, register_reward_task


def _check_graph(gb: GraphBatch, task: str) -> None:
    if not isinstance(gb, GraphBatch):
        raise ValueError(f"the {task} reward task poses questions on graph batches, got {type(gb).__name__}")


def _check_graph_encoder(encoder: nn.Module, task: str) -> None:
    if not hasattr(encoder, "nodes"):
        raise ValueError(f"the {task} reward task needs a graph encoder with node outputs (gcn, gat, gin)")


def _graph_ranges(gb: GraphBatch) -> tuple[Tensor, Tensor]:
    """Start and size of every graph's node block (nodes of one graph are contiguous in a batch)."""
    if gb.num_nodes and (gb.batch.diff() < 0).any():
        raise ValueError("graph batch nodes must be grouped by graph (as GraphBatch.cat and the datasets build them)")
    sizes = torch.bincount(gb.batch, minlength=gb.num_graphs)
    return torch.cumsum(sizes, 0) - sizes, sizes


def _anchors(gb: GraphBatch, g: torch.Generator, eligible: Tensor) -> Tensor:
    """The question nodes: the batch's centers (node-level data) or one eligible node per graph, drawn from
    ``g``; nodes that are not ``eligible`` (no edge, too small a graph) are left out."""
    if gb.center is not None:
        anchors = gb.center[eligible[gb.center]]
    else:  # per graph, the eligible node with the largest random key
        key = torch.rand(gb.num_nodes, generator=g, device=gb.x.device).masked_fill(~eligible, -1.0)
        best = torch.full((gb.num_graphs,), -1.0, device=key.device).scatter_reduce(0, gb.batch, key, "amax")
        anchors = torch.nonzero((key == best[gb.batch]) & eligible).flatten()
        graph = gb.batch[anchors]
        first = torch.ones_like(graph, dtype=torch.bool)
        first[1:] = graph[1:] != graph[:-1]  # one per graph even on a tie
        anchors = anchors[first]
    if not len(anchors):
        raise ValueError("no node of this batch can carry the question (each needs an edge and a graph of at least "
                         "3 nodes); use larger graphs")
    return anchors


def _distractors(anchors: Tensor, k: int, gb: GraphBatch, g: torch.Generator, answers: Tensor | None = None) -> Tensor:
    """(B, k) nodes drawn uniformly from each anchor's graph, never the anchor nor its ``answers`` node."""
    starts, sizes = _graph_ranges(gb)
    graph = gb.batch[anchors]
    start, size = starts[graph].unsqueeze(1), sizes[graph].unsqueeze(1)
    skipped = [anchors] if answers is None else [torch.minimum(anchors, answers), torch.maximum(anchors, answers)]
    r = (torch.rand(len(anchors), k, generator=g, device=anchors.device) * (size - len(skipped))).long()
    for node in skipped:  # ascending: shift past each excluded slot in turn
        r = r + (r >= node.unsqueeze(1) - start).long()
    return start + r


@register_reward_task("masked_edge")
class MaskedEdgeReward(RewardTask):
    """One edge at each anchor is hidden (both directions): which of ``n_choices`` nodes was its other end?

    The distractors are other nodes of the anchor's graph. A pair head scores (anchor, candidate)
    from their representations on the graph without the hidden edges. Binary reward.
    """

    name = "masked_edge"
    modalities = ("graph",)

    def __init__(self, encoder: nn.Module, n_choices: int = 4, hidden_dim: int = 256) -> None:
        super().__init__()
        _check_graph_encoder(encoder, self.name)
        _check_choices(n_choices, 2, "n_choices")
        self.n_choices = int(n_choices)
        self.head = MLPHead(2 * encoder.out_dim, hidden_dim, 1)

    def pose(self, gb: GraphBatch, generator: torch.Generator) -> Question:
        _check_graph(gb, self.name)
        n = gb.num_nodes
        proper = gb.edge_index[0] != gb.edge_index[1]  # a self-loop cannot be the hidden edge
        src, dst = gb.edge_index[:, proper]
        degree = torch.bincount(src, minlength=n)
        _, sizes = _graph_ranges(gb)
        anchors = _anchors(gb, generator, (degree > 0) & (sizes[gb.batch] >= 3))
        order = torch.argsort(src, stable=True)
        ptr = torch.cumsum(degree, 0) - degree
        pick = ptr[anchors] + (torch.rand(len(anchors), generator=generator, device=src.device)
                               * degree[anchors]).long()
        ends = dst[order[pick]]
        hidden = torch.cat([anchors * n + ends, ends * n + anchors])
        keep = ~torch.isin(gb.edge_index[0] * n + gb.edge_index[1], hidden)
        masked = gb.replace(edge_index=gb.edge_index[:, keep],
                            edge_weight=None if gb.edge_weight is None else gb.edge_weight[keep])
        distractors = _distractors(anchors, self.n_choices - 1, gb, generator, ends)
        candidates, answer = _place_correct(distractors, ends, generator)
        return Question((masked, anchors, candidates), answer, one_hot_grades(answer, self.n_choices))

    def forward(self, encoder: nn.Module, question: Question) -> Tensor:
        gb, anchors, candidates = question.inputs
        h = encoder.nodes(gb)
        ha = h[anchors].unsqueeze(1).expand(-1, candidates.shape[1], -1)
        hc = h[candidates]
        pair = torch.cat([ha * hc, (ha - hc).abs()], -1)  # symmetric in the two ends
        return self.head(pair.flatten(0, 1)).view(candidates.shape)


@register_reward_task("masked_attribute")
class MaskedAttributeReward(RewardTask):
    """Each anchor's features are hidden (zeroed): which of ``n_choices`` feature vectors is its own?

    The distractors are the features of other nodes of its graph. ``mask_ratio`` also hides the
    features of that fraction of the other nodes (harder: less evidence around the anchor). The
    answer head matches the anchor's representation against an embedding of each candidate
    vector (cosine over a temperature). Binary reward.
    """

    name = "masked_attribute"
    modalities = ("graph",)

    def __init__(self, encoder: nn.Module, n_choices: int = 4, mask_ratio: float = 0.0, hidden_dim: int = 256,
                 proj_dim: int = 128, temperature: float = 0.1) -> None:
        super().__init__()
        _check_graph_encoder(encoder, self.name)
        _check_choices(n_choices, 2, "n_choices")
        if not 0 <= mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.n_choices, self.mask_ratio, self.temperature = int(n_choices), float(mask_ratio), temperature
        self.query = MLPHead(encoder.out_dim, hidden_dim, proj_dim)
        self.key = MLPHead(int(encoder.in_channels), hidden_dim, proj_dim)

    def pose(self, gb: GraphBatch, generator: torch.Generator) -> Question:
        _check_graph(gb, self.name)
        _, sizes = _graph_ranges(gb)
        anchors = _anchors(gb, generator, sizes[gb.batch] >= 3)
        hide = torch.rand(gb.num_nodes, generator=generator, device=gb.x.device) < self.mask_ratio
        hide[anchors] = True
        distractors = _distractors(anchors, self.n_choices - 1, gb, generator)
        candidates, answer = _place_correct(gb.x[distractors], gb.x[anchors], generator)
        masked = gb.replace(x=gb.x * (~hide).unsqueeze(1).to(gb.x.dtype))
        return Question((masked, anchors, candidates), answer, one_hot_grades(answer, self.n_choices))

    def forward(self, encoder: nn.Module, question: Question) -> Tensor:
        gb, anchors, candidates = question.inputs
        b, k = candidates.shape[:2]
        zq = F.normalize(self.query(encoder.nodes(gb)[anchors]), dim=-1)
        zk = F.normalize(self.key(candidates.flatten(0, 1)), dim=-1).view(b, k, -1)
        return torch.einsum("bd,bkd->bk", zq, zk) / self.temperature
