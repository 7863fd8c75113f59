"""Every registered method: runs by name, gradients flow only where they should, state resumes exactly."""

import math

import numpy as np
import pytest
import torch
from helpers import TINY_ENCODER, tiny_images, tiny_method_kwargs

import selfsup
from selfsup.data.series import SeriesDataset
from selfsup.methods import METHODS, create_method
from selfsup.methods.base import EMATeacher, cross_view_pairs, encode_views, num_global
from selfsup.views import MultiCrop, image_views
from selfsup.views.series import series_views

MASKED = {"mae", "hpm"}  # need a ViT
TWO_VIEWS = {"sie", "equicaps"}  # exactly two views, related by a rotation


SERIES = {n for n, c in METHODS.items() if c.modalities == ("series",)}  # built for (B, C, T) series
GRAPH = {n for n, c in METHODS.items() if c.modalities == ("graph",)}  # built for GraphBatch
TABULAR = {n for n, c in METHODS.items() if c.modalities == ("tabular",)}  # (B, numeric + categorical codes)


def _encoder(name):
    if name in TABULAR:
        return selfsup.create_encoder("tab_mlp", n_numeric=3, cardinalities=[4], hidden=16, depth=2)
    if name in GRAPH:
        return selfsup.create_encoder("gat" if name == "graphmae" else "gcn", in_channels=3, out_dim=16, hidden=8,
                                      **({"heads": 2} if name == "graphmae" else {}))
    if name in SERIES:
        if name == "masked_patches":
            return selfsup.create_encoder("patch_tst", in_channels=2, patch_len=4, out_dim=16, depth=1, heads=2)
        return selfsup.create_encoder("ts_conv", in_channels=2, out_dim=16, hidden=8, depth=2)
    if name in MASKED:
        return selfsup.create_encoder("vit_tiny", image_size=16, patch_size=4)
    if name == "equicaps":
        return selfsup.create_encoder("capsule_cnn", n_primary=4, n_capsules=2, pose_dim=2, **TINY_ENCODER)
    return selfsup.create_encoder("small_cnn", **TINY_ENCODER)


def _views(n_global=2, n_local=0, b=8):
    g = torch.Generator().manual_seed(0)
    return ([torch.randn(b, 3, 16, 16, generator=g) for _ in range(n_global)]
            + [torch.randn(b, 3, 8, 8, generator=g) for _ in range(n_local)])


@pytest.mark.parametrize("name", sorted(METHODS))
def test_gradients_reach_the_encoder_and_never_a_teacher(name):
    torch.manual_seed(0)
    m = create_method(name, _encoder(name), **tiny_method_kwargs(name))
    if name in GRAPH:  # the method's own graph views on a batch of 8 random graphs
        from selfsup.data.graphs import GraphSetDataset
        from selfsup.views.graph import graph_views

        rng = np.random.default_rng(0)
        edges = np.array([[i, i + 1] for i in range(79) if (i + 1) % 10]).T
        graphs = GraphSetDataset(rng.standard_normal((80, 3)), np.hstack([edges, edges[::-1]]), np.arange(0, 81, 10),
                                 np.zeros(8))
        m.setup(8)
        made = graph_views(METHODS[name].default_views)(graphs.batch(np.arange(8)), torch.Generator().manual_seed(0))
        views, params = [v for v, _ in made], [{**p, "index": torch.arange(8)} for _, p in made]
    elif name in TABULAR:  # the method's own table views: 3 standardised numeric columns and one category code
        from selfsup.views.tabular import tabular_views

        rows = torch.cat([torch.randn(8, 3), torch.randint(0, 4, (8, 1)).float()], 1)
        m.setup(8)
        made = tabular_views(METHODS[name].default_views)(rows, torch.Generator().manual_seed(0))
        views, params = [v for v, _ in made], [{**p, "index": torch.arange(8)} for _, p in made]
    elif name in SERIES:  # the method's own series views, with missing values in the batch
        series = torch.randn(16, 2, 32)
        series[0, :, 20:] = float("nan")
        m.setup(16, SeriesDataset.from_arrays(series.numpy()))
        made = series_views(METHODS[name].default_views)(series[:8], torch.Generator().manual_seed(0))
        views, params = [v for v, _ in made], [{**p, "index": torch.arange(8)} for _, p in made]
    else:
        m.setup(16)
        views = _views(n_local=0 if name in MASKED | TWO_VIEWS else 2)
        # every view carries crop, jitter and angle params: view-parameter regression and SIE read them
        params = [{"index": torch.arange(8), "crop": torch.rand(8, 4), "jitter": torch.rand(8, 4),
                   "angle": 360 * torch.rand(8)} for _ in views]
    out = m(views, params)
    assert out["loss"].ndim == 0 and math.isfinite(out["loss"].item())
    assert out["embedding"].shape == (8, m.encoder.out_dim) and not out["embedding"].requires_grad
    out["loss"].backward()
    enc_grads = [p.grad for p in m.encoder.parameters() if p.requires_grad]
    assert all(g is not None for g in enc_grads) and sum(float(g.abs().sum()) for g in enc_grads) > 0
    for mod in m.modules():
        if isinstance(mod, EMATeacher):  # stop-gradient teachers: frozen, no gradient
            assert all(not p.requires_grad and p.grad is None for p in mod.parameters())
    m.on_step_end(1, 10)


