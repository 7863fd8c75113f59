"""Graph sources: Planetoid and TU raw formats against the reference arrays, batches, named errors."""

import pickle
import tarfile

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from selfsup.data import DataError
from selfsup.data.graphs import GraphBatch, GraphSetDataset, NodeDataset, load_graphs
from selfsup.modalities import modality_for


@pytest.fixture(scope="module")
def raw(shared_data, tmp_path_factory):
    """The verbatim Planetoid and TU files, extracted once."""
    root = tmp_path_factory.mktemp("graph_raw")
    with tarfile.open(shared_data / "planetoid" / "raw_planetoid_ind.tar.xz") as t:
        t.extractall(root / "planetoid", filter="data")
    with tarfile.open(shared_data / "tudatasets" / "raw_tu_txt.tar.xz") as t:
        t.extractall(root / "tu", filter="data")
    return root


@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_planetoid_raw_files_give_the_reference_graph_and_public_split(raw, shared_data, name):
    ds = load_graphs(raw / "planetoid" / "raw" / f"ind.{name}")
    ref = np.load(shared_data / "planetoid" / f"{name}.npz")
    np.testing.assert_array_equal(ds.x, ref["x"])
    np.testing.assert_array_equal(ds.y, ref["y"])  # CiteSeer's isolated test-range nodes: -1
    np.testing.assert_array_equal(np.unique(ds.edge_index, axis=1), np.unique(ref["edge_index"], axis=1))
    for k in ("train", "val", "test"):
        np.testing.assert_array_equal(ds.masks[k], ref[f"{k}_mask"])
    test = load_graphs(f"{raw / 'planetoid' / 'raw' / f'ind.{name}'}:test")
    assert len(test) == 1000 and test.has_labels and (test.labels == ref["y"][ref["test_mask"]]).all()
    assert modality_for(str(raw / "planetoid" / "raw" / f"ind.{name}.x")).name == "graph"


def test_planetoid_folder_with_two_sets_asks_which(raw):
    with pytest.raises(DataError, match=r"several Planetoid sets \(citeseer, cora\).*ind.cora"):
        load_graphs(raw / "planetoid" / "raw")


@pytest.mark.parametrize("name", ["MUTAG", "PROTEINS", "ENZYMES"])
def test_tu_raw_files_give_the_reference_arrays(raw, shared_data, name):
    ds = load_graphs(raw / "tu" / "raw" / name)
    ref = load_graphs(shared_data / "tudatasets" / f"{name}.npz")
    assert isinstance(ds, GraphSetDataset) and len(ds) == len(ref)
    np.testing.assert_array_equal(ds.x, ref.x)
    np.testing.assert_array_equal(ds.labels, ref.labels)
    np.testing.assert_array_equal(ds.ptr, ref.ptr)
    np.testing.assert_array_equal(ds.edge_index, ref.edge_index)
    assert modality_for(str(raw / "tu" / "raw" / name)).name == "graph"


def test_graph_set_batch_is_the_disjoint_union_of_its_graphs(shared_data):
    ds = load_graphs(shared_data / "tudatasets" / "MUTAG.npz")
    gb = ds.batch(np.array([5, 2]))
    sizes = np.diff(ds.ptr)[[5, 2]]
    assert gb.num_graphs == 2 and gb.num_nodes == sizes.sum() and gb.shape == (2,)
    np.testing.assert_array_equal(gb.x.numpy(), np.vstack([ds.x[ds.ptr[5]:ds.ptr[6]], ds.x[ds.ptr[2]:ds.ptr[3]]]))
    assert (gb.batch[gb.edge_index[0]] == gb.batch[gb.edge_index[1]]).all()  # no edge crosses graphs
    own = ds.edge_index[:, (ds.edge_index[0] >= ds.ptr[2]) & (ds.edge_index[0] < ds.ptr[3])] - ds.ptr[2] + sizes[0]
    got = gb.edge_index[:, gb.batch[gb.edge_index[0]] == 1].numpy()
    np.testing.assert_array_equal(np.unique(got, axis=1), np.unique(own, axis=1))


def test_graph_batch_cat_offsets_nodes_graphs_and_centers():
    a = GraphBatch(torch.ones(3, 2), torch.tensor([[0, 1], [1, 2]]), torch.zeros(3, dtype=torch.long), 1,
                   torch.tensor([0, 2]))
    b = GraphBatch(torch.zeros(2, 2), torch.tensor([[0], [1]]), torch.zeros(2, dtype=torch.long), 1,
                   torch.tensor([1, 0]))
    c = GraphBatch.cat([a, b])
    assert c.num_nodes == 5 and c.num_graphs == 2 and c.shape == (4,)
    assert c.edge_index.tolist() == [[0, 1, 3], [1, 2, 4]]
    assert c.batch.tolist() == [0, 0, 0, 1, 1] and c.center.tolist() == [0, 2, 4, 3]


