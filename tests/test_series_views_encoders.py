"""Series views (params, NaN, determinism), encoders (exact shortcuts, causality, missing values) and DTW."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import selfsup
from selfsup.data.distances import dtw_pairs, pairwise_distances, scaled_distances
from selfsup.views.series import (
    FrequencyPerturbation,
    Jitter,
    OverlappingCrops,
    RandomCrop,
    Scaling,
    SegmentPermutation,
    TimestampMask,
    TimeWarp,
    series_views,
    take_windows,
)


def _series(b=6, c=2, t=40, seed=0):
    return torch.randn(b, c, t, generator=torch.Generator().manual_seed(seed))


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_overlapping_crops_share_the_reported_timestamps():
    x = _series(t=50)
    for seed in range(20):
        (v1, p1), (v2, p2) = OverlappingCrops()(x, _g(seed))
        o1, n = int(p1["overlap_start"][0]), int(p1["overlap_length"][0])
        assert int(p2["overlap_start"][0]) == 0 and n >= 2
        assert torch.equal(v1[..., o1:o1 + n], v2[..., :n])  # the same timestamps of the same series
        for b in range(x.shape[0]):  # and they are the series' own values at the crop position
            s = int(p2["crop_start"][b])
            assert torch.equal(v2[b, :, :n], x[b, :, s:s + n])
        assert v1.shape[-1] == o1 + n  # the overlap is view 1's end


def test_views_are_deterministic_under_a_seed_and_differ_across_seeds():
    x = _series()
    views = series_views("contrastive")
    a = views(x, _g(3))
    b = views(x, _g(3))
    c = views(x, _g(4))
    for (va, pa), (vb, pb) in zip(a, b, strict=True):
        assert torch.equal(torch.nan_to_num(va, 9.0), torch.nan_to_num(vb, 9.0))
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not torch.equal(torch.nan_to_num(a[0][0], 9.0), torch.nan_to_num(c[0][0], 9.0))


def test_crop_scaling_jitter_params_reproduce_the_view():
    x = _series()
    v, p = RandomCrop((0.5, 0.5))(x, _g())
    assert v.shape[-1] == 20 and torch.equal(v, take_windows(x, p["crop_start"], 20))
    v, p = Scaling(0.3)(x, _g())
    assert torch.allclose(v, x * p["scale"].unsqueeze(-1))
    v, p = Jitter(0.0)(x, _g())
    assert torch.equal(v, x)
    assert torch.isnan(take_windows(x, torch.full((6,), 35), 10)[:, :, 5:]).all()  # past the end: missing


def test_segment_permutation_moves_whole_segments():
    x = torch.arange(30.0).repeat(4, 2, 1)
    v, p = SegmentPermutation(max_segments=4, p=1.0)(x, _g(1))
    order = p["order"]
    assert torch.equal(v, x.gather(2, order.unsqueeze(1).expand_as(x)))
    for b in range(4):
        assert sorted(v[b, 0].tolist()) == list(range(30))  # a permutation of the values
        runs = 1 + int((order[b, 1:] != order[b, :-1] + 1).sum())  # contiguous pieces in the output
        assert runs <= int(p["n_segments"][b])
    same, p = SegmentPermutation(p=0.0)(x, _g(1))
    assert torch.equal(same, x) and (p["n_segments"] == 1).all()


def test_time_warp_is_monotone_keeps_the_ends_and_is_identity_when_off():
    x = torch.linspace(0, 1, 50).repeat(3, 1, 1)
    v, p = TimeWarp(sigma=0.5, p=1.0)(x, _g(2))
    assert (v[..., 1:] - v[..., :-1] >= -1e-6).all()  # a monotone series stays monotone
    assert torch.allclose(v[..., 0], x[..., 0]) and torch.allclose(v[..., -1], x[..., -1])
    assert not torch.allclose(v, x)
    off, p = TimeWarp(p=0.0)(x, _g(2))
    assert torch.allclose(off, x) and (p["warp_speeds"] == 1).all()


def test_timestamp_mask_hides_whole_timestamps_as_nan():
    x = _series(b=64, t=100)
    v, p = TimestampMask(0.3)(x, _g())
    keep = p["mask"]
    assert torch.isnan(v).all(1).eq(~keep).all() and not torch.isnan(v).any(1).ne(~keep).any()
    assert abs(float((~keep).float().mean()) - 0.3) < 0.03
    v, p = TimestampMask(mode="continuous", n_spans=2, span=0.1)(x, _g())
    hidden = (~p["mask"]).sum(1)
    assert (hidden >= 10).all() and (hidden <= 20).all()


def test_frequency_perturbation_keeps_the_mean_and_missing_values():
    x = _series()
    x[0, :, 5] = float("nan")
    same, _ = FrequencyPerturbation(remove=0.0, add=0.0)(x, _g())
    assert torch.allclose(torch.nan_to_num(same), torch.nan_to_num(x), atol=1e-5)
    v, p = FrequencyPerturbation(remove=0.5, add=0.2)(x, _g())
    assert torch.isnan(v[0, :, 5]).all() and not torch.isnan(v[1]).any()
    assert torch.allclose(v[1:].mean(-1), x[1:].mean(-1), atol=1e-5)  # the DC bin is never touched
    assert (p["freq_removed"] > 0.3).all()


def test_dilated_block_shortcut_equals_the_padded_convolution():
    """Where the dilation reaches past the series, only the tap on t sees data: same output, less work."""
    for causal in (False, True):
        enc = selfsup.create_encoder("ts_conv", in_channels=2, hidden=8, out_dim=8, depth=6, causal=causal).eval()
        x = torch.randn(3, 8, 20)
        for block in enc.blocks:
            if block.dilation < 20:
                continue
            fast = block._conv(block.conv1, x)
            slow = block.conv1(F.pad(x, block.pad))
            assert torch.allclose(fast, slow, atol=1e-5)


def test_causal_encoder_ignores_the_future_and_missing_inputs_count_as_zero_hidden():
    enc = selfsup.create_encoder("ts_conv", in_channels=2, hidden=8, out_dim=8, depth=4, causal=True).eval()
    x = _series(b=2, t=30)
    y = x.clone()
    y[..., 20:] = torch.randn(2, 2, 10)
    za, zb = enc.forward_timestamps(x), enc.forward_timestamps(y)
    assert torch.allclose(za[:, :20], zb[:, :20], atol=1e-6) and not torch.allclose(za[:, 20:], zb[:, 20:])
    # a wholly missing timestamp enters as a zero hidden vector (TS2Vec's latent masking)
    x[:, :, 7] = float("nan")
    h = enc.input_fc(torch.nan_to_num(x).transpose(1, 2))
    h[:, 7] = 0
    manual = enc.blocks(h.transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(enc.forward_timestamps(x), manual, atol=1e-6)
    assert enc(x).shape == (2, 8) and torch.isfinite(enc(x)).all()
    with pytest.raises(ValueError, match="built for 2 channel"):
        enc(torch.randn(2, 3, 10))


@pytest.mark.parametrize("attention", [True, False])
def test_patch_encoder_shapes_missing_patches_and_mask_token(attention):
    enc = selfsup.create_encoder("patch_tst" if attention else "pits", in_channels=2, patch_len=4, out_dim=16,
                                 depth=1, heads=2).eval()
    x = _series(b=3, t=18)  # 18 = 4 patches + 2 values: the last patch is padded with NaN
    p = enc.patchify(x)
    assert p.shape == (3, 2, 5, 4) and torch.isnan(p[..., -1, 2:]).all()
    x[0, 1] = float("nan")  # a wholly missing channel
    tok, present = enc.forward_tokens(x)
    assert tok.shape == (3, 2, 5, 16) and not present[0, 1].any() and torch.isfinite(tok).all()
    z = enc(x)
    assert z.shape == (3, 16) and torch.isfinite(z).all()
    assert enc.forward_timestamps(x).shape == (3, 5, 16)
    hidden = torch.zeros(3, 2, 5, dtype=torch.bool)
    hidden[:, :, 1] = True
    masked, _ = enc.forward_tokens(x, hidden)
    changed = x.clone()
    changed[..., 4:8] = torch.where(x[..., 4:8].isnan(), x[..., 4:8], 100.0)  # the hidden patch's values no longer
    # matter (which values exist still does: a wholly missing patch is left out of attention)
    masked2, _ = enc.forward_tokens(changed, hidden)
    assert torch.allclose(masked, masked2, atol=1e-5)


def _naive_dtw(a, b, band=None):
    t = len(a)
    d = np.full((t + 1, t + 1), np.inf)
    d[0, 0] = 0
    for i in range(1, t + 1):
        for j in range(1, t + 1):
            if band is not None and abs(i - j) > band:
                continue
            d[i, j] = (a[i - 1] - b[j - 1]) ** 2 + min(d[i - 1, j - 1], d[i - 1, j], d[i, j - 1])
    return np.sqrt(d[t, t])


def test_dtw_matches_the_textbook_dynamic_programme():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 12)), rng.normal(size=(5, 12))
    for band in (None, 2):
        fast = dtw_pairs(torch.tensor(a[:, None]).float(), torch.tensor(b[:, None]).float(), band)
        slow = [_naive_dtw(a[k], b[k], band) for k in range(5)]
        np.testing.assert_allclose(fast.numpy(), slow, rtol=1e-5)
    shifted = np.roll(np.sin(np.linspace(0, 6, 30)), 3)
    base = np.sin(np.linspace(0, 6, 30))
    dtw = float(dtw_pairs(torch.tensor(base).view(1, 1, -1).float(), torch.tensor(shifted).view(1, 1, -1).float()))
    assert dtw < np.linalg.norm(base - shifted) / 2  # warping absorbs a shift that Euclidean distance does not


def test_pairwise_distances_are_symmetric_and_scaled_to_unit_range():
    x = _series(b=7, c=1, t=25)
    for kind in ("dtw", "euclidean", "cosine"):
        d = pairwise_distances(x, kind, length=16)
        assert torch.allclose(d, d.T, atol=1e-5) and torch.allclose(d.diagonal(), torch.zeros(7), atol=1e-3)
        s = scaled_distances(x, kind, length=16)
        off = ~torch.eye(7, dtype=torch.bool)
        assert float(s[off].min()) == pytest.approx(0.0, abs=1e-6) and float(s[off].max()) == pytest.approx(1.0)
    e = pairwise_distances(x, "euclidean")
    assert torch.allclose(e[0, 1], (x[0] - x[1]).norm(), atol=1e-5)


def test_padded_batch_of_two_crops_equals_two_separate_passes():
    from selfsup.methods.ts2vec import encode_crops

    enc = selfsup.create_encoder("ts_conv", in_channels=2, hidden=8, out_dim=8, depth=5).eval()
    a, b = _series(b=3, t=23), _series(b=3, t=37, seed=1)
    a[0, :, 4] = float("nan")  # a missing timestamp stays a missing timestamp
    za, zb = encode_crops(enc, a, b)
    assert torch.allclose(za, enc.forward_timestamps(a), atol=1e-5)
    assert torch.allclose(zb, enc.forward_timestamps(b), atol=1e-5)
