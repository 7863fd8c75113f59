"""Pretext tasks: quarter-turn rotations, RotNet, and rotation prediction added to any method."""

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
    assert m.task.head.net[0].weight.grad.abs().sum() > 0 and next(enc.parameters()).grad is not None
    with pytest.raises(ValueError, match="unknown pretext task 'jigsaw'"):
        selfsup.create_method("simclr", enc, pretext="jigsaw")


def test_pretext_from_config_and_named_errors(tmp_path):
    data = tiny_images(64, 16)
    selfsup.pretrain(data, "byol", "small_cnn", encoder_kwargs=TINY_ENCODER,
                     method_kwargs={"pretext": "rotation", "proj_hidden_dim": 32, "proj_dim": 16,
                                    "pred_hidden_dim": 32}, max_steps=2, batch_size=16, progress=False,
                     run_dir=tmp_path / "r", log_every=1)
    header = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "rotation_acc" in header and "rotation_loss" in header
    with pytest.raises(ConfigError, match="unknown pretext task"):
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
