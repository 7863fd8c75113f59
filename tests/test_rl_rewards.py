"""SSL tasks as verifiable rewards (SSL4RL): every task scores the right answer 1 and the others 0 or their graded
value, poses the same question under the same seed, and its question really encodes its answer; the
policy-gradient loop reaches a known optimum, and its pieces match independent computations."""

import itertools
import math

import numpy as np
import pytest
import torch
from helpers import TINY_ENCODER
from torch import nn

import selfsup
from selfsup.data.graphs import GraphBatch, GraphSetDataset, NodeDataset
from selfsup.methods.jigsaw import normalize_tiles
from selfsup.methods.relative_position import NEIGHBOUR_CELLS
from selfsup.rl import (
    Question,
    RewardTask,
    RewardTrainConfig,
    categorical_kl,
    clipped_surrogate,
    create_reward_task,
    evaluate_policy,
    group_advantages,
    plot_reward_curves,
    train_on_rewards,
)
from selfsup.views.image import grid_tiles, rotate90

IMAGE_TASKS = [("rotation", {}), ("rotation", {"n_angles": 8, "graded": True}), ("rotation", {"graded": True}),
               ("jigsaw", {}), ("jigsaw", {"grid": 3, "n_permutations": 20, "graded": True}),
               ("relative_position", {}), ("relative_position", {"graded": True}), ("crop", {"n_choices": 5}),
               ("masked_patch", {}), ("masked_patch", {"graded": True, "mask_ratio": 0.1})]
GRAPH_TASKS = [("masked_edge", {}), ("masked_edge", {"n_choices": 6}), ("masked_attribute", {"mask_ratio": 0.3})]


def _encoder():
    torch.manual_seed(0)
    return selfsup.create_encoder("small_cnn", **TINY_ENCODER)


def _graph_encoder(in_channels=5):
    pytest.importorskip("torch_geometric")
    torch.manual_seed(0)
    return selfsup.create_encoder("gcn", in_channels=in_channels, out_dim=16, hidden=16)


def _ring_graph(n=30, f=5, extra=20, seed=0) -> NodeDataset:
    rng = np.random.default_rng(seed)
    src = np.arange(n)
    edges = [np.stack([src, (src + 1) % n]), rng.integers(0, n, (2, extra))]
    ei = np.concatenate(edges, 1)
    ei = np.concatenate([ei, ei[::-1]], 1)
    return NodeDataset(rng.normal(size=(n, f)).astype(np.float32), ei, np.zeros(n, np.int64))


def _graph_batch(ds: NodeDataset, rows=None) -> GraphBatch:
    return ds.batch(np.arange(len(ds)) if rows is None else rows)


def _questions(name, kw, seed=0):
    if name in ("masked_edge", "masked_attribute"):
        enc, data = _graph_encoder(), _graph_batch(_ring_graph())
    else:
        enc, data = _encoder(), torch.randn(12, 3, 24, 24)
    task = create_reward_task(name, enc, **kw)
    return enc, task, data, task.pose(data, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("name", "kw"), IMAGE_TASKS + GRAPH_TASKS)
def test_the_correct_answer_scores_1_every_other_its_grade_and_the_seed_fixes_the_question(name, kw):
    enc, task, data, q = _questions(name, kw)
    b, k = q.grades.shape
    assert k == task.n_choices and len(q) == b
    assert torch.equal(task.score(q, q.answer), torch.ones(b))
    for choice in range(k):
        wrong = q.answer != choice
        s = task.score(q, torch.full((b,), choice))
        if kw.get("graded"):
            assert ((s[wrong] >= 0) & (s[wrong] < 1 + 1e-6)).all()
        else:
            assert torch.equal(s[wrong], torch.zeros(int(wrong.sum())))
    all_answers = torch.arange(k).expand(b, k)  # (B, G) answers score row by row
    assert torch.equal(task.score(q, all_answers), q.grades)
    assert task(enc, q).shape == (b, k)
    again = task.pose(data, torch.Generator().manual_seed(0))
    assert torch.equal(again.answer, q.answer) and torch.equal(again.grades, q.grades)
    flat = lambda inp: [t for t in (inp if isinstance(inp, tuple) else (inp,)) if isinstance(t, torch.Tensor)]  # noqa: E731
    for a, c in zip(flat(q.inputs), flat(again.inputs), strict=True):
        assert torch.equal(a, c)
    other = task.pose(data, torch.Generator().manual_seed(1))
    assert not torch.equal(other.answer, q.answer) or not torch.equal(flat(other.inputs)[0], flat(q.inputs)[0])


