"""Graph views, encoders, objectives and methods: against independent computations, and on real graphs."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("torch_geometric")

import selfsup
from selfsup.data import DataError
from selfsup.data.graphs import GraphBatch, GraphSetDataset, NodeDataset, load_graphs
from selfsup.encoders import create_encoder
from selfsup.evaluate.graph_protocols import graph_classification_cv, node_classification
from selfsup.methods import create_method
from selfsup.objectives import CrossViewNCELoss, NTXentLoss, ScaledCosineError
from selfsup.train.trainer import bf16_supported
from selfsup.views.graph import EdgeDrop, FeatureMask, NodeDrop, PPRDiffusion, Subgraph, graph_views

QUIET = {"progress": False, "monitor": {"online_probe": False, "collapse_every": 0}}


def ring_set(n_graphs: int = 6, size: int = 8, features: int = 5, seed: int = 0) -> GraphSetDataset:
    """Rings with random features: a small graph-level dataset."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_graphs * size, features)).astype(np.float32)
    edges = []
    for g in range(n_graphs):
        for i in range(size):
            u, v = g * size + i, g * size + (i + 1) % size
            edges += [(u, v), (v, u)]
    ptr = np.arange(0, n_graphs * size + 1, size)
    return GraphSetDataset(x, np.array(edges).T, ptr, np.arange(n_graphs) % 2)


def random_graph(n: int = 40, features: int = 12, p: float = 0.1, seed: int = 0) -> NodeDataset:
    rng = np.random.default_rng(seed)
    a = np.triu(rng.random((n, n)) < p, 1)
    src, dst = np.nonzero(a | a.T)
    return NodeDataset(rng.random((n, features)).astype(np.float32), np.stack([src, dst]), rng.integers(0, 3, n))


# --- views ---------------------------------------------------------------------------------------------


def test_views_replay_under_a_seed_and_keep_the_centers():
    ds = random_graph()
    gb = ds.batch(np.arange(10))
    views = graph_views("graphcl", n_views=2)
    for op in (EdgeDrop(0.3), FeatureMask(0.3), NodeDrop(0.5), Subgraph(0.5)):
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        a, pa = op(gb, g1)
        b, pb = op(gb, g2)
        assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
        assert all(torch.equal(pa[k], pb[k]) for k in pa) and all(len(v) == 10 for v in pa.values())
        assert a.shape == (10,) and (a.edge_index < a.num_nodes).all()
        # the centers are the same nodes after dropping: their features survive (up to column masking)
        if isinstance(op, (NodeDrop, Subgraph)):
            assert torch.equal(a.x[a.center], gb.x[gb.center])
    made = views(gb, torch.Generator().manual_seed(0))
    assert len(made) == 2 and "choice" in made[0][1]


def test_edge_drop_and_feature_mask_rates_and_parameters():
    ds = random_graph(n=300, features=200, p=0.05)
    gb = ds.batch(np.arange(300))
    g = torch.Generator().manual_seed(0)
    out, p = EdgeDrop(0.4)(gb, g)
    kept = out.edge_index.shape[1] / gb.edge_index.shape[1]
    assert abs(kept - 0.6) < 0.03 and torch.allclose(p["edges_kept"], torch.full((300,), kept), atol=1e-6)
    out, p = FeatureMask(0.3)(gb, g)
    zero_cols = (out.x == 0).all(0) & ~(gb.x == 0).all(0)
    assert abs(float(zero_cols.float().mean()) - 0.3) < 0.08  # whole columns, the same for every node
    assert torch.allclose(p["features_masked"], zero_cols.float().mean().expand(300), atol=1e-6)


def test_graph_level_node_drop_never_empties_a_graph_and_reports_per_graph():
    ds = ring_set()
    gb = ds.batch(np.arange(6))
    out, p = NodeDrop(0.95)(gb, torch.Generator().manual_seed(1))
    assert out.num_graphs == 6 and (torch.bincount(out.batch, minlength=6) >= 1).all()
    np.testing.assert_allclose(p["nodes_kept"].numpy(), torch.bincount(out.batch, minlength=6).numpy() / 8)