def _tu(tmp_path, a="1, 2\n2, 1\n2, 3\n3, 2\n", indicator="1\n1\n2\n", labels="1\n-1\n", node_labels=None):
    d = tmp_path / "TOY"
    d.mkdir(exist_ok=True)
    (d / "TOY_A.txt").write_text(a)
    (d / "TOY_graph_indicator.txt").write_text(indicator)
    (d / "TOY_graph_labels.txt").write_text(labels)
    if node_labels is not None:
        (d / "TOY_node_labels.txt").write_text(node_labels)
    return d


def test_a_small_tu_set_reads_with_degree_features_when_it_has_no_node_data(tmp_path):
    ds = load_graphs(_tu(tmp_path, a="1, 2\n2, 1\n", indicator="1\n1\n2\n"))
    assert len(ds) == 2 and list(ds.labels) == [1, 0] and ds.class_names == ["-1", "1"]
    assert ds.x.shape == (3, 11) and ds.x[:, 1].tolist() == [1, 1, 0] and ds.x[2, 0] == 1  # degrees 1, 1, 0


@pytest.mark.parametrize("kw,match", [
    ({"a": "1, 2\n2, 9\n"}, r"TOY_A.txt, line 2: node \[2, 9\] is out of range.*3 nodes"),
    ({"a": "1, 2\n2, x\n"}, r"TOY_A.txt, line 2: '2 x' is not numeric"),
    ({"labels": "1\n"}, r"graph ids run 1..2 but .*TOY_graph_labels.txt has 1 lines"),
    ({"node_labels": "0\n1\n"}, r"TOY_node_labels.txt: 2 lines for 3 nodes"),
    ({"a": "1, 2, 3\n"}, r"3 values per line; each line is one edge"),
    ({"a": "1, 3\n", "indicator": "1\n1\n2\n"}, r"edge 0 joins graph 0 to graph 1"),
])
def test_malformed_tu_files_get_named_errors(tmp_path, kw, match):
    with pytest.raises(DataError, match=match):
        load_graphs(_tu(tmp_path, **kw))


def test_missing_tu_file_is_named(tmp_path):
    d = _tu(tmp_path)
    (d / "TOY_graph_labels.txt").unlink()
    with pytest.raises(DataError, match=r"TOY_graph_labels.txt: missing"):
        load_graphs(d)


def _planetoid(tmp_path, raw, name="cora"):
    """A writable copy of the raw Planetoid files of one set."""
    import shutil

    d = tmp_path / "p"
    d.mkdir(exist_ok=True)
    for f in (raw / "planetoid" / "raw").glob(f"ind.{name}.*"):
        shutil.copy(f, d / f.name)
    return d / f"ind.{name}"


def test_planetoid_missing_file_edge_out_of_range_and_count_mismatch_are_named(raw, tmp_path):
    prefix = _planetoid(tmp_path, raw)
    (prefix.parent / "ind.cora.tx").rename(prefix.parent / "ind.cora.tx.bak")
    with pytest.raises(DataError, match=r"ind.cora.tx: missing"):
        load_graphs(prefix)
    (prefix.parent / "ind.cora.tx.bak").rename(prefix.parent / "ind.cora.tx")

    idx = prefix.parent / "ind.cora.test.index"
    lines = idx.read_text().splitlines()
    idx.write_text("\n".join(lines[:-1]))
    with pytest.raises(DataError, match=r"999 test ids for 1000 rows"):
        load_graphs(prefix)
    idx.write_text("\n".join(lines))

    graph = prefix.parent / "ind.cora.graph"
    with open(graph, "rb") as f:
        adj = pickle.load(f, encoding="latin1")
    adj[0] = [*adj[0], 99999]
    with open(graph, "wb") as f:
        pickle.dump(adj, f)
    with pytest.raises(DataError, match=r"ind.cora.graph: node 99999 is out of range \(the features have 2708 rows"):
        load_graphs(prefix)


def test_graph_npz_and_arrays_get_named_errors(tmp_path):
    f = tmp_path / "g.npz"
    np.savez(f, x=np.ones((3, 2), np.float32), edge_index=np.array([[0, 1], [1, 5]]))
    with pytest.raises(DataError, match=r"edge 1 \(1 -> 5\) names a node outside 0..2"):
        load_graphs(f)
    with pytest.raises(DataError, match=r"3 labels for 2 nodes"):
        NodeDataset(np.ones((2, 2)), np.zeros((2, 0), np.int64), np.zeros(3))
    ok = tmp_path / "ok.npz"
    np.savez(ok, x=np.ones((3, 2), np.float32), edge_index=np.array([[0, 1], [1, 2]]), y=np.array([0, 1, 1]),
             train_mask=np.array([1, 0, 0], bool))
    with pytest.raises(DataError, match=r"no 'val' split; this graph has train"):
        load_graphs(f"{ok}:val")
    assert len(load_graphs(f"{ok}:train")) == 1 and modality_for(str(ok)).name == "graph"


