"""MAE — He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners"."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.encoders.vit import Block
from selfsup.methods.base import Method, Params
from selfsup.objectives import MaskedReconstructionLoss


def patchify(x: Tensor, p: int) -> Tensor:
    """(B, C, H, W) -> (B, L, p * p * C), patches in row-major order (the ViT's token order)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def random_keep(batch: int, length: int, n_keep: int, device: torch.device) -> Tensor:
    """Indices of ``n_keep`` patches per sample, drawn uniformly without replacement, (B, n_keep)."""
    return torch.rand(batch, length, device=device).argsort(1)[:, :n_keep]


class MAEDecoder(nn.Module):
    """A light transformer that places mask tokens at the dropped positions and predicts every patch."""

    def __init__(self, enc_dim: int, n_patches: int, patch_dim: int, dim: int = 128, depth: int = 2,
                 heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n_patches + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pixels = nn.Linear(dim, patch_dim)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latent: Tensor, keep: Tensor, n_patches: int) -> tuple[Tensor, Tensor]:
        """latent (B, 1 + K, enc_dim) for the kept patches -> (pixels (B, L, patch_dim), features (B, L, dim))."""
        x = self.embed(latent)
        b, _, d = x.shape
        full = self.mask_token.to(x.dtype).expand(b, n_patches, d).scatter(1, keep[..., None].expand(-1, -1, d),
                                                                            x[:, 1:])
        x = torch.cat([x[:, :1], full], 1) + self.pos.to(x.dtype)
        feats = self.norm(self.blocks(x))[:, 1:]
        return self.pixels(feats), feats


class MAE(Method):
    """Mask ``mask_ratio`` of a ViT's patches, encode the rest, decode all pixels; loss on masked patches only.

    With ``norm_pix_loss`` the target is each patch normalised by its own mean and variance.
    Every view is an independent sample (the ``mae`` preset gives crop + flip). The
    ``embedding`` handed to online probes is the class token of the masked pass (no extra
    forward); exported embeddings use the full image.
    """

    default_views = "mae"
    modalities = ("image",)
    recommended_trainer = {"optimizer": "adamw", "base_lr": 1.5e-4, "weight_decay": 0.05}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, mask_ratio: float = 0.75, decoder_dim: int = 128, decoder_depth: int = 2,
                 decoder_heads: int = 4, norm_pix_loss: bool = True) -> None:
        super().__init__(encoder)
        if not all(hasattr(encoder, a) for a in ("patch_tokens", "encode", "patch_size", "image_size")):
            raise ValueError("MAE needs a Vision Transformer encoder (e.g. vit_tiny); "
                             f"{type(encoder).__name__} has no patch tokens")
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        p, side = encoder.patch_size, encoder.image_size // encoder.patch_size
        self.n_patches, self.mask_ratio = side * side, mask_ratio
        self.criterion = MaskedReconstructionLoss(norm_pix_loss)
        in_ch = encoder.patch_embed.in_channels
        self.decoder = MAEDecoder(encoder.out_dim, self.n_patches, p * p * in_ch, decoder_dim, decoder_depth,
                                  decoder_heads)

    def choose_keep(self, tokens: Tensor, n_keep: int) -> Tensor:
        """Which patches stay visible; random here, hard-patch mining overrides it."""
        return random_keep(tokens.shape[0], tokens.shape[1], n_keep, tokens.device)

    def reconstruct(self, tokens: Tensor, keep: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        visible = tokens.gather(1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
        latent = self.encoder.encode(visible)
        pixels, feats = self.decoder(latent, keep, tokens.shape[1])
        return latent, pixels, feats

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        x = torch.cat(views) if all(v.shape == views[0].shape for v in views) else views[0]
        tokens = self.encoder.patch_tokens(x)
        n_keep = max(1, round(tokens.shape[1] * (1 - self.mask_ratio)))
        keep = self.choose_keep(tokens, n_keep)
        latent, pixels, feats = self.reconstruct(tokens, keep)
        mask = torch.ones(tokens.shape[:2], device=x.device).scatter(1, keep, 0.0)  # 1 = masked
        loss, per_patch = self.criterion(pixels, patchify(x, self.encoder.patch_size), mask)
        out = {"loss": loss, "embedding": latent[: len(views[0]), 0].detach(), "reconstruction": loss.detach()}
        return self.extra_loss(out, per_patch, mask, feats)

    def extra_loss(self, out: dict[str, Tensor], per_patch: Tensor, mask: Tensor, feats: Tensor
                   ) -> dict[str, Tensor]:
        """Hook for variants that train more heads on the decoder (hard-patch mining)."""
        return out
