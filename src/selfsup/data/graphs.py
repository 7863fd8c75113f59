"""Graph sources: Planetoid ``ind.*`` files, the TU text format, edge lists with a node CSV, ``.npz`` arrays and
torch-geometric ``Data``.

Two kinds of dataset, one batch type. ``NodeDataset`` is one graph whose samples are its nodes
(Cora, CiteSeer: node classification; a batch is the whole graph plus the ``center`` nodes the
loss and the embedding read). ``GraphSetDataset`` is many small graphs whose samples are graphs
(MUTAG, PROTEINS: graph classification; a batch is the disjoint union of the chosen graphs).
Both hand the trainer a ``GraphBatch``. What cannot be read (an edge naming a node that does not
exist, a missing file, counts that disagree between files) is an error naming the file and the fix.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from selfsup.data.errors import DataError, split_path

NODE_SPLITS = ("train", "val", "test")
_PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")


@dataclass
class GraphBatch:
    """A disjoint union of graphs and the samples it stands for.

    ``x`` (N, F) node features, ``edge_index`` (2, E) directed edges (both directions for an
    undirected graph), ``batch`` (N,) the graph of each node, ``center`` (B,) the nodes that are
    the samples (node-level data) or None (graph-level data: the graphs are the samples).
    ``shape`` is ``(B,)`` so code that groups same-sized views treats graphs like tensors.
    """

    x: Tensor
    edge_index: Tensor
    batch: Tensor
    num_graphs: int
    center: Tensor | None = None
    edge_weight: Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def shape(self) -> tuple[int]:
        return (int(self.center.shape[0]) if self.center is not None else self.num_graphs,)

    @property
    def ndim(self) -> int:
        return 1

    def __len__(self) -> int:
        return self.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> GraphBatch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return GraphBatch(move(self.x), move(self.edge_index), move(self.batch), self.num_graphs,
                          move(self.center), move(self.edge_weight))

    def replace(self, **changes: Any) -> GraphBatch:
        fields = {"x": self.x, "edge_index": self.edge_index, "batch": self.batch, "num_graphs": self.num_graphs,
                  "center": self.center, "edge_weight": self.edge_weight}
        return GraphBatch(**{**fields, **changes})

    @staticmethod
    def cat(batches: Sequence[GraphBatch]) -> GraphBatch:
        """One batch holding all of ``batches`` side by side (node, graph and center ids offset)."""
        if len(batches) == 1:
            return batches[0]
        node_off = np.cumsum([0] + [b.num_nodes for b in batches[:-1]])
        graph_off = np.cumsum([0] + [b.num_graphs for b in batches[:-1]])
        has_center = [b.center is not None for b in batches]
        if any(has_center) and not all(has_center):
            raise ValueError("cannot join node-level and graph-level batches")
        has_w = all(b.edge_weight is not None for b in batches)
        return GraphBatch(
            torch.cat([b.x for b in batches]),
            torch.cat([b.edge_index + int(o) for b, o in zip(batches, node_off, strict=True)], dim=1),
            torch.cat([b.batch + int(o) for b, o in zip(batches, graph_off, strict=True)]),
            int(sum(b.num_graphs for b in batches)),
            torch.cat([b.center + int(o) for b, o in zip(batches, node_off, strict=True)]) if all(has_center)
            else None,
            torch.cat([b.edge_weight for b in batches]) if has_w else None)


def readout(h: Tensor, batch: Tensor, num_graphs: int, how: str) -> Tensor:
    """Pool node rows ``h`` (N, D) into one row per graph (sum, mean or max; empty graphs give 0)."""
    if how == "sum":
        return h.new_zeros(num_graphs, h.shape[1]).index_add_(0, batch, h)
    if how == "mean":
        total = h.new_zeros(num_graphs, h.shape[1]).index_add_(0, batch, h)
        return total / torch.bincount(batch, minlength=num_graphs).clamp_min(1).unsqueeze(1).to(h.dtype)
    if how == "max":
        out = h.new_full((num_graphs, h.shape[1]), float("-inf"))
        out = out.scatter_reduce(0, batch[:, None].expand_as(h), h, reduce="amax")
        return torch.nan_to_num(out, neginf=0.0)
    raise ValueError(f"readout must be sum, mean or max, got {how!r}")


def node_features(n: int, edge_index: np.ndarray, attributes: np.ndarray | None = None,
                  labels: np.ndarray | None = None) -> np.ndarray:
    """TU-style node features: the attributes, then the one-hot node labels (PyG's convention); one-hot
    degrees capped at 10 when a set has neither."""
    feats = []
    if attributes is not None:
        feats.append(np.asarray(attributes, dtype=np.float32).reshape(n, -1))
    if labels is not None:
        nl = np.asarray(labels, dtype=np.int64)
        feats.append(np.eye(int(nl.max() - nl.min()) + 1, dtype=np.float32)[nl - nl.min()])
    if not feats:
        feats.append(np.eye(11, dtype=np.float32)[np.minimum(np.bincount(edge_index[0], minlength=n), 10)])
    return np.hstack(feats)


def _check_edges(edge_index: np.ndarray, num_nodes: int, origin: str) -> np.ndarray:
    edge_index = np.asarray(edge_index)
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise DataError(f"{origin}: edge_index must be (2, E), got {edge_index.shape}; transpose an (E, 2) edge list")
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        bad = int(np.argmax((edge_index < 0).any(0) | (edge_index >= num_nodes).any(0)))
        raise DataError(f"{origin}: edge {bad} ({edge_index[0, bad]} -> {edge_index[1, bad]}) names a node outside "
                        f"0..{num_nodes - 1}; node ids must index the feature rows")
    return edge_index.astype(np.int64)


@dataclass
class NodeDataset:
    """One graph whose samples are nodes: ``nodes`` are the sample ids (a split, or every node)."""

    x: np.ndarray
    edge_index: np.ndarray
    y: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    nodes: np.ndarray | None = None
    origin: str = "graph"
    split: str = "all"
    class_names: list[str] = field(default_factory=list)

    modality = "graph"

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        if self.x.ndim != 2:
            raise DataError(f"{self.origin}: node features must be (N, F), got {self.x.shape}")
        n = len(self.x)
        self.edge_index = _check_edges(self.edge_index, n, self.origin)
        self.y = np.asarray(self.y, dtype=np.int64)
        if len(self.y) != n:
            raise DataError(f"{self.origin}: {len(self.y)} labels for {n} nodes; give one label per node (-1 for "
                            "unknown)")
        for k, m in self.masks.items():
            if len(m) != n:
                raise DataError(f"{self.origin}: the {k} mask has {len(m)} entries for {n} nodes")
        if self.nodes is None:
            self.nodes = np.arange(n)
        self._tensors: tuple[Tensor, Tensor] | None = None

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def num_nodes(self) -> int:
        return len(self.x)

    @property
    def num_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def labels(self) -> np.ndarray:
        return self.y[self.nodes]

    @property
    def has_labels(self) -> bool:
        return bool(len(self.nodes)) and bool((self.labels >= 0).all())

    @property
    def summary(self) -> str:
        classes = len(np.unique(self.y[self.y >= 0]))
        return (f"{self.origin}: graph of {self.num_nodes} nodes, {self.edge_index.shape[1]} directed edges, "
                f"{self.num_features} features, {classes} classes; {len(self)} {self.split} nodes")

    def with_split(self, split: str | None) -> NodeDataset:
        """The same graph whose samples are the nodes of ``split`` (train, val, test) or all of them."""
        if split in (None, "all"):
            return replace(self, nodes=np.arange(self.num_nodes), split="all")
        if split not in self.masks:
            raise DataError(f"{self.origin}: no {split!r} split; this graph has "
                            f"{', '.join(self.masks) or 'no splits'} (or 'all' nodes)")
        return replace(self, nodes=np.flatnonzero(self.masks[split]), split=split)

    def batch(self, indices: np.ndarray) -> GraphBatch:
        """The whole graph with the sample nodes ``indices`` as centers."""
        if self._tensors is None:
            self._tensors = (torch.from_numpy(self.x), torch.from_numpy(self.edge_index))
        x, ei = self._tensors
        return GraphBatch(x, ei, torch.zeros(len(x), dtype=torch.long), 1,
                          torch.from_numpy(self.nodes[np.asarray(indices)]))


@dataclass
class GraphSetDataset:
    """Many graphs, concatenated: node rows of graph g are ``ptr[g]:ptr[g+1]``; edges use global ids."""

    x: np.ndarray
    edge_index: np.ndarray
    ptr: np.ndarray
    labels: np.ndarray
    origin: str = "graphs"
    class_names: list[str] = field(default_factory=list)

    modality = "graph"

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        self.ptr = np.asarray(self.ptr, dtype=np.int64)
        n = len(self.x)
        if self.ptr[0] != 0 or self.ptr[-1] != n or (np.diff(self.ptr) < 0).any():
            raise DataError(f"{self.origin}: graph offsets must rise from 0 to the node count {n}")
        self.edge_index = _check_edges(self.edge_index, n, self.origin)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) != len(self.ptr) - 1:
            raise DataError(f"{self.origin}: {len(self.labels)} graph labels for {len(self.ptr) - 1} graphs")
        node_graph = np.repeat(np.arange(len(self.ptr) - 1), np.diff(self.ptr))
        src_g, dst_g = node_graph[self.edge_index[0]], node_graph[self.edge_index[1]]
        if (src_g != dst_g).any():
            bad = int(np.argmax(src_g != dst_g))
            raise DataError(f"{self.origin}: edge {bad} joins graph {src_g[bad]} to graph {dst_g[bad]}; an edge must "
                            "stay inside one graph (check the graph indicator)")
        order = np.argsort(src_g, kind="stable")
        self.edge_index = self.edge_index[:, order]
        self.eptr = np.concatenate([[0], np.cumsum(np.bincount(src_g, minlength=len(self.ptr) - 1))])

    def __len__(self) -> int:
        return len(self.ptr) - 1

    @property
    def num_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    @property
    def summary(self) -> str:
        sizes = np.diff(self.ptr)
        edges = self.edge_index.shape[1] / 2 / max(1, len(self))
        return (f"{self.origin}: {len(self)} graphs, {sizes.mean():.1f} nodes and {edges:.1f} edges on average, "
                f"{self.num_features} node features, {len(np.unique(self.labels))} classes")

    def batch(self, indices: np.ndarray) -> GraphBatch:
        """The disjoint union of graphs ``indices`` (node ids renumbered from 0)."""
        idx = np.asarray(indices, dtype=np.int64)
        starts, ends = self.ptr[idx], self.ptr[idx + 1]
        sizes = ends - starts
        node_rows = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)]) if len(idx) else \
            np.zeros(0, np.int64)
        new_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        edges = [self.edge_index[:, self.eptr[g]:self.eptr[g + 1]] - self.ptr[g] + o
                 for g, o in zip(idx, new_start, strict=True)]
        ei = np.concatenate(edges, axis=1) if edges else np.zeros((2, 0), np.int64)
        return GraphBatch(torch.from_numpy(self.x[node_rows]), torch.from_numpy(np.ascontiguousarray(ei)),
                          torch.from_numpy(np.repeat(np.arange(len(idx)), sizes)), len(idx))


GraphData = NodeDataset | GraphSetDataset


# --- Planetoid (Yang et al. 2016) raw files -------------------------------------------------------------


def _planetoid_prefix(path: Path) -> Path:
    """``dir`` (one dataset in it), ``dir/ind.cora`` or ``dir/ind.cora.x`` -> ``dir/ind.cora``."""
    if path.is_dir():
        names = sorted({p.name.split(".")[1] for p in path.glob("ind.*.x")})
        if len(names) != 1:
            found = f"several Planetoid sets ({', '.join(names)})" if names else "no Planetoid ind.<name>.x file"
            raise DataError(f"{path}: {found} here; pass the prefix of one, e.g. {path / 'ind.cora'}")
        return path / f"ind.{names[0]}"
    name = path.name
    if name.startswith("ind.") and name.count(".") >= 2 and name.split(".", 2)[2] in (*_PLANETOID_PARTS, "test.index"):
        return path.with_name(".".join(name.split(".")[:2]))
    return path


def is_planetoid(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("ind.*.x"))
    return path.name.startswith("ind.") and Path(str(_planetoid_prefix(path)) + ".x").exists()


def load_planetoid(path: str | os.PathLike, split: str | None = None) -> NodeDataset:
    """Read ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}`` with the public split of Kipf & Welling.

    Train = the labelled nodes of ``ind.<name>.x`` (20 per class), val = the next 500, test = the
    ``test.index`` nodes. Test indices that name no test row (CiteSeer's isolated nodes) get zero
    features and label -1. The pickles need SciPy (a dependency of scikit-learn).
    """
    prefix = _planetoid_prefix(Path(path))
    objs: dict[str, Any] = {}
    for part in _PLANETOID_PARTS:
        f = Path(f"{prefix}.{part}")
        if not f.exists():
            parts = ",".join(_PLANETOID_PARTS)
            raise DataError(f"{f}: missing; a Planetoid set needs ind.<name>.{{{parts},test.index}} side by side")
        try:
            with open(f, "rb") as fh, warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # the pickles name scipy.sparse.csr
                objs[part] = pickle.load(fh, encoding="latin1")
        except Exception as e:  # a truncated or foreign file
            raise DataError(f"{f}: cannot be unpickled ({type(e).__name__}: {e}); re-download the Planetoid "
                            "file") from e
    f_idx = Path(f"{prefix}.test.index")
    if not f_idx.exists():
        raise DataError(f"{f_idx}: missing; it lists the test nodes, one id per line")
    try:
        test_idx = np.loadtxt(f_idx, dtype=np.int64, ndmin=1)
    except ValueError as e:
        raise DataError(f"{f_idx}: not one integer node id per line ({e})") from e

    def dense(a: Any) -> np.ndarray:
        return np.asarray(a.todense() if hasattr(a, "todense") else a, dtype=np.float32)

    allx, tx, ally, ty = dense(objs["allx"]), dense(objs["tx"]), dense(objs["ally"]), dense(objs["ty"])
    for a, b, what in ((allx, ally, "allx/ally"), (tx, ty, "tx/ty")):
        if len(a) != len(b):
            raise DataError(f"{prefix}.{what.split('/')[0]}: {len(a)} feature rows but {len(b)} label rows in "
                            f"{what}; the files come from different datasets")
    if len(test_idx) != len(tx):
        raise DataError(f"{f_idx}: {len(test_idx)} test ids for {len(tx)} rows in {prefix}.tx; the files disagree")
    lo, hi = int(test_idx.min()), int(test_idx.max())
    if lo < len(allx):
        raise DataError(f"{f_idx}: test id {lo} falls inside the {len(allx)} allx rows; test ids must follow them")
    # test ids may skip nodes (isolated nodes without features): those rows stay zero and unlabelled
    span = hi - lo + 1
    tx_full, ty_full = np.zeros((span, tx.shape[1]), np.float32), np.zeros((span, ty.shape[1]), np.float32)
    tx_full[np.sort(test_idx) - lo], ty_full[np.sort(test_idx) - lo] = tx, ty
    x, onehot = np.vstack([allx, tx_full]), np.vstack([ally, ty_full])
    x[test_idx], onehot[test_idx] = x[np.sort(test_idx)], onehot[np.sort(test_idx)]  # file order -> node order
    y = np.where(onehot.sum(1) > 0, onehot.argmax(1), -1)
    n = len(x)
    graph = objs["graph"]
    src, dst = [], []
    for u, nbrs in graph.items():
        for v in nbrs:
            src.append(u)
            dst.append(v)
    ei = np.array([src + dst, dst + src], dtype=np.int64)
    if ei.size and (ei.min() < 0 or ei.max() >= n):
        bad = int(ei.max() if ei.max() >= n else ei.min())
        raise DataError(f"{prefix}.graph: node {bad} is out of range (the features have {n} rows)")
    ei = ei[:, ei[0] != ei[1]]
    ei = np.unique(ei, axis=1)  # sorted by source, duplicates gone
    n_train = len(dense(objs["y"]))
    masks = {k: np.zeros(n, bool) for k in NODE_SPLITS}
    masks["train"][:n_train] = True
    masks["val"][n_train:n_train + 500] = True
    masks["test"][test_idx] = True
    return NodeDataset(x, ei, y, masks, origin=str(prefix)).with_split(split)


# --- TU (Morris et al. 2020) text format --------------------------------------------------------------


def _tu_prefix(path: Path) -> Path:
    if path.is_dir():
        names = sorted(p.name[: -len("_A.txt")] for p in path.glob("*_A.txt"))
        if len(names) != 1:
            found = f"several TU sets ({', '.join(names)})" if names else "no <DS>_A.txt file"
            raise DataError(f"{path}: {found} here; pass one folder per dataset or the path of its <DS>_A.txt")
        return path / names[0]
    if path.name.endswith("_A.txt"):
        return path.with_name(path.name[: -len("_A.txt")])
    return path


def is_tu(path: Path) -> bool:
    return (path.is_dir() and any(path.glob("*_A.txt"))) or path.name.endswith("_A.txt")


def _read_table(f: Path, dtype: type, what: str) -> np.ndarray:
    try:
        rows = [line.replace(",", " ").split() for line in f.read_text().splitlines() if line.strip()]
    except OSError as e:
        raise DataError(f"{f}: cannot be read ({e})") from e
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        line = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
        raise DataError(f"{f}, line {line + 1}: {len(rows[line])} values where line 1 has {len(rows[0])}; every "
                        f"line of the {what} file has the same number of values")
    try:
        return np.array(rows, dtype=dtype).reshape(len(rows), -1)
    except ValueError:
        for i, r in enumerate(rows):
            try:
                np.array(r, dtype=dtype)
            except ValueError:
                raise DataError(f"{f}, line {i + 1}: {' '.join(r)!r} is not numeric; the {what} file holds "
                                f"{'integers' if dtype is np.int64 else 'numbers'} only") from None
        raise


def load_tu(path: str | os.PathLike) -> GraphSetDataset:
    """Read ``<DS>_A.txt``, ``_graph_indicator.txt``, ``_graph_labels.txt`` and, when present,
    ``_node_labels.txt`` / ``_node_attributes.txt``. Node features are the attributes followed by the
    one-hot node labels (PyG's convention); a set with neither gets one-hot degrees (capped at 10)."""
    prefix = _tu_prefix(Path(path))
    name = prefix.name

    def part(suffix: str, required: bool = True) -> Path | None:
        f = prefix.with_name(f"{name}_{suffix}.txt")
        if not f.exists():
            if required:
                raise DataError(f"{f}: missing; a TU set needs {name}_A.txt, {name}_graph_indicator.txt and "
                                f"{name}_graph_labels.txt side by side")
            return None
        return f

    a = _read_table(part("A"), np.int64, "adjacency (one 'i, j' pair per line)")
    if a.shape[1] != 2:
        raise DataError(f"{part('A')}: {a.shape[1]} values per line; each line is one edge 'i, j'")
    indicator = _read_table(part("graph_indicator"), np.int64, "graph indicator").ravel()
    labels_raw = _read_table(part("graph_labels"), np.int64, "graph labels").ravel()
    n, g = len(indicator), len(labels_raw)
    if indicator.size and (indicator.min() < 1 or indicator.max() > g):
        raise DataError(f"{part('graph_indicator')}: graph ids run {indicator.min()}..{indicator.max()} but "
                        f"{part('graph_labels')} has {g} lines; ids are 1..{g}")
    if (np.diff(indicator) < 0).any():
        line = int(np.argmax(np.diff(indicator) < 0)) + 2
        raise DataError(f"{part('graph_indicator')}, line {line}: graph ids must not decrease (nodes of one graph "
                        "are consecutive)")
    if a.size and (a.min() < 1 or a.max() > n):
        line = int(np.argmax((a < 1).any(1) | (a > n).any(1))) + 1
        raise DataError(f"{part('A')}, line {line}: node {a[line - 1].tolist()} is out of range; "
                        f"{part('graph_indicator')} has {n} nodes (ids 1..{n})")
    attr = nl = None
    f_attr = part("node_attributes", required=False)
    if f_attr is not None:
        attr = _read_table(f_attr, np.float64, "node attributes")
        if len(attr) != n:
            raise DataError(f"{f_attr}: {len(attr)} lines for {n} nodes in the graph indicator")
    f_lab = part("node_labels", required=False)
    if f_lab is not None:
        nl = _read_table(f_lab, np.int64, "node labels")[:, 0]
        if len(nl) != n:
            raise DataError(f"{f_lab}: {len(nl)} lines for {n} nodes in the graph indicator")
    ei = (a - 1).T
    values, y = np.unique(labels_raw, return_inverse=True)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(indicator - 1, minlength=g))])
    return GraphSetDataset(node_features(n, ei, attr, nl), ei, ptr, y, origin=str(prefix),
                           class_names=[str(v) for v in values])


