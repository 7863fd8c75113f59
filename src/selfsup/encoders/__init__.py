"""Encoders: backbones that map a batch to (B, out_dim) representations.

``create_encoder(name, **kwargs)`` is the one face over every architecture (names in
``ENCODERS``, plus ``timm:<model>`` and ``torchvision:<model>`` when those packages are
installed). Any ``nn.Module`` works through ``wrap_module(module, out_dim)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import Tensor, nn

from selfsup.encoders.audio import SpectrogramCNN, WaveformCNN
from selfsup.encoders.capsules import CapsuleEncoder
from selfsup.encoders.cnn import NatureCNN, SmallCNN
from selfsup.encoders.graph import GAT, GCN, GIN
from selfsup.encoders.resnet import ResNet, resnet18, resnet50
from selfsup.encoders.scattering import ScatteringEncoder
from selfsup.encoders.series import DilatedConvEncoder, PatchEncoder
from selfsup.encoders.tabular import TabularMLP
from selfsup.encoders.vit import VisionTransformer, vit_tiny

ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "small_cnn": SmallCNN,
    "nature_cnn": NatureCNN,  # the DQN encoder of pixel-based Atari agents (4 stacked 84x84 frames)
    "resnet18": partial(resnet18, stem="imagenet"),
    "resnet18_cifar": partial(resnet18, stem="cifar"),
    "resnet50": partial(resnet50, stem="imagenet"),
    "resnet50_cifar": partial(resnet50, stem="cifar"),
    "vit_tiny": vit_tiny,
    "scatnet": ScatteringEncoder,  # needs the scattering extra (kymatio)
    "capsule_cnn": CapsuleEncoder,  # small_cnn backbone + self-routed capsules with 2 x m poses (EquiCaps)
    # time series (B, C, T), NaN = missing
    "ts_conv": DilatedConvEncoder,  # TS2Vec's dilated convolutions, per-timestamp outputs
    "patch_tst": PatchEncoder,  # patches + Transformer (PatchTST)
    "pits": partial(PatchEncoder, attention=False),  # patches embedded independently by an MLP (PITS)
    # graphs (GraphBatch; the graph extra: torch-geometric)
    "gcn": GCN,  # GRACE's 2-layer GCN
    "gat": GAT,  # GraphMAE's 2-layer, 4-head GAT
    "gin": GIN,  # GraphCL's 5-layer GIN with sum readout of every layer
    # tables (B, numeric + categorical codes)
    "tab_mlp": TabularMLP,  # SCARF's 4-layer ReLU MLP, one embedding table per categorical column
    # audio: (B, 1, T) normalised waveforms or (B, 1, n_mels, frames) log-mel from the audio front end
    "audio_conv1d": WaveformCNN,  # strided 1-D convolutions on the waveform, mean + max over time
    "audio_conv2d": SpectrogramCNN,  # BYOL-A's AudioNTT2020 on log-mel
}


class WrappedEncoder(nn.Module):
    """Any module whose output flattens to ``out_dim`` features per sample."""

    def __init__(self, module: nn.Module, out_dim: int) -> None:
        super().__init__()
        self.module, self.out_dim = module, int(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        y = self.module(x)
        if isinstance(y, (tuple, list)):
            y = y[0]
        y = y.flatten(1)
        if y.shape[1] != self.out_dim:
            raise ValueError(f"wrapped encoder declared out_dim={self.out_dim} but produced {y.shape[1]} features; "
                             f"pass the module's real output width")
        return y


def wrap_module(module: nn.Module, out_dim: int | None = None) -> nn.Module:
    """Use a user's module as an encoder; ``out_dim`` may be omitted if the module declares one."""
    if out_dim is None:
        out_dim = getattr(module, "out_dim", None) or getattr(module, "num_features", None)
        if out_dim is None:
            raise ValueError("a custom encoder needs its output width: pass out_dim=..., or give the module "
                             "an `out_dim` attribute")
    if getattr(module, "out_dim", None) == out_dim:
        return module
    return WrappedEncoder(module, out_dim)


def _external(name: str, kwargs: dict[str, Any]) -> nn.Module:
    lib, _, model = name.partition(":")
    if lib == "timm":
        try:
            import timm
        except ImportError as e:
            raise ImportError(f"encoder {name!r} needs timm: pip install timm") from e
        m = timm.create_model(model, num_classes=0, **kwargs)
        return wrap_module(m, m.num_features)
    if lib == "torchvision":
        try:
            import torchvision
        except ImportError as e:
            raise ImportError(f"encoder {name!r} needs torchvision: pip install torchvision") from e
        m = torchvision.models.get_model(model, weights=None, **kwargs)
        head = getattr(m, "fc", None) or getattr(m, "head", None)
        if not isinstance(head, nn.Linear):
            raise ValueError(f"torchvision model {model!r} has no `fc`/`head` Linear to strip; wrap it yourself "
                             "with selfsup.encoders.wrap_module(module, out_dim)")
        out_dim = head.in_features
        if hasattr(m, "fc"):
            m.fc = nn.Identity()
        else:
            m.head = nn.Identity()
        return wrap_module(m, out_dim)
    raise ValueError(f"unknown encoder library {lib!r} in {name!r}; use 'timm:<model>' or 'torchvision:<model>'")


def create_encoder(name: str, **kwargs: Any) -> nn.Module:
    """Build an encoder by name; every encoder has an ``out_dim`` attribute."""
    if ":" in name:
        return _external(name, kwargs)
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)} "
                         "(or timm:<model>, torchvision:<model>)")
    return ENCODERS[name](**kwargs)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["ENCODERS", "CapsuleEncoder", "DilatedConvEncoder",
           "PatchEncoder", "ResNet", "ScatteringEncoder", "SmallCNN", "SpectrogramCNN", "TabularMLP",
           "VisionTransformer", "WaveformCNN",
           "WrappedEncoder", "count_parameters", "create_encoder", "resnet18", "resnet50", "vit_tiny", "wrap_module"]