def test_ppr_diffusion_matches_the_closed_form():
    ds = random_graph(n=12, p=0.3)
    gb = ds.batch(np.arange(12))
    out, _ = PPRDiffusion(alpha=0.15, top_k=12)(gb, torch.Generator())
    a = np.zeros((12, 12))
    a[ds.edge_index[0], ds.edge_index[1]] = 1
    d = 1 / np.sqrt(np.maximum(a.sum(1), 1))
    s = 0.15 * np.linalg.inv(np.eye(12) - 0.85 * d[:, None] * a * d[None, :])
    dense = np.zeros((12, 12))
    dense[out.edge_index[1].numpy(), out.edge_index[0].numpy()] = out.edge_weight.numpy()
    np.testing.assert_allclose(dense, s, rtol=1e-4, atol=1e-5)


# --- encoders ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gcn", "gat", "gin"])
def test_graph_encoders_give_one_row_per_sample_and_are_permutation_invariant(name):
    torch.manual_seed(0)
    enc = create_encoder(name, in_channels=5).eval()
    ds = ring_set()
    gb = ds.batch(np.array([0, 3, 4]))
    z = enc(gb)
    assert z.shape == (3, enc.out_dim)
    # renumber the nodes of the batch: graph readouts must not change
    perm = torch.randperm(gb.num_nodes)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(gb.num_nodes)
    shuffled = GraphBatch(gb.x[perm], inv[gb.edge_index], gb.batch[perm], gb.num_graphs)
    torch.testing.assert_close(enc(shuffled), z, rtol=1e-4, atol=1e-4)
    nodes = random_graph(features=5)
    assert enc(nodes.batch(np.array([1, 7]))).shape == (2, enc.out_dim)
    with pytest.raises(ValueError, match="built for 5 node features but the graph has 12"):
        enc(random_graph().batch(np.array([0])))


# --- objectives against the papers' formulas -----------------------------------------------------------


def test_grace_loss_is_the_papers_formula():
    torch.manual_seed(0)
    u, v, t = torch.randn(7, 4), torch.randn(7, 4), 0.4

    def semi(a, b):  # GRACE eq. (1): positive, inter-view and intra-view negatives
        s_ab = torch.exp(F.normalize(a) @ F.normalize(b).T / t)
        s_aa = torch.exp(F.normalize(a) @ F.normalize(a).T / t)
        return -torch.log(s_ab.diag() / (s_ab.sum(1) + s_aa.sum(1) - s_aa.diag()))

    expected = 0.5 * (semi(u, v) + semi(v, u)).mean()
    loss, _ = NTXentLoss(t)(u, v)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


def test_graphcl_loss_is_the_papers_code():
    torch.manual_seed(0)
    a, b, t = torch.randn(6, 5), torch.randn(6, 5), 0.2
    sim = torch.exp((a @ b.T) / (a.norm(dim=1)[:, None] * b.norm(dim=1)[None, :]) / t)
    pos = sim.diag()
    expected = -torch.log(pos / (sim.sum(1) - pos)).mean()
    loss, _ = CrossViewNCELoss(t)(a, b)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


def test_scaled_cosine_error():
    torch.manual_seed(0)
    x, y = torch.randn(5, 3), torch.randn(5, 3)
    a, b = x.numpy(), y.numpy()
    cos = torch.tensor([float(a[i] @ b[i] / np.linalg.norm(a[i]) / np.linalg.norm(b[i])) for i in range(5)])
    loss, _ = ScaledCosineError(3.0)(x, y)
    torch.testing.assert_close(loss, ((1 - cos) ** 3).mean(), rtol=1e-5, atol=1e-6)


# --- methods -------------------------------------------------------------------------------------------