def test_view_pairs_and_multicrop_grouping():
    two = _views()
    assert cross_view_pairs(two) == [(1, 0), (0, 1)]
    crops = _views(2, 3)
    assert num_global(crops) == 2
    pairs = cross_view_pairs(crops)
    assert all(t < 2 and s != t for s, t in pairs) and len(pairs) == 2 * 4
    calls = []

    def module(x):
        calls.append(x.shape[0])
        return x.mean((2, 3))

    outs = encode_views(module, crops)
    assert calls == [16, 24] and [o.shape[0] for o in outs] == [8] * 5  # one pass per crop size
    assert torch.allclose(outs[3], crops[3].mean((2, 3)))


def test_multicrop_views_sizes_and_order():
    views = image_views("simclr", 32, n_views=2, n_local=4)
    assert isinstance(views, MultiCrop) and views.n_views == 6
    made = views(torch.randint(0, 255, (5, 3, 32, 32), dtype=torch.uint8), torch.Generator().manual_seed(0))
    assert [v.shape[-1] for v, _ in made] == [32, 32, 14, 14, 14, 14]


def test_moco_queue_is_fifo_and_key_encoder_follows_momentum():
    torch.manual_seed(0)
    m = create_method("moco_v2", _encoder("moco_v2"), **{**tiny_method_kwargs("moco_v2"), "queue_size": 20})
    before = m.queue.keys.clone()
    m(_views())["loss"].backward()
    k_first = m.queue._pending.clone()  # keys of both views, 16 rows
    m.on_step_end(1, 10)
    assert torch.allclose(m.queue.keys[:16], k_first) and torch.equal(m.queue.keys[16:], before[16:])
    m(_views())
    m.on_step_end(2, 10)
    assert int(m.queue.ptr) == 32 % 20 and m.queue.full  # wrapped around


def test_swav_codes_are_equipartitioned_and_prototypes_start_frozen():
    from selfsup.objectives import sinkhorn

    scores = torch.rand(64, 8, generator=torch.Generator().manual_seed(0)) * 0.5  # cosine-like range
    q = sinkhorn(scores, 0.05, 100)
    assert torch.allclose(q.sum(1), torch.ones(64), atol=1e-4)
    assert torch.allclose(q.sum(0), torch.full((8,), 8.0), atol=1e-2)  # B / K each
    # three iterations equal the alternating row/column scaling written out in numpy
    p = np.exp(scores.double().numpy() / 0.05).T
    p /= p.sum()
    for _ in range(3):
        p /= p.sum(1, keepdims=True) * 8
        p /= p.sum(0, keepdims=True) * 64
    assert np.allclose(sinkhorn(scores, 0.05, 3).numpy(), (p * 64).T, rtol=1e-4)
    m = create_method("swav", _encoder("swav"), **tiny_method_kwargs("swav"), freeze_prototypes_steps=1)
    m(_views())["loss"].backward()
    assert m.prototypes.weight.grad is None
    m.on_step_end(1, 10)
    m(_views())["loss"].backward()
    assert m.prototypes.weight.grad is not None


def test_dino_centre_and_teacher_temperature_schedule():
    m = create_method("dino", _encoder("dino"), **tiny_method_kwargs("dino"))
    assert m.teacher_temperature() == pytest.approx(0.04)
    m.on_step_end(3, 10)  # 30 % of training: warm-up done
    assert m.teacher_temperature() == pytest.approx(0.07)
    with torch.no_grad():
        teacher = encode_views(m.teacher, _views())
    m(_views())
    expected = 0.1 * torch.cat(teacher).mean(0, keepdim=True)  # 0.9 * 0 + 0.1 * batch mean
    assert torch.allclose(m.criterion.center, expected, atol=1e-5)


