"""Trainer: determinism, exact resume after SIGKILL, non-finite loss, bad settings, schedules, LARS."""

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import TINY_ENCODER, TINY_SIMCLR, tiny_images
from safetensors.torch import load_file

import selfsup
from selfsup.config import ConfigError
from selfsup.methods.base import Method
from selfsup.train import (
    LARS,
    CheckpointMismatchError,
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    load_checkpoint,
    warmup_cosine,
)
from selfsup.views import image_views

HERE = Path(__file__).parent


def _pretrain(run_dir=None, **kw):
    args = dict(encoder_kwargs=TINY_ENCODER, method_kwargs=TINY_SIMCLR, max_steps=8, batch_size=16,
                progress=False, precision="fp32", threads=1)
    args.update(kw)
    return selfsup.pretrain(tiny_images(), "simclr", "small_cnn", run_dir=run_dir, **args)


def _same_weights(a, b):
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_same_weights_other_seed_differs():
    assert _same_weights(_pretrain(seed=3), _pretrain(seed=3))
    assert not _same_weights(_pretrain(seed=3), _pretrain(seed=4))


def test_sigkill_then_resume_reaches_the_uninterrupted_weights(tmp_path):
    env_py = [sys.executable, str(HERE / "train_script.py")]
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    subprocess.run([*env_py, str(ref_dir), "0"], check=True, timeout=300)
    proc = subprocess.Popen([*env_py, str(run_dir), "0.25"])
    ckpt = run_dir / "checkpoint.pt"
    deadline = time.time() + 240
    while time.time() < deadline:
        if ckpt.exists() and load_checkpoint(ckpt)["step"] >= 8:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(ckpt)["step"]
    assert 8 <= killed_at < 24, f"the kill came too late (checkpoint at step {killed_at})"
    assert not (run_dir / "encoder.safetensors").exists()
    subprocess.run([*env_py, str(run_dir), "0"], check=True, timeout=300)
    a, b = load_file(ref_dir / "encoder.safetensors"), load_file(run_dir / "encoder.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = (run_dir / "metrics.csv").read_text().strip().splitlines()
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 24  # no duplicated rows after resume


class _ExplodingMethod(Method):
    """Finite loss for ``ok_steps`` steps, then NaN."""

    def __init__(self, encoder, ok_steps):
        super().__init__(encoder)
        self.ok_steps, self.calls = ok_steps, 0

    def forward(self, views, params=None):
        self.calls += 1
        loss = self.encoder(views[0]).pow(2).mean()
        return {"loss": loss * float("nan") if self.calls > self.ok_steps else loss}


def test_non_finite_loss_stops_with_message_and_keeps_last_checkpoint(tmp_path):
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    trainer = Trainer(max_steps=10, batch_size=16, checkpoint_every=2, progress=False, precision="fp32")
    with pytest.raises(NonFiniteLossError, match=r"step 5.*checkpoint.pt \(step 4\).*trainer.lr"):
        trainer.fit(_ExplodingMethod(enc, 5), tiny_images(), image_views("simclr", 16), run_dir=tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["method"].values() if v.is_floating_point())


def test_checkpoint_from_another_architecture_is_named(tmp_path):
    _pretrain(tmp_path)
    with pytest.raises(CheckpointMismatchError, match=r"checkpoint.pt was written for .*small_cnn.*resnet18_cifar"):
        selfsup.pretrain(tiny_images(), "simclr", "resnet18_cifar", run_dir=tmp_path, max_steps=2, batch_size=16,
                         progress=False)


def test_batch_larger_than_dataset_and_unknown_options():
    with pytest.raises(ValueError, match=r"batch_size=128 is larger than the dataset \(64 samples\)"):
        _pretrain(batch_size=128)
    with pytest.raises(ConfigError, match=r"unknown option.*learning_rate"):
        _pretrain(learning_rate=0.1)
    with pytest.raises(ConfigError, match=r"method.tau"):
        selfsup.pretrain(tiny_images(), "simclr", method_kwargs={"tau": 0.1}, max_steps=1, batch_size=16)
    with pytest.raises(ConfigError, match="unknown method 'simclr2'"):
        selfsup.pretrain(tiny_images(), "simclr2", max_steps=1, batch_size=16)
    with pytest.raises(ValueError, match=r"trainer\.optimizer"):
        TrainConfig(optimizer="adagrad")


def test_metrics_csv_and_training_reduces_loss(tmp_path):
    _pretrain(tmp_path, max_steps=30, log_every=5, lr=0.05)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert {"step", "loss", "lr", "samples_per_s", "pair_accuracy"} <= set(header)
    losses = [float(r.split(",")[header.index("loss")]) for r in rows[1:]]
    assert len(losses) == 6 and losses[-1] < losses[0]


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, 1.0, 0.01) == pytest.approx(0.01)


