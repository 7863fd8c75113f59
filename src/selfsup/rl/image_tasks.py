"""Reward tasks on images: rotation, jigsaw order, relative patch position, which crop, which patch.

Each poses a question on a (B, C, H, W) float batch (the encoder's preprocessed input) and reads the
answer with a head on the encoder's output. The geometry reuses the views of ``selfsup.views.image``
and the tile machinery of the pretext methods (``rotnet``, ``jigsaw``, ``relative_position``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.jigsaw import max_hamming_permutations, normalize_tiles
from selfsup.methods.pretext import tile_pixels
from selfsup.methods.relative_position import NEIGHBOUR_CELLS
from selfsup.rl.tasks import Question, RewardTask, one_hot_grades, register_reward_task
from selfsup.views.image import RandomResizedCrop, crop_resize, grid_tiles, rotate, rotate90


def _check_images(x: Tensor, task: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"the {task} reward task poses questions on (B, C, H, W) image batches, got "
                         f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")


def _check_choices(n: int, least: int, knob: str) -> None:
    if n < least:
        raise ValueError(f"{knob} must be at least {least}, got {n}")


def _other_rows(b: int, k: int, g: torch.Generator, device: torch.device) -> Tensor:
    """(b, k) row indices, row i holding k distinct rows of 0..b-1 other than i (needs b > k)."""
    if b <= k:
        raise ValueError(f"a batch of {b} cannot give {k} distractors from other samples; use a batch of at "
                         f"least {k + 1}")
    offsets = torch.rand(b, b - 1, generator=g, device=device).argsort(1)[:, :k] + 1
    return (torch.arange(b, device=device).unsqueeze(1) + offsets) % b


def _place_correct(candidates: Tensor, correct: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Insert ``correct`` (B, ...) among ``candidates`` (B, k-1, ...) at a random position; (B, k, ...), answer."""
    b, k = candidates.shape[0], candidates.shape[1] + 1
    answer = torch.randint(0, k, (b,), generator=g, device=candidates.device)
    order = torch.arange(k, device=candidates.device).expand(b, k)
    # slot j holds the correct item when j == answer, else distractor j (or j-1 past the answer)
    src = torch.where(order < answer.unsqueeze(1), order, order - 1).clamp(min=0)
    picked = candidates[torch.arange(b, device=candidates.device).unsqueeze(1), src.clamp(max=k - 2)]
    is_correct = (order == answer.unsqueeze(1)).view(b, k, *([1] * (candidates.ndim - 2)))
    return torch.where(is_correct, correct.unsqueeze(1), picked), answer


