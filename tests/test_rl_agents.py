"""Pixel-based agents: DrQ's random shift, the Nature CNN, CURL's bilinear InfoNCE, the n-step / sequence replay
buffer, the CURL and SPR auxiliaries (shapes, targets that get no gradient, EMA rules), the agent's update,
score normalisation, and a short Atari run end to end."""

import math

import numpy as np
import pytest
import torch

import selfsup
from selfsup.objectives import BilinearInfoNCELoss
from selfsup.rl.agent import VARIANTS, AgentConfig, PixelAgent
from selfsup.rl.atari import REFERENCE_SCORES, human_normalized, interquartile_mean
from selfsup.rl.auxiliary import TransitionModel, renormalize
from selfsup.rl.replay import ReplayBuffer
from selfsup.views import RandomShift


def test_random_shift_moves_each_image_by_its_drawn_offset_with_edge_padding():
    x = torch.randint(0, 255, (6, 2, 10, 12), dtype=torch.uint8)
    out, p = RandomShift(3)(x, torch.Generator().manual_seed(0))
    shift = p["shift"]
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert shift.shape == (6, 2) and shift.abs().max() <= 3 and len(set(map(tuple, shift.tolist()))) > 1
    for i in range(6):  # independent: numpy edge padding, then the window the offset selects
        dx, dy = shift[i].tolist()
        padded = np.pad(x[i].numpy(), ((0, 0), (3, 3), (3, 3)), mode="edge")
        assert np.array_equal(out[i].numpy(), padded[:, 3 - dy:3 - dy + 10, 3 - dx:3 - dx + 12])
    again, p2 = RandomShift(3)(x, torch.Generator().manual_seed(0))
    assert torch.equal(again, out) and torch.equal(p2["shift"], shift)
    assert torch.equal(RandomShift(0)(x, torch.Generator())[0], x)
    with pytest.raises(ValueError, match="pad"):
        RandomShift(-1)


def test_nature_cnn_shapes_and_uint8_scaling():
    enc = selfsup.create_encoder("nature_cnn")
    x = torch.randint(0, 255, (3, 4, 84, 84), dtype=torch.uint8)
    assert enc(x).shape == (3, 3136) and enc.out_dim == 3136
    assert enc.feature_map(x).shape == (3, *enc.map_shape) == (3, 64, 7, 7)
    assert torch.allclose(enc(x), enc(x.float() / 255.0))


