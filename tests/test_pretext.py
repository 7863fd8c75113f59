"""Pretext tasks (rotation, jigsaw, relative position, view parameters), as methods, as auxiliary losses, and
as self-supervised label augmentation."""

import numpy as np
import pytest
import torch
from helpers import TINY_ENCODER, TINY_SIMCLR, tiny_images

import selfsup
from selfsup.config import ConfigError
from selfsup.views.image import RandomRotate90, rotate90


def test_quarter_turns_are_exact_and_their_params_reproduce_the_view():
    x = torch.rand(16, 3, 8, 8)
    out, p = RandomRotate90()(x, torch.Generator().manual_seed(0))
    assert set(p["rot90"].tolist()) == {0, 1, 2, 3}
    for i in range(16):
        assert torch.equal(out[i], torch.rot90(x[i], int(p["rot90"][i]), dims=(-2, -1)))
    assert torch.equal(rotate90(x, torch.zeros(16, dtype=torch.long)), x)
    corner = torch.zeros(1, 1, 4, 4)
    corner[0, 0, 0, 3] = 1  # top right -> top left after a counter-clockwise quarter turn
    assert rotate90(corner, torch.tensor([1]))[0, 0, 0, 0] == 1
    with pytest.raises(ValueError, match="square images"):
        rotate90(torch.rand(2, 3, 8, 6), torch.tensor([1, 2]))


def test_rotation_pretext_adds_its_weighted_loss_to_any_method_and_trains_the_head():
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    m = selfsup.create_method("simclr", enc, pretext="rotation", pretext_weight=0.5, **TINY_SIMCLR)
    views = [torch.rand(8, 3, 16, 16), torch.rand(8, 3, 16, 16)]
    out = m(views)
    base = m.base(views)
    assert out["loss"].item() == pytest.approx(base["loss"].item() + 0.5 * out["rotation_loss"].item(), rel=1e-5)
    out["loss"].backward()
    assert m.tasks["rotation"].head.net[0].weight.grad.abs().sum() > 0 and next(enc.parameters()).grad is not None
    with pytest.raises(ValueError, match=r"unknown or repeated pretext task.*'colour'"):
        selfsup.create_method("simclr", enc, pretext="colour")


def test_pretext_from_config_and_named_errors(tmp_path):
    data = tiny_images(64, 16)
    selfsup.pretrain(data, "byol", "small_cnn", encoder_kwargs=TINY_ENCODER,
                     method_kwargs={"pretext": "rotation", "proj_hidden_dim": 32, "proj_dim": 16,
                                    "pred_hidden_dim": 32}, max_steps=2, batch_size=16, progress=False,
                     run_dir=tmp_path / "r", log_every=1)
    header = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "rotation_acc" in header and "rotation_loss" in header
    with pytest.raises(ConfigError, match="unknown or repeated pretext task"):
        selfsup.pretrain(data, "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER,
                         method_kwargs={"pretext": "colour"}, max_steps=1, batch_size=16, progress=False)


def test_rotnet_learns_to_tell_rotations_of_real_images():
    """Fashion-MNIST (built in): after 400 steps RotNet names the rotation of held-out images far above chance."""
    train, test = selfsup.demo_dataset("train"), selfsup.demo_dataset("test")
    torch.manual_seed(0)
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    model = selfsup.create_method("rotnet", enc, head_hidden_dim=64)
    selfsup.Trainer(max_steps=400, batch_size=64, progress=False, lr=0.05).fit(
        model, train, selfsup.image_views("mae", 28))
    model.eval()
    from selfsup.views import Preprocess

    x = Preprocess(28)(test.batch(np.arange(400)))
    with torch.no_grad():
        k = torch.arange(4).repeat_interleave(len(x))
        acc = (model.task.head(enc(rotate90(x.repeat(4, 1, 1, 1), k))).argmax(1) == k).float().mean().item()
    assert acc > 0.8, acc  # chance is 0.25


def test_max_hamming_permutations_are_far_apart_distinct_and_reproducible():
    from selfsup.methods.jigsaw import max_hamming_permutations

    perms = max_hamming_permutations(9, 100, seed=0)
    assert perms.shape == (100, 9) and len({tuple(p) for p in perms}) == 100
    assert all(sorted(p) == list(range(9)) for p in perms)
    dist = (perms[:, None] != perms[None]).sum(-1) + 99 * np.eye(100, dtype=int)
    rng = np.random.default_rng(0)
    random_set = np.stack([rng.permutation(9) for _ in range(100)])
    random_dist = (random_set[:, None] != random_set[None]).sum(-1) + 99 * np.eye(100, dtype=int)
    assert dist.min() >= 6 > random_dist.min()  # random sets of 100 hold near-duplicates
    assert np.array_equal(perms, max_hamming_permutations(9, 100, seed=0))
    assert not np.array_equal(perms, max_hamming_permutations(9, 100, seed=1))
    two = max_hamming_permutations(4, 2, seed=3)
    assert (two[0] != two[1]).all()  # the farthest ordering from any first one moves every tile
    with pytest.raises(ValueError, match="n_permutations must be between 2 and 24"):
        max_hamming_permutations(4, 30)


