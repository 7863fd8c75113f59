"""Batched table views: corrupt features by drawing them from their marginal distribution.

A table batch is (B, F) float: numeric columns standardised, categorical codes as floats (see
``selfsup.data.tabular``). Replacing a cell by the same column's value in another row of the batch
is a draw from that column's empirical marginal, so one op serves numeric and categorical columns.
SCARF (Bahri et al. 2022) corrupts a fixed fraction of each row's features; VIME (Yoon et al.
2020) masks each cell with probability ``p_m`` and asks a head to find the mask.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.views.base import MultiView, Params, ViewOp, ViewPipeline


class MarginalCorruption(ViewOp):
    """Replace cells by draws from their column's marginal (the same column of a random row of the batch).

    ``fixed_count=True`` (SCARF): exactly ``round(rate * F)`` features per row, chosen uniformly.
    ``fixed_count=False`` (VIME): each cell independently with probability ``rate``. Params:
    ``mask`` (B, F) bool, the cells replaced (a draw may equal the original value).
    """

    name = "marginal_corruption"

    def __init__(self, rate: float = 0.6, fixed_count: bool = True) -> None:
        super().__init__()
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"corruption rate must be in [0, 1], got {rate}")
        self.rate, self.fixed_count = rate, fixed_count

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        b, f = x.shape
        dev = x.device
        if self.fixed_count:
            k = round(self.rate * f)
            order = torch.rand(b, f, generator=g, device=dev).argsort(1)
            mask = order < k  # k uniformly chosen features per row
        else:
            mask = torch.rand(b, f, generator=g, device=dev) < self.rate
        donor = torch.randint(0, b, (b, f), generator=g, device=dev)
        drawn = x.gather(0, donor)
        return torch.where(mask, drawn, x), {"mask": mask}


class Identity(ViewOp):
    """The row as it is (SCARF's and VIME's anchor view)."""

    name = "identity"

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        return x, {"mask": torch.zeros(x.shape, dtype=torch.bool, device=x.device)}


TABULAR_PRESETS = ("scarf", "vime", "corrupt", "none")


def tabular_views(preset: str = "scarf", n_views: int = 2, corruption: float | None = None) -> nn.Module:
    """Table view recipes.

    ``scarf``: the row itself, then the row with 60 % of its features drawn from their marginals
    (SCARF's anchor/positive pair). ``vime``: the row, then each cell replaced with probability 0.3
    (VIME's pretext input; its ``mask`` param is the target). ``corrupt``: every view corrupted as
    SCARF's (for symmetric methods: SimCLR, BYOL, VICReg, Barlow Twins on tables). ``none``: ``n_views``
    copies. ``corruption`` overrides the rate.
    """
    if preset == "scarf":
        rate = 0.6 if corruption is None else corruption
        return MultiView([ViewPipeline([Identity()]), ViewPipeline([MarginalCorruption(rate)])], n_views=n_views)
    if preset == "vime":
        rate = 0.3 if corruption is None else corruption
        return MultiView([ViewPipeline([Identity()]), ViewPipeline([MarginalCorruption(rate, fixed_count=False)])],
                         n_views=n_views)
    if preset == "corrupt":
        rate = 0.6 if corruption is None else corruption
        return MultiView([ViewPipeline([MarginalCorruption(rate)])], n_views=n_views)
    if preset == "none":
        return MultiView([ViewPipeline([Identity()])], n_views=n_views)
    raise ValueError(f"unknown tabular view preset {preset!r}; choose one of {', '.join(TABULAR_PRESETS)}")


__all__ = ["TABULAR_PRESETS", "Identity", "MarginalCorruption", "tabular_views"]
