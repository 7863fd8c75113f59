"""A scikit-learn / TS2Vec-style face on plain arrays: ``SelfSupervised(method).fit(X).encode(X)``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from selfsup.api import PretrainedEncoder, load, pretrain
from selfsup.modalities import modality_for


class SelfSupervised:
    """Pretrain on unlabeled arrays with ``fit``, then ``encode`` (or ``transform``) any array.

    Series are (N, T) or (N, C, T) float arrays with NaN where a value is missing (``channels_first=False``
    for TS2Vec's (N, T, C) layout); images (N, H, W, C) uint8. ``options`` are anything ``pretrain``
    takes (views, encoder_kwargs, method_kwargs, epochs, lr, ...). For series, when neither ``epochs``
    nor ``max_steps`` is given, ``fit`` trains TS2Vec's default budget: 200 steps (600 when the data
    hold more than 100,000 values). ``batch_size`` is lowered to the number of samples when larger.

    Example: ``model = SelfSupervised("ts2vec").fit(x_train); z = model.encode(x_test)``.
    """

    def __init__(self, method: str = "ts2vec", encoder: str | None = None, modality: str = "auto",
                 channels_first: bool = True, **options: Any) -> None:
        self.method, self.encoder, self.modality, self.channels_first = method, encoder, modality, channels_first
        self.options = options
        self.encoder_: PretrainedEncoder | None = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"method": self.method, "encoder": self.encoder, "modality": self.modality,
                "channels_first": self.channels_first, **self.options}

    def set_params(self, **params: Any) -> SelfSupervised:
        for k, v in params.items():
            if k in ("method", "encoder", "modality", "channels_first"):
                setattr(self, k, v)
            else:
                self.options[k] = v
        return self

    def _arrays(self, x: Any) -> Any:
        if isinstance(x, np.ndarray) and not self.channels_first and x.ndim == 3 and x.dtype != np.uint8:
            return np.ascontiguousarray(x.transpose(0, 2, 1))
        return x

    def fit(self, x: Any, y: Any = None) -> SelfSupervised:
        """Pretrain on ``x`` (``y`` is ignored: the training signal comes from the data)."""
        data = self._arrays(x)
        kind = modality_for(data, self.modality)
        ds = kind.load(data)
        opts = dict(self.options)
        if kind.name == "series" and "epochs" not in opts and "max_steps" not in opts:
            opts["max_steps"] = 200 if ds.values.size <= 100_000 else 600
        if "batch_size" in opts or kind.name == "series":
            from selfsup.methods import METHODS

            wanted = opts.get("batch_size") or METHODS[self.method].recommended_trainer.get("batch_size", 256)
            opts["batch_size"] = max(2, min(int(wanted), len(ds)))
        opts.setdefault("progress", False)
        self.encoder_ = pretrain(ds, self.method, self.encoder, modality=kind.name, **opts)
        return self

    def _fitted(self) -> PretrainedEncoder:
        if self.encoder_ is None:
            raise RuntimeError("call fit(x) (or load a saved model) before encoding")
        return self.encoder_

    def encode(self, x: Any, encoding_window: str | int | None = "full_series", batch_size: int = 256) -> np.ndarray:
        """Representations of ``x``.

        ``"full_series"`` (default): one (N, D) vector per sample. For series encoders with
        per-timestamp outputs: ``None`` gives (N, T, D), an integer ``w`` max-pools those over a
        sliding window of ``w`` timestamps, and ``"multiscale"`` concatenates pools of 3, 5, 9, ...
        (TS2Vec's options).
        """
        enc = self._fitted()
        data = self._arrays(x)
        if encoding_window == "full_series":
            return enc.embed(data, batch_size=batch_size)
        module = enc.module
        if not hasattr(module, "forward_timestamps"):
            raise ValueError(f"encoder {enc.name} gives one vector per sample; use encoding_window='full_series'")
        ds = enc.load_data(data)
        out = []
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                for s in range(0, len(ds), batch_size):
                    z = module.forward_timestamps(enc.preprocess(ds.batch(np.arange(s, min(len(ds), s + batch_size)))))
                    out.append(_pool_timestamps(z, encoding_window).float().numpy())
        finally:
            module.train(was_training)
        return np.concatenate(out)

    def transform(self, x: Any) -> np.ndarray:
        return self.encode(x)

    def fit_transform(self, x: Any, y: Any = None) -> np.ndarray:
        return self.fit(x).encode(x)

    def save(self, path: str | os.PathLike) -> os.PathLike:
        return self._fitted().save(path)

    @classmethod
    def load(cls, path: str | os.PathLike, channels_first: bool = True) -> SelfSupervised:
        model = cls(channels_first=channels_first)
        model.encoder_ = load(path)
        model.encoder = model.encoder_.name
        return model


def _pool_timestamps(z: torch.Tensor, window: str | int | None) -> torch.Tensor:
    """(B, T, D) -> (B, T, D') pooled as TS2Vec's ``encoding_window``."""
    if window is None:
        return z
    zt = z.transpose(1, 2)
    if isinstance(window, int) and not isinstance(window, bool):
        pooled = F.max_pool1d(zt, kernel_size=window, stride=1, padding=window // 2)
        return pooled[..., : z.shape[1]].transpose(1, 2)
    if window == "multiscale":
        scales, p = [], 0
        while (1 << p) + 1 < z.shape[1]:
            scales.append(F.max_pool1d(zt, kernel_size=(1 << (p + 1)) + 1, stride=1, padding=1 << p))
            p += 1
        return torch.cat(scales, dim=1).transpose(1, 2) if scales else z
    raise ValueError(f"encoding_window must be 'full_series', None, an integer or 'multiscale', got {window!r}")