def test_rotation_question_turned_back_by_its_answer_is_the_image_and_graded_by_angle():
    _enc, task, x, q = None, None, torch.randn(16, 3, 12, 12), None
    task = create_reward_task("rotation", _encoder(), graded=True)
    q = task.pose(x, torch.Generator().manual_seed(3))
    assert torch.equal(rotate90(q.inputs, (4 - q.answer) % 4), x)
    for i in range(16):  # quarter turns: 1 right, 0.5 a quarter off, 0 upside down
        expect = [1 - min((j - int(q.answer[i])) % 4, (int(q.answer[i]) - j) % 4) / 2 for j in range(4)]
        assert q.grades[i].tolist() == expect
    eight = create_reward_task("rotation", _encoder(), n_angles=8)
    q8 = eight.pose(x, torch.Generator().manual_seed(0))
    corner = q8.inputs[:, :, 0, 0]
    assert torch.equal(corner, torch.zeros_like(corner))  # every image cut to its disc: blank corners tell nothing


def test_jigsaw_and_relative_position_questions_hold_the_tiles_their_answers_name():
    x = torch.randn(6, 3, 30, 30)
    enc = _encoder()
    jig = create_reward_task("jigsaw", enc, grid=3, n_permutations=10, graded=True, tile_size=8)
    q = jig.pose(x, torch.Generator().manual_seed(5))
    tiles, _ = grid_tiles(x, 3, 0.8, 8, generator=torch.Generator().manual_seed(5))  # the same draws, in order
    for i in range(6):
        perm = jig.permutations[q.answer[i]]
        assert torch.allclose(q.inputs[i], normalize_tiles(tiles[i][perm]), atol=1e-6)
        for j in range(10):  # graded: the share of tiles a permutation puts where the true one does
            same = sum(int(a == b) for a, b in zip(jig.permutations[j].tolist(), perm.tolist(), strict=True))
            assert q.grades[i, j].item() == pytest.approx(same / 9)
    rel = create_reward_task("relative_position", enc, graded=True, tile_size=8)
    q = rel.pose(x, torch.Generator().manual_seed(2))
    tiles, _ = grid_tiles(x, 3, 0.7, 8, generator=torch.Generator().manual_seed(2))
    tiles = normalize_tiles(tiles)
    for i in range(6):
        cell = NEIGHBOUR_CELLS[int(q.answer[i])]
        assert torch.allclose(q.inputs[i, 0], tiles[i, 4]) and torch.allclose(q.inputs[i, 1], tiles[i, cell])
        for j, other in enumerate(NEIGHBOUR_CELLS):
            d = math.dist((cell % 3, cell // 3), (other % 3, other // 3))
            assert q.grades[i, j].item() == pytest.approx(1 - d / math.sqrt(8), abs=1e-6)


def test_crop_and_patch_questions_put_the_own_image_at_the_answer():
    level = torch.arange(1, 11, dtype=torch.float32).view(10, 1, 1, 1)
    x = level.expand(10, 3, 16, 16).clone()  # image i is the constant i: a crop or patch shows whose it is
    enc = _encoder()
    q = create_reward_task("crop", enc, n_choices=4).pose(x, torch.Generator().manual_seed(0))
    anchor, cands = q.inputs
    owner = cands.mean((2, 3, 4)).round()
    assert torch.equal(owner[torch.arange(10), q.answer], anchor.mean((1, 2, 3)).round())
    assert (owner.eq(anchor.mean((1, 2, 3)).round().unsqueeze(1)).sum(1) == 1).all()  # distractors from others
    task = create_reward_task("masked_patch", enc, n_choices=3, mask_ratio=0.25, tile_size=16)
    q = task.pose(x, torch.Generator().manual_seed(0))
    context, cands = q.inputs
    assert (context == 0).flatten(1).float().mean(1).sub(0.25).abs().max() < 0.02  # a quarter blanked
    owner = cands.mean((2, 3, 4))
    assert torch.allclose(owner[torch.arange(10), q.answer], level.flatten())
    assert (owner.round().eq(level.view(10, 1)).sum(1) == 1).all()


def test_graph_questions_hide_the_edge_or_features_their_answers_name():
    ds = _ring_graph()
    gb = _graph_batch(ds)
    enc = _graph_encoder()
    q = create_reward_task("masked_edge", enc, n_choices=4).pose(gb, torch.Generator().manual_seed(0))
    masked, anchors, cands = q.inputs
    original = set(map(tuple, gb.edge_index.t().tolist()))
    left = set(map(tuple, masked.edge_index.t().tolist()))
    for a, row, ans in zip(anchors.tolist(), cands.tolist(), q.answer.tolist(), strict=True):
        end = row[ans]
        assert (a, end) in original and (a, end) not in left and (end, a) not in left
        assert a not in row and all(c != end for j, c in enumerate(row) if j != ans)
    assert len(left) < len(original)
    q = create_reward_task("masked_attribute", enc, n_choices=4).pose(gb, torch.Generator().manual_seed(0))
    masked, anchors, cands = q.inputs
    assert torch.equal(masked.x[anchors], torch.zeros(len(anchors), 5))
    assert torch.equal(cands[torch.arange(len(anchors)), q.answer], gb.x[anchors])
    # graph-level data: one anchor per graph, candidates from its own graph
    sizes = [4, 6, 5]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    ei = np.concatenate([np.stack([np.arange(s, e - 1), np.arange(s + 1, e)]) for s, e in itertools.pairwise(ptr)], 1)
    gs = GraphSetDataset(np.random.default_rng(0).normal(size=(15, 5)), np.concatenate([ei, ei[::-1]], 1), ptr,
                         np.zeros(3, np.int64))
    q = create_reward_task("masked_edge", enc, n_choices=3).pose(gs.batch(np.arange(3)),
                                                                  torch.Generator().manual_seed(1))
    _, anchors, cands = q.inputs
    graph_of = torch.as_tensor(np.repeat(np.arange(3), sizes))
    assert graph_of[anchors].tolist() == [0, 1, 2]
    assert torch.equal(graph_of[cands], graph_of[anchors].unsqueeze(1).expand_as(cands))


def test_reward_tasks_name_bad_input_and_bad_knobs():
    enc = _encoder()
    with pytest.raises(ValueError, match="unknown reward task"):
        create_reward_task("colour", enc)
    with pytest.raises(ValueError, match="at least 4"):
        create_reward_task("crop", enc, n_choices=4).pose(torch.randn(3, 3, 16, 16), torch.Generator())
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        create_reward_task("rotation", enc).pose(torch.randn(4, 16), torch.Generator())
    with pytest.raises(ValueError, match="orderings"):
        create_reward_task("jigsaw", enc, grid=2, n_permutations=30)
    with pytest.raises(ValueError, match="graph encoder"):
        create_reward_task("masked_edge", enc)
    with pytest.raises(ValueError, match="mask_ratio"):
        create_reward_task("masked_patch", enc, mask_ratio=1.5)


# --- the policy-gradient loop ---------------------------------------------------------------------------


class ContextualBandit(RewardTask):
    """A one-hot cue names the best arm; arms are graded ``values`` rolled to it: the optimum always picks the cue."""

    name = "bandit"

    def __init__(self, values=(1.0, 0.3, 0.0, 0.3)):
        super().__init__()
        self.values = torch.tensor(values)
        self.n_choices = len(values)
        self.head = nn.Linear(8, self.n_choices)

    def pose(self, x, generator):
        k = self.n_choices
        answer = torch.randint(0, k, (len(x),), generator=generator)
        cue = nn.functional.one_hot(answer, k).float()
        idx = (torch.arange(k).unsqueeze(0) - answer.unsqueeze(1)) % k
        return Question(cue, answer, self.values[idx])

    def forward(self, encoder, q):
        return self.head(encoder(q.inputs))


def _bandit_policy(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh()), ContextualBandit()


@pytest.mark.parametrize("signal", ["grpo", "reinforce", "supervised"])
def test_policy_gradient_reaches_the_known_optimum_of_a_contextual_bandit(signal):
    enc, task = _bandit_policy()
    data = torch.zeros(512, 1)  # the task makes its own cue; the data only sets the batch size
    before = evaluate_policy(enc, task, data, 256)
    cfg = RewardTrainConfig(steps=150, batch_size=64, group_size=4, signal=signal, lr=0.03)
    hist = train_on_rewards(enc, task, data, cfg)
    after = evaluate_policy(enc, task, data, 256)
    assert before["accuracy"] < 0.6 and after["accuracy"] == 1.0 and after["reward"] == 1.0
    assert hist.final("reward") > 0.9 and hist.curves["reward"][0] < 0.7  # the curve rises to the optimum 1
    assert len(hist.curves["reward"]) == 150


def test_the_kl_penalty_holds_the_policy_near_its_start_and_runs_repeat_under_a_seed():
    runs = {}
    for beta in (0.0, 1.0, 1.0):
        enc, task = _bandit_policy()
        runs.setdefault(beta, []).append(train_on_rewards(enc, task, torch.zeros(256, 1),
                                                          {"steps": 60, "batch_size": 32, "lr": 0.03,
                                                           "kl_coef": beta}))
    free, held = runs[0.0][0], runs[1.0][0]
    assert "kl" not in free.curves and held.final("kl") < 0.5
    assert held.final("reward") < free.final("reward")
    assert runs[1.0][0].curves == runs[1.0][1].curves  # same seed, same questions, answers and updates


def test_advantages_kl_and_surrogate_match_their_definitions():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0]])
    a = group_advantages(r)
    assert torch.allclose(a[0], torch.tensor([1.0, -1.0, -1.0, 1.0]), atol=1e-5)
    assert torch.equal(a[1], torch.zeros(4))  # no signal in a group of equal rewards
    assert torch.allclose(a[2], (r[2] - 0.25) / np.sqrt(0.1875), atol=1e-5)
    p, q = torch.tensor([[0.7, 0.2, 0.1]]), torch.tensor([[0.2, 0.5, 0.3]])
    expect = sum(pi * math.log(pi / qi) for pi, qi in zip(p[0].tolist(), q[0].tolist(), strict=True))
    assert categorical_kl(p.log(), q.log()).item() == pytest.approx(expect, rel=1e-5)
    new = torch.log(torch.tensor([0.9, 0.45, 0.2])).requires_grad_()
    old = torch.log(torch.tensor([0.5, 0.5, 0.5]))
    adv = torch.tensor([1.0, -1.0, -1.0])
    obj = clipped_surrogate(new, old, adv, 0.2)
    # ratios 1.8, 0.9, 0.4: the first is clipped to 1.2; the last, clipped to 0.8, is the more pessimistic -0.8
    assert obj.item() == pytest.approx((1.2 - 0.9 - 0.8) / 3)
    obj.backward()
    assert new.grad[0] == 0 and new.grad[1] != 0 and new.grad[2] == 0  # past the clip a sample no longer pushes
    same = torch.log(torch.tensor([0.3, 0.6, 0.1])).requires_grad_()
    clipped_surrogate(same, same.detach(), adv, 0.2).backward()
    assert torch.allclose(same.grad, adv / 3)  # ratio 1: REINFORCE's gradient of mean(A * log pi)