@register_reward_task("rotation")
class RotationReward(RewardTask):
    """Which of ``n_angles`` equally spaced rotations was applied to the image?

    Knobs: ``n_angles`` (4: quarter turns, exact; other counts rotate by resampling and every image,
    the unrotated one too, is cut to its inscribed disc so the blank corners give no angle away);
    ``graded``: an answer scores 1 - (its circular distance to the true angle) / 180 degrees instead of 0/1.
    """

    name = "rotation"

    def __init__(self, encoder: nn.Module, n_angles: int = 4, graded: bool = False, hidden_dim: int = 512) -> None:
        super().__init__()
        _check_choices(n_angles, 2, "n_angles")
        self.n_choices, self.graded = int(n_angles), graded
        self.head = MLPHead(encoder.out_dim, hidden_dim, self.n_choices)

    def pose(self, x: Tensor, generator: torch.Generator) -> Question:
        _check_images(x, self.name)
        b, n = x.shape[0], self.n_choices
        k = torch.randint(0, n, (b,), generator=generator, device=x.device)
        if 4 % n == 0:
            rotated = rotate90(x, k * (4 // n))
        else:
            h, w = x.shape[-2:]
            ys, xs = torch.linspace(-1, 1, h, device=x.device), torch.linspace(-1, 1, w, device=x.device)
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            disc = (yy.square() + xx.square() <= 1).to(x.dtype)
            rotated = rotate(x * disc, k.to(x.dtype) * (360.0 / n)) * disc
        if self.graded:
            steps = (torch.arange(n, device=x.device).unsqueeze(0) - k.unsqueeze(1)).remainder(n)
            grades = 1 - torch.minimum(steps, n - steps).float() / (n / 2)
        else:
            grades = one_hot_grades(k, n)
        return Question(rotated, k, grades)

    def forward(self, encoder: nn.Module, question: Question) -> Tensor:
        return self.head(encoder(question.inputs))


@register_reward_task("jigsaw")
class JigsawReward(RewardTask):
    """Which of ``n_permutations`` orderings shuffled a ``grid`` x ``grid`` array of tiles?

    Tiles are cut with gaps (``tile_fraction`` of each cell) and standardised one by one, as in the
    jigsaw pretext task; the permutation set is spread out in Hamming distance. ``graded``: an
    answer scores the fraction of tiles it puts in the right place.
    """

    name = "jigsaw"

    def __init__(self, encoder: nn.Module, grid: int = 2, n_permutations: int = 24, tile_fraction: float = 0.8,
                 tile_size: int | None = None, graded: bool = False, hidden_dim: int = 512, seed: int = 0) -> None:
        super().__init__()
        n = grid * grid
        if grid < 2 or n_permutations > math.factorial(n):
            raise ValueError(f"a {grid}x{grid} jigsaw has {math.factorial(n)} orderings, asked for "
                             f"n_permutations={n_permutations} (grid must be at least 2)")
        _check_choices(n_permutations, 2, "n_permutations")
        self.grid, self.tile_fraction, self.graded, self.n_choices = grid, tile_fraction, graded, n_permutations
        self.fixed_size = getattr(encoder, "image_size", None)
        self.tile_size = tile_size
        self.register_buffer("permutations", torch.from_numpy(max_hamming_permutations(n, n_permutations, seed)))
        self.head = MLPHead(n * encoder.out_dim, hidden_dim, n_permutations)

    def pose(self, x: Tensor, generator: torch.Generator) -> Question:
        _check_images(x, self.name)
        b = x.shape[0]
        side = tile_pixels(None, self.tile_size or self.fixed_size, min(x.shape[-2:]), self.grid, self.tile_fraction)
        tiles, _ = grid_tiles(x, self.grid, self.tile_fraction, side, generator=generator)
        target = torch.randint(0, self.n_choices, (b,), generator=generator, device=x.device)
        order = self.permutations[target]  # position j shows original tile order[:, j]
        shuffled = normalize_tiles(tiles[torch.arange(b, device=x.device).unsqueeze(1), order])
        if self.graded:
            grades = (self.permutations.unsqueeze(0) == order.unsqueeze(1)).float().mean(-1)
        else:
            grades = one_hot_grades(target, self.n_choices)
        return Question(shuffled, target, grades)

    def forward(self, encoder: nn.Module, question: Question) -> Tensor:
        tiles = question.inputs
        b, n = tiles.shape[:2]
        h = encoder(tiles.flatten(0, 1))
        return self.head(h.reshape(b, n * h.shape[1]))


_CELL_XY = torch.tensor([[c % 3, c // 3] for c in NEIGHBOUR_CELLS], dtype=torch.float32)


@register_reward_task("relative_position")
class RelativePositionReward(RewardTask):
    """Where, among the 8 cells around the centre of a 3x3 grid, was this tile cut from?

    ``graded``: an answer scores 1 - (distance between the named and the true cell) / (the largest
    distance, corner to corner). ``tile_fraction`` sets the gap between tiles (smaller: harder).
    """

    name = "relative_position"
    n_choices = 8

    def __init__(self, encoder: nn.Module, tile_fraction: float = 0.7, tile_size: int | None = None,
                 graded: bool = False, hidden_dim: int = 512) -> None:
        super().__init__()
        self.tile_fraction, self.tile_size, self.graded = tile_fraction, tile_size, graded
        self.fixed_size = getattr(encoder, "image_size", None)
        self.head = MLPHead(2 * encoder.out_dim, hidden_dim, self.n_choices)

    def pose(self, x: Tensor, generator: torch.Generator) -> Question:
        _check_images(x, self.name)
        b = x.shape[0]
        side = tile_pixels(None, self.tile_size or self.fixed_size, min(x.shape[-2:]), 3, self.tile_fraction)
        tiles, _ = grid_tiles(x, 3, self.tile_fraction, side, generator=generator)
        tiles = normalize_tiles(tiles)
        pos = torch.randint(0, 8, (b,), generator=generator, device=x.device)
        cells = torch.tensor(NEIGHBOUR_CELLS, device=x.device)[pos]
        rows = torch.arange(b, device=x.device)
        pair = torch.stack([tiles[:, 4], tiles[rows, cells]], 1)  # (B, 2, C, s, s): centre, neighbour
        if self.graded:
            xy = _CELL_XY.to(x.device)
            dist = torch.cdist(xy[pos], xy)  # (B, 8)
            grades = 1 - dist / dist.new_tensor(8.0).sqrt()
        else:
            grades = one_hot_grades(pos, 8)
        return Question(pair, pos, grades)

    def forward(self, encoder: nn.Module, question: Question) -> Tensor:
        pair = question.inputs
        b = pair.shape[0]
        h = encoder(pair.flatten(0, 1)).view(b, -1)
        return self.head(h)


class _Matcher(nn.Module):
    """Scores candidates against a query: cosine of projected features over a temperature."""

    def __init__(self, dim: int, hidden_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.query = MLPHead(dim, hidden_dim, out_dim)
        self.key = MLPHead(dim, hidden_dim, out_dim)
        self.temperature = temperature

    def forward(self, q: Tensor, keys: Tensor) -> Tensor:
        b, k = keys.shape[:2]
        zq = F.normalize(self.query(q), dim=-1)
        zk = F.normalize(self.key(keys.flatten(0, 1)), dim=-1).view(b, k, -1)
        return torch.einsum("bd,bkd->bk", zq, zk) / self.temperature


@register_reward_task("crop")
class CropMatchReward(RewardTask):
    """Which of ``n_choices`` crops comes from the same image as this one?

    The anchor and the correct candidate are two random resized crops (area ``scale``) of one image;
    the distractors are crops of other images in the batch. Knobs: ``n_choices``, ``scale`` (smaller
    crops share less). Binary reward.
    """

    name = "crop"

    def __init__(self, encoder: nn.Module, n_choices: int = 4, scale: tuple[float, float] = (0.2, 1.0),
                 hidden_dim: int = 512, proj_dim: int = 128, temperature: float = 0.1) -> None:
        super().__init__()
        _check_choices(n_choices, 2, "n_choices")
        self.n_choices, self.scale = int(n_choices), tuple(scale)
        self.fixed_size = getattr(encoder, "image_size", None)
        self.head = _Matcher(encoder.out_dim, hidden_dim, proj_dim, temperature)

    def pose(self, x: Tensor, generator: torch.Generator) -> Question:
        _check_images(x, self.name)
        b, k = x.shape[0], self.n_choices
        size = int(self.fixed_size or min(x.shape[-2:]))
        crop = RandomResizedCrop(size, scale=self.scale, hflip_p=0.5)
        anchor, _ = crop(x, generator)
        second, _ = crop(x, generator)
        distractors = second[_other_rows(b, k - 1, generator, x.device)]  # (B, k-1, C, s, s)
        candidates, answer = _place_correct(distractors, second, generator)
        return Question((anchor, candidates), answer, one_hot_grades(answer, k))

    def forward(self, encoder: nn.Module, question: Question) -> Tensor:
        anchor, candidates = question.inputs
        b, k = candidates.shape[:2]
        h = encoder(torch.cat([anchor, candidates.flatten(0, 1)]))
        return self.head(h[:b], h[b:].view(b, k, -1))


@register_reward_task("masked_patch")
class MaskedPatchReward(RewardTask):
    """Which of ``n_choices`` patches fills the hole cut in this image?

    A square covering ``mask_ratio`` of the image is blanked (set to 0, the mean of normalised
    input) at a random place; the candidates are the true patch and patches cut at the same place
    from other images of the batch, each resampled to the tile size the encoder needs. Knobs:
    ``n_choices``, ``mask_ratio``. ``graded``: a wrong patch scores its pixel correlation with the
    true one, clipped at 0.
    """

    name = "masked_patch"

    def __init__(self, encoder: nn.Module, n_choices: int = 4, mask_ratio: float = 0.25, tile_size: int | None = None,
                 graded: bool = False, hidden_dim: int = 512, proj_dim: int = 128, temperature: float = 0.1) -> None:
        super().__init__()
        _check_choices(n_choices, 2, "n_choices")
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.n_choices, self.mask_ratio, self.graded = int(n_choices), float(mask_ratio), graded
        self.tile_size = tile_size or getattr(encoder, "image_size", None)
        self.head = _Matcher(encoder.out_dim, hidden_dim, proj_dim, temperature)

    def pose(self, x: Tensor, generator: torch.Generator) -> Question:
        _check_images(x, self.name)
        b, _, h, w = x.shape
        k = self.n_choices
        p = max(1, min(h, w, round(math.sqrt(self.mask_ratio * h * w))))
        y0 = torch.randint(0, h - p + 1, (b,), generator=generator, device=x.device)
        x0 = torch.randint(0, w - p + 1, (b,), generator=generator, device=x.device)
        # the window at (y0[i], x0[i]) of every image: index rows and columns per question
        ys = (y0.unsqueeze(1) + torch.arange(p, device=x.device)).view(b, 1, p, 1)
        xs = (x0.unsqueeze(1) + torch.arange(p, device=x.device)).view(b, 1, p, 1).transpose(2, 3)
        others = _other_rows(b, k - 1, generator, x.device)  # (B, k-1)
        src = torch.cat([torch.arange(b, device=x.device).unsqueeze(1), others], 1)  # (B, k): own image first
        patches = x[src.view(b, k, 1, 1), :, ys, xs]  # (B, k, p, p, C)
        patches = patches.permute(0, 1, 4, 2, 3)
        true, distractors = patches[:, 0], patches[:, 1:]
        hole = torch.ones(b, 1, h, w, device=x.device, dtype=x.dtype)
        hole[torch.arange(b, device=x.device).view(b, 1, 1, 1), 0, ys, xs] = 0
        candidates, answer = _place_correct(distractors, true, generator)
        if self.graded:
            flat = candidates.flatten(2)
            flat = flat - flat.mean(-1, keepdim=True)
            ref = flat[torch.arange(b, device=x.device), answer].unsqueeze(1)
            grades = F.cosine_similarity(flat, ref, dim=-1, eps=1e-6).clamp(min=0)
            grades = torch.where(one_hot_grades(answer, k).bool(), torch.ones_like(grades), grades.clamp(max=1))
        else:
            grades = one_hot_grades(answer, k)
        size = int(self.tile_size or max(16, p))
        if size != p:
            box = torch.tensor([[0.0, 0.0, 1.0, 1.0]], device=x.device, dtype=x.dtype).expand(b * k, 4)
            candidates = crop_resize(candidates.flatten(0, 1), box, (size, size)).view(b, k, -1, size, size)
        return Question((x * hole, candidates), answer, grades)

    def forward(self, encoder: nn.Module, question: Question) -> Tensor:
        context, candidates = question.inputs
        b, k = candidates.shape[:2]
        return self.head(encoder(context), encoder(candidates.flatten(0, 1)).view(b, k, -1))
