"""Batched image views: every op transforms a whole (B, C, H, W) batch on its device.

Each op draws per-sample parameters from the ``torch.Generator`` it is given and
returns them, so pretext heads, equivariance measures and reward tasks can read what
was done. Inputs may be uint8 (0..255) or float (0..1); outputs are float.

Why not kornia: ``benchmarks/views_speed.py`` measures these ops against kornia 0.9's
equivalents on the same batch; kornia's per-op overhead (parameter validation, HSV
round trips, one warp per op) made it several times slower on a 2-core CPU, where
views must cost well under a tenth of a training step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.views.base import Params, ViewOp
from selfsup.views.base import coin as _coin
from selfsup.views.base import uniform as _uniform

_LUMA = (0.299, 0.587, 0.114)


def _gray(x: Tensor) -> Tensor:
    """Luma of an RGB batch, shape (B, 1, H, W); a single-channel batch is its own luma."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def to_float(x: Tensor) -> Tensor:
    """uint8 0..255 -> float 0..1; float input is returned unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


class RandomResizedCrop(ViewOp):
    """Crop a random box (area fraction in ``scale``, aspect in ``ratio``) and resize it.

    Box sampling follows torchvision (ten tries, then a centre crop), vectorised over
    the batch; the crop, resize and an optional horizontal flip (``hflip_p``) are one
    ``grid_sample``. Params: ``crop`` (B, 4) as (x0, y0, w, h) in fractions of the
    input's width and height, and ``flip`` (B,) when ``hflip_p > 0``.
    """

    name = "crop"

    def __init__(self, size: int | tuple[int, int], scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip_p: float = 0.0, tries: int = 10) -> None:
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio, self.hflip_p, self.tries = tuple(scale), tuple(ratio), hflip_p, tries

    def sample_boxes(self, b: int, h: int, w: int, g: torch.Generator, device: torch.device) -> Tensor:
        area = h * w * _uniform(b * self.tries, *self.scale, g, device).view(b, self.tries)
        log_r = _uniform(b * self.tries, math.log(self.ratio[0]), math.log(self.ratio[1]), g, device)
        aspect = log_r.view(b, self.tries).exp()
        cw, ch = (area * aspect).sqrt(), (area / aspect).sqrt()
        ok = (cw <= w) & (ch <= h) & (cw >= 1) & (ch >= 1)
        first = torch.where(ok.any(1), ok.float().argmax(1), -1)
        # fallback: the whole image, clamped to the allowed aspect range (torchvision's rule)
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            fw, fh = float(w), w / self.ratio[0]
        elif in_ratio > self.ratio[1]:
            fw, fh = h * self.ratio[1], float(h)
        else:
            fw, fh = float(w), float(h)
        pick = first.clamp(min=0).unsqueeze(1)
        bw = torch.where(first >= 0, cw.gather(1, pick).squeeze(1), torch.full_like(first, fw, dtype=cw.dtype))
        bh = torch.where(first >= 0, ch.gather(1, pick).squeeze(1), torch.full_like(first, fh, dtype=cw.dtype))
        x0 = torch.rand(b, generator=g, device=device) * (w - bw)
        y0 = torch.rand(b, generator=g, device=device) * (h - bh)
        return torch.stack([x0 / w, y0 / h, bw / w, bh / h], 1)

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, _, h, w = x.shape
        box = self.sample_boxes(b, h, w, g, x.device)
        if self.hflip_p <= 0:
            return crop_resize(to_float(x), box, self.size), {"crop": box}
        flip = _coin(b, self.hflip_p, g, x.device)
        return crop_resize(to_float(x), box, self.size, flip), {"crop": box, "flip": flip}


def crop_resize(x: Tensor, box: Tensor, size: tuple[int, int], flip: Tensor | None = None) -> Tensor:
    """Resample boxes (x0, y0, w, h in fractions) of ``x`` to ``size`` with one grid_sample."""
    b = x.shape[0]
    sx, sy = box[:, 2], box[:, 3]
    tx, ty = 2 * box[:, 0] + sx - 1, 2 * box[:, 1] + sy - 1
    if flip is not None:
        sx = torch.where(flip, -sx, sx)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
    grid = F.affine_grid(theta, [b, x.shape[1], *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class RandomRotation(ViewOp):
    """Rotate each image by an angle drawn uniformly from ``degrees`` (about the centre, zero fill).

    Params: ``angle`` (B,) in degrees, counter-clockwise; read by the equivariance measure
    and rotation pretext tasks.
    """

    name = "rotation"

    def __init__(self, degrees: tuple[float, float] = (-180.0, 180.0)) -> None:
        super().__init__()
        self.degrees = tuple(degrees)

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        x = to_float(x)
        angle = _uniform(x.shape[0], *self.degrees, g, x.device)
        return rotate(x, angle), {"angle": angle}


def rotate(x: Tensor, degrees: Tensor) -> Tensor:
    """Rotate a (B, C, H, W) float batch counter-clockwise by per-sample ``degrees`` (one grid_sample)."""
    rad = torch.deg2rad(degrees.to(x.dtype))
    cos, sin = rad.cos(), rad.sin()
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class RandomRotate90(ViewOp):
    """Rotate each (square) image by k quarter turns, k drawn uniformly from 0..3 (exact, no resampling).

    Params: ``rot90`` (B,) long, the number of counter-clockwise quarter turns; the target
    of rotation prediction (Gidaris et al. 2018).
    """

    name = "rot90"

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        k = torch.randint(0, 4, (x.shape[0],), generator=g, device=x.device)
        return rotate90(x, k), {"rot90": k}


def rotate90(x: Tensor, k: Tensor) -> Tensor:
    """Rotate sample i of a square (B, C, H, W) batch by ``k[i]`` counter-clockwise quarter turns."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"quarter-turn rotation needs square images, got {x.shape[-2]}x{x.shape[-1]}; "
                         "crop them square first")
    out = x.clone()
    for turns in (1, 2, 3):
        sel = k == turns
        if sel.any():
            out[sel] = torch.rot90(x[sel], turns, dims=(-2, -1))
    return out