# --- edge list + node table ------------------------------------------------------------------------------

_TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
_EDGE_HEADERS = {("source", "target"), ("src", "dst"), ("from", "to"), ("u", "v")}
_ID_COLUMNS = ("id", "node", "node_id")


def _edge_list_files(path: Path) -> tuple[Path, Path | None]:
    """(edges file, node table or None): a folder holding ``edges.<csv|tsv|txt>`` (+ ``nodes.<...>``), or the path
    of a file named ``edges.*`` / ``<name>_edges.*`` / ``<name>.edges.*`` (its node table: the same name with
    ``nodes``)."""
    if path.is_dir():
        found = [path / f"edges{x}" for x in _TABLE_SUFFIXES if (path / f"edges{x}").exists()]
        if len(found) != 1:
            raise DataError(f"{path}: {'several edges.* files' if found else 'no edges.csv/.tsv/.txt'} here; an edge-"
                            "list folder holds one edges file and, optionally, one nodes file")
        edges = found[0]
    else:
        edges = path
    stem = edges.name[: -len(edges.suffix)]
    node_stem = stem[: -len("edges")] + "nodes"
    nodes = [edges.with_name(node_stem + x) for x in _TABLE_SUFFIXES if edges.with_name(node_stem + x).exists()]
    return edges, (nodes[0] if nodes else None)