def test_dgi_loss_is_binary_cross_entropy_of_the_bilinear_scores():
    torch.manual_seed(0)
    ds = random_graph()
    enc = create_encoder("gcn", in_channels=12, out_dim=8)
    m = create_method("dgi", enc)
    gb = ds.batch(np.arange(40))
    torch.manual_seed(5)
    out = m([gb])
    torch.manual_seed(5)
    perm = torch.randperm(40)
    h, hc = enc.nodes(gb), enc.nodes(gb.replace(x=gb.x[perm]))
    s = torch.sigmoid(h.mean(0, keepdim=True)).expand_as(h)
    w, bias = m.discriminator.weight[0], m.discriminator.bias
    pos, neg = (h @ w * s).sum(1) + bias, (hc @ w * s).sum(1) + bias
    expected = -(F.logsigmoid(pos).sum() + F.logsigmoid(-neg).sum()) / 80
    torch.testing.assert_close(out["loss"], expected, rtol=1e-5, atol=1e-6)


def test_aggregate_first_gat_equals_torch_geometrics_one_head_gat():
    from torch_geometric.nn import GATConv

    from selfsup.encoders.graph import AggregateFirstGATConv

    ds = random_graph(n=50, features=6, p=0.15)
    ei = torch.from_numpy(ds.edge_index)
    torch.manual_seed(0)
    ref, mine = GATConv(6, 20, heads=1), AggregateFirstGATConv(6, 20)
    with torch.no_grad():
        mine.lin.weight.copy_(ref.lin.weight)
        mine.att_src.copy_(ref.att_src.view(1, -1))
        mine.att_dst.copy_(ref.att_dst.view(1, -1))
        mine.bias.normal_()
        ref.bias.copy_(mine.bias)
    x = torch.randn(50, 6, requires_grad=True)
    out_ref, out = ref(x, ei), mine(x, ei)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    g_ref, = torch.autograd.grad(out_ref.pow(2).sum(), x)
    g, = torch.autograd.grad(out.pow(2).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-5)


def test_gat_initialisations_have_their_spread():
    enc = create_encoder("gat", in_channels=300)  # GraphMAE's reference init: Xavier-normal, ReLU gain
    w, att = enc.convs[0].lin.weight, enc.convs[0].att_src  # (512, 300) and (1, 4 heads, 128)
    assert w.std().item() == pytest.approx(math.sqrt(2) * math.sqrt(2 / (300 + 512)), rel=0.03)
    assert att.std().item() == pytest.approx(math.sqrt(2) * math.sqrt(2 / (512 + 128)), rel=0.1)
    assert (enc.convs[0].bias == 0).all()
    glorot = create_encoder("gat", in_channels=300, init="glorot").convs[0].lin.weight  # uniform, gain 1
    assert glorot.std().item() == pytest.approx(math.sqrt(2 / (300 + 512)), rel=0.03)
    assert glorot.abs().max().item() <= math.sqrt(6 / (300 + 512))
    with pytest.raises(ValueError, match="init must be one of"):
        create_encoder("gat", in_channels=3, init="he")


def test_graphmae_masks_remasks_and_scores_only_masked_nodes():
    torch.manual_seed(0)
    ds = random_graph(n=40)
    enc = create_encoder("gat", in_channels=12, out_dim=16, hidden=16, heads=2)
    m = create_method("graphmae", enc, mask_rate=0.5, replace_rate=0.2).eval()
    masked, token, noise = m.mask(40, torch.device("cpu"))
    assert len(masked) == 20 and len(noise) == 4 and len(token) == 16
    assert set(token.tolist()) | set(noise.tolist()) == set(masked.tolist())
    seen = {}
    def grab(module, args):
        seen["code"] = args[0].detach()

    m.decoder.register_forward_pre_hook(grab)
    gb = ds.batch(np.arange(40))
    torch.manual_seed(1)
    out = m([gb])
    torch.manual_seed(1)
    masked, _, _ = m.mask(40, torch.device("cpu"))
    code = seen["code"]
    assert (code[masked] == 0).all() and (code.abs().sum(1) > 0).sum() == 20  # re-masked: zero codes
    assert out["loss"].requires_grad and out["embedding"].shape == (40, 16)


