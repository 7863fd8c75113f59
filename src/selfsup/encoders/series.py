"""Time-series encoders: (B, C, T) float with NaN for missing values -> (B, out_dim).

Both also give per-timestamp (or per-patch) representations, which TS2Vec's hierarchical
loss and masked patch modelling need: ``forward_timestamps`` returns (B, T, out_dim).
Missing inputs are zeroed after the first projection, so a masked or absent timestamp
contributes nothing (TS2Vec's latent masking when the mask is written as NaN by a view).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _present(x: Tensor) -> tuple[Tensor, Tensor]:
    """(values with NaN read as 0, (B, T) bool: any channel present at that timestamp)."""
    missing = torch.isnan(x)
    return x.masked_fill(missing, 0.0), ~missing.all(dim=1)


class _DilatedBlock(nn.Module):
    """GELU -> dilated conv -> GELU -> dilated conv, plus a residual (1x1 projection when widths differ)."""

    def __init__(self, c_in: int, c_out: int, dilation: int, causal: bool, project: bool) -> None:
        super().__init__()
        self.dilation = dilation
        self.pad = (2 * dilation, 0) if causal else (dilation, dilation)  # kernel 3: receptive field 2d + 1
        self.own_tap = 2 if causal else 1  # the kernel tap that reads timestamp t itself
        self.conv1 = nn.Conv1d(c_in, c_out, 3, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, dilation=dilation)
        self.project = nn.Conv1d(c_in, c_out, 1) if project or c_in != c_out else None

    def _conv(self, conv: nn.Conv1d, x: Tensor) -> Tensor:
        if self.dilation >= x.shape[-1]:
            # every other tap falls in the zero padding: the same result as a 1x1 convolution with the
            # tap on t, without the 2d padded columns (benchmarks/series_speed.py: ~10x faster at d = 8T)
            return F.conv1d(x, conv.weight[:, :, self.own_tap:self.own_tap + 1], conv.bias)
        return conv(F.pad(x, self.pad))

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """``keep`` (B, 1, T), 0 past a padded series' end: those positions are zeroed after each
        convolution, so every real position sees exactly the zero padding of an unpadded series."""
        res = x if self.project is None else self.project(x)
        x = self._conv(self.conv1, F.gelu(x))
        if keep is not None:
            x = x * keep
        x = self._conv(self.conv2, F.gelu(x)) + res
        return x if keep is None else x * keep


class DilatedConvEncoder(nn.Module):
    """TS2Vec's encoder (Yue et al. 2022): a per-timestamp linear projection, then ``depth`` residual
    blocks of dilated convolutions (dilation 2^i, kernel 3) and a final block to ``out_dim``.

    ``forward`` max-pools the per-timestamp representations over time (TS2Vec's full-series
    encoding); ``causal=True`` pads on the left only, so a timestamp sees no future values.
    """

    def __init__(self, in_channels: int = 1, out_dim: int = 320, hidden: int = 64, depth: int = 10,
                 causal: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        self.in_channels, self.out_dim = in_channels, out_dim
        self.input_fc = nn.Linear(in_channels, hidden)
        widths = [hidden] * depth + [out_dim]
        self.blocks = nn.Sequential(*[
            _DilatedBlock(widths[i - 1] if i else hidden, w, 2 ** i, causal, project=i == len(widths) - 1)
            for i, w in enumerate(widths)])
        self.dropout = nn.Dropout(dropout)

    def forward_timestamps(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """(B, C, T) -> (B, T, out_dim), one representation per timestamp.

        ``valid`` (B, T) marks the real timestamps of series padded to one length to share a batch:
        their outputs equal those of each series encoded alone (``TS2Vec`` encodes its two crops in
        one pass this way).
        """
        if x.shape[1] != self.in_channels:
            raise ValueError(f"the encoder was built for {self.in_channels} channel(s) but the series have "
                             f"{x.shape[1]}; build it with in_channels={x.shape[1]}")
        values, present = _present(x)
        h = (self.input_fc(values.transpose(1, 2)) * present.unsqueeze(-1).to(values.dtype)).transpose(1, 2)
        if valid is None:
            h = self.blocks(h)
        else:
            keep = valid.unsqueeze(1).to(h.dtype)
            for block in self.blocks:
                h = block(h, keep)
        return self.dropout(h).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_timestamps(x).amax(dim=1)


def sinusoidal_positions(n: int, dim: int, device: torch.device | None = None) -> Tensor:
    """(n, dim) fixed sine/cosine position codes (Vaswani et al. 2017): any number of patches."""
    pos = torch.arange(n, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    out = torch.zeros(n, dim, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return out


class PatchEncoder(nn.Module):
    """A patch encoder for series: each channel is cut into non-overlapping patches of ``patch_len``
    timestamps, embedded by a linear map, and mixed by a Transformer over patches (PatchTST, Nie et
    al. 2023) or, with ``attention=False``, by an MLP per patch that never sees its neighbours (PITS,
    "Learning to Embed Time Series Patches Independently", Lee et al. 2024).

    Channels are encoded independently with a learned channel embedding added; the series embedding
    is the mean over present patches and channels. ``forward_tokens`` returns the patch tokens
    (B, C, N, out_dim), and accepts a (B, C, N) mask of patches to replace with a learned mask token.
    """

    def __init__(self, in_channels: int = 1, patch_len: int = 8, out_dim: int = 128, depth: int = 3,
                 heads: int = 4, attention: bool = True, dropout: float = 0.1) -> None:
        super().__init__()
        self.in_channels, self.patch_len, self.out_dim, self.attention = in_channels, patch_len, out_dim, attention
        self.embed = nn.Linear(2 * patch_len, out_dim)  # values and which of them are present
        self.channel = nn.Parameter(torch.zeros(in_channels, out_dim))
        self.mask_token = nn.Parameter(torch.zeros(out_dim))
        if attention:
            layer = nn.TransformerEncoderLayer(out_dim, heads, 2 * out_dim, dropout, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.mixer: nn.Module = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        else:
            self.mixer = nn.Sequential(*[nn.Sequential(nn.LayerNorm(out_dim), nn.Linear(out_dim, 2 * out_dim),
                                                       nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * out_dim, out_dim))
                                         for _ in range(depth)])
        self.norm = nn.LayerNorm(out_dim)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.normal_(self.channel, std=0.02)

    def patchify(self, x: Tensor) -> Tensor:
        """(B, C, T) -> (B, C, N, patch_len), the end padded with NaN to a whole patch."""
        t = x.shape[-1]
        n = -(-t // self.patch_len)
        if n * self.patch_len != t:
            x = F.pad(x, (0, n * self.patch_len - t), value=float("nan"))
        return x.unflatten(-1, (n, self.patch_len))

    def forward_tokens(self, x: Tensor, patch_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Patch tokens (B, C, N, D) and which patches hold any value (B, C, N); ``patch_mask`` (True =
        hidden) swaps those patches' embeddings for the mask token before mixing."""
        if x.shape[1] != self.in_channels:
            raise ValueError(f"the encoder was built for {self.in_channels} channel(s) but the series have "
                             f"{x.shape[1]}; build it with in_channels={x.shape[1]}")
        patches = self.patchify(x)
        missing = torch.isnan(patches)
        present = ~missing.all(-1)
        feats = torch.cat([patches.masked_fill(missing, 0.0), (~missing).to(patches.dtype)], dim=-1)
        tok = self.embed(feats)
        if patch_mask is not None:
            tok = torch.where(patch_mask.unsqueeze(-1), self.mask_token.to(tok.dtype), tok)
        b, c, n, d = tok.shape
        tok = tok + sinusoidal_positions(n, d, tok.device).to(tok.dtype) + self.channel.view(1, c, 1, d)
        flat = tok.reshape(b * c, n, d)
        if self.attention:
            absent = ~present.reshape(b * c, n)
            absent = absent & ~absent.all(1, keepdim=True)  # a wholly missing channel still attends to itself
            flat = self.mixer(flat, src_key_padding_mask=absent)
        else:
            flat = flat + self.mixer(flat)
        return self.norm(flat).reshape(b, c, n, d), present

    def forward_timestamps(self, x: Tensor) -> Tensor:
        """(B, N, D): per-patch representations averaged over channels (the time axis at patch resolution)."""
        tok, present = self.forward_tokens(x)
        w = present.unsqueeze(-1).to(tok.dtype)
        return (tok * w).sum(1) / w.sum(1).clamp(min=1)

    def forward(self, x: Tensor) -> Tensor:
        tok, present = self.forward_tokens(x)
        w = present.unsqueeze(-1).to(tok.dtype)
        return (tok * w).sum((1, 2)) / w.sum((1, 2)).clamp(min=1)
