"""Batched audio views and the log-mel front end.

A batch is (B, T) float waveforms. Views work in two stages, BYOL-A style (Niizumi et al. 2021):
on the waveform a random crop, a random gain and mixing with another clip of the batch as background
noise; then the encoder's front end (``Preprocessed``: log-mel or normalised waveform); then, on a
spectrogram, random resize-crop (BYOL-A's RRC) and SpecAugment-style frequency and time masks.
Every op draws per-sample parameters from the given ``torch.Generator`` and returns them.

The mel filterbank and STFT are written here on ``torch.stft`` because torchaudio has no build for
the pinned torch (see the README's install notes); ``mel_filterbank`` follows the HTK mel scale with
triangular filters, the same construction as torchaudio's ``melscale_fbanks(norm=None, mel_scale="htk")``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.views.base import MultiView, Params, Preprocessed, ViewOp, ViewPipeline, uniform


def hz_to_mel(f: Tensor | float) -> Tensor:
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> Tensor:
    """(n_freqs, n_mels) triangular filters, centres equally spaced on the HTK mel scale."""
    freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2,
                                     dtype=torch.float64))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower[None]) / (centre - lower)[None]
    falling = (upper[None] - freqs[:, None]) / (upper - centre)[None]
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class LogMel(nn.Module):
    """(B, T) waveform -> (B, 1, n_mels, frames) log mel power, ``log(mel + eps)``; a fixed (untrained) layer."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float = 0.0,
                 f_max: float | None = None, eps: float = 1e-6) -> None:
        super().__init__()
        self.n_fft, self.hop, self.eps = n_fft, hop, eps
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("fb", mel_filterbank(n_fft // 2 + 1, f_min, f_max or sample_rate / 2, n_mels,
                                                  sample_rate), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        spec = torch.stft(x.float(), self.n_fft, self.hop, window=self.window.to(x.device), center=True,
                          return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2                          # (B, F, frames)
        mel = torch.einsum("bft,fm->bmt", power, self.fb.to(x.device))
        return torch.log(mel + self.eps).unsqueeze(1)


class RandomCrop(ViewOp):
    """A window of ``fraction`` of the clip at a random start per sample. Params ``crop_start`` (fraction)."""

    name = "crop"

    def __init__(self, fraction: float = 0.8) -> None:
        super().__init__()
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"audio crop fraction must be in (0, 1], got {fraction}")
        self.fraction = fraction

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, t = x.shape
        n = max(1, round(self.fraction * t))
        start = torch.randint(0, t - n + 1, (b,), generator=g, device=x.device)
        idx = start[:, None] + torch.arange(n, device=x.device)[None]
        return x.gather(1, idx), {"crop_start": start.float() / t}


class Gain(ViewOp):
    """Loudness change by ``U(-db, db)`` decibels. Params ``gain_db``."""

    name = "gain"

    def __init__(self, db: float = 6.0) -> None:
        super().__init__()
        self.db = db

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        gain = uniform(x.shape[0], -self.db, self.db, g, x.device)
        return x * (10.0 ** (gain / 20.0))[:, None], {"gain_db": gain}


class MixBackground(ViewOp):
    """``(1 - r) x + r x_other``, ``r ~ U(0, ratio)``, the other clip drawn from the batch: BYOL-A's mixup with a
    background sound (there from a memory of past inputs, here the other clips of the batch). Params ``mix``."""

    name = "mix_background"

    def __init__(self, ratio: float = 0.4) -> None:
        super().__init__()
        self.ratio = ratio

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b = x.shape[0]
        r = uniform(b, 0.0, self.ratio, g, x.device)
        other = torch.randint(0, b, (b,), generator=g, device=x.device)
        shape = (b,) + (1,) * (x.ndim - 1)
        return (1 - r).view(shape) * x + r.view(shape) * x[other], {"mix": r}


class RandomResizeCrop(ViewOp):
    """BYOL-A's random resize-crop of a (B, 1, F, T) spectrogram: a crop of ``U(scale)`` times its frequency and
    time extent (beyond 1: the spectrogram padded with its minimum) resized back to (F, T). Params ``rrc``."""

    name = "random_resize_crop"

    def __init__(self, freq_scale: tuple[float, float] = (0.6, 1.5), time_scale: tuple[float, float] = (0.6, 1.5)
                 ) -> None:
        super().__init__()
        self.freq_scale, self.time_scale = freq_scale, time_scale

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, _, f, t = x.shape
        dev = x.device
        sf = uniform(b, *self.freq_scale, g, dev)
        st = uniform(b, *self.time_scale, g, dev)
        cf = uniform(b, -1.0, 1.0, g, dev) * (1 - sf).abs()  # crop centre, kept so the crop overlaps the input
        ct = uniform(b, -1.0, 1.0, g, dev) * (1 - st).abs()
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = st, ct  # affine_grid: x is time (width), y is frequency (height)
        theta[:, 1, 1], theta[:, 1, 2] = sf, cf
        grid = F.affine_grid(theta, [b, 1, f, t], align_corners=False)
        floor = x.amin(dim=(1, 2, 3), keepdim=True)
        out = F.grid_sample(x - floor, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + floor
        return out, {"rrc": torch.stack([sf, st, cf, ct], 1)}


class SpecMask(ViewOp):
    """SpecAugment masks: ``n`` bands of up to ``width`` frequency bins (``axis=2``) or frames (``axis=3``) set to
    the spectrogram's mean. Params ``<name>_mask`` (B, n, 2): start and width of each band."""

    def __init__(self, axis: int, width: int, n: int = 1) -> None:
        super().__init__()
        if axis not in (2, 3):
            raise ValueError("SpecMask masks frequency (axis 2) or time (axis 3) of a (B, 1, F, T) spectrogram")
        self.axis, self.width, self.n = axis, width, n
        self.name = "freq" if axis == 2 else "time"

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, size, dev = x.shape[0], x.shape[self.axis], x.device
        width = torch.randint(0, min(self.width, size) + 1, (b, self.n), generator=g, device=dev)
        start = (torch.rand(b, self.n, generator=g, device=dev) * (size - width + 1)).long()
        pos = torch.arange(size, device=dev)
        inside = (pos[None, None] >= start[..., None]) & (pos[None, None] < (start + width)[..., None])
        hit = inside.any(1)  # (B, size)
        shape = (b, 1, size, 1) if self.axis == 2 else (b, 1, 1, size)
        fill = x.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(hit.view(shape), fill, x), {f"{self.name}_mask": torch.stack([start, width], 2).float()}


AUDIO_PRESETS = ("byol_a", "none")


def audio_views(preset: str, front_end: nn.Module, spectrogram: bool, n_views: int = 2,
                crop: float | None = None) -> nn.Module:
    """Audio view recipes; ``front_end`` maps a waveform batch to the encoder's input.

    ``byol_a``: crop ``crop`` (0.8) of the clip, gain +-6 dB, background mix up to 0.4; then on a log-mel
    front end random resize-crop (0.6-1.5 in both axes), one frequency mask (up to 1/8 of the bins) and one
    time mask (up to 1/8 of the frames); on a waveform front end, one time mask of up to 1/8 of the samples.
    ``none``: the front end alone (``n_views`` copies).
    """
    if preset == "none":
        return MultiView([ViewPipeline([Preprocessed(front_end)])], n_views=n_views)
    if preset != "byol_a":
        raise ValueError(f"unknown audio view preset {preset!r}; choose one of {', '.join(AUDIO_PRESETS)}")
    wave: list[ViewOp] = [RandomCrop(0.8 if crop is None else crop), Gain(6.0), MixBackground(0.4),
                          Preprocessed(front_end)]
    after: list[ViewOp] = [RandomResizeCrop(), SpecMask(2, 8), SpecMask(3, 8)] if spectrogram else [TimeMask1d()]
    return MultiView([ViewPipeline([*wave, *after])], n_views=n_views)


class TimeMask1d(ViewOp):
    """One segment of up to ``fraction`` of a (B, 1, T) normalised waveform set to 0. Params ``time_mask``."""

    name = "time_mask"

    def __init__(self, fraction: float = 0.125) -> None:
        super().__init__()
        self.fraction = fraction

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, t, dev = x.shape[0], x.shape[-1], x.device
        width = (torch.rand(b, generator=g, device=dev) * math.floor(self.fraction * t)).long()
        start = (torch.rand(b, generator=g, device=dev) * (t - width + 1)).long()
        pos = torch.arange(t, device=dev)[None]
        hit = (pos >= start[:, None]) & (pos < (start + width)[:, None])
        return x.masked_fill(hit[:, None, :], 0.0), {"time_mask": torch.stack([start, width], 1).float()}


__all__ = ["AUDIO_PRESETS", "Gain", "LogMel", "MixBackground", "RandomCrop", "RandomResizeCrop", "SpecMask",
           "TimeMask1d", "audio_views", "mel_filterbank"]