def test_mae_loss_is_on_masked_patches_only():
    from selfsup.methods.mae import patchify

    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    p = patchify(x, 2)
    assert p.shape == (2, 4, 12) and torch.equal(p[0, 1].view(2, 2, 3)[..., 0], x[0, 0, :2, 2:])
    torch.manual_seed(0)
    m = create_method("mae", _encoder("mae"), **tiny_method_kwargs("mae"))
    views = _views(1)
    keep = {}
    m.choose_keep = lambda tokens, n: keep.setdefault("k", torch.arange(n).expand(tokens.shape[0], n))
    base = m(views)["loss"]
    # the loss counts masked patches only: zeroing the kept patches' targets must not move it
    targets = m.criterion.targets
    m.criterion.targets = lambda p: torch.cat([torch.zeros_like(targets(p)[:, :4]), targets(p)[:, 4:]], 1)
    assert torch.allclose(m(views)["loss"], base)
    m.criterion.targets = lambda p: torch.cat([targets(p)[:, :4], torch.zeros_like(targets(p)[:, 4:])], 1)
    assert not torch.allclose(m(views)["loss"], base)


def test_hpm_masks_the_predicted_hard_patches():
    torch.manual_seed(0)
    m = create_method("hpm", _encoder("hpm"), **tiny_method_kwargs("hpm"), hard_fraction_start=1.0,
                      hard_fraction_end=1.0)
    with torch.no_grad():
        m.loss_predictor.weight.zero_()
        m.loss_predictor.bias.zero_()
    tokens = m.encoder.patch_tokens(_views(1)[0])
    # make patch 5 "hard" everywhere by hijacking the predictor through the decoder features
    hard_feature = torch.zeros(tokens.shape[0], tokens.shape[1], 16).index_fill(1, torch.tensor([5]), 1.0)
    m.reconstruct = lambda t, k: (None, None, hard_feature)
    with torch.no_grad():
        m.loss_predictor.weight.fill_(1.0)
    keep = m.choose_keep(tokens, 4)
    assert not (keep == 5).any()  # the hardest patch is always masked


STATEFUL = ["moco_v2", "nnclr", "isogclr", "mixed_barlow_twins", "directpred", "swav", "dino", "hpm"]


class _CrashError(RuntimeError):
    pass


class _CrashErrorAt(selfsup.train.Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, state):
        if state.step == self.step:
            raise _CrashError


@pytest.mark.parametrize("name", STATEFUL)
def test_stateful_method_resumes_exactly(name, tmp_path):
    """Queues, per-sample temperatures, centres, predictors and RNG draws are checkpointed."""
    enc = "vit_tiny" if name in MASKED else "small_cnn"
    ekw = {"patch_size": 4} if name in MASKED else TINY_ENCODER
    kw = dict(encoder_kwargs=ekw, method_kwargs=tiny_method_kwargs(name), max_steps=6, batch_size=16,
              progress=False, precision="fp32", threads=1, checkpoint_every=3)
    ref = selfsup.pretrain(tiny_images(size=16), name, enc, run_dir=tmp_path / "ref", **kw)
    with pytest.raises(_CrashError):
        selfsup.pretrain(tiny_images(size=16), name, enc, run_dir=tmp_path / "run", callbacks=[_CrashErrorAt(5)], **kw)
    resumed = selfsup.pretrain(tiny_images(size=16), name, enc, run_dir=tmp_path / "run", **kw)
    a, b = ref.module.state_dict(), resumed.module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), name


def test_multicrop_from_a_config_file_reaches_the_method(tmp_path):
    from selfsup.api import pretrain_from_config

    data = tiny_images(32, size=16)
    np.savez(tmp_path / "d.npz", images=data.images)
    cfg = {"data": {"path": str(tmp_path / "d.npz")},
           "views": {"preset": "simclr", "n_local": 3, "local_size": 8, "local_scale": [0.05, 0.3]},
           "encoder": {"name": "small_cnn", **TINY_ENCODER}, "method": {"name": "dino", **tiny_method_kwargs("dino")},
           "trainer": {"max_steps": 2, "batch_size": 16, "progress": False}}
    shapes = []
    original = selfsup.methods.DINO.forward

    def spy(self, views, params=None):
        shapes.append([v.shape[-1] for v in views])
        return original(self, views, params)

    selfsup.methods.DINO.forward = spy
    try:
        pretrain_from_config(cfg)
    finally:
        selfsup.methods.DINO.forward = original
    assert shapes[0] == [16, 16, 8, 8, 8]


def test_method_that_cannot_use_the_encoder_is_a_named_config_error():
    from selfsup.config import ConfigError

    with pytest.raises(ConfigError, match="method mae: MAE needs a Vision Transformer"):
        selfsup.pretrain(tiny_images(size=16), "mae", "small_cnn", encoder_kwargs=TINY_ENCODER, max_steps=1,
                         batch_size=8, progress=False)
    with pytest.raises(ConfigError, match=r"method dcl: .*temperature must be > 0"):
        selfsup.pretrain(tiny_images(size=16), "dcl", "small_cnn", encoder_kwargs=TINY_ENCODER,
                         method_kwargs={"temperature": 0.0}, max_steps=1, batch_size=8, progress=False)