def test_bilinear_infonce_matches_its_definition_and_leaves_keys_without_gradient():
    torch.manual_seed(0)
    crit = BilinearInfoNCELoss(5)
    q, k = torch.randn(4, 5, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    loss, logs = crit(q, k)
    w, qd, kd = crit.W.detach().double(), q.detach().double(), k.detach().double()
    expect = 0.0
    for i in range(4):
        logits = [(qd[i] @ w @ kd[j]).item() for j in range(4)]
        expect += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    assert loss.item() == pytest.approx(expect / 4, rel=1e-5)
    loss.backward()
    assert k.grad is None and q.grad.abs().sum() > 0 and crit.W.grad.abs().sum() > 0
    assert 0 <= logs["pair_accuracy"] <= 1


def _filled_buffer(rewards, dones, capacity=None):
    buf = ReplayBuffer(capacity or len(rewards), (1, 2, 2))
    for t, (r, d) in enumerate(zip(rewards, dones, strict=True)):
        buf.add(np.full((1, 2, 2), t, np.uint8), t % 3, r, d)
    return buf


def test_replay_n_step_returns_stop_at_episode_ends_and_sequences_are_masked():
    rewards = [1.0, 0.0, 1.0, -1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    dones = [False, False, False, True, False, False, False, False, False, False]
    buf = _filled_buffer(rewards, dones)
    gamma, n, k = 0.9, 3, 4
    batch = buf.sample(64, n, gamma, sequence=k)
    for i in range(64):
        t = int(batch.obs[i, 0, 0, 0])
        assert t + max(n, k) < len(rewards)  # never reads past what was written
        expect, alive = 0.0, True
        for j in range(n):  # independent: walk the steps, stop after an episode's end
            if not alive:
                break
            expect += gamma ** j * rewards[t + j]
            alive = not dones[t + j]
        assert batch.returns[i].item() == pytest.approx(expect)
        assert batch.discount[i].item() == pytest.approx(gamma ** n if alive else 0.0)
        assert int(batch.bootstrap_obs[i, 0, 0, 0]) == t + n and int(batch.action[i]) == t % 3
        assert [int(v) for v in batch.future_obs[i, :, 0, 0, 0]] == list(range(t + 1, t + k + 1))
        assert batch.future_actions[i].tolist() == [(t + j) % 3 for j in range(k)]
        valid = [not any(dones[t:t + j + 1]) for j in range(k)]
        assert batch.future_valid[i].tolist() == valid
    with pytest.raises(ValueError, match="needs more"):
        _filled_buffer([0.0] * 3, [False] * 3).sample(2, 3, 0.9)


def test_replay_ring_overwrites_the_oldest_and_samples_only_stored_runs():
    buf = _filled_buffer([0.0] * 13, [False] * 13, capacity=8)  # slots now hold steps 5..12
    assert len(buf) == 8
    batch = buf.sample(200, 2, 0.9)
    starts = batch.obs[:, 0, 0, 0].long()
    assert starts.min() >= 5 and starts.max() <= 10  # 2 steps ahead must exist: starts 5..10
    assert torch.equal(batch.bootstrap_obs[:, 0, 0, 0].long(), starts + 2)


def _buffer_for_agent(n=200, seed=0):
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(n, (4, 84, 84), seed)
    for _ in range(n):
        buf.add(rng.integers(0, 255, (4, 84, 84), dtype=np.uint8), int(rng.integers(4)),
                float(rng.choice([-1.0, 0.0, 1.0])), bool(rng.random() < 0.05))
    return buf


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def test_curl_key_encoder_gets_no_gradient_and_follows_its_momentum():
    agent = PixelAgent(4, AgentConfig(**VARIANTS["curl"], batch_size=8), seed=0)
    key, online = agent.aux.key.module, agent.aux.online
    assert all(not p.requires_grad for p in key.parameters())
    key_before, online_before = _params(key), _params(online)
    assert all(torch.equal(a, b) for a, b in zip(key_before, online_before, strict=True))  # starts as a copy
    logs = agent.update(_buffer_for_agent().sample(8, 10, 0.99))
    assert {"td_loss", "aux_loss", "pair_accuracy"} <= set(logs)
    assert all(p.grad is None for p in key.parameters())
    m = agent.config.curl_momentum
    for kb, k_after, o_after in zip(key_before, key.parameters(), online.parameters(), strict=True):
        assert torch.allclose(k_after, m * kb + (1 - m) * o_after.detach(), atol=1e-7)
    assert any(not torch.equal(a, b) for a, b in zip(online_before, online.parameters(), strict=True))
    assert agent.aux.online.encoder is agent.q.encoder  # the auxiliary trains the agent's own encoder


def test_spr_rollout_shapes_target_without_gradient_and_masked_steps():
    agent = PixelAgent(4, AgentConfig(**VARIANTS["spr"], batch_size=8, spr_horizon=3), seed=0)
    spr = agent.aux
    assert spr.online.projection is agent.q.head.advantage_hidden  # SPR's projection: the Q head's first layer
    assert all(not p.requires_grad for p in spr.target.parameters())
    z = torch.rand(8, 64, 7, 7)
    nxt = spr.transition(z, torch.randint(0, 4, (8,)))
    assert nxt.shape == z.shape and nxt.min() >= 0 and nxt.max() <= 1
    assert torch.allclose(renormalize(z).flatten(1).amax(1), torch.ones(8), atol=1e-3)
    batch = _buffer_for_agent().sample(8, 10, 0.99, sequence=3)
    fmap = agent.q.encoder.feature_map(batch.obs)
    valid = torch.ones(8, 3, dtype=torch.bool)
    valid[:4, 1:] = False
    loss, _ = spr(fmap, batch.future_actions, batch.future_obs, valid)
    garbage = batch.future_obs.clone()
    garbage[:4, 1:] = 255 - garbage[:4, 1:]  # steps past an episode's end must not count
    assert torch.allclose(spr(fmap, batch.future_actions, garbage, valid)[0], loss)
    loss.backward()
    assert all(p.grad is None for p in spr.target.parameters())
    assert agent.q.encoder.conv[0].weight.grad.abs().sum() > 0  # the rollout trains the shared encoder
    agent.optimizer.zero_grad(set_to_none=True)
    agent.update(batch)
    for t, o in zip(spr.target.parameters(), spr.online.parameters(), strict=True):
        assert torch.equal(t, o.detach())  # momentum 0: the target is the updated online network
    with pytest.raises(ValueError, match="horizon"):
        PixelAgent(4, AgentConfig(**VARIANTS["spr"], spr_horizon=0))


def test_transition_model_reads_the_action():
    torch.manual_seed(0)
    model = TransitionModel(64, 5).eval()
    z = torch.rand(2, 64, 7, 7)
    assert not torch.allclose(model(z, torch.tensor([0, 0])), model(z, torch.tensor([3, 3])))


def test_double_dqn_target_lets_the_online_net_pick_and_the_target_net_score():
    agent = PixelAgent(4, AgentConfig(augment=False, target_update_period=3), seed=0)
    with torch.no_grad():
        for p in agent.target.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # a target that differs from the online network
    batch = _buffer_for_agent().sample(8, 3, 0.9)
    y = agent.td_target(batch.returns, batch.discount, batch.bootstrap_obs)
    with torch.no_grad():
        pick = agent.q(batch.bootstrap_obs).argmax(1)
        score = agent.target(batch.bootstrap_obs)[torch.arange(8), pick]
    assert torch.allclose(y, batch.returns + batch.discount * score)
    assert all(not p.requires_grad for p in agent.target.parameters())
    before = _params(agent.target)
    agent.update(batch)
    agent.update(batch)
    assert all(torch.equal(a, b) for a, b in zip(before, agent.target.parameters(), strict=True))
    agent.update(batch)  # the third update copies the online network into the target
    assert all(torch.equal(a, b) for a, b in zip(agent.q.parameters(), agent.target.parameters(), strict=True))


def test_agent_update_fits_a_fixed_batch_and_augmentation_is_switchable():
    batch = _buffer_for_agent().sample(16, 3, 0.9)
    batch.discount.zero_()  # no bootstrap: the update is a plain regression onto the returns
    plain = PixelAgent(4, AgentConfig(augment=False, batch_size=16, lr=1e-3), seed=0)
    assert plain.augment(batch.obs) is batch.obs
    first = plain.update(batch)["td_loss"]
    for _ in range(30):
        last = plain.update(batch)["td_loss"]
    assert last < 0.5 * first
    shifted = PixelAgent(4, AgentConfig(batch_size=16), seed=0).augment(batch.obs)
    assert shifted.shape == batch.obs.shape and not torch.equal(shifted, batch.obs)
    agent = PixelAgent(4, AgentConfig(eps_decay_steps=100), seed=0)
    assert agent.epsilon(0) == 1.0 and agent.epsilon(50) == pytest.approx(0.505)
    assert agent.epsilon(10**6) == pytest.approx(0.01)
    rng = np.random.default_rng(0)
    obs = batch.obs[0].numpy()
    greedy = {agent.act(obs, 0.0, rng) for _ in range(5)}
    assert len(greedy) == 1  # epsilon 0: always the argmax
    with pytest.raises(ValueError, match="auxiliary"):
        AgentConfig(auxiliary="byol")


def test_human_normalised_scores_and_interquartile_mean():
    assert human_normalized("Pong", -20.7) == 0 and human_normalized("Pong", 14.6) == pytest.approx(1)
    assert len(REFERENCE_SCORES) == 26
    assert interquartile_mean(list(range(1, 9))) == pytest.approx(4.5)  # middle four of eight
    assert interquartile_mean([0, 1, 2, 3, 100]) == pytest.approx((0.75 * 1 + 2 + 0.75 * 3) / 2.5)
    assert interquartile_mean([7.0]) == 7.0


def test_a_short_atari_run_trains_and_evaluates_end_to_end():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    from selfsup.rl.agent import train_agent
    from selfsup.rl.atari import make_atari

    env = make_atari("Pong", seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    cfg = AgentConfig(**VARIANTS["spr"], min_replay=60, batch_size=4, spr_horizon=2, n_step=3)
    rec = train_agent("Pong", cfg, steps=120, seed=0, eval_episodes=1, eval_max_steps=50)
    assert rec["updates"] == 61 and rec["steps"] == 120 and len(rec["eval_returns"]) == 1
    assert rec["human_normalized"] == pytest.approx(human_normalized("Pong", rec["score"]))
    with pytest.raises(ValueError, match="unknown Atari-100k game"):
        make_atari("Tetris")
