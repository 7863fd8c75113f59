"""Hard Patches Mining — Wang et al. 2023, "Hard Patches Mining for Masked Image Modeling" (seed [001#13])."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.methods.mae import MAE, random_keep
from selfsup.objectives import PatchRankingLoss


class HPM(MAE):
    """MAE that also learns to predict its own per-patch reconstruction loss, and masks the patches it
    predicts to be hard.

    A linear loss predictor on the decoder features is trained with a relative (ranking)
    objective: for masked patches ``i, j`` of an image, ``sigmoid(l_i - l_j)`` should say whether
    the true loss of ``i`` exceeds that of ``j``. Masks follow an easy-to-hard schedule: the
    fraction of masked patches chosen by predicted difficulty grows linearly from
    ``hard_fraction_start`` to ``hard_fraction_end``; the rest are random. Predictions for all
    patches come from a gradient-free pass with a random mask (about a third more compute).
    """

    def __init__(self, encoder: nn.Module, mask_ratio: float = 0.75, decoder_dim: int = 128, decoder_depth: int = 2,
                 decoder_heads: int = 4, norm_pix_loss: bool = True, hard_fraction_start: float = 0.0,
                 hard_fraction_end: float = 0.5, ranking_weight: float = 1.0) -> None:
        super().__init__(encoder, mask_ratio, decoder_dim, decoder_depth, decoder_heads, norm_pix_loss)
        self.loss_predictor = nn.Linear(decoder_dim, 1)
        self.hard_fractions, self.ranking_weight = (hard_fraction_start, hard_fraction_end), ranking_weight
        self.ranking = PatchRankingLoss()
        self.register_buffer("progress", torch.zeros(()))

    def hard_fraction(self) -> float:
        start, end = self.hard_fractions
        return start + (end - start) * float(self.progress)

    @torch.no_grad()
    def choose_keep(self, tokens: Tensor, n_keep: int) -> Tensor:
        b, length = tokens.shape[:2]
        n_hard = round(self.hard_fraction() * (length - n_keep))
        if n_hard == 0:
            return random_keep(b, length, n_keep, tokens.device)
        _, _, feats = self.reconstruct(tokens, random_keep(b, length, n_keep, tokens.device))
        predicted = self.loss_predictor(feats).squeeze(-1).float()              # (B, L)
        hard = predicted.argsort(1, descending=True)[:, :n_hard]
        # the rest: random among the patches not already masked as hard
        noise = torch.rand(b, length, device=tokens.device).scatter(1, hard, 2.0)  # hard ones sort last
        return noise.argsort(1)[:, :n_keep]

    def extra_loss(self, out: dict[str, Tensor], per_patch: Tensor, mask: Tensor, feats: Tensor
                   ) -> dict[str, Tensor]:
        ranking, logs = self.ranking(self.loss_predictor(feats).squeeze(-1), per_patch, mask)
        return {**out, "loss": out["loss"] + self.ranking_weight * ranking, **logs}

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.progress.fill_(step / max(1, total_steps))
