"""Jigsaw puzzles — Noroozi and Favaro 2016, "Unsupervised Learning of Visual Representations by
Solving Jigsaw Puzzles".

Cut the image into a 3x3 grid of tiles (with gaps), shuffle them by one of a fixed set of
permutations chosen far apart in Hamming distance, encode every tile with the shared encoder,
and name the permutation from the concatenated tile features.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Params
from selfsup.methods.pretext import PretextMethod, PretextOutput, PretextTask, tile_pixels
from selfsup.objectives import PretextClassificationLoss
from selfsup.views.image import grid_tiles


@functools.lru_cache(maxsize=8)
def max_hamming_permutations(n_tiles: int, n_permutations: int, seed: int = 0) -> np.ndarray:
    """``n_permutations`` orderings of ``n_tiles`` tiles chosen greedily so that each new one is as
    far as possible (largest minimum Hamming distance) from those already chosen.

    Candidates are all ``n_tiles!`` orderings up to 9 tiles, else 200,000 random ones. The
    first pick and the tie-breaking follow ``seed``, so a set is reproducible.
    """
    if n_tiles < 2:
        raise ValueError(f"a jigsaw needs at least 2 tiles, got {n_tiles}")
    rng = np.random.default_rng(seed)
    if n_tiles <= 9:
        cand = np.array(list(itertools.permutations(range(n_tiles))), dtype=np.int8)
    else:
        cand = np.stack([rng.permutation(n_tiles) for _ in range(200_000)]).astype(np.int8)
    if not 2 <= n_permutations <= len(cand):
        raise ValueError(f"n_permutations must be between 2 and {len(cand)} for {n_tiles} tiles, "
                         f"got {n_permutations}")
    cand = cand[rng.permutation(len(cand))]  # random tie-breaking
    chosen = [0]
    min_dist = (cand != cand[0]).sum(1).astype(np.int16)
    for _ in range(n_permutations - 1):
        j = int(min_dist.argmax())
        chosen.append(j)
        np.minimum(min_dist, (cand != cand[j]).sum(1), out=min_dist)
    return cand[chosen].astype(np.int64)


def normalize_tiles(tiles: Tensor, eps: float = 1e-5) -> Tensor:
    """Standardise every tile on its own (mean 0, sd 1 per tile and channel), so that brightness and
    colour statistics shared by neighbouring tiles cannot solve the puzzle."""
    mean = tiles.mean((-2, -1), keepdim=True)
    std = tiles.std((-2, -1), keepdim=True)
    return (tiles - mean) / (std + eps)


class JigsawTask(PretextTask):
    """Name the permutation that shuffled a grid of tiles of the first view.

    ``grid`` x ``grid`` tiles, each ``tile_fraction`` of its cell at a random offset;
    ``tile_size`` resamples tiles (default: ``encoder.image_size`` for encoders that need a fixed
    input such as ViTs, else the tile's own size but at least 16 px). The permutation set is fixed by
    ``seed``.
    """

    name = "jigsaw"

    def __init__(self, in_dim: int, grid: int = 3, n_permutations: int = 100, tile_fraction: float = 0.8,
                 tile_size: int | None = None, hidden_dim: int = 512, normalize: bool = True, seed: int = 0) -> None:
        super().__init__()
        n = grid * grid
        if n_permutations > math.factorial(n):
            raise ValueError(f"a {grid}x{grid} jigsaw has only {math.factorial(n)} orderings, "
                             f"asked for n_permutations={n_permutations}")
        self.grid, self.tile_fraction, self.tile_size, self.normalize = grid, tile_fraction, tile_size, normalize
        self.register_buffer("permutations", torch.from_numpy(max_hamming_permutations(n, n_permutations, seed)))
        self.head = MLPHead(n * in_dim, hidden_dim, n_permutations)
        self.criterion = PretextClassificationLoss()

    def forward(self, encoder: nn.Module, views: list[Tensor], params: list[Params] | None = None,
                features: list[Tensor] | None = None) -> PretextOutput:
        x = views[0]
        b, n = x.shape[0], self.grid * self.grid
        side = tile_pixels(encoder, self.tile_size, min(x.shape[-2:]), self.grid, self.tile_fraction)
        tiles, _ = grid_tiles(x, self.grid, self.tile_fraction, side)
        target = torch.randint(0, len(self.permutations), (b,), device=x.device)  # global RNG, seeded per step
        order = self.permutations[target]  # position j shows original tile order[:, j]
        shuffled = tiles[torch.arange(b, device=x.device).unsqueeze(1), order]
        if self.normalize:
            shuffled = normalize_tiles(shuffled)
        h = encoder(shuffled.flatten(0, 1))  # every tile through the shared encoder
        loss, logs = self.criterion(self.head(h.reshape(b, n * h.shape[1])), target)
        return PretextOutput(loss, logs)


class Jigsaw(PretextMethod):
    """The jigsaw puzzle as a method on its own (Noroozi and Favaro 2016)."""

    def __init__(self, encoder: nn.Module, grid: int = 3, n_permutations: int = 100, tile_fraction: float = 0.8,
                 tile_size: int | None = None, head_hidden_dim: int = 512) -> None:
        super().__init__(encoder, JigsawTask(encoder.out_dim, grid, n_permutations, tile_fraction, tile_size,
                                             head_hidden_dim))