def test_bgrl_target_gets_no_gradient_and_follows_the_online_encoder():
    torch.manual_seed(0)
    ds = random_graph()
    enc = create_encoder("gcn", in_channels=12, out_dim=8)
    m = create_method("bgrl", enc, pred_hidden_dim=16)
    views = graph_views("bgrl")(ds.batch(np.arange(40)), torch.Generator().manual_seed(0))
    out = m([v for v, _ in views])
    out["loss"].backward()
    assert all(p.grad is None for p in m.target.parameters())
    before = [p.clone() for p in m.target.parameters()]
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(1.0)
    m.on_step_end(1, 10)
    assert all(not torch.equal(a, b) for a, b in zip(before, m.target.parameters(), strict=True))


def test_grace_pretrains_saves_and_embeds_a_graph(tmp_path):
    f = tmp_path / "g.npz"
    ds = random_graph(n=60)
    np.savez(f, x=ds.x, edge_index=ds.edge_index, y=ds.y)
    enc = selfsup.pretrain(str(f), "grace", epochs=3, seed=0, run_dir=tmp_path / "run", encoder_kwargs={"out_dim": 8},
                           **QUIET)
    z = enc.embed(str(f))
    assert z.shape == (60, 8) and np.isfinite(z).all()
    again = selfsup.load(tmp_path / "run")
    np.testing.assert_allclose(again.embed(str(f)), z, rtol=1e-5, atol=1e-6)
    assert again.preprocess.mode == "row" and "graph" in repr(again)
    same = selfsup.pretrain(str(f), "grace", epochs=3, seed=0, encoder_kwargs={"out_dim": 8}, **QUIET)
    np.testing.assert_array_equal(same.embed(str(f)), z)  # deterministic under a seed


def test_graph_level_methods_train_on_a_graph_set_and_image_methods_refuse_graphs():
    ds = ring_set(n_graphs=8)
    for method in ("graphcl", "simclr", "dgi", "graphmae", "bgrl", "grace"):
        for precision in ("fp32", "bf16"):  # bf16 autocast where the CPU has it (the trainer's "auto")
            if precision == "bf16" and not bf16_supported(torch.device("cpu")):
                continue
            ekw = {"layers": 1, "out_dim": 16, "activation": "prelu"} if method == "dgi" else {}
            enc = selfsup.pretrain(ds, method, max_steps=2, batch_size=4, seed=0, precision=precision,
                                   encoder_kwargs=ekw, **QUIET)
            assert enc.embed(ds).shape == (8, enc.out_dim)
    with pytest.raises(selfsup.config.ConfigError, match="trains on image data, not graph"):
        selfsup.pretrain(ds, "mae", max_steps=1, batch_size=4, **QUIET)


def test_a_graph_set_without_a_test_split_is_evaluated_by_cross_validation(tmp_path, capsys):
    from selfsup.cli import main

    ds = ring_set(n_graphs=20)
    f = tmp_path / "rings.npz"
    np.savez(f, x=ds.x, edge_index=ds.edge_index, graph_ptr=ds.ptr, graph_labels=ds.labels)
    selfsup.pretrain(str(f), "graphcl", max_steps=2, batch_size=4, seed=0, run_dir=tmp_path / "run", **QUIET)
    enc = selfsup.load(tmp_path / "run")
    res = selfsup.evaluate(enc, str(f), metrics=["linear", "knn"], fractions=(1.0,), folds=4, baseline="scratch")
    assert res["data"]["test"] is None and res["protocol"]["cv_folds"] == 4
    assert len(res["scratch"]["knn"]["1"]["runs"]) == 4
    assert len(res["linear"]["1"]["runs"]) == 4 and res["n_test"] == 5
    with pytest.raises(DataError, match="retrieval need\\(s\\) a labelled test set"):
        selfsup.evaluate(enc, str(f), metrics=["linear", "retrieval"])
    with pytest.raises(DataError, match=r"no 'train' split.*without --test"):
        selfsup.evaluate(enc, str(f), str(f))
    assert main(["evaluate", str(tmp_path / "run"), "--train", str(f), "--folds", "4", "--fractions", "1",
                 "--metrics", "svm"]) == 0
    saved = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert len(saved["svm"]["1"]["runs"]) == 4