def test_grid_tiles_cut_exact_cells_and_keep_jittered_tiles_inside_them():
    from selfsup.views.image import grid_tiles

    x = torch.arange(2 * 12 * 12, dtype=torch.float32).view(2, 1, 12, 12)
    tiles, boxes = grid_tiles(x, 3, 1.0, jitter=False)
    assert tiles.shape == (2, 9, 1, 4, 4)
    for cell in range(9):
        r, c = divmod(cell, 3)
        assert torch.allclose(tiles[1, cell, 0], x[1, 0, 4 * r:4 * r + 4, 4 * c:4 * c + 4], atol=1e-3)
    torch.manual_seed(0)
    _, boxes = grid_tiles(torch.rand(64, 3, 30, 30), 3, 0.6, out_size=5)
    col, row = torch.arange(9) % 3, torch.arange(9) // 3
    assert (boxes[..., 0] >= col / 3 - 1e-6).all() and (boxes[..., 0] + boxes[..., 2] <= (col + 1) / 3 + 1e-6).all()
    assert (boxes[..., 1] >= row / 3 - 1e-6).all() and (boxes[..., 3] - 0.2).abs().max() < 1e-6
    assert boxes[..., 0].std() > 0.02  # the offsets vary


class _MeanPixel(torch.nn.Module):
    """An encoder whose one feature is the input's mean pixel: on images whose cells hold their own
    index it reports which cell a tile came from."""

    out_dim = 1

    def forward(self, x):
        return x.mean((1, 2, 3)).unsqueeze(1)


