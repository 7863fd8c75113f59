"""The Python face: ``pretrain`` an encoder, ``embed`` data with it, ``save``/``load`` it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from selfsup.config import ConfigError, check_keys
from selfsup.data import DataError, ImageDataset, load_images
from selfsup.encoders import ENCODERS, create_encoder, wrap_module
from selfsup.evaluate import PROTOCOLS, evaluate_embeddings
from selfsup.evaluate.protocol import EXTRA_METRICS, evaluate_beyond_accuracy
from selfsup.methods import METHODS, create_method
from selfsup.train import Callback, TrainConfig, Trainer
from selfsup.views import IMAGENET_MEAN, IMAGENET_STD, Preprocess, image_views

ENCODER_FILE = "encoder.safetensors"
_FORMAT = "selfsup-encoder/1"


class PretrainedEncoder:
    """An encoder plus the few facts needed to rebuild and preprocess: the exported artefact.

    ``embed`` maps images (N, H, W, C uint8 arrays, an ``ImageDataset`` or a (N, C, H, W)
    tensor) to an (N, out_dim) float32 array. ``save`` writes one safetensors file whose
    metadata holds the architecture; ``load`` needs no training code state.
    """

    def __init__(self, module: nn.Module, name: str, kwargs: dict[str, Any], preprocess: Preprocess) -> None:
        self.module, self.name, self.kwargs, self.preprocess = module, name, dict(kwargs), preprocess
        self.out_dim = int(module.out_dim)

    def __repr__(self) -> str:
        return f"PretrainedEncoder({self.name}, out_dim={self.out_dim}, image_size={self.preprocess.size})"

    @torch.no_grad()
    def embed(self, x: ImageDataset | np.ndarray | Tensor, batch_size: int = 512,
              device: str | torch.device | None = None) -> np.ndarray:
        data = x if isinstance(x, (ImageDataset, Tensor)) else ImageDataset.from_arrays(np.asarray(x))
        dev = torch.device(device) if device else next(self.module.parameters()).device
        was = self.module.training
        self.module.eval().to(dev)
        out = []
        for s in range(0, len(data), batch_size):
            if isinstance(data, Tensor):
                xb = data[s:s + batch_size]
            else:
                xb = data.batch(np.arange(s, min(s + batch_size, len(data))))
            xb = self.preprocess(xb.to(dev)).contiguous(memory_format=torch.channels_last)
            out.append(self.module(xb).float().cpu())
        self.module.train(was)
        return torch.cat(out).numpy()

    def spec(self) -> dict[str, Any]:
        return {"format": _FORMAT, "name": self.name, "kwargs": self.kwargs, "out_dim": self.out_dim,
                "preprocess": self.preprocess.to_dict()}

    def save(self, path: str | os.PathLike) -> Path:
        """Write weights and spec to one ``.safetensors`` file (atomic)."""
        from safetensors.torch import save

        from selfsup.train.checkpoint import atomic_write_bytes

        p = Path(path)
        if p.suffix != ".safetensors":
            p = p.with_suffix(".safetensors")
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        blob = save(tensors, metadata={"selfsup": json.dumps(self.spec())})
        atomic_write_bytes(p, lambda f: f.write(blob))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, module: nn.Module | None = None) -> PretrainedEncoder:
        """Rebuild from a saved file; a custom (non-registry) encoder needs ``module`` passed in."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        p = Path(path)
        if p.is_dir():
            p = p / ENCODER_FILE
        if not p.exists():
            raise FileNotFoundError(f"{p}: no saved encoder here; pass the .safetensors file that save() or "
                                    "pretrain wrote")
        try:
            with safe_open(str(p), "pt") as f:
                meta = f.metadata() or {}
        except Exception as e:
            raise DataError(f"{p}: not a safetensors file ({e})") from e
        if "selfsup" not in meta:
            raise DataError(f"{p}: has no selfsup metadata; it was not written by PretrainedEncoder.save")
        spec = json.loads(meta["selfsup"])
        if module is None:
            if spec["name"] == "custom":
                raise ValueError(f"{p} holds a custom encoder; pass the same module: load(path, module=...)")
            module = create_encoder(spec["name"], **spec["kwargs"])
        else:
            module = wrap_module(module, spec["out_dim"])
        state = load_file(str(p))
        try:
            module.load_state_dict(state)
        except RuntimeError as e:
            raise DataError(f"{p}: weights do not fit {spec['name']} ({str(e).splitlines()[0]})") from e
        pre = spec["preprocess"]
        return cls(module, spec["name"], spec["kwargs"],
                   Preprocess(pre["size"], tuple(pre["mean"]), tuple(pre["std"])))