def is_edge_list(path: Path) -> bool:
    if path.is_dir():
        return any((path / f"edges{x}").exists() for x in _TABLE_SUFFIXES)
    return path.suffix in _TABLE_SUFFIXES and path.name[: -len(path.suffix)].endswith("edges")


def _table_rows(f: Path) -> list[tuple[int, list[str]]]:
    """(line number, stripped fields) of every non-blank line: CSV/TSV through the csv module (quoted fields
    allowed), ``.txt`` split on whitespace or commas. The one reader of edge lists and node tables."""
    import csv

    try:
        with open(f, newline="") as fh:
            if f.suffix in (".csv", ".tsv"):
                rows = list(csv.reader(fh, delimiter="\t" if f.suffix == ".tsv" else ","))
            else:
                rows = [line.replace(",", " ").split() for line in fh.read().splitlines()]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{f}: cannot be read as a text table ({e})") from e
    return [(i + 1, [c.strip() for c in r]) for i, r in enumerate(rows) if any(c.strip() for c in r)]


NodeTable = tuple[list[str] | None, np.ndarray, np.ndarray | None, dict[str, np.ndarray], list[str]]


def _read_node_table(f: Path) -> NodeTable:
    """(ids or None, features (N, F), labels or None, split masks, class names) from a table with a header row."""
    from collections import Counter

    table = _table_rows(f)
    if len(table) < 2:
        raise DataError(f"{f}: a node table needs a header row and one row per node")
    rows = [r for _, r in table]
    header = [h.lower() for h in rows[0]]
    for line, r in table[1:]:
        if len(r) != len(header):
            raise DataError(f"{f}, line {line}: {len(r)} values for the {len(header)} columns of the header")
    lines = [line for line, _ in table[1:]]
    body = rows[1:]
    id_col = next((header.index(c) for c in _ID_COLUMNS if c in header), None)
    label_col = header.index("label") if "label" in header else None
    split_col = header.index("split") if "split" in header else None
    ids = [r[id_col] for r in body] if id_col is not None else None
    if ids is not None and len(set(ids)) != len(ids):
        dup = next(x for x, c in Counter(ids).items() if c > 1)
        raise DataError(f"{f}: node id {dup!r} appears on lines {[lines[i] for i, x in enumerate(ids) if x == dup]}; "
                        "ids must be unique")
    feature_cols = [j for j in range(len(header)) if j not in (id_col, label_col, split_col)]
    try:
        x = np.array([[r[j] for j in feature_cols] for r in body], dtype=np.float32).reshape(len(body), -1)
    except ValueError:  # find the cell to name
        for i, r in enumerate(body):
            for j in feature_cols:
                try:
                    float(r[j])
                except ValueError:
                    raise DataError(f"{f}, line {lines[i]}, column {rows[0][j]!r}: {r[j]!r} is not a number; "
                                    "feature columns are numeric (name the label column 'label', the split 'split', "
                                    f"the id column one of {', '.join(_ID_COLUMNS)})") from None
        raise
    if not np.isfinite(x).all():
        i, k = (int(v[0]) for v in np.nonzero(~np.isfinite(x)))
        raise DataError(f"{f}, line {lines[i]}, column {rows[0][feature_cols[k]]!r}: {body[i][feature_cols[k]]!r}"
                        " is not finite; fill or drop missing features first")
    labels, names = None, []
    if label_col is not None:
        raw = [r[label_col] for r in body]
        names = sorted({v for v in raw if v})
        if all(v.lstrip("-").isdigit() for v in names):
            names.sort(key=int)  # 2 before 10
        code = {v: i for i, v in enumerate(names)}
        labels = np.array([code[v] if v else -1 for v in raw], dtype=np.int64)
    masks: dict[str, np.ndarray] = {}
    if split_col is not None:
        split = np.array([r[split_col].lower() for r in body])
        bad = sorted(set(split) - {*NODE_SPLITS, ""})
        if bad:
            i = int(np.argmax(np.isin(split, bad)))
            raise DataError(f"{f}, line {lines[i]}: split {body[i][split_col]!r}; the split column holds train, val, "
                            "test or nothing")
        masks = {k: split == k for k in NODE_SPLITS if (split == k).any()}
    return ids, x, labels, masks, names


