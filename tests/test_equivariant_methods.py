"""Split invariant/equivariant SSL: SIE's hypernetwork predictor and the EquiCaps capsule encoder."""

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_ENCODER

import selfsup
from selfsup.encoders import CapsuleEncoder
from selfsup.methods.equicaps import rotation_matrices
from selfsup.methods.sie import HyperPredictor, relative_transform
from selfsup.objectives import VICRegLoss


def _equivariant_views(b=8, size=16, seed=0):
    x = torch.randint(0, 256, (b, 3, size + 4, size + 4), dtype=torch.uint8)
    made = selfsup.image_views("equivariant", size)(x, torch.Generator().manual_seed(seed))
    return [v for v, _ in made], [p for _, p in made]


def test_relative_transform_and_a_hyper_predictor_that_starts_as_the_identity():
    p1 = {"angle": torch.tensor([30.0, -170.0]), "crop": torch.zeros(2, 4)}
    p2 = {"angle": torch.tensor([90.0, 170.0]), "crop": torch.ones(2, 4)}
    t = relative_transform(p1, p2, ("angle", "crop"))
    assert torch.allclose(t[0, :2], torch.tensor([math.cos(math.radians(60)), math.sin(math.radians(60))]))
    assert torch.allclose(t[1, :2], torch.tensor([math.cos(math.radians(340)), math.sin(math.radians(340))]),
                          atol=1e-6)
    assert torch.equal(t[:, 2:], torch.ones(2, 4))
    with pytest.raises(ValueError, match="no 'jitter' params"):
        relative_transform(p1, p2, ("jitter",))
    pred = HyperPredictor(5, 2)
    z = torch.randn(3, 5)
    assert torch.allclose(pred(z, torch.randn(3, 2)), z)
    pred(z, torch.randn(3, 2)).pow(2).sum().backward()
    assert pred.hyper[-1].weight.grad.abs().sum() > 0


def test_sie_loss_is_vicreg_on_the_invariant_part_plus_the_predicted_equivariant_part():
    torch.manual_seed(0)
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER).eval()
    m = selfsup.create_method("sie", enc, proj_hidden_dim=32, proj_dim=16, equivariance_weight=3.0).eval()
    views, params = _equivariant_views()
    out = m(views, params)
    with torch.no_grad():
        h1, h2 = enc(views[0]), enc(views[1])
        k = m.invariant_dim
        inv, _ = VICRegLoss()(m.inv_projector(h1[:, :k]), m.inv_projector(h2[:, :k]))
        z1, z2 = m.eq_projector(h1[:, k:]), m.eq_projector(h2[:, k:])
        d = torch.deg2rad(params[1]["angle"] - params[0]["angle"])
        t12, t21 = torch.stack([d.cos(), d.sin()], 1), torch.stack([d.cos(), -d.sin()], 1)
        eq = (F.mse_loss(m.predictor(z1, t12), z2) + F.mse_loss(m.predictor(z2, t21), z1)) / 2
        reg, _ = VICRegLoss(0.0)(z1, z2)
    assert out["loss"].item() == pytest.approx((inv + 3.0 * eq + reg).item(), rel=1e-4)
    assert out["equivariance"].item() == pytest.approx(eq.item(), rel=1e-4)
    mae = selfsup.image_views("mae", 16)(torch.rand(4, 3, 16, 16), torch.Generator())
    with pytest.raises(ValueError, match=r"no 'angle' params.*equivariant"):
        m([v for v, _ in mae], [p for _, p in mae])
    with pytest.raises(ValueError, match="leaves no invariant or no equivariant"):
        selfsup.create_method("sie", enc, invariant_fraction=1.0)


def test_capsule_routing_turns_output_poses_with_the_primary_poses_and_keeps_activations():
    torch.manual_seed(0)
    caps = CapsuleEncoder("small_cnn", n_primary=6, n_capsules=3, pose_dim=4, **TINY_ENCODER)
    poses, act = torch.randn(5, 6, 2, 4), torch.rand(5, 6)
    rot = rotation_matrices(torch.tensor([0.0, 30.0, 90.0, 200.0, -45.0]))
    a, p = caps.route(poses, act)
    a_rot, p_rot = caps.route(torch.einsum("bij,bcjm->bcim", rot, poses), act)
    assert torch.allclose(a_rot, a, atol=1e-5)  # activations are invariant
    assert torch.allclose(p_rot, torch.einsum("bij,bcjm->bcim", rot, p), atol=1e-5)  # poses turn along
    h = caps(torch.rand(5, 3, 16, 16))
    assert h.shape == (5, caps.out_dim) == (5, 3 * 9)
    a2, p2 = caps.split(h)
    assert a2.shape == (5, 3) and p2.shape == (5, 3, 2, 4) and ((a2 > 0) & (a2 < 1)).all()


