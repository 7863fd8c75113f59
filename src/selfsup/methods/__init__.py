"""Methods: named recipes that compose an encoder, heads and an objective.

Each lives in one short file; ``METHODS`` maps the names the CLI and ``pretrain`` accept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from selfsup.config import check_keys
from selfsup.methods.barlow_twins import BarlowTwins
from selfsup.methods.base import EMATeacher, Method
from selfsup.methods.bgrl import BGRL
from selfsup.methods.byol import BYOL
from selfsup.methods.dcl import DCL, DCLW
from selfsup.methods.debiased import DebiasedCL
from selfsup.methods.dgi import DGI
from selfsup.methods.dino import DINO
from selfsup.methods.directpred import DirectPred
from selfsup.methods.equicaps import EquiCaps
from selfsup.methods.grace import GRACE
from selfsup.methods.graphcl import GraphCL
from selfsup.methods.graphmae import GraphMAE
from selfsup.methods.hpm import HPM
from selfsup.methods.isogclr import ISogCLR
from selfsup.methods.jigsaw import Jigsaw, JigsawTask
from selfsup.methods.mae import MAE
from selfsup.methods.masked_patches import MaskedPatches
from selfsup.methods.mixed_barlow import MixedBarlowTwins
from selfsup.methods.moco import MoCoV2, MoCoV3
from selfsup.methods.multiview import MVDHEL, MVInfoNCE
from selfsup.methods.nnclr import NNCLR
from selfsup.methods.pretext import PretextMethod, PretextTask, WithPretext
from selfsup.methods.relative_position import RelativePosition, RelativePositionTask
from selfsup.methods.rotnet import RotationTask, RotNet
from selfsup.methods.scarf import SCARF
from selfsup.methods.scatsimclr import ScatSimCLR
from selfsup.methods.sie import SIE
from selfsup.methods.simclr import SimCLR
from selfsup.methods.simsiam import SimSiam
from selfsup.methods.softclt import SoftCLT
from selfsup.methods.swav import SwAV
from selfsup.methods.ts2vec import TS2Vec
from selfsup.methods.vicreg import VICReg
from selfsup.methods.view_params import ViewParameterTask, ViewParams
from selfsup.methods.vime import VIME
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
    "scatsimclr": ScatSimCLR,
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
    "jigsaw": Jigsaw,
    "relative_position": RelativePosition,
    "view_params": ViewParams,
    # split invariant / equivariant representations (equivariant view preset: rotation by any angle)
    "sie": SIE,
    "equicaps": EquiCaps,
    # time series: contrast over timestamps and scales, soft assignments, masked patches
    "ts2vec": TS2Vec,
    "softclt": SoftCLT,
    "masked_patches": MaskedPatches,
    # graphs: node contrast, masked feature reconstruction, bootstrapping, graph contrast, infomax
    "grace": GRACE,
    "graphmae": GraphMAE,
    "bgrl": BGRL,
    "graphcl": GraphCL,
    "dgi": DGI,
    # tables: contrast with marginal-corrupted rows, estimate the mask and the features
    "scarf": SCARF,
    "vime": VIME,
}

#: tasks any method can add to its loss (``pretext=``); each takes the encoder width and its own kwargs
PRETEXT_TASKS: dict[str, type[PretextTask]] = {
    "rotation": RotationTask,
    "jigsaw": JigsawTask,
    "relative_position": RelativePositionTask,
    "view_params": ViewParameterTask,
}


def create_method(name: str, encoder: nn.Module, pretext: str | Sequence[str] | None = None,
                  pretext_weight: float | Mapping[str, float] = 0.5,
                  pretext_kwargs: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any) -> Method:
    """Build a method by registry name around ``encoder``.

    ``pretext`` adds pretext tasks (``"rotation"``, ``"rotation,jigsaw"`` or a list) to its loss, each
    times ``pretext_weight`` (one number, or one per task); ``pretext_kwargs`` maps a task to its
    settings, e.g. ``{"jigsaw": {"n_permutations": 30}}``. ScatSimCLR's pretext-task regularisation.
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    method = METHODS[name](encoder, **kwargs)
    names = [p.strip() for p in pretext.split(",")] if isinstance(pretext, str) else list(pretext or [])
    if not names:
        if pretext_kwargs:
            raise ValueError("pretext_kwargs given without a pretext task; set pretext as well")
        return method
    unknown = [p for p in names if p not in PRETEXT_TASKS] + [p for p in (pretext_kwargs or {}) if p not in names]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"unknown or repeated pretext task(s) {', '.join(repr(u) for u in unknown) or names}; "
                         f"choose from {', '.join(PRETEXT_TASKS)} (pretext_kwargs may name only chosen tasks)")
    weights = dict(pretext_weight) if isinstance(pretext_weight, Mapping) else dict.fromkeys(names, pretext_weight)
    settings = {p: dict((pretext_kwargs or {}).get(p, {})) for p in names}
    for p, kw in settings.items():
        check_keys(f"method.pretext_kwargs.{p}", kw, PRETEXT_TASKS[p].__init__, skip=("self", "in_dim"))
    tasks = {p: PRETEXT_TASKS[p](encoder.out_dim, **settings[p]) for p in names}
    return WithPretext(method, tasks, {p: float(w) for p, w in weights.items()})


__all__ = ["METHODS", "PRETEXT_TASKS", "EMATeacher", "Method", "PretextMethod", "PretextTask", "WithPretext",
           "create_method", *(c.__name__ for c in METHODS.values()), *(c.__name__ for c in PRETEXT_TASKS.values())]
