"""Embedding a data source with an encoder: the one loop every evaluation and export shares."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from selfsup.train.trainer import Source


@torch.no_grad()
def embed_source(module: nn.Module, data: Source | Tensor, preprocess: Callable[[Tensor], Tensor] | None = None,
                 batch_size: int = 512, device: str | torch.device | None = None,
                 indices: np.ndarray | None = None) -> np.ndarray:
    """(N, D) float32 embeddings of ``data`` (any source with ``batch``, or a ready tensor) in eval mode.

    ``preprocess`` maps a raw batch to the encoder's input (for images: resize and
    normalise). The module's train/eval mode is restored afterwards, so a callback can
    embed in the middle of training.
    """
    dev = torch.device(device) if device else next(module.parameters()).device
    rows = np.arange(len(data)) if indices is None else np.asarray(indices)
    was_training = module.training
    module.eval()
    out = []
    try:
        for s in range(0, len(rows), batch_size):
            chunk = rows[s:s + batch_size]
            xb = data[torch.as_tensor(chunk)] if isinstance(data, Tensor) else data.batch(chunk)
            xb = xb.to(dev)
            if preprocess is not None:
                xb = preprocess(xb)
            if xb.ndim == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            out.append(module(xb).float().cpu())
    finally:
        module.train(was_training)
    if not out:
        return np.zeros((0, int(getattr(module, "out_dim", 0))), dtype=np.float32)
    return torch.cat(out).numpy()