def load_edge_list(path: str | os.PathLike, nodes: str | os.PathLike | None = None, directed: bool = False,
                   split: str | None = None) -> NodeDataset:
    """One graph from an edge list (``source,target`` per line; an optional ``source,target`` header) and an
    optional node table (CSV/TSV with a header: an ``id`` column that the edges name, otherwise edges name
    rows 0..N-1; a ``label`` column, empty where unknown; a ``split`` column of train/val/test; every other
    column a numeric feature). Without a node table, nodes are the ids the edges name and features are
    one-hot degrees. Edges are made symmetric unless ``directed``; duplicates are dropped."""
    p = Path(path)
    edges_file, found_nodes = _edge_list_files(p)
    nodes_file = Path(nodes) if nodes is not None else found_nodes
    if not edges_file.exists():
        raise DataError(f"{edges_file}: no such file")
    pairs = _table_rows(edges_file)
    if pairs and tuple(v.lower() for v in pairs[0][1]) in _EDGE_HEADERS:
        pairs = pairs[1:]
    for line, fields in pairs:
        if len(fields) != 2:
            raise DataError(f"{edges_file}, line {line}: {len(fields)} values; each line is one edge 'source, target' "
                            "(edge weights and attributes are not read)")
    ids, x, labels, masks, names = (None, None, None, {}, [])
    if nodes_file is not None:
        if not nodes_file.exists():
            raise DataError(f"{nodes_file}: no such file")
        ids, x, labels, masks, names = _read_node_table(nodes_file)
    if ids is not None:
        index = {v: i for i, v in enumerate(ids)}
        n = len(ids)
    elif x is not None:
        index, n = None, len(x)
    else:  # nodes are what the edges name: integers as node numbers, other names in sorted order
        named = sorted({v for _, f in pairs for v in f})
        if all(v.isdigit() for v in named):
            index, n = None, (max(int(v) for v in named) + 1 if named else 0)
        else:
            index, n = {v: i for i, v in enumerate(named)}, len(named)
    ei = np.empty((2, len(pairs)), np.int64)
    for k, (line, fields) in enumerate(pairs):
        for side, v in enumerate(fields):
            if index is not None:
                if v not in index:
                    raise DataError(f"{edges_file}, line {line}: node {v!r} is not in "
                                    f"{nodes_file if nodes_file is not None else 'the edge list'}; every edge names "
                                    "known node ids")
                ei[side, k] = index[v]
            else:
                if not v.isdigit() or int(v) >= n:
                    raise DataError(f"{edges_file}, line {line}: node {v!r} is not a row of "
                                    f"{nodes_file} (0..{n - 1}); give the table an 'id' column, or number nodes "
                                    "by row")
                ei[side, k] = int(v)
    if not directed:
        ei = np.concatenate([ei, ei[::-1]], axis=1)
    ei = np.unique(ei, axis=1) if ei.size else ei
    if x is None or x.shape[1] == 0:
        x = node_features(n, ei)
    y = labels if labels is not None else np.full(n, -1)
    return NodeDataset(x, ei, y, masks, origin=str(edges_file), class_names=names).with_split(split)


