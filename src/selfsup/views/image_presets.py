"""The image view presets: the published augmentation recipes and the inference preprocessing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.views.base import MultiView, Params, ViewOp, ViewPipeline
from selfsup.views.image import (
    ColorJitter,
    GaussianBlur,
    Normalize,
    RandomGrayscale,
    RandomResizedCrop,
    RandomRotation,
    RandomSolarize,
    to_float,
)
from selfsup.views.random_fields import RandomFieldAugment

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """What an encoder expects at inference: square size and per-channel normalisation."""

    size: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __call__(self, x: Tensor) -> Tensor:
        """uint8/float (B, C, H, W) -> normalised float at ``size`` (bilinear, antialiased)."""
        x = to_float(x)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        if x.shape[1] != mean.shape[1]:
            mean, std = mean.mean(1, keepdim=True), std.mean(1, keepdim=True)
        return (x - mean) / std

    def to_dict(self) -> dict:
        return {"kind": "image", **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}}


def _field_ops(random_fields: str | None) -> list[ViewOp]:
    """The Random Field Augmentation op that goes right after a preset's crop, if asked for."""
    return [RandomFieldAugment(random_fields)] if random_fields else []


def _recipe(size: int, jitter: tuple[float, float, float, float], blur: float, solarize: float,
            mean: Sequence[float], std: Sequence[float], scale: tuple[float, float],
            random_fields: str | None = None) -> ViewPipeline:
    ops: list[ViewOp] = [RandomResizedCrop(size, scale=scale, hflip_p=0.5), *_field_ops(random_fields)]
    ops += [ColorJitter(*jitter, p=0.8), RandomGrayscale(0.2)]
    if blur > 0:
        ops.append(GaussianBlur(p=blur))
    if solarize > 0:
        ops.append(RandomSolarize(p=solarize))
    ops.append(Normalize(mean, std, inplace=True))  # the crop made a fresh tensor
    return ViewPipeline(ops)


PRESETS = ("simclr", "byol", "mae", "equivariant")


def image_views(preset: str = "simclr", size: int = 32, n_views: int = 2, scale: tuple[float, float] | None = None,
                mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, n_local: int = 0,
                local_size: int | None = None, local_scale: tuple[float, float] = (0.05, 0.14),
                random_fields: str | None = None) -> MultiView:
    """The published augmentation recipes, at CIFAR scale (size <= 64) or ImageNet scale.

    ``simclr``: crop, flip, colour jitter (0.4, 0.4, 0.4, 0.1 at small size; 0.8, 0.8,
    0.8, 0.2 at large), grayscale 0.2, blur 0.5 at large size only (Chen et al. 2020).
    ``byol``: jitter (0.4, 0.4, 0.2, 0.1); asymmetric blur (1.0 / 0.1) and solarisation
    (0 / 0.2) between the two views; no blur at small size (Grill et al. 2020).
    ``mae``: crop (scale 0.2-1) and flip only (He et al. 2022).
    ``equivariant``: crop (scale 0.2-1, no flip), a rotation by any angle (params ``angle``), colour
    jitter and grayscale: the views of split invariant/equivariant methods (SIE, EquiCaps), whose
    equivariant part must follow the rotation between two views.

    Multi-crop (Caron et al. 2020): ``n_local`` extra views of ``local_size`` pixels (default
    ``size * 96 / 224``, even) cropped at ``local_scale``, after the ``n_views`` global views;
    global crops then default to scale (0.14, 1) instead of (0.08, 1).

    ``random_fields`` (``mild``, ``medium``, ``strong``) adds Random Field Augmentations
    (per-pixel affine and colour fields, Mansfield et al. 2023) right after the crop of every view.
    """
    small = size <= 64
    if scale is None:
        scale = (0.2, 1.0) if preset in ("mae", "equivariant") else (0.14, 1.0) if n_local else (0.08, 1.0)
    if preset == "simclr":
        jit = (0.4, 0.4, 0.4, 0.1) if small else (0.8, 0.8, 0.8, 0.2)
        recipes = [(jit, 0.0 if small else 0.5, 0.0)]
    elif preset == "byol":
        jit = (0.4, 0.4, 0.2, 0.1)
        recipes = [(jit, 0.0 if small else 1.0, 0.0), (jit, 0.0 if small else 0.1, 0.2)]
    elif preset == "equivariant":
        if n_local:
            raise ValueError("the equivariant preset has no multi-crop; set n_local=0")
        ops: list[ViewOp] = [RandomResizedCrop(size, scale=scale), RandomRotation((-180.0, 180.0)),
                              *_field_ops(random_fields)]
        ops += [ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), RandomGrayscale(0.2), Normalize(mean, std, inplace=True)]
        return MultiView([ViewPipeline(ops)], n_views=n_views)
    elif preset == "mae":
        pipe = ViewPipeline([RandomResizedCrop(size, scale=scale, hflip_p=0.5), *_field_ops(random_fields),
                             Normalize(mean, std, inplace=True)])
        if n_local:
            raise ValueError("the mae preset has no multi-crop; set n_local=0")
        return MultiView([pipe], n_views=n_views)
    else:
        raise ValueError(f"unknown view preset {preset!r}; choose one of {', '.join(PRESETS)}")
    pipes = [_recipe(size, j, blur, sol, mean, std, scale, random_fields) for j, blur, sol in recipes]
    if not n_local:
        return MultiView(pipes, n_views=n_views)
    if n_local < 0:
        raise ValueError(f"n_local must be >= 0, got {n_local}")
    local_size = local_size or max(8, 2 * round(size * 96 / 224 / 2))
    local = [_recipe(local_size, j, blur, sol, mean, std, local_scale, random_fields) for j, blur, sol in recipes[:1]]
    return MultiCrop(MultiView(pipes, n_views=n_views), MultiView(local, n_views=n_local))


def finetune_views(size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                   scale: tuple[float, float] = (0.35, 1.0)) -> ViewPipeline:
    """The light augmentation of supervised fine-tuning: random crop (``scale``), flip, normalise."""
    return ViewPipeline([RandomResizedCrop(size, scale=scale, hflip_p=0.5), Normalize(mean, std, inplace=True)])


def equivariance_transforms(size: int) -> dict[str, ViewOp]:
    """The image transforms whose parameters the equivariance measure predicts: rotation (any
    angle) and a random resized crop (scale 0.2-1, no flip)."""
    return {"rotation": RandomRotation((-180.0, 180.0)), "crop": RandomResizedCrop(size, scale=(0.2, 1.0))}


class MultiCrop(nn.Module):
    """Global views then local views: ``[g_1, ..., g_G, l_1, ..., l_L]``."""

    def __init__(self, global_views: MultiView, local_views: MultiView) -> None:
        super().__init__()
        self.global_views, self.local_views = global_views, local_views
        self.n_views = global_views.n_views + local_views.n_views

    def forward(self, x: Tensor, g: torch.Generator) -> list[tuple[Tensor, Params]]:
        return self.global_views(x, g) + self.local_views(x, g)