def grid_tiles(x: Tensor, grid: int = 3, tile_fraction: float = 0.8, out_size: int | None = None,
               jitter: bool = True, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Cut each image into a ``grid`` x ``grid`` array of square tiles: (B, grid², C, s, s) and their boxes.

    Each cell keeps a tile ``tile_fraction`` of its side, placed at a random offset inside the
    cell (``jitter``, from ``generator`` or the global one) or centred, so neighbouring tiles never touch
    and edge continuity cannot give their order away (Noroozi and Favaro 2016; Doersch et al.
    2015). ``out_size`` resamples the tiles (default: their own size in pixels). Tiles are in
    row-major cell order; the boxes (B, grid², 4) are (x0, y0, w, h) fractions of the image.
    """
    if grid < 2 or not 0 < tile_fraction <= 1:
        raise ValueError(f"grid_tiles needs grid >= 2 and 0 < tile_fraction <= 1, got {grid} and {tile_fraction}")
    b, c, h, w = x.shape
    x = to_float(x)
    side = min(h, w) / grid
    size = out_size or max(1, int(side * tile_fraction))
    cell, tile = 1.0 / grid, tile_fraction / grid  # in fractions of the image side
    if jitter:
        slack = torch.rand(b, grid * grid, 2, generator=generator, device=x.device)
    else:
        slack = torch.full((b, grid * grid, 2), 0.5, device=x.device)
    ij = torch.arange(grid, device=x.device, dtype=torch.float32)
    corner = torch.stack(torch.meshgrid(ij, ij, indexing="xy"), -1).reshape(1, -1, 2) * cell  # (1, g², 2): x, y
    xy0 = corner + slack * (cell - tile)
    boxes = torch.cat([xy0, torch.full_like(xy0, tile)], -1)  # (B, g², 4)
    n = grid * grid
    flat = boxes.reshape(b * n, 4).to(x.dtype)
    theta = torch.zeros(b * n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = flat[:, 2], flat[:, 3]
    theta[:, 0, 2], theta[:, 1, 2] = 2 * flat[:, 0] + flat[:, 2] - 1, 2 * flat[:, 1] + flat[:, 3] - 1
    coords = F.affine_grid(theta, [b * n, c, size, size], align_corners=False)  # (B*n, s, s, 2)
    # one grid_sample reads all n tiles of an image at once: stack each image's grids along the height
    out = F.grid_sample(x, coords.view(b, n * size, size, 2), mode="bilinear", padding_mode="border",
                        align_corners=False)  # (B, C, n*s, s)
    return out.view(b, c, n, size, size).transpose(1, 2), boxes


class RandomShift(ViewOp):
    """Pad by ``pad`` pixels (edge pixels repeated) and crop back to the input size at a random integer
    offset: DrQ's random shift (Kostrikov et al. 2021), the augmentation of pixel-based RL agents.

    Params: ``shift`` (B, 2) long, the (dx, dy) each image moved by, in -pad..pad pixels.
    """

    name = "shift"

    def __init__(self, pad: int = 4) -> None:
        super().__init__()
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.pad = int(pad)

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        shift = torch.randint(-self.pad, self.pad + 1, (x.shape[0], 2), generator=g, device=x.device)
        return shift_images(x, shift, self.pad), {"shift": shift}


def shift_images(x: Tensor, shift: Tensor, pad: int) -> Tensor:
    """Move image i by ``shift[i] = (dx, dy)`` whole pixels (|dx|, |dy| <= ``pad``), repeating the edge pixels
    into the uncovered border; exact for any dtype. (A slice per image: 3x faster than one gather here.)"""
    if pad == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    top, left = (pad - shift[:, 1]).tolist(), (pad - shift[:, 0]).tolist()
    return torch.stack([padded[i, :, y:y + h, x0:x0 + w] for i, (y, x0) in enumerate(zip(top, left, strict=True))])


class RandomHorizontalFlip(ViewOp):
    """Mirror each image with probability ``p``. Params: ``flip`` (B,) bool."""

    name = "flip"

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        flip = _coin(x.shape[0], self.p, g, x.device)
        x = to_float(x)
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x), {"flip": flip}


class ColorJitter(ViewOp):
    """Random brightness, contrast, saturation and hue, applied with probability ``p``.

    Factors follow torchvision's ranges; the four adjustments run in a random order
    drawn once per batch. Hue is a rotation of the chroma plane in YIQ space (one 3x3
    matrix per image) instead of an HSV round trip: the same kind of shift, far cheaper.
    Params: ``jitter`` (B, 4) factors (1, 1, 1, 0 where not applied), ``jitter_order`` (4,).
    The adjustments work in place on a copy of the selected images, never on the input.
    """

    name = "jitter"

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.1, p: float = 0.8) -> None:
        super().__init__()
        if not 0 <= hue <= 0.5:
            raise ValueError(f"ColorJitter hue must be in [0, 0.5], got {hue}")
        self.brightness, self.contrast, self.saturation, self.hue, self.p = brightness, contrast, saturation, hue, p

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, dev = x.shape[0], x.device
        x = to_float(x)
        on = _coin(b, self.p, g, dev)
        f = torch.stack([
            _uniform(b, max(0.0, 1 - self.brightness), 1 + self.brightness, g, dev),
            _uniform(b, max(0.0, 1 - self.contrast), 1 + self.contrast, g, dev),
            _uniform(b, max(0.0, 1 - self.saturation), 1 + self.saturation, g, dev),
            _uniform(b, -self.hue, self.hue, g, dev),
        ], 1)
        f = torch.where(on.unsqueeze(1), f, torch.tensor([1.0, 1.0, 1.0, 0.0], device=dev))
        order = torch.randperm(4, generator=g, device=dev)
        idx = on.nonzero().squeeze(1)
        if idx.numel():
            y, fy = x.index_select(0, idx), f.index_select(0, idx)
            for k in order.tolist():
                y = _JITTERS[k](y, fy[:, k].view(-1, 1, 1, 1) if k < 3 else fy[:, k])
            x = x.index_copy(0, idx, y)
        return x, {"jitter": f, "jitter_order": order}


def _brightness(x: Tensor, f: Tensor) -> Tensor:
    return x.mul_(f).clamp_(0, 1)


def _contrast(x: Tensor, f: Tensor) -> Tensor:
    m = _gray(x).mean((1, 2, 3), keepdim=True)
    return x.sub_(m).mul_(f).add_(m).clamp_(0, 1)


def _saturation(x: Tensor, f: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    gr = _gray(x)
    return x.sub_(gr).mul_(f).add_(gr).clamp_(0, 1)


_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def _hue(x: Tensor, h: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    a = 2 * math.pi * h
    cos, sin = a.cos(), a.sin()
    rot = torch.zeros(h.shape[0], 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = _YIQ2RGB.to(x.device, x.dtype) @ rot @ _RGB2YIQ.to(x.device, x.dtype)  # rgb -> yiq -> rotate chroma -> rgb
    b, c, hh, ww = x.shape
    return torch.bmm(m, x.reshape(b, c, hh * ww)).view(b, c, hh, ww).clamp_(0, 1)


_JITTERS = (_brightness, _contrast, _saturation, _hue)


class RandomGrayscale(ViewOp):
    """Replace an image by its luma (kept as C channels) with probability ``p``. Params: ``gray``."""

    name = "gray"

    def __init__(self, p: float = 0.2) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        on = _coin(x.shape[0], self.p, g, x.device)
        x = to_float(x)
        idx = on.nonzero().squeeze(1)
        if idx.numel():
            x = x.index_copy(0, idx, _gray(x.index_select(0, idx)).expand(-1, x.shape[1], -1, -1))
        return x, {"gray": on}


class GaussianBlur(ViewOp):
    """Blur with a per-image sigma in ``sigma`` with probability ``p`` (separable, grouped conv).

    ``kernel_size`` defaults to about a tenth of the image side (SimCLR's choice).
    Params: ``blur_sigma`` (B,), 0 where not applied.
    """

    name = "blur"

    def __init__(self, p: float = 0.5, sigma: tuple[float, float] = (0.1, 2.0), kernel_size: int | None = None) -> None:
        super().__init__()
        self.p, self.sigma, self.kernel_size = p, tuple(sigma), kernel_size

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, _, h, w = x.shape
        x = to_float(x)
        on = _coin(b, self.p, g, x.device)
        sig = torch.where(on, _uniform(b, *self.sigma, g, x.device), torch.zeros(b, device=x.device))
        idx = on.nonzero().squeeze(1)
        if idx.numel():
            k = self.kernel_size or max(3, int(0.1 * min(h, w)) // 2 * 2 + 1)
            x = x.index_copy(0, idx, gaussian_blur(x.index_select(0, idx), sig[idx], k))
        return x, {"blur_sigma": sig}


def gaussian_blur(x: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """Blur each image of ``x`` with its own ``sigma`` (reflect padding)."""
    b, c, h, w = x.shape
    r = kernel_size // 2
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    kern = torch.exp(-(t**2) / (2 * sigma.to(x.dtype).view(-1, 1) ** 2))
    kern = (kern / kern.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, k)
    y = F.pad(x.reshape(1, b * c, h, w), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, kern.view(b * c, 1, 1, -1), groups=b * c)
    y = F.conv2d(y, kern.view(b * c, 1, -1, 1), groups=b * c)
    return y.view(b, c, h, w)


class RandomSolarize(ViewOp):
    """Invert pixels above ``threshold`` with probability ``p``. Params: ``solarize``."""

    name = "solarize"

    def __init__(self, p: float = 0.2, threshold: float = 0.5) -> None:
        super().__init__()
        self.p, self.threshold = p, threshold

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        on = _coin(x.shape[0], self.p, g, x.device)
        x = to_float(x)
        sol = torch.where(x >= self.threshold, 1 - x, x)
        return torch.where(on.view(-1, 1, 1, 1), sol, x), {"solarize": on}


class Normalize(ViewOp):
    """Subtract a per-channel mean and divide by a std (no randomness, no params).

    ``inplace=True`` overwrites a float input; pipelines use it after an op that made a copy.
    """

    name = "normalize"

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        x = to_float(x)
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        if x.shape[1] != mean.shape[1]:
            mean, std = mean.mean(1, keepdim=True), std.mean(1, keepdim=True)
        if self.inplace and x.is_floating_point():
            return x.sub_(mean).div_(std), {}
        return (x - mean) / std, {}