# --- arrays and torch-geometric objects -------------------------------------------------------------------


def load_graph_npz(path: Path, split: str | None = None) -> GraphData:
    """``.npz`` with ``x, edge_index`` (+ ``y``, ``train_mask``...): one graph; with ``graph_ptr`` (or
    ``node_graph``) and ``graph_labels``: a set of graphs (``node_attr``/``node_labels`` as TU)."""
    try:
        d = dict(np.load(path, allow_pickle=False))
    except Exception as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from e
    if "edge_index" not in d:
        raise DataError(f"{path}: no 'edge_index' array; a graph .npz holds edge_index (2, E) and x (N, F) or, for a "
                        "set of graphs, graph_ptr/node_graph and graph_labels")
    if "graph_ptr" in d or "node_graph" in d:
        if "graph_ptr" in d:
            ptr = d["graph_ptr"]
        else:
            ptr = np.concatenate([[0], np.cumsum(np.bincount(d["node_graph"]))])
        n = int(ptr[-1])
        x = d["x"].astype(np.float32) if "x" in d else node_features(n, d["edge_index"], d.get("node_attr"),
                                                                       d.get("node_labels"))
        labels = d.get("graph_labels", np.full(len(ptr) - 1, -1))
        names = [str(v) for v in d["graph_label_values"]] if "graph_label_values" in d else []
        if split not in (None, "all"):
            raise DataError(f"{path}: a set of graphs has no {split!r} split; evaluate graph sets by cross-validation "
                            "(selfsup evaluate without --test) or pass separate files")
        return GraphSetDataset(x, d["edge_index"], ptr, labels, origin=str(path), class_names=names)
    if "x" not in d:
        raise DataError(f"{path}: no 'x' node-feature array (N, F) beside edge_index")
    masks = {k: d[f"{k}_mask"].astype(bool) for k in NODE_SPLITS if f"{k}_mask" in d}
    y = d.get("y", np.full(len(d["x"]), -1))
    return NodeDataset(d["x"], d["edge_index"], y, masks, origin=str(path)).with_split(split)