def test_lars_step_matches_formula():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    w.grad = torch.tensor([0.6, 0.8])
    opt = LARS([{"params": [w], "weight_decay": 0.1}], lr=0.5, momentum=0.9, trust_coefficient=0.01)
    d = torch.tensor([0.6, 0.8]) + 0.1 * torch.tensor([3.0, 4.0])
    q = 0.01 * 5.0 / d.norm()
    opt.step()
    assert torch.allclose(w.detach(), torch.tensor([3.0, 4.0]) - 0.5 * q * d)


@pytest.mark.parametrize("method", ["simclr", "byol", "barlow_twins"])
def test_every_method_and_optimizer_runs_a_step(method):
    small = {"simclr": TINY_SIMCLR, "byol": {"proj_hidden_dim": 32, "proj_dim": 16, "pred_hidden_dim": 32},
             "barlow_twins": {"proj_hidden_dim": 32, "proj_dim": 32}}[method]
    for opt in ("sgd", "lars", "adamw"):
        enc = selfsup.pretrain(tiny_images(), method, "small_cnn", encoder_kwargs=TINY_ENCODER, method_kwargs=small,
                               max_steps=2, batch_size=16, optimizer=opt, progress=False)
        z = enc.embed(tiny_images(8).images)
        assert z.shape == (8, 16) and math.isfinite(float(z.sum()))


def test_byol_teacher_follows_cosine_momentum_and_gets_no_gradient():
    from selfsup.methods import BYOL

    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    m = BYOL(enc, 32, 16, 32, base_momentum=0.9)
    assert m.target.momentum(0, 10) == pytest.approx(0.9) and m.target.momentum(10, 10) == pytest.approx(1.0)
    assert m.target.momentum(5, 10) == pytest.approx(0.95)
    views = [torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16)]
    m(views)["loss"].backward()
    assert all(p.grad is None for p in m.target.parameters())
    before = [p.clone() for p in m.target.parameters()]
    student = [p.detach().clone() for p in m.online.parameters()]
    m.on_step_end(0, 10)  # momentum 0.9
    for b, s, t in zip(before, student, m.target.parameters(), strict=True):
        assert torch.allclose(t, 0.9 * b + 0.1 * s, atol=1e-6)


def test_save_load_roundtrip(tmp_path):
    enc = _pretrain()
    path = enc.save(tmp_path / "enc")
    assert path.suffix == ".safetensors"
    back = selfsup.load(path)
    x = tiny_images(8).images
    assert back.name == "small_cnn" and back.preprocess == enc.preprocess
    assert torch.allclose(torch.from_numpy(back.embed(x)), torch.from_numpy(enc.embed(x)), atol=1e-6)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(selfsup.DataError, match=r"junk\.safetensors"):
        selfsup.load(tmp_path / "junk.safetensors")


def test_custom_module_encoder(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    enc = selfsup.pretrain(tiny_images(), "simclr", net, encoder_kwargs={"out_dim": 8},
                           method_kwargs=TINY_SIMCLR, max_steps=2, batch_size=16, progress=False)
    assert enc.embed(tiny_images(4).images).shape == (4, 8)
    p = enc.save(tmp_path / "c.safetensors")
    with pytest.raises(ValueError, match="custom encoder"):
        selfsup.load(p)
    net2 = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    assert selfsup.load(p, module=net2).embed(tiny_images(4).images).shape == (4, 8)
    with pytest.raises(ValueError, match="declared out_dim=5"):
        selfsup.pretrain(tiny_images(), "simclr", torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten()),
                         encoder_kwargs={"out_dim": 5}, max_steps=1, batch_size=16, progress=False)


def test_batch_size_zero_trains_on_the_whole_dataset_each_step():
    """Full-batch training (the graph node methods): one step per epoch, every sample in each batch."""
    seen = []

    class Record(selfsup.train.Callback):
        def on_step_end(self, state):
            seen.append(len(state.indices))

    selfsup.pretrain(tiny_images(n=24), "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER, batch_size=0, epochs=3,
                     method_kwargs=TINY_SIMCLR, progress=False, callbacks=[Record()],
                     monitor={"online_probe": False, "collapse_every": 0})
    assert seen == [24, 24, 24]