def load(path: str | os.PathLike, module: nn.Module | None = None) -> PretrainedEncoder:
    """Load an encoder written by ``pretrain`` or ``PretrainedEncoder.save``."""
    return PretrainedEncoder.load(path, module)


def as_image_dataset(data: str | os.PathLike | np.ndarray | ImageDataset, image_size: int | None = None,
                     **load_kwargs: Any) -> ImageDataset:
    """Accept a path (folder, .npy/.npz, CIFAR-10 folder), an array or an ImageDataset."""
    if isinstance(data, ImageDataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_images(data, image_size=image_size, **load_kwargs)
    if isinstance(data, np.ndarray):
        return ImageDataset.from_arrays(data)
    raise DataError(f"cannot use {type(data).__name__} as data; pass a path, a uint8 array or an ImageDataset")


def default_view_size(stored: int) -> int:
    """Train at the stored size for small images, at 224 px (the ImageNet recipe) for large ones."""
    return stored if stored <= 64 else min(stored, 224)


def build_encoder(encoder: str | nn.Module, image_size: int, **kwargs: Any) -> tuple[nn.Module, str, dict]:
    """Registry name or module -> (module, name to save, kwargs to rebuild)."""
    if isinstance(encoder, nn.Module):
        return wrap_module(encoder, kwargs.pop("out_dim", None)), "custom", {}
    if encoder in ENCODERS:
        check_keys("encoder", kwargs, ENCODERS[encoder])
        if encoder == "vit_tiny":
            kwargs.setdefault("image_size", image_size)
    return create_encoder(encoder, **kwargs), encoder, kwargs


def pretrain(data: str | os.PathLike | np.ndarray | ImageDataset, method: str = "simclr",
             encoder: str | nn.Module = "small_cnn", *, views: str | nn.Module | None = None,
             image_size: int | None = None, n_views: int = 2, n_local: int = 0, local_size: int | None = None,
             local_scale: tuple[float, float] = (0.05, 0.14), scale: tuple[float, float] | None = None,
             mean: Sequence[float] = IMAGENET_MEAN,
             std: Sequence[float] = IMAGENET_STD, encoder_kwargs: dict[str, Any] | None = None,
             method_kwargs: dict[str, Any] | None = None, run_dir: str | os.PathLike | None = None,
             resume: bool = True, callbacks: Sequence[Callback] = (), skip_corrupt: bool = False,
             **trainer_kwargs: Any) -> PretrainedEncoder:
    """Pretrain an encoder on unlabeled images and return it (also saved to ``run_dir`` if given).

    ``trainer_kwargs`` are ``TrainConfig`` fields (epochs, batch_size, lr, optimizer, ...). ``n_views``
    global views and ``n_local`` multi-crop views of ``local_size`` px are made with the method's preset.
    Example: ``enc = selfsup.pretrain("photos/", method="byol", epochs=50); enc.embed(x)``.
    """
    ds = as_image_dataset(data, image_size, skip_corrupt=skip_corrupt)
    size = image_size or default_view_size(ds.image_size)
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    trainer_kwargs = _trainer_kwargs(trainer_kwargs)
    if "optimizer" not in trainer_kwargs:  # the paper's optimiser, as a block, unless the user chose one
        trainer_kwargs = {**METHODS[method].recommended_trainer, **trainer_kwargs}
    cfg = TrainConfig(**trainer_kwargs)
    mkw = dict(method_kwargs or {})
    check_keys("method", mkw, METHODS[method].__init__, skip=("self", "encoder"))
    torch.manual_seed(cfg.seed)
    enc, enc_name, ekw = build_encoder(encoder, size, **dict(encoder_kwargs or {}))
    try:
        model = create_method(method, enc, **mkw)
    except ValueError as e:  # e.g. MAE on a CNN, a bad temperature: a named configuration error, not a traceback
        raise ConfigError(f"method {method}: {e}") from e
    if views is None or isinstance(views, str):
        views = image_views(views or model.default_views, size, n_views=n_views, scale=tuple(scale) if scale else None,
                            mean=mean, std=std, n_local=n_local, local_size=local_size,
                            local_scale=tuple(local_scale))
    arch = {"method": method, "method_kwargs": json.dumps(mkw, sort_keys=True), "encoder": enc_name,
            "encoder_kwargs": json.dumps(ekw, sort_keys=True), "image_size": size}
    Trainer(cfg, callbacks).fit(model, ds, views, run_dir=run_dir, arch=arch, resume=resume)
    result = PretrainedEncoder(enc.cpu().eval(), enc_name, ekw, Preprocess(size, tuple(mean), tuple(std)))
    if run_dir is not None and int(os.environ.get("RANK", "0")) == 0:
        result.save(Path(run_dir) / ENCODER_FILE)
    return result


def _trainer_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(kwargs) - set(TrainConfig.keys())
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}; trainer options are "
                          f"{', '.join(TrainConfig.keys())}")
    return kwargs