def test_torch_geometric_data_objects_are_graph_sources():
    from torch_geometric.data import Data

    g = Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]), y=torch.tensor([0, 1, 0, 1]))
    ds = load_graphs(g)
    assert isinstance(ds, NodeDataset) and len(ds) == 4 and ds.has_labels
    many = load_graphs([Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0], [1]]), y=torch.tensor([1])),
                        Data(x=torch.randn(2, 2), edge_index=torch.tensor([[1], [0]]), y=torch.tensor([0]))])
    assert isinstance(many, GraphSetDataset) and list(many.labels) == [1, 0]
    assert many.batch(np.array([1])).edge_index.tolist() == [[1], [0]]
    assert modality_for(g).name == "graph"


def _write_cora_as_tables(shared_data, folder, sep=","):
    """Cora as an edge list naming string ids and a node table with id, label, split and 1433 features."""
    ref = np.load(shared_data / "planetoid" / "cora.npz")
    folder.mkdir()
    ids = [f"paper{i}" for i in range(len(ref["x"]))]
    ext = ".csv" if sep == "," else ".tsv"
    split = np.select([ref["train_mask"], ref["val_mask"], ref["test_mask"]], ["train", "val", "test"], "")
    words = ref["x"].astype(np.int8)
    assert (words == ref["x"]).all()  # binary bag of words: written as 0/1
    head = sep.join(["id", *(f"w{j}" for j in range(ref["x"].shape[1])), "label", "split"])
    rows = [sep.join([ids[i], sep.join(map(str, words[i])), f"c{ref['y'][i]}", split[i]]) for i in range(len(ids))]
    (folder / f"nodes{ext}").write_text("\n".join([head, *rows]) + "\n")
    src, dst = ref["edge_index"]
    keep = src < dst  # one direction: the loader makes the graph symmetric again
    (folder / f"edges{ext}").write_text(f"source{sep}target\n" + "".join(
        f"{ids[a]}{sep}{ids[b]}\n" for a, b in zip(src[keep], dst[keep], strict=True)))
    return ref


@pytest.mark.parametrize("sep", [",", "\t"])
def test_edge_list_and_node_table_give_the_reference_graph(shared_data, tmp_path, sep):
    ref = _write_cora_as_tables(shared_data, tmp_path / "cora", sep)
    ds = load_graphs(tmp_path / "cora")
    np.testing.assert_array_equal(ds.x, ref["x"])
    assert ds.class_names == [f"c{k}" for k in range(7)]
    np.testing.assert_array_equal(ds.y, ref["y"])
    np.testing.assert_array_equal(np.unique(ds.edge_index, axis=1), np.unique(ref["edge_index"], axis=1))
    for k in ("train", "val", "test"):
        np.testing.assert_array_equal(ds.masks[k], ref[f"{k}_mask"])
    ext = ".csv" if sep == "," else ".tsv"
    test = load_graphs(f"{tmp_path / 'cora' / f'edges{ext}'}:test")
    assert len(test) == 1000 and (test.labels == ref["y"][ref["test_mask"]]).all()
    assert modality_for(str(tmp_path / "cora")).name == "graph"


def test_edge_list_alone_numbers_nodes_and_uses_degree_features(tmp_path):
    (tmp_path / "g_edges.txt").write_text("0 1\n1 2\n\n2 0\n4 2\n")
    ds = load_graphs(tmp_path / "g_edges.txt")
    assert ds.num_nodes == 5 and ds.edge_index.shape[1] == 8  # node 3 isolated; 4 edges both ways
    np.testing.assert_array_equal(ds.x.argmax(1), [2, 2, 3, 0, 1])  # one-hot degree
    assert not ds.has_labels
    (tmp_path / "edges.csv").write_text("a,b\nb,c\n")
    named = load_graphs(tmp_path)
    assert named.num_nodes == 3 and named.edge_index.shape[1] == 4


@pytest.mark.parametrize(("edges", "nodes", "match"), [
    ("source,target\n0,1\n1,7\n", "x1,x2\n1,2\n3,4\n", r"edges.csv, line 3: node '7' is not a row of .*nodes.csv"),
    ("a,b\nb,zz\n", "id,x1\na,1\nb,2\n", r"edges.csv, line 2: node 'zz' is not in .*nodes.csv"),
    ("0,1,0.5\n", "x1\n1\n2\n", r"edges.csv, line 1: 3 values; each line is one edge"),
    ("0,1\n", "x1,x2\n1,2\n3\n", r"nodes.csv, line 3: 1 values for the 2 columns"),
    ("0,1\n", "x1,label\n1,a\nfoo,b\n", r"nodes.csv, line 3, column 'x1': 'foo' is not a number"),
    ("0,1\n", "x1,split\n1,train\n2,dev\n", r"nodes.csv, line 3: split 'dev'"),
    ("a,b\n", "id,x1\na,1\na,2\n", r"node id 'a' appears on lines \[2, 3\]"),
    ("0,1\n", "x1\n1\nnan\n", r"nodes.csv, line 3, column 'x1': 'nan' is not finite"),
])
def test_malformed_edge_lists_and_node_tables_get_named_errors(tmp_path, edges, nodes, match):
    (tmp_path / "edges.csv").write_text(edges)
    (tmp_path / "nodes.csv").write_text(nodes)
    with pytest.raises(DataError, match=match):
        load_graphs(tmp_path)