def _cell_index_images(b, size=24):
    cell = (torch.arange(size) * 3 // size)
    idx = (cell.view(-1, 1) * 3 + cell.view(1, -1)).float()
    return idx.expand(b, 1, size, size).clone()


class _Capture(torch.nn.Module):
    def __init__(self, head):
        super().__init__()
        self.head, self.seen = head, []

    def forward(self, h):
        self.seen.append(h.detach())
        return self.head(h)


def test_jigsaw_shows_the_tiles_in_the_drawn_permutation_and_scores_it():
    from selfsup.methods.jigsaw import JigsawTask
    from selfsup.objectives import PretextClassificationLoss

    task = JigsawTask(1, n_permutations=20, tile_fraction=0.5, tile_size=4, normalize=False)
    task.head = _Capture(torch.nn.Linear(9, 20))
    x = _cell_index_images(32)
    loss, _, _ = task(_MeanPixel(), [x], None)
    seen = task.head.seen[0].round().long()  # (B, 9): the original cell shown at each position
    perms = task.permutations
    target = torch.tensor([next(i for i in range(20) if torch.equal(perms[i], row)) for row in seen])
    expected, _ = PretextClassificationLoss()(task.head.head(seen.float()), target)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert len(set(target.tolist())) > 5  # different images get different permutations


def test_relative_position_pairs_the_centre_with_each_neighbour_in_order():
    from selfsup.methods.relative_position import RelativePositionTask

    task = RelativePositionTask(1, tile_fraction=0.5, tile_size=4, normalize=False)
    task.head = _Capture(task.head)
    loss, logs, _ = task(_MeanPixel(), [_cell_index_images(5)], None)
    pairs = task.head.seen[0].round().long().view(5, 8, 2)
    assert (pairs[..., 0] == 4).all()
    assert pairs[0, :, 1].tolist() == [0, 1, 2, 3, 5, 6, 7, 8]
    assert loss.item() > 0 and 0 <= logs["acc"].item() <= 1


def test_view_parameter_regression_targets_and_the_shared_features_of_the_base_method():
    from selfsup.methods.view_params import ViewParameterTask

    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER).eval()
    m = selfsup.create_method("simclr", enc, pretext="view_params", pretext_weight=0.3,
                              pretext_kwargs={"view_params": {"hidden_dim": 16}}, **TINY_SIMCLR).eval()
    made = selfsup.image_views("simclr", 16)(torch.randint(0, 256, (12, 3, 20, 20), dtype=torch.uint8),
                                             torch.Generator().manual_seed(0))
    views, params = [v for v, _ in made], [p for _, p in made]
    out = m(views, params)
    task = m.tasks["view_params"]
    # independent computation: encode the views again and score the head against the parameter differences
    with torch.no_grad():
        z = [enc(views[0]), enc(views[1])]
        target = torch.cat([params[0]["crop"] - params[1]["crop"], params[0]["jitter"] - params[1]["jitter"]], 1)
        pred = task.head(torch.cat(z, 1))
        r = ((pred - target) / target.std(0).clamp_min(0.01)).abs()
        expected = torch.where(r < 1, 0.5 * r**2, r - 0.5).mean()  # Huber on standardised residuals
    assert out["view_params_loss"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert out["loss"].item() == pytest.approx(m.base(views, params)["loss"].item() + 0.3 * expected.item(), rel=1e-4)
    assert task(enc, views, params).loss.item() == pytest.approx(expected.item(), rel=1e-4)  # encodes by itself
    calls = []
    enc.register_forward_hook(lambda *a: calls.append(1))
    m(views, params)
    assert len(calls) == 1  # the regression reused the base method's forward pass
    mae_views = selfsup.image_views("mae", 16)(torch.rand(4, 3, 16, 16), torch.Generator())
    with pytest.raises(ValueError, match=r"needs the views' 'jitter' params.*simclr"):
        ViewParameterTask(enc.out_dim)(enc, [v for v, _ in mae_views], [p for _, p in mae_views])


def test_several_pretext_tasks_add_their_weighted_losses_and_bad_settings_are_named():
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    m = selfsup.create_method("byol", enc, pretext="rotation, jigsaw", pretext_weight={"rotation": 1.0, "jigsaw": 0.2},
                              pretext_kwargs={"jigsaw": {"n_permutations": 10, "hidden_dim": 16}},
                              **{"proj_hidden_dim": 32, "proj_dim": 16, "pred_hidden_dim": 32})
    views = [torch.rand(8, 3, 16, 16), torch.rand(8, 3, 16, 16)]
    torch.manual_seed(0)
    out = m(views)
    torch.manual_seed(0)
    base = m.base(views)["loss"]
    assert out["loss"].item() == pytest.approx(base.item() + out["rotation_loss"].item()
                                               + 0.2 * out["jigsaw_loss"].item(), rel=1e-5)
    assert m.tasks["jigsaw"].permutations.shape == (10, 9)
    with pytest.raises(ValueError, match=r"method.pretext_kwargs.jigsaw.n_perms"):
        selfsup.create_method("simclr", enc, pretext="jigsaw", pretext_kwargs={"jigsaw": {"n_perms": 10}})
    with pytest.raises(ValueError, match="pretext_kwargs given without a pretext task"):
        selfsup.create_method("simclr", enc, pretext_kwargs={"jigsaw": {}})
    with pytest.raises(ValueError, match="weights must be > 0"):
        selfsup.create_method("simclr", enc, pretext="rotation", pretext_weight=0)
    with pytest.raises(ValueError, match="only 24 orderings"):
        selfsup.create_method("jigsaw", enc, grid=2, n_permutations=30)


def test_joint_rotation_labels_train_and_predict_by_averaging_the_four_turns():
    from selfsup.evaluate.finetune import FinetuneConfig, JointRotationClassifier, finetune_accuracy

    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER).eval()
    clf = JointRotationClassifier(enc, 3).eval()
    x, y = torch.rand(5, 3, 8, 8), torch.tensor([0, 2, 1, 1, 0])
    with torch.no_grad():
        manual = sum(clf.head(enc(rotate90(x, torch.full((5,), t))))[:, t::4] for t in range(4)) / 4
        assert torch.allclose(clf(x), manual, atol=1e-5)
        joint = torch.cat([clf.head(enc(rotate90(x, torch.full((5,), t)))) for t in range(4)])
        target = torch.cat([y * 4 + t for t in range(4)])
        assert clf.joint_loss(x, y).item() == pytest.approx(torch.nn.functional.cross_entropy(joint, target).item(),
                                                            rel=1e-5)
    # colour-coded classes: learnt with joint labels, predicted by aggregation
    from test_evaluation import colour_classes

    from selfsup.views import Preprocess

    train, test = colour_classes(seed=0), colour_classes(n_per=20, seed=1)
    cfg = FinetuneConfig(min_steps=30, max_steps=30, batch_size=32, lr=3e-3, precision="fp32",
                                          label_augmentation="rotation")
    r = finetune_accuracy(enc, train, train.labels, test, test.labels, preprocess=Preprocess(12), config=cfg, seed=0)
    assert r["accuracy"] > 0.9
    with pytest.raises(ValueError, match=r"unknown finetune\.label_augmentation 'flip'"):
        FinetuneConfig(label_augmentation="flip")


@pytest.mark.parametrize(("method", "kwargs", "floor"), [("jigsaw", {"n_permutations": 30}, 0.5),
                                                          ("relative_position", {}, 0.3)])
def test_patch_pretext_methods_learn_their_task_on_real_images(method, kwargs, floor):
    """Fashion-MNIST, 300 steps: held-out puzzle accuracy far above chance (1/30 and 1/8);
    measured 0.94 and 0.45."""
    train, test = selfsup.demo_dataset("train"), selfsup.demo_dataset("test")
    torch.manual_seed(0)
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    model = selfsup.create_method(method, enc, head_hidden_dim=64, **kwargs)
    selfsup.Trainer(max_steps=300, batch_size=64, progress=False, lr=0.05).fit(
        model, train, selfsup.image_views("mae", 28))
    model.eval()
    from selfsup.views import Preprocess

    torch.manual_seed(1)
    with torch.no_grad():
        acc = model.task(enc, [Preprocess(28)(test.batch(np.arange(400)))], None).logs["acc"].item()
    assert acc > floor, acc