def _is_pyg_dataset(data: Any) -> bool:
    try:
        from torch_geometric.data import Dataset
    except ImportError:
        return False
    return isinstance(data, Dataset)


def from_pyg(data: Any, split: str | None = None) -> GraphData:
    """A torch-geometric ``Data`` (one graph; ``train_mask``... kept) or a sequence of ``Data`` (a graph set)."""
    if isinstance(data, (list, tuple)) or _is_pyg_dataset(data):
        graphs = list(data)
        if not graphs:
            raise DataError("an empty list of graphs")
        xs = [g.x.detach().cpu().numpy() if getattr(g, "x", None) is not None else np.ones((g.num_nodes, 1), np.float32)
              for g in graphs]
        sizes = [len(x) for x in xs]
        ptr = np.concatenate([[0], np.cumsum(sizes)])
        ei = np.concatenate([g.edge_index.cpu().numpy() + o for g, o in zip(graphs, ptr[:-1], strict=True)], axis=1)
        ys = [int(g.y.view(-1)[0]) if getattr(g, "y", None) is not None else -1 for g in graphs]
        return GraphSetDataset(np.vstack(xs), ei, ptr, np.array(ys), origin="torch_geometric graphs")
    if not hasattr(data, "edge_index"):
        raise DataError(f"cannot use {type(data).__name__} as a graph; pass a torch_geometric Data (x, edge_index)")
    n = int(data.num_nodes)
    x = data.x.detach().cpu().numpy() if getattr(data, "x", None) is not None else np.ones((n, 1), np.float32)
    y = data.y.detach().cpu().numpy().reshape(-1) if getattr(data, "y", None) is not None else np.full(n, -1)
    masks = {k: getattr(data, f"{k}_mask").cpu().numpy() for k in NODE_SPLITS
             if getattr(data, f"{k}_mask", None) is not None}
    return NodeDataset(x, data.edge_index.cpu().numpy(), y, masks, origin="torch_geometric Data").with_split(split)