def test_equicaps_rotates_view_one_poses_onto_view_two_without_a_predictor():
    torch.manual_seed(0)
    enc = CapsuleEncoder("small_cnn", n_primary=6, n_capsules=3, pose_dim=2, **TINY_ENCODER).eval()
    m = selfsup.create_method("equicaps", enc, proj_hidden_dim=32, proj_dim=16, equivariance_weight=2.0).eval()
    views, params = _equivariant_views()
    out = m(views, params)
    with torch.no_grad():
        (_, p1), (_, p2) = enc.split(enc(views[0])), enc.split(enc(views[1]))
        p1, p2 = (p / p.pow(2).mean((-2, -1), keepdim=True).add(1e-6).sqrt() for p in (p1, p2))  # unit RMS poses
        rad = torch.deg2rad(params[1]["angle"] - params[0]["angle"])
        turned = torch.stack([rad.cos().view(-1, 1, 1) * p1[:, :, 0] - rad.sin().view(-1, 1, 1) * p1[:, :, 1],
                              rad.sin().view(-1, 1, 1) * p1[:, :, 0] + rad.cos().view(-1, 1, 1) * p1[:, :, 1]], 2)
        eq = F.mse_loss(turned, p2)
    assert out["equivariance"].item() == pytest.approx(eq.item(), rel=1e-4)
    same = m([views[0], views[0]], [params[0], params[0]])
    assert same["equivariance"].item() < 1e-10  # no turn between identical views: nothing to predict
    with pytest.raises(ValueError, match="needs a capsule encoder"):
        selfsup.create_method("equicaps", selfsup.create_encoder("small_cnn", **TINY_ENCODER))


def test_equivariant_methods_train_from_pretrain_with_their_default_encoder_and_views(tmp_path):
    from helpers import tiny_images

    enc = selfsup.pretrain(tiny_images(32, 16), "equicaps", encoder_kwargs={"widths": (8, 16), "n_capsules": 4},
                           method_kwargs={"proj_hidden_dim": 32, "proj_dim": 16}, max_steps=2, batch_size=16,
                           progress=False, run_dir=tmp_path / "r", log_every=1)
    assert enc.name == "capsule_cnn"
    header = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0]
    assert "equivariance" in header and "preset: equivariant" in (tmp_path / "r" / "config.yaml").read_text()


class _Part(torch.nn.Module):
    def __init__(self, enc, part):
        super().__init__()
        self.enc, self.part = enc, part

    def forward(self, x):
        return self.enc(x)[:, self.part]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sie", "equicaps"])
def test_the_equivariant_part_learns_to_carry_the_rotation_on_real_images(method):
    """Fashion-MNIST, 400 steps: the rotation between an image and its rotated copy is read from the
    equivariant part (MLP read-out, SIE's protocol) far better than from the invariant part, and better
    than from the same part at random init. Measured R² eq / inv / random-init eq: SIE 0.47 / 0.14 / 0.09,
    EquiCaps 0.72 / -0.01 / 0.38."""
    from selfsup.evaluate.equivariance import measure_equivariance
    from selfsup.views import Preprocess, RandomRotation

    train, test = selfsup.demo_dataset("train"), selfsup.demo_dataset("test")

    def r2(enc, part):
        return measure_equivariance(_Part(enc, part), test, {"rotation": RandomRotation()}, Preprocess(28), n=2000,
                                    model="mlp")["rotation"]["r2"]

    torch.manual_seed(0)
    enc = selfsup.create_encoder("capsule_cnn" if method == "equicaps" else "small_cnn")
    model = selfsup.create_method(method, enc)
    k = enc.n_capsules if method == "equicaps" else model.invariant_dim
    inv, eq = slice(0, k), slice(k, enc.out_dim)
    random_eq = r2(enc, eq)
    selfsup.Trainer(max_steps=400, batch_size=128, optimizer="adamw", progress=False).fit(
        model, train, selfsup.image_views("equivariant", 28))
    eq_r2, inv_r2 = r2(enc, eq), r2(enc, inv)
    print(f"{method}: rotation R² equivariant part {eq_r2:.3f}, invariant part {inv_r2:.3f}, "
          f"equivariant part at random init {random_eq:.3f}")
    assert eq_r2 > inv_r2 + 0.2 and eq_r2 > random_eq + 0.1
