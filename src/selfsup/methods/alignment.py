"""Aligning M >= 2 modalities of the same records: AstroM³ (pairwise CLIP, Rizhko & Bloom 2024), Symile
(Saporta et al. 2024) or multi-view InfoNCE (Koromilas et al. 2025) over one encoder per modality.

z_m = normalise(W_m f_m(x_m)) for each modality m present in a record; the objective sees the
(B, M) ``present`` mask and leaves missing entries out of every term. An encoder only runs on the
records that have its modality (missing rows never reach its BatchNorm statistics).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from selfsup.data.multimodal import RecordBatch
from selfsup.objectives import MultiModalInfoNCELoss, PairwiseCLIPLoss, SymileLoss

OBJECTIVES = {"clip": PairwiseCLIPLoss, "symile": SymileLoss, "mv_infonce": MultiModalInfoNCELoss}


def encode_present(module: Callable[[Tensor], Tensor], x: Tensor, rows: Tensor, width: int,
                   training: bool) -> tuple[Tensor, Tensor]:
    """``module`` on the rows of ``x`` that are present, scattered into (B, width) zeros, and the rows encoded.

    Missing rows never reach the module (nor its BatchNorm statistics); in training a lone present row is
    left out too (BatchNorm cannot normalise one row, and one row cannot be contrasted).
    """
    if training and int(rows.sum()) == 1:
        rows = torch.zeros_like(rows)
    out = torch.zeros(len(rows), width, device=rows.device)
    if bool(rows.any()):
        out = out.index_put((rows.nonzero().squeeze(1),), module(x[rows]).float())
    return out, rows


class ModalityAlignment(nn.Module):
    """One encoder and one linear projection to a shared ``proj_dim`` space per modality, and an alignment
    objective: ``clip`` (pairwise CLIP summed over modality pairs, AstroM³), ``symile`` (higher-order total
    correlation) or ``mv_infonce``; learnable temperature (CLIP's initial 0.07) unless ``learnable_temperature``
    is False. Follows the method contract: ``forward(views, params)`` with ``views[0]`` a ``RecordBatch``.
    """

    def __init__(self, encoders: Mapping[str, nn.Module], objective: str = "clip", proj_dim: int = 128,
                 temperature: float = 0.07, learnable_temperature: bool = True) -> None:
        super().__init__()
        if len(encoders) < 2:
            raise ValueError(f"alignment needs at least 2 modalities, got {list(encoders)}")
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown alignment objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
        missing = [k for k, e in encoders.items() if not hasattr(e, "out_dim")]
        if missing:
            raise ValueError(f"encoder(s) for {', '.join(missing)} need an `out_dim` attribute; wrap them with "
                             "selfsup.encoders.wrap_module")
        self.encoders = nn.ModuleDict(dict(encoders))
        self.projectors = nn.ModuleDict({k: nn.Linear(e.out_dim, proj_dim) for k, e in encoders.items()})
        self.criterion = OBJECTIVES[objective](temperature, learnable_temperature)
        self.objective, self.proj_dim = objective, proj_dim

    @property
    def names(self) -> list[str]:
        return list(self.encoders)

    def project(self, name: str, x: Tensor) -> Tensor:
        """Shared-space embedding (not normalised) of modality ``name``'s batch."""
        return self.projectors[name](self.encoders[name](x))

    def forward(self, views: list[RecordBatch], params: list[dict] | None = None) -> dict[str, Tensor]:
        rb = views[0]
        if not isinstance(rb, RecordBatch) or list(rb.parts) != self.names:
            got = list(rb.parts) if isinstance(rb, RecordBatch) else type(rb).__name__
            raise ValueError(f"alignment expects records with modalities {self.names}, got {got}")
        present = rb.present.clone()
        z = []
        for m, name in enumerate(self.names):
            out, present[:, m] = encode_present(lambda x, k=name: self.project(k, x), rb.parts[name], present[:, m],
                                                self.proj_dim, self.training)
            z.append(out)
        loss, logs = self.criterion(z, present)
        first = z[0].detach()
        return {"loss": loss, "embedding": first, **logs}

    def setup(self, num_samples: int, data: object = None) -> None:
        """Nothing to allocate: the trainer's hook."""

    def on_step_end(self, step: int, total_steps: int) -> None:
        """No schedules or teachers."""

    def on_train_end(self) -> None:
        """Nothing to swap in."""


__all__ = ["OBJECTIVES", "ModalityAlignment"]
