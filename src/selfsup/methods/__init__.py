"""Methods: named recipes that compose an encoder, heads and an objective.

Each lives in one short file; ``METHODS`` maps the names the CLI and ``pretrain`` accept.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from selfsup.methods.barlow_twins import BarlowTwins
from selfsup.methods.base import EMATeacher, Method
from selfsup.methods.byol import BYOL
from selfsup.methods.dcl import DCL, DCLW
from selfsup.methods.debiased import DebiasedCL
from selfsup.methods.dino import DINO
from selfsup.methods.directpred import DirectPred
from selfsup.methods.hpm import HPM
from selfsup.methods.isogclr import ISogCLR
from selfsup.methods.mae import MAE
from selfsup.methods.mixed_barlow import MixedBarlowTwins
from selfsup.methods.moco import MoCoV2, MoCoV3
from selfsup.methods.multiview import MVDHEL, MVInfoNCE
from selfsup.methods.nnclr import NNCLR
from selfsup.methods.rotnet import RotNet, WithRotationPretext
from selfsup.methods.simclr import SimCLR
from selfsup.methods.simsiam import SimSiam
from selfsup.methods.swav import SwAV
from selfsup.methods.vicreg import VICReg
from selfsup.methods.wmse import WMSE

METHODS: dict[str, type[Method]] = {
    # contrastive
    "simclr": SimCLR,
    "moco_v2": MoCoV2,
    "moco_v3": MoCoV3,
    "nnclr": NNCLR,
    "dcl": DCL,
    "dclw": DCLW,
    "debiased": DebiasedCL,
    "mv_infonce": MVInfoNCE,
    "mv_dhel": MVDHEL,
    "isogclr": ISogCLR,
    # non-contrastive
    "byol": BYOL,
    "simsiam": SimSiam,
    "directpred": DirectPred,
    "barlow_twins": BarlowTwins,
    "mixed_barlow_twins": MixedBarlowTwins,
    "vicreg": VICReg,
    "wmse": WMSE,
    # clustering / self-distillation
    "swav": SwAV,
    "dino": DINO,
    # masked image modelling (ViT encoders)
    "mae": MAE,
    "hpm": HPM,
    # pretext tasks (predict what a transformation did)
    "rotnet": RotNet,
}

PRETEXT_TASKS = ("rotation",)


def create_method(name: str, encoder: nn.Module, pretext: str | None = None, pretext_weight: float = 0.5,
                  **kwargs: Any) -> Method:
    """Build a method by registry name around ``encoder``.

    ``pretext="rotation"`` adds rotation prediction as an auxiliary loss with ``pretext_weight``
    (any method; ScatSimCLR's pretext-task regularisation).
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    method = METHODS[name](encoder, **kwargs)
    if pretext is None:
        return method
    if pretext not in PRETEXT_TASKS:
        raise ValueError(f"unknown pretext task {pretext!r}; choose one of {', '.join(PRETEXT_TASKS)}")
    return WithRotationPretext(method, pretext_weight)


__all__ = ["METHODS", "PRETEXT_TASKS", "EMATeacher", "Method", "WithRotationPretext", "create_method",
           *(c.__name__ for c in METHODS.values())]
