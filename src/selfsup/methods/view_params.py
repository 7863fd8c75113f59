"""View-parameter regression — predict how two views of an image differ: the difference of their
crop boxes and colour-jitter factors, from the two views' features (AugSelf, Lee et al. 2021,
"Improving Transferability of Representations via Augmentation-Aware Self-Supervision").

As an auxiliary loss it keeps in the representation what invariance objectives throw away;
it reads the parameters every view op returns.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Params
from selfsup.methods.pretext import PretextMethod, PretextOutput, PretextTask
from selfsup.methods.sie import relative_transform
from selfsup.objectives import PretextRegressionLoss

#: view parameter -> its width; ``crop`` is (x0, y0, w, h), ``jitter`` the (brightness, contrast,
#: saturation, hue) factors, identity where jitter was not applied
VIEW_PARAMETERS = {"crop": 4, "jitter": 4}


class ViewParameterTask(PretextTask):
    """Regress ``params[0][k] - params[1][k]`` for each ``k`` in ``targets`` from ``[z_0, z_1]``."""

    name = "view_params"
    reads_view_features = True

    def __init__(self, in_dim: int, targets: tuple[str, ...] | list[str] = ("crop", "jitter"),
                 hidden_dim: int = 512) -> None:
        super().__init__()
        unknown = [t for t in targets if t not in VIEW_PARAMETERS]
        if unknown or not targets:
            raise ValueError(f"unknown view parameter(s) {unknown}; choose from {', '.join(VIEW_PARAMETERS)}")
        self.targets = tuple(targets)
        self.head = MLPHead(2 * in_dim, hidden_dim, sum(VIEW_PARAMETERS[t] for t in self.targets))
        self.criterion = PretextRegressionLoss()

    def forward(self, encoder: nn.Module, views: list[Tensor], params: list[Params] | None = None,
                features: list[Tensor] | None = None) -> PretextOutput:
        if len(views) < 2 or not params or len(params) < 2:
            raise ValueError("view-parameter regression needs two views and their params")
        for k in self.targets:
            if k not in params[0] or k not in params[1]:
                preset = "colour jitter (simclr, byol)" if k == "jitter" else k
                raise ValueError(f"view-parameter regression needs the views' {k!r} params, which these views do not "
                                 f"return; use a view preset with {preset} or drop {k!r} from targets")
        target = relative_transform(params[1], params[0], self.targets)  # params[0] - params[1]
        if features is None:
            z = encoder(torch.cat(views[:2])) if views[0].shape == views[1].shape else None
            features = list(z.chunk(2)) if z is not None else [encoder(views[0]), encoder(views[1])]
        loss, logs = self.criterion(self.head(torch.cat(features[:2], 1)), target)
        return PretextOutput(loss, logs, features[0])


class ViewParams(PretextMethod):
    """View-parameter regression as a method on its own (needs a preset whose views carry the targets)."""

    default_views = "simclr"
    recommended_trainer = {"optimizer": "adamw"}  # noqa: RUF012 - the squared error diverged under SGD at lr 0.1

    def __init__(self, encoder: nn.Module, targets: tuple[str, ...] | list[str] = ("crop", "jitter"),
                 head_hidden_dim: int = 512) -> None:
        super().__init__(encoder, ViewParameterTask(encoder.out_dim, targets, head_hidden_dim))
