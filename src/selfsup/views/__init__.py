"""Views: batched transformations that return the parameters they used, one module per modality.

``base`` holds the contract (``ViewOp``, ``ViewPipeline``, ``MultiView``); ``image`` and
``image_presets`` the image ops and published recipes; ``series`` the time-series ops and presets.
"""

from __future__ import annotations

from selfsup.views.base import MultiView, Params, ViewOp, ViewPipeline
from selfsup.views.image import (
    ColorJitter,
    GaussianBlur,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomShift,
    RandomSolarize,
)
from selfsup.views.image_presets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    MultiCrop,
    Preprocess,
    equivariance_transforms,
    finetune_views,
    image_views,
)
from selfsup.views.random_fields import RANDOM_FIELD_PRESETS, FieldStrength, RandomFieldAugment

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "RANDOM_FIELD_PRESETS",
    "ColorJitter",
    "FieldStrength",
    "GaussianBlur",
    "MultiCrop",
    "MultiView",
    "Normalize",
    "Params",
    "Preprocess",
    "RandomFieldAugment",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomShift",
    "RandomSolarize",
    "ViewOp",
    "ViewPipeline",
    "equivariance_transforms",
    "finetune_views",
    "image_views",
]
