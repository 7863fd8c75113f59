"""Batched time-series views: every op transforms a whole (B, C, T) float batch on its device.

NaN marks a missing value (or a timestamp past a shorter series' end) and stays NaN: ops
move or scale values around it and masking writes NaN, which encoders read as "absent".
Like the image ops, each draws per-sample parameters from the given ``torch.Generator`` and
returns them. ``OverlappingCrops`` is TS2Vec's contextual-consistency pair: two crops of
one series that share a stretch of timestamps, whose position it reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.views.base import MultiView, Params, ViewOp, ViewPipeline, coin, uniform


def take_windows(x: Tensor, start: Tensor, length: int) -> Tensor:
    """``x[b, :, start[b] : start[b] + length]`` for every row (NaN where the window leaves the series)."""
    b, c, t = x.shape
    idx = start.view(b, 1) + torch.arange(length, device=x.device).view(1, length)
    inside = (idx >= 0) & (idx < t)
    out = x.gather(2, idx.clamp(0, t - 1).view(b, 1, length).expand(b, c, length))
    return out.masked_fill(~inside.view(b, 1, length), float("nan"))


def _randint(low: int, high: int, g: torch.Generator, device: torch.device, n: int | None = None) -> Tensor | int:
    """Integers in [low, high): one Python int, or ``n`` of them as a tensor."""
    if n is None:
        return int(torch.randint(low, high, (1,), generator=g, device=device))
    return torch.randint(low, high, (n,), generator=g, device=device)


class OverlappingCrops(nn.Module):
    """TS2Vec's two crops with overlap (Yue et al. 2022, contextual consistency).

    Draw an overlap ``[a2, b1)`` of length at least ``2 ** (min_unit + 1)`` and two crops
    ``[a1, b1)`` and ``[a2, b2)`` with ``a1 <= a2 < b1 <= b2``, then shift both by one random
    offset per series. The overlap is the last ``overlap_length`` timestamps of view 1 and the
    first of view 2: params ``overlap_start`` (index in the view) and ``overlap_length``.
    ``ops`` (e.g. a ``TimestampMask``) are then applied to each crop.
    """

    n_views = 2

    def __init__(self, ops: Sequence[ViewOp] = (), min_unit: int = 0) -> None:
        super().__init__()
        self.pipeline = ViewPipeline(ops)
        self.min_unit = min_unit

    def forward(self, x: Tensor, g: torch.Generator) -> list[tuple[Tensor, Params]]:
        b, _, t = x.shape
        dev = x.device
        shortest = min(2 ** (self.min_unit + 1), t)
        overlap = _randint(shortest, t + 1, g, dev)
        a2 = _randint(0, t - overlap + 1, g, dev)
        b1 = a2 + overlap
        a1 = _randint(0, a2 + 1, g, dev)
        b2 = _randint(b1, t + 1, g, dev)
        shift = _randint(-a1, t - b2 + 1, g, dev, n=b)
        views = []
        for start, stop, o_start in ((a1, b1, a2 - a1), (a2, b2, 0)):
            v, p = self.pipeline(take_windows(x, shift + start, stop - start), g)
            full = torch.full((b,), 1, dtype=torch.long, device=dev)
            views.append((v, {**p, "crop_start": shift + start, "overlap_start": full * o_start,
                              "overlap_length": full * overlap}))
        return views


class RandomCrop(ViewOp):
    """A window of ``ratio`` x T timestamps (ratio drawn once per batch, so the views stack) at a random
    start per series; params ``crop_start`` and ``crop_length``."""

    name = "crop"

    def __init__(self, ratio: tuple[float, float] = (0.5, 1.0)) -> None:
        super().__init__()
        if not 0 < ratio[0] <= ratio[1] <= 1:
            raise ValueError(f"crop ratio must satisfy 0 < low <= high <= 1, got {ratio}")
        self.ratio = ratio

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, _, t = x.shape
        length = max(1, round(t * float(uniform(1, *self.ratio, g, x.device))))
        start = _randint(0, t - length + 1, g, x.device, n=b)
        return take_windows(x, start, length), {"crop_start": start, "crop_length": torch.full_like(start, length)}


class Jitter(ViewOp):
    """Add N(0, sigma²) noise to every value (Um et al. 2017); params ``jitter_sigma``."""

    name = "jitter"

    def __init__(self, sigma: float = 0.1) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
        return x + self.sigma * noise, {"jitter_sigma": torch.full((x.shape[0],), self.sigma, device=x.device)}


class Scaling(ViewOp):
    """Multiply each channel of each series by a factor from N(1, sigma²); params ``scale`` (B, C)."""

    name = "scale"

    def __init__(self, sigma: float = 0.2) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, c, _ = x.shape
        factor = 1 + self.sigma * torch.randn(b, c, generator=g, device=x.device)
        return x * factor.unsqueeze(-1).to(x.dtype), {"scale": factor}


class SegmentPermutation(ViewOp):
    """Cut each series (with probability ``p``) into 2..``max_segments`` pieces at random points and
    shuffle them (Um et al. 2017); params ``n_segments`` and ``order`` (B, T), the source index of
    each output timestamp."""

    name = "permute"

    def __init__(self, max_segments: int = 5, p: float = 0.5) -> None:
        super().__init__()
        if max_segments < 2:
            raise ValueError(f"max_segments must be >= 2, got {max_segments}")
        self.max_segments, self.p = max_segments, p

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, c, t = x.shape
        dev = x.device
        k = torch.randint(2, self.max_segments + 1, (b,), generator=g, device=dev)
        k = torch.where(coin(b, self.p, g, dev), k, torch.ones_like(k)).clamp(max=t)
        # cut points: the k-1 smallest of T-1 random keys, one per gap between timestamps
        keys = torch.rand(b, t - 1, generator=g, device=dev)
        kth = keys.sort(dim=1).values.gather(1, (k - 2).clamp(min=0).view(b, 1))
        cuts = (keys <= kth) & (k.view(b, 1) > 1)
        segment = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=dev), cuts.long().cumsum(1)], dim=1)
        place = torch.rand(b, self.max_segments, generator=g, device=dev).argsort(1).argsort(1)  # segment's place
        order = torch.sort(place.gather(1, segment) * t + torch.arange(t, device=dev), dim=1).indices
        return x.gather(2, order.view(b, 1, t).expand(b, c, t)), {"n_segments": k, "order": order}


class TimeWarp(ViewOp):
    """Smoothly speed up and slow down time (with probability ``p``): speeds drawn from N(1, sigma²) at
    ``knots`` points, interpolated, integrated into a monotone map, resampled linearly; params
    ``warp_speeds`` (B, knots), all ones where not applied."""

    name = "time_warp"

    def __init__(self, sigma: float = 0.2, knots: int = 4, p: float = 0.5) -> None:
        super().__init__()
        self.sigma, self.knots, self.p = sigma, knots, p

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, c, t = x.shape
        dev = x.device
        speeds = (1 + self.sigma * torch.randn(b, self.knots, generator=g, device=dev)).clamp(min=0.1)
        speeds = torch.where(coin(b, self.p, g, dev).view(b, 1), speeds, torch.ones_like(speeds))
        dense = F.interpolate(speeds.unsqueeze(1), size=t, mode="linear", align_corners=True).squeeze(1)
        pos = torch.cumsum(dense, dim=1) - dense[:, :1]
        pos = pos / pos[:, -1:].clamp(min=1e-6) * (t - 1)  # source position of each output timestamp
        lo = pos.floor().long().clamp(0, t - 1)
        hi = (lo + 1).clamp(max=t - 1)
        w = (pos - lo).unsqueeze(1).to(x.dtype)
        gather = lambda i: x.gather(2, i.view(b, 1, t).expand(b, c, t))  # noqa: E731
        a, z = gather(lo), gather(hi)
        out = torch.where(w == 0, a, a * (1 - w) + z * w)  # an exact sample stays exact (and NaN only if missing)
        return out, {"warp_speeds": speeds}


class TimestampMask(ViewOp):
    """Hide timestamps (all channels) by writing NaN, which encoders treat as missing: TS2Vec's
    timestamp masking when the encoder zeroes missing inputs after its first projection.

    ``mode="binomial"`` hides each timestamp with probability ``p``; ``"continuous"`` hides
    ``n_spans`` spans of ``span`` x T. Params ``mask`` (B, T), True where kept.
    """

    name = "mask"

    def __init__(self, p: float = 0.5, mode: str = "binomial", n_spans: int = 5, span: float = 0.1) -> None:
        super().__init__()
        if mode not in ("binomial", "continuous"):
            raise ValueError(f"mask mode must be binomial or continuous, got {mode!r}")
        self.p, self.mode, self.n_spans, self.span = p, mode, n_spans, span

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, _, t = x.shape
        dev = x.device
        if self.mode == "binomial":
            keep = torch.rand(b, t, generator=g, device=dev) >= self.p
        else:
            length = max(1, int(self.span * t))
            starts = torch.randint(0, max(1, t - length + 1), (b, min(self.n_spans, max(1, t // 2))), generator=g,
                                   device=dev)
            pos = torch.arange(t, device=dev).view(1, 1, t)
            hidden = ((pos >= starts.unsqueeze(-1)) & (pos < starts.unsqueeze(-1) + length)).any(1)
            keep = ~hidden
        return x.masked_fill(~keep.unsqueeze(1), float("nan")), {"mask": keep}


class FrequencyPerturbation(ViewOp):
    """Remove a random fraction of frequency components and boost others (TF-C, Zhang et al. 2022).

    In the real FFT of each channel, each bin is zeroed with probability ``remove`` and, among
    the rest, raised with probability ``add`` to ``alpha`` x the largest amplitude (random phase).
    Missing values are read as 0 and stay missing. Params ``freq_removed`` and ``freq_added``
    (fractions of bins per series).
    """

    name = "frequency"

    def __init__(self, remove: float = 0.1, add: float = 0.1, alpha: float = 0.5) -> None:
        super().__init__()
        self.remove, self.add, self.alpha = remove, add, alpha

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, c, t = x.shape
        missing = torch.isnan(x)
        spec = torch.fft.rfft(x.float().masked_fill(missing, 0.0), dim=-1)
        f = spec.shape[-1]
        dev = x.device
        removed = torch.rand(b, c, f, generator=g, device=dev) < self.remove
        added = (torch.rand(b, c, f, generator=g, device=dev) < self.add) & ~removed
        removed[..., 0] = False  # keep the mean
        added[..., 0] = False
        peak = spec.abs().amax(-1, keepdim=True)
        phase = torch.rand(b, c, f, generator=g, device=dev) * (2 * math.pi)
        boost = torch.polar(self.alpha * peak.expand(b, c, f), phase)
        spec = torch.where(removed, torch.zeros_like(spec), torch.where(added, boost, spec))
        out = torch.fft.irfft(spec, n=t, dim=-1).to(x.dtype).masked_fill(missing, float("nan"))
        return out, {"freq_removed": removed.float().mean((1, 2)), "freq_added": added.float().mean((1, 2))}


SERIES_PRESETS = ("ts2vec", "contrastive", "none")


def series_views(preset: str = "contrastive", n_views: int = 2, mask_p: float | None = None) -> nn.Module:
    """Time-series view recipes.

    ``ts2vec``: two overlapping crops, each with half its timestamps masked (Yue et al. 2022);
    the views of TS2Vec and SoftCLT. ``contrastive``: for instance-level methods (SimCLR, BYOL,
    VICReg, ... on series): a crop of 50-100 % of the series, channel scaling (sigma 0.2), time warping
    (p 0.5), segment permutation (p 0.3), frequency perturbation, jitter (sigma 0.1) and 10 %
    timestamp masking. ``none``: the series as it is (``n_views`` copies), for masked modelling.
    ``mask_p`` overrides the masking probability.
    """
    if preset == "ts2vec":
        if n_views != 2:
            raise ValueError(f"the ts2vec preset makes 2 overlapping views, got n_views={n_views}")
        return OverlappingCrops([TimestampMask(0.5 if mask_p is None else mask_p)])
    if preset == "contrastive":
        ops = [RandomCrop((0.5, 1.0)), Scaling(0.2), TimeWarp(0.2, p=0.5), SegmentPermutation(5, p=0.3),
               FrequencyPerturbation(0.1, 0.05), Jitter(0.1), TimestampMask(0.1 if mask_p is None else mask_p)]
        return MultiView([ViewPipeline(ops)], n_views=n_views)
    if preset == "none":
        return MultiView([ViewPipeline([])], n_views=n_views)
    raise ValueError(f"unknown series view preset {preset!r}; choose one of {', '.join(SERIES_PRESETS)}")


__all__ = ["SERIES_PRESETS", "FrequencyPerturbation", "Jitter", "OverlappingCrops", "RandomCrop", "Scaling",
           "SegmentPermutation", "TimeWarp", "TimestampMask", "series_views", "take_windows"]
