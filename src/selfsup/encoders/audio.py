"""Audio encoders: a 1-D CNN on waveforms and BYOL-A's 2-D CNN on log-mel spectrograms.

Inputs come from the audio front end (``selfsup.modalities.AudioPreprocess``): (B, 1, T) normalised
waveforms, or (B, 1, n_mels, frames) normalised log-mel. Both pool over time with mean + max
(BYOL-A's temporal pooling), so a clip of any length maps to one vector.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class WaveformCNN(nn.Module):
    """Strided Conv1d + BatchNorm + ReLU layers (a wav2vec-style feature extractor, total stride 160: 50
    frames per second at 8 kHz), then mean + max pooling over time."""

    def __init__(self, widths: Sequence[int] = (64, 128, 128, 256, 256), kernels: Sequence[int] = (10, 8, 4, 4, 4),
                 strides: Sequence[int] = (5, 4, 2, 2, 2)) -> None:
        super().__init__()
        if not len(widths) == len(kernels) == len(strides):
            raise ValueError("WaveformCNN needs one kernel and one stride per layer width")
        layers: list[nn.Module] = []
        c = 1
        for w, k, s in zip(widths, kernels, strides, strict=True):
            layers += [nn.Conv1d(c, w, k, stride=s, padding=k // 2, bias=False), nn.BatchNorm1d(w),
                       nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.out_dim = c

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1)
        h = self.features(x)                          # (B, C, frames)
        return h.mean(2) + h.amax(2)


class SpectrogramCNN(nn.Module):
    """BYOL-A's encoder (AudioNTT2020): three [Conv2d 3x3, BatchNorm, ReLU, MaxPool 2x2] blocks of ``channels``,
    then per frame two Linear + ReLU layers of width ``out_dim`` (dropout between), then mean + max over time."""

    def __init__(self, n_mels: int = 64, channels: int = 64, out_dim: int = 512, dropout: float = 0.3) -> None:
        super().__init__()
        if n_mels < 8:
            raise ValueError(f"SpectrogramCNN pools frequency three times by 2; n_mels must be >= 8, got {n_mels}")
        blocks: list[nn.Module] = []
        c = 1
        for _ in range(3):
            blocks += [nn.Conv2d(c, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = channels
        self.features = nn.Sequential(*blocks)
        self.n_mels = n_mels
        self.fc = nn.Sequential(nn.Linear(channels * (n_mels // 8), out_dim), nn.ReLU(inplace=True),
                                nn.Dropout(dropout), nn.Linear(out_dim, out_dim), nn.ReLU(inplace=True))
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[2] != self.n_mels:
            raise ValueError(f"SpectrogramCNN expects (B, 1, {self.n_mels}, frames) log-mel input, got "
                             f"{tuple(x.shape)}")
        h = self.features(x)                          # (B, C, F', T')
        b, c, f, t = h.shape
        h = self.fc(h.permute(0, 3, 1, 2).reshape(b, t, c * f))  # (B, T', out_dim)
        return h.mean(1) + h.amax(1)


__all__ = ["SpectrogramCNN", "WaveformCNN"]