# --- real data -----------------------------------------------------------------------------------------


def test_grace_beats_a_random_encoder_on_cora(shared_data):
    path = str(shared_data / "planetoid" / "cora.npz")
    enc = selfsup.pretrain(path, "grace", epochs=60, seed=0, threads=2, **QUIET)
    ds = load_graphs(path)
    acc = node_classification(enc.embed(ds), ds.y, ds.masks)["accuracy"]
    base = node_classification(selfsup.api.scratch_encoder(enc).embed(ds), ds.y, ds.masks)["accuracy"]
    assert acc > 0.74 and acc > base + 0.08, (acc, base)


@pytest.mark.slow
# random-init GCN/GAT features are strong on Cora (0.63-0.76 under this probe), so the margins are modest; measured
# here (seed 0): graphmae 150 epochs 0.796 vs 0.757; dgi clears 0.05; bgrl 200 epochs gave 0.684 vs 0.634 on an AMD
# EPYC but 0.652 on an Intel Xeon (bf16 kernels differ), 400 epochs 0.702 vs 0.634 there
@pytest.mark.parametrize("method,epochs,margin", [("dgi", 100, 0.05), ("graphmae", 150, 0.02), ("bgrl", 400, 0.02)])
def test_node_methods_beat_a_random_encoder_on_cora(shared_data, method, epochs, margin):
    path = str(shared_data / "planetoid" / "cora.npz")
    kw = {"warmup_epochs": 10} if method == "bgrl" else {}
    enc = selfsup.pretrain(path, method, epochs=epochs, seed=0, threads=2, **kw, **QUIET)
    ds = load_graphs(path)
    acc = node_classification(enc.embed(ds), ds.y, ds.masks)["accuracy"]
    base = node_classification(selfsup.api.scratch_encoder(enc).embed(ds), ds.y, ds.masks)["accuracy"]
    assert acc > base + margin, (acc, base)


@pytest.mark.slow
def test_graphcl_beats_a_random_encoder_on_mutag_over_seeds(shared_data):
    path = str(shared_data / "tudatasets" / "MUTAG.npz")
    ds = load_graphs(path)
    acc, base = [], []
    for seed in range(3):
        enc = selfsup.pretrain(path, "graphcl", epochs=20, seed=seed, threads=2, **QUIET)
        acc.append(graph_classification_cv(enc.embed(ds), ds.labels, seed=seed)["accuracy"])
        base.append(graph_classification_cv(selfsup.api.scratch_encoder(enc, seed).embed(ds), ds.labels,
                                            seed=seed)["accuracy"])
    assert np.mean(acc) > np.mean(base) and np.mean(acc) > 0.84, (acc, base)
    assert math.isfinite(np.std(acc))


def test_graphmae_keeps_raw_features_grace_row_normalises_and_the_user_chooses(tmp_path):
    """Methods name the feature preprocessing of their paper; it is saved with the encoder."""
    ds = random_graph(n=30)
    assert selfsup.pretrain(ds, "graphmae", max_steps=1, encoder_kwargs={"out_dim": 8, "hidden": 8, "heads": 2},
                            **QUIET).preprocess.mode == "none"
    assert selfsup.pretrain(ds, "grace", max_steps=1, encoder_kwargs={"out_dim": 8}, **QUIET).preprocess.mode == "row"
    chosen = selfsup.pretrain(ds, "graphmae", max_steps=1, feature_norm="row",
                              encoder_kwargs={"out_dim": 8, "hidden": 8, "heads": 2}, **QUIET)
    assert chosen.preprocess.mode == "row"  # the user's choice wins over the method's
    with pytest.raises(selfsup.config.ConfigError, match="must be 'row' or 'none'"):
        selfsup.pretrain(ds, "grace", max_steps=1, feature_norm="l2", **QUIET)
    with pytest.raises(selfsup.config.ConfigError, match="feature_norm do not apply to image data"):
        selfsup.pretrain(np.zeros((4, 8, 8, 3), np.uint8), "simclr", max_steps=1, feature_norm="row", **QUIET)
