"""Vision Transformer (Dosovitskiy et al. 2021); ``vit_tiny`` is the 5.7 M-parameter width-192 model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Block(nn.Module):
    """Pre-norm transformer block using torch's fused scaled-dot-product attention."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(a)
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """Patch embedding, class token, learned positions, ``depth`` blocks; returns the class token.

    ``patch_tokens`` and ``encode`` split the forward pass so masked-image methods (MAE) can
    drop patches in between; ``forward_tokens`` returns all tokens.
    """

    def __init__(self, image_size: int = 224, patch_size: int = 16, in_channels: int = 3, dim: int = 192,
                 depth: int = 12, heads: int = 3, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"ViT image_size {image_size} must be a multiple of patch_size {patch_size}")
        self.image_size, self.patch_size = image_size, patch_size
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        n = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.out_dim = dim
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def patch_tokens(self, x: Tensor) -> Tensor:
        """Patch embeddings plus their positions, (B, L, dim); no class token.

        Inputs of another size (multi-crop local views) get bicubically resized positions.
        """
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        return t + self.positions(x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size)

    def positions(self, rows: int, cols: int) -> Tensor:
        pos = self.pos_embed[:, 1:]
        side = self.image_size // self.patch_size
        if (rows, cols) == (side, side):
            return pos
        grid = pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", align_corners=False)
        return grid.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)

    def encode(self, patches: Tensor) -> Tensor:
        """Class token + the given patch tokens through the blocks; (B, 1 + L', dim)."""
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(patches.shape[0], -1, -1)
        return self.norm(self.blocks(torch.cat([cls, patches], 1)))

    def forward_tokens(self, x: Tensor) -> Tensor:
        if x.shape[-1] % self.patch_size or x.shape[-2] % self.patch_size:
            raise ValueError(f"ViT with patch size {self.patch_size} got {tuple(x.shape[-2:])} px input; "
                             f"use a size that is a multiple of {self.patch_size}")
        return self.encode(self.patch_tokens(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_tokens(x)[:, 0]


def vit_tiny(image_size: int = 224, patch_size: int | None = None, in_channels: int = 3) -> VisionTransformer:
    """ViT-Tiny (192 wide, 12 deep, 3 heads); patch 16 at 224 px, 4 at CIFAR size by default."""
    if patch_size is None:
        patch_size = 4 if image_size <= 64 else 16
    return VisionTransformer(image_size, patch_size, in_channels, 192, 12, 3)