def evaluate(encoder: PretrainedEncoder, train: Any, test: Any, fractions: Sequence[float] = (0.01, 0.1, 1.0),
             seeds: Sequence[int] = (0, 1, 2), **kwargs: Any) -> dict[str, Any]:
    """Embed labelled train/test images and run the kNN + linear protocol (see ``evaluate_embeddings``).

    ``metrics=[...]`` picks from knn, linear, retrieval, clustering, anomaly, misclassified, diagnostics.
    """
    tr, te = as_image_dataset(train, encoder.preprocess.size), as_image_dataset(test, encoder.preprocess.size)
    for name, d in (("train", tr), ("test", te)):
        if not d.has_labels:
            raise DataError(f"{d.origin}: the {name} data has no labels; use class sub-folders or an array file "
                            "with labels")
    metrics = list(kwargs.pop("metrics", ()))
    unknown = [m for m in metrics if m not in (*PROTOCOLS, *EXTRA_METRICS)]
    if unknown:  # before the (slow) embedding
        raise DataError(f"unknown metric(s) {', '.join(unknown)}; choose from "
                        f"{', '.join((*PROTOCOLS, *EXTRA_METRICS))}")
    ztr, zte = encoder.embed(tr), encoder.embed(te)
    protocols = [m for m in metrics if m in PROTOCOLS] if metrics else list(kwargs.pop("protocols", PROTOCOLS))
    results = evaluate_embeddings(ztr, tr.labels, zte, te.labels, fractions, seeds, protocols=protocols, **kwargs)
    extra = [m for m in metrics if m not in PROTOCOLS]
    if extra:
        results.update(evaluate_beyond_accuracy(ztr, tr.labels, zte, te.labels, extra))
    return results


def pretrain_from_config(cfg: dict[str, Any]) -> PretrainedEncoder:
    """Run ``pretrain`` from a config dict with sections data, views, encoder, method, trainer."""
    from selfsup.config import validate_sections

    validate_sections(cfg)
    data = dict(cfg.get("data") or {})
    if "path" not in data:
        raise ConfigError("data.path is required: a folder of images, an .npy/.npz file or a CIFAR-10 folder")
    check_keys("data", data, load_images)
    views_cfg = dict(cfg.get("views") or {})
    check_keys("views", views_cfg, image_views, skip=("size",))
    enc = dict(cfg.get("encoder") or {})
    meth = dict(cfg.get("method") or {})
    trainer = dict(cfg.get("trainer") or {})
    check_keys("trainer", trainer, TrainConfig)
    path = data.pop("path")
    image_size = data.pop("image_size", None)
    ds = as_image_dataset(path, image_size, **data)
    if ds.summary:
        print(f"selfsup: {ds.summary}")
    if cfg.get("run_dir"):  # the resolved config beside the run, once the data is known to load
        import yaml

        run = Path(cfg["run_dir"])
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    preset = views_cfg.pop("preset", None)
    return pretrain(ds, meth.pop("name", "simclr"), enc.pop("name", "small_cnn"), views=preset,
                    image_size=image_size, encoder_kwargs=enc, method_kwargs=meth, run_dir=cfg.get("run_dir"),
                    **views_cfg, **trainer)
