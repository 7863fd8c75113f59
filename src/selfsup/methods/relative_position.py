"""Relative patch position — Doersch et al. 2015, "Unsupervised Visual Representation Learning by
Context Prediction".

Cut a 3x3 grid of tiles (with gaps) from the image; from the features of the centre tile and
one neighbour, name where the neighbour sits (8 classes). All eight neighbours of every
image are scored, so the nine tiles are encoded once per image.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Params
from selfsup.methods.jigsaw import normalize_tiles
from selfsup.methods.pretext import PretextMethod, PretextOutput, PretextTask, tile_pixels
from selfsup.objectives import PretextClassificationLoss
from selfsup.views.image import grid_tiles

NEIGHBOUR_CELLS = (0, 1, 2, 3, 5, 6, 7, 8)  # row-major cells of a 3x3 grid around the centre (4)


class RelativePositionTask(PretextTask):
    """Predict which of the 8 cells around the centre a tile came from, given both tiles' features."""

    name = "relative_position"
    n_classes = 8

    def __init__(self, in_dim: int, tile_fraction: float = 0.7, tile_size: int | None = None,
                 hidden_dim: int = 512, normalize: bool = True) -> None:
        super().__init__()
        self.tile_fraction, self.tile_size, self.normalize = tile_fraction, tile_size, normalize
        self.head = MLPHead(2 * in_dim, hidden_dim, self.n_classes)
        self.criterion = PretextClassificationLoss()

    def forward(self, encoder: nn.Module, views: list[Tensor], params: list[Params] | None = None,
                features: list[Tensor] | None = None) -> PretextOutput:
        x = views[0]
        b = x.shape[0]
        side = tile_pixels(encoder, self.tile_size, min(x.shape[-2:]), 3, self.tile_fraction)
        tiles, _ = grid_tiles(x, 3, self.tile_fraction, side)
        if self.normalize:
            tiles = normalize_tiles(tiles)
        h = encoder(tiles.flatten(0, 1)).view(b, 9, -1)
        centre = h[:, 4:5].expand(-1, 8, -1)
        pairs = torch.cat([centre, h[:, list(NEIGHBOUR_CELLS)]], -1).flatten(0, 1)  # (B*8, 2D)
        target = torch.arange(8, device=x.device).repeat(b)
        loss, logs = self.criterion(self.head(pairs), target)
        return PretextOutput(loss, logs)


class RelativePosition(PretextMethod):
    """Context prediction as a method on its own (Doersch et al. 2015)."""

    def __init__(self, encoder: nn.Module, tile_fraction: float = 0.7, tile_size: int | None = None,
                 head_hidden_dim: int = 512) -> None:
        super().__init__(encoder, RelativePositionTask(encoder.out_dim, tile_fraction, tile_size, head_hidden_dim))