def _graph_split_path(path: str | os.PathLike, split: str | None) -> tuple[Path, str | None]:
    """``split_path``, also for a Planetoid prefix (``raw/ind.cora:test``), which is no file itself."""
    p, split = split_path(path, split)
    base, colon, suffix = str(path).rpartition(":")
    if not p.exists() and colon and suffix and "/" not in suffix and is_planetoid(Path(base).expanduser()):
        return Path(base).expanduser(), suffix
    return p, split


def is_graph_path(path: str | os.PathLike) -> bool:
    """Planetoid files, a TU folder, or an ``.npz`` whose arrays include ``edge_index`` (read from headers)."""
    p, _ = _graph_split_path(path, "train")
    if is_planetoid(p) or is_tu(p) or is_edge_list(p):
        return True
    if p.suffix == ".npz" and p.is_file():
        import zipfile

        try:
            with zipfile.ZipFile(p) as z:
                return "edge_index.npy" in z.namelist()
        except zipfile.BadZipFile:
            return False
    return False


def load_graphs(data: Any, split: str | None = None) -> GraphData:
    """Any graph source: a path (Planetoid prefix or folder, TU folder or ``_A.txt``, edge list, ``.npz``; ``:split``
    suffix allowed), a torch-geometric ``Data`` or list of them, or a dataset (re-split if asked)."""
    if isinstance(data, NodeDataset):
        return data if split is None else data.with_split(split)
    if isinstance(data, GraphSetDataset):
        return data
    if not isinstance(data, (str, os.PathLike)):
        return from_pyg(data, split)
    p, split = _graph_split_path(data, split)
    if is_planetoid(p):
        return load_planetoid(p, split)
    if is_tu(p):
        if split not in (None, "all"):
            raise DataError(f"{p}: TU sets have no {split!r} split; evaluate them by cross-validation")
        return load_tu(p)
    if is_edge_list(p):
        return load_edge_list(p, split=split)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.suffix == ".npz":
        return load_graph_npz(p, split)
    raise DataError(f"{p}: not a graph source; give Planetoid ind.<name>.* files, a TU folder (<DS>_A.txt ...), an "
                    "edges.csv (+ nodes.csv) or an .npz with edge_index")


__all__ = [
    "GraphBatch",
    "GraphData",
    "GraphSetDataset",
    "NodeDataset",
    "from_pyg",
    "is_graph_path",
    "load_edge_list",
    "load_graph_npz",
    "load_graphs",
    "load_planetoid",
    "load_tu",
    "node_features",
    "readout",
]