def test_reward_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="signal"):
        RewardTrainConfig(signal="ppo")
    with pytest.raises(ValueError, match="group_size"):
        RewardTrainConfig(group_size=1)
    with pytest.raises(ValueError, match="steps"):
        RewardTrainConfig(steps=0)


def test_rotation_reward_training_beats_chance_on_fashion_mnist_and_draws_its_curve():
    from selfsup.data import demo_dataset
    from selfsup.views.image import to_float

    train, test = demo_dataset("train"), demo_dataset("test")
    prep = lambda b: to_float(b) * 2 - 1  # noqa: E731
    enc = _encoder()
    task = create_reward_task("rotation", enc, hidden_dim=32)
    before = evaluate_policy(enc, task, test, 512, preprocess=prep)
    hist = train_on_rewards(enc, task, train, {"steps": 150, "batch_size": 64, "lr": 3e-3}, preprocess=prep)
    after = evaluate_policy(enc, task, test, 512, preprocess=prep)
    assert after["accuracy"] > max(0.5, before["accuracy"] + 0.2), (before, after)
    pytest.importorskip("matplotlib")
    png = plot_reward_curves({"rotation": hist, "empty": {"curves": {}}})
    assert png is not None and png[:4] == b"\x89PNG"


def test_reward_tune_command_saves_a_tuned_encoder_and_its_curves(tmp_path, capsys):
    import json

    from selfsup.cli import main

    rng = np.random.default_rng(0)
    data = tmp_path / "imgs.npy"
    np.save(data, rng.integers(0, 255, (40, 16, 16, 3), dtype=np.uint8))
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    from selfsup.api import PretrainedEncoder, load
    from selfsup.views.image_presets import Preprocess

    base = PretrainedEncoder(enc, "small_cnn", TINY_ENCODER, Preprocess(16, (0.5,) * 3, (0.25,) * 3))
    base.save(tmp_path / "enc.safetensors")
    out = tmp_path / "tuned"
    assert main(["reward-tune", str(tmp_path / "enc.safetensors"), str(data), "--task", "rotation", "--out", str(out),
                 "--knob", "n_angles=2", "--set", "steps=4", "--set", "batch_size=8", "--set", "signal=reinforce"]) == 0
    assert "rotation exam accuracy" in capsys.readouterr().out
    record = json.loads((out / "rewards.json").read_text())
    assert record["knobs"] == {"n_angles": 2} and len(record["curves"]["reward"]) == 4
    assert record["config"]["signal"] == "reinforce" and record["exam_after"]["questions"] == 40
    tuned = load(out / "encoder.safetensors")
    assert not torch.equal(tuned.module.features[0].weight, enc.features[0].weight)  # the copy trained ...
    assert torch.equal(load(tmp_path / "enc.safetensors").module.features[0].weight, enc.features[0].weight)  # not it
    assert main(["reward-tune", str(tmp_path / "enc.safetensors"), str(data), "--task", "masked_edge",
                 "--out", str(out)]) == 2
    assert "graph" in capsys.readouterr().err
    assert main(["reward-tune", str(tmp_path / "enc.safetensors"), str(data), "--task", "rotation", "--out", str(out),
                 "--set", "signal=ppo"]) == 2
