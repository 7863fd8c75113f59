"""The Python face: ``pretrain`` an encoder, ``embed`` data with it, ``save``/``load`` it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from selfsup.config import ConfigError, check_keys
from selfsup.data import DataError, ImageDataset, load_images
from selfsup.data.audio import load_audio
from selfsup.data.graphs import load_graphs
from selfsup.data.series import load_series
from selfsup.data.tabular import load_table
from selfsup.encoders import ENCODERS, create_encoder, wrap_module
from selfsup.evaluate import PROTOCOLS, evaluate_embeddings
from selfsup.evaluate.embed import embed_source
from selfsup.evaluate.finetune import FinetuneConfig
from selfsup.evaluate.online import MonitorConfig, build_monitors
from selfsup.evaluate.protocol import (
    EXTRA_METRICS,
    FRACTION_PROTOCOLS,
    PROBES,
    cross_validate_embeddings,
    evaluate_beyond_accuracy,
)
from selfsup.methods import METHODS, create_method
from selfsup.modalities import (
    MODALITIES,
    check_view_options,
    modality_for,
    modality_named,
    preprocess_from_dict,
    resolve_defaults,
)
from selfsup.train import Callback, TrainConfig, Trainer
from selfsup.views import IMAGENET_MEAN, IMAGENET_STD

ENCODER_FILE = "encoder.safetensors"
_FORMAT = "selfsup-encoder/1"


class PretrainedEncoder:
    """An encoder plus the few facts needed to rebuild and preprocess: the exported artefact.

    ``embed`` maps samples to an (N, out_dim) float32 array: images (N, H, W, C uint8 arrays, an
    ``ImageDataset`` or a (N, C, H, W) tensor) or series ((N, T) / (N, C, T) float arrays with NaN
    for missing values, a list of unequal-length arrays, or a ``SeriesDataset``), whichever the
    encoder was trained on. ``save`` writes one safetensors file whose metadata holds the
    architecture; ``load`` needs no training code state.
    """

    def __init__(self, module: nn.Module, name: str, kwargs: dict[str, Any], preprocess: Any) -> None:
        self.module, self.name, self.kwargs, self.preprocess = module, name, dict(kwargs), preprocess
        self.out_dim = int(module.out_dim)
        self.modality = modality_named(preprocess.to_dict().get("kind", "image"))

    def __repr__(self) -> str:
        if self.modality.name == "image":
            return f"PretrainedEncoder({self.name}, out_dim={self.out_dim}, image_size={self.preprocess.size})"
        return f"PretrainedEncoder({self.name}, out_dim={self.out_dim}, {self.modality.name})"

    def embed(self, x: Any, batch_size: int = 512, device: str | torch.device | None = None) -> np.ndarray:
        data = x if isinstance(x, Tensor) else self.load_data(x)
        if device is not None:
            self.module.to(device)
        return embed_source(self.module, data, self.preprocess, batch_size)

    def load_data(self, x: Any, split: str | None = None) -> Any:
        """``x`` read as this encoder's training data was (image size; a table's column types and codes)."""
        opts = self.modality.load_options(self.preprocess)
        return self.modality.load(x, **opts) if split is None else self.modality.load(x, split=split, **opts)

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
        return cls(module, spec["name"], spec["kwargs"], preprocess_from_dict(spec["preprocess"]))


def load(path: str | os.PathLike, module: nn.Module | None = None) -> PretrainedEncoder:
    """Load an encoder written by ``pretrain`` or ``PretrainedEncoder.save``."""
    return PretrainedEncoder.load(path, module)


def as_image_dataset(data: str | os.PathLike | np.ndarray | ImageDataset, image_size: int | None = None,
                     **load_kwargs: Any) -> ImageDataset:
    """Accept a path (folder, .npy/.npz, CIFAR-10 folder), an array or an ImageDataset."""
    return MODALITIES["image"].load(data, image_size=image_size, **load_kwargs)


def default_view_size(stored: int) -> int:
    """Train at the stored size for small images, at 224 px (the ImageNet recipe) for large ones."""
    return stored if stored <= 64 else min(stored, 224)


def build_encoder(encoder: str | nn.Module, image_size: int | None = None, defaults: dict[str, Any] | None = None,
                  **kwargs: Any) -> tuple[nn.Module, str, dict]:
    """Registry name or module -> (module, name to save, kwargs to rebuild).

    ``defaults`` are facts of the data the encoder must be built for (a series' channel count),
    used unless ``kwargs`` set them.
    """
    if isinstance(encoder, nn.Module):
        return wrap_module(encoder, kwargs.pop("out_dim", None)), "custom", {}
    if encoder in ENCODERS:
        check_keys("encoder", kwargs, ENCODERS[encoder])
        if encoder in ("vit_tiny", "scatnet") and image_size:  # built for one input size
            kwargs.setdefault("image_size", image_size)
    for k, v in (defaults or {}).items():
        kwargs.setdefault(k, v)
    return create_encoder(encoder, **kwargs), encoder, kwargs


def pretrain(data: Any, method: str = "simclr", encoder: str | nn.Module | None = None, *,
             views: str | nn.Module | None = None, modality: str = "auto",
             image_size: int | None = None, n_views: int = 2, n_local: int = 0, local_size: int | None = None,
             local_scale: tuple[float, float] = (0.05, 0.14), scale: tuple[float, float] | None = None,
             mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
             random_fields: str | None = None, mask_p: float | None = None,
             edge_drop: Sequence[float] | None = None, feature_mask: Sequence[float] | None = None,
             feature_norm: str | None = None, corruption: float | None = None, crop: float | None = None,
             encoder_kwargs: dict[str, Any] | None = None, method_kwargs: dict[str, Any] | None = None,
             run_dir: str | os.PathLike | None = None,
             resume: bool = True, callbacks: Sequence[Callback] = (), skip_corrupt: bool = False,
             monitor: MonitorConfig | dict[str, Any] | None = None, **trainer_kwargs: Any) -> PretrainedEncoder:
    """Pretrain an encoder on unlabeled data (images, time series, graphs, tables or audio) and return it (also
    saved to ``run_dir``). Paired multimodal records: ``selfsup.pretrain_records``.

    ``modality`` (auto, image, series, graph, tabular, audio) is read from the data when not given.
    ``encoder`` and ``views`` default to the method's own where they suit the modality (``small_cnn`` and the
    paper's recipe for images; ``ts_conv`` and TS2Vec's crops, or the ``contrastive`` series recipe, for series;
    ``tab_mlp`` and ``scarf`` for tables; ``audio_conv2d`` and ``byol_a`` for audio).
    ``trainer_kwargs`` are ``TrainConfig`` fields (epochs, max_steps, batch_size, lr, optimizer, ...);
    ``monitor`` the ``MonitorConfig`` fields (online probe, periodic kNN, collapse alarm). Image views:
    ``n_views`` global views and ``n_local`` multi-crop views of ``local_size`` px, ``random_fields``
    (mild, medium, strong) Random Field Augmentations; series views: ``mask_p`` timestamp masking; graph
    views: ``edge_drop`` / ``feature_mask`` rates, one per view; graph ``feature_norm`` (row, none) overrides
    the method's and the data's default node-feature normalisation; table views: ``corruption``, the fraction
    of features drawn from their marginals (SCARF 0.6, VIME 0.3). A table's label column is left out of
    the features: pass a ``TabularDataset`` from ``selfsup.data.tabular.load_table(path, target=...)``, or a
    file whose label column is named label, target, class or y. Audio views: ``crop``, the fraction of the
    clip each view keeps (BYOL-A style views; the front end, log-mel or waveform, follows the encoder).
    Example: ``enc = selfsup.pretrain("photos/", method="byol", epochs=50); enc.embed(x)``.
    """
    kind = modality_for(data, modality)
    ds = kind.load(data, image_size=image_size, skip_corrupt=skip_corrupt) if kind.name == "image" else kind.load(data)
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    default_views, default_encoder = resolve_defaults(METHODS[method], kind)
    encoder = default_encoder if encoder is None else encoder
    view_options = check_view_options(kind, {"n_local": n_local, "local_size": local_size, "local_scale": local_scale,
                                             "scale": scale, "mean": mean, "std": std,
                                             "random_fields": random_fields, "mask_p": mask_p,
                                             "edge_drop": edge_drop, "feature_mask": feature_mask,
                                             "feature_norm": feature_norm, "corruption": corruption,
                                             "crop": crop})
    trainer_kwargs = _trainer_kwargs(trainer_kwargs)
    if "optimizer" not in trainer_kwargs:  # the paper's optimiser, as a block, unless the user chose one
        trainer_kwargs = {**METHODS[method].recommended_trainer, **trainer_kwargs}
    cfg = TrainConfig(**trainer_kwargs)
    mkw = dict(method_kwargs or {})
    wrapper_keys = ("pretext", "pretext_weight", "pretext_kwargs")  # any method takes these
    wrapper = {k: mkw.pop(k) for k in wrapper_keys if k in mkw}
    check_keys("method", mkw, METHODS[method].__init__, skip=("self", "encoder"))
    _check_pretext(wrapper.get("pretext"), kind.name)
    torch.manual_seed(cfg.seed)
    chosen = {"feature_norm": feature_norm} if feature_norm is not None else {}  # the user's choice wins
    preprocess = kind.preprocess(ds, image_size=image_size, mean=mean, std=std, encoder=encoder,
                                 **{**METHODS[method].recommended_preprocess, **chosen})
    enc_defaults = kind.encoder_kwargs(encoder, preprocess, ds) if isinstance(encoder, str) else {}
    enc, enc_name, ekw = build_encoder(encoder, getattr(preprocess, "size", None), enc_defaults,
                                       **dict(encoder_kwargs or {}))
    try:
        model = create_method(method, enc, **wrapper, **mkw)
    except ValueError as e:  # e.g. MAE on a CNN, a bad temperature: a named configuration error, not a traceback
        raise ConfigError(f"method {method}: {e}") from e
    views_name = views if isinstance(views, str) else ("custom" if views is not None else default_views)
    if views is None or isinstance(views, str):
        try:
            views = kind.views(views or default_views, preprocess, n_views, **view_options)
        except ValueError as e:
            raise ConfigError(f"views: {e}") from e
    monitor = _section("monitor", monitor, MonitorConfig)
    monitors = _monitors(monitor, kind, ds, preprocess)
    arch = {"method": method, "method_kwargs": json.dumps({**mkw, **wrapper}, sort_keys=True), "encoder": enc_name,
            "encoder_kwargs": json.dumps(ekw, sort_keys=True)}
    arch.update({"image_size": preprocess.size} if kind.name == "image" else {"modality": kind.name})
    if run_dir is not None and int(os.environ.get("RANK", "0")) == 0:  # how the run was made, every default resolved
        data_cfg = {"path": ds.origin, **({"image_size": preprocess.size} if kind.name == "image" else
                                          {"modality": kind.name})}
        views_cfg = {"preset": views_name, "n_views": n_views, **{k: list(v) if isinstance(v, tuple) else v
                                                                  for k, v in view_options.items()}}
        _write_run_config(Path(run_dir), {
            "data": data_cfg, "views": views_cfg, "encoder": {"name": enc_name, **ekw},
            "method": {"name": method, **mkw, **wrapper}, "trainer": asdict(cfg), "monitor": _monitor_dict(monitor)})
    Trainer(cfg, [*monitors, *callbacks]).fit(model, kind.training_source(ds, preprocess), views, run_dir=run_dir,
                                              arch=arch, resume=resume)
    result = PretrainedEncoder(enc.cpu().eval(), enc_name, ekw, preprocess)
    if run_dir is not None and int(os.environ.get("RANK", "0")) == 0:
        result.save(Path(run_dir) / ENCODER_FILE)
    return result


def _check_pretext(pretext: str | Sequence[str] | None, modality: str) -> None:
    from selfsup.methods import PRETEXT_TASKS

    names = [p.strip() for p in pretext.split(",")] if isinstance(pretext, str) else list(pretext or [])
    foreign = [p for p in names if p in PRETEXT_TASKS and modality not in PRETEXT_TASKS[p].modalities]
    if foreign:
        raise ConfigError(f"pretext task(s) {', '.join(foreign)} pose questions about images; they do not apply to "
                          f"{modality} data")


def _section(name: str, value: Any, cls: type) -> Any:
    """A settings object from itself, a dict (keys checked against ``cls``: a named error) or None (defaults)."""
    if isinstance(value, cls):
        return value
    given = dict(value or {})
    check_keys(name, given, cls)
    return cls(**given)


def _monitor_dict(monitor: MonitorConfig) -> dict[str, Any]:
    given = asdict(monitor)
    test = given.get("knn_test")
    if test is not None and not isinstance(test, (str, os.PathLike)):
        given["knn_test"] = getattr(test, "origin", type(test).__name__)
    return {k: str(v) if isinstance(v, os.PathLike) else v for k, v in given.items()}


def _write_run_config(run: Path, cfg: dict[str, Any]) -> None:
    """``RUN_DIR/config.yaml``: the run's settings with every default filled in (``--config`` reads it back)."""
    import yaml

    from selfsup.train.checkpoint import atomic_write_bytes

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)

    text = yaml.safe_dump(plain(cfg), sort_keys=False)
    atomic_write_bytes(run / "config.yaml", lambda f: f.write(text.encode()))


def _monitors(monitor: MonitorConfig, kind: Any, ds: Any, preprocess: Any) -> list[Callback]:
    test = (kind.load(monitor.knn_test, split="test", **kind.load_options(preprocess))
            if monitor.knn_every and monitor.knn_test else None)
    if test is not None and not test.has_labels:
        raise DataError(f"{test.origin}: monitor.knn_test has no labels; use class sub-folders, labelled series "
                        "or an array file with labels")
    return build_monitors(monitor, ds, ds.labels, test, test.labels if test is not None else None, preprocess)


def _trainer_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(kwargs) - set(TrainConfig.keys())
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}; trainer options are "
                          f"{', '.join(TrainConfig.keys())}")
    return kwargs


ALL_METRICS = (*FRACTION_PROTOCOLS, *EXTRA_METRICS, "equivariance")


def scratch_encoder(encoder: PretrainedEncoder, seed: int = 0) -> PretrainedEncoder:
    """The same architecture and preprocessing, freshly initialised: the from-scratch baseline."""
    from selfsup.evaluate.finetune import fresh_copy

    rebuild = None if encoder.name == "custom" else (lambda: create_encoder(encoder.name, **encoder.kwargs))
    return PretrainedEncoder(fresh_copy(encoder.module, seed, rebuild), encoder.name, encoder.kwargs,
                             encoder.preprocess)


def evaluate(encoder: PretrainedEncoder, train: Any, test: Any = None, fractions: Sequence[float] = (0.01, 0.1, 1.0),
             seeds: Sequence[int] = (0, 1, 2), metrics: Sequence[str] = PROTOCOLS, baseline: str = "auto",
             finetune: FinetuneConfig | dict[str, Any] | None = None, progress: bool = False, folds: int = 10,
             **kwargs: Any) -> dict[str, Any]:
    """Embed labelled train/test data (images, series or graphs, as the encoder was trained on) and evaluate; a
    JSON-ready dict.

    Without ``test`` the frozen probes run in ``folds``-fold stratified cross-validation over ``train``
    (the protocol of the TU graph-classification literature, and for any labelled set without a test
    split); each cell is then mean ± sd over folds.

    ``metrics`` picks from knn, linear, finetune (label fractions x seeds), retrieval,
    clustering, anomaly, misclassified, diagnostics and equivariance (R² of rotation and
    crop parameters). ``baseline="scratch"`` repeats the label-fraction protocols and the
    equivariance measure on a freshly initialised encoder of the same architecture under
    ``results["scratch"]``; ``"auto"`` does so when finetune is asked for. ``kwargs`` go to
    ``evaluate_embeddings`` (knn_k, linear_c, ...).
    """
    from selfsup.evaluate.equivariance import measure_equivariance
    from selfsup.evaluate.finetune import label_fraction_study

    metrics = list(metrics)
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:  # before the (slow) loading and embedding
        raise DataError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(ALL_METRICS)}")
    if baseline not in ("auto", "scratch", "none"):
        raise ConfigError(f"baseline must be auto, scratch or none, got {baseline!r}")
    finetune = _section("finetune", finetune, FinetuneConfig)
    kind, pre = encoder.modality, encoder.preprocess
    if test is None:
        data = encoder.load_data(train)
        results = _cross_validate(encoder, data, train, metrics, fractions, seeds, folds, **kwargs)
        if baseline == "scratch":
            results["scratch"] = _cross_validate(scratch_encoder(encoder, seeds[0] if seeds else 0), data, train,
                                                 metrics, fractions, seeds, folds, **kwargs)
        return results
    tr = encoder.load_data(train, split="train")
    te = encoder.load_data(test, split="test")  # CIFAR folders, .npz files and UCR folders hold both splits
    for name, d in (("train", tr), ("test", te)):
        if not d.has_labels:
            raise DataError(f"{d.origin}: the {name} data has no labels; use class sub-folders, labelled series or "
                            "an array file with labels")
    if getattr(tr, "class_names", None) and hasattr(te, "with_classes"):
        te = te.with_classes(tr.class_names)  # a test file with fewer classes keeps the training ids
    compared = {"pretrained": encoder}
    if baseline == "scratch" or (baseline == "auto" and "finetune" in metrics):
        compared["scratch"] = scratch_encoder(encoder, seeds[0] if seeds else 0)
    recorded = {name: str(arg) if isinstance(arg, (str, os.PathLike)) else ds.origin  # the report reloads paths
                for name, arg, ds in (("train", train, tr), ("test", test, te))}
    results: dict[str, Any] = {"data": {**recorded, "test_split": "test"}, "encoder": encoder.spec()}
    frozen = [m for m in metrics if m in PROBES]
    extra = [m for m in metrics if m in EXTRA_METRICS]
    for name, enc in compared.items():
        into = results if name == "pretrained" else results.setdefault("scratch", {})
        wants_extra = bool(extra) and name == "pretrained"
        if frozen or wants_extra:  # one embedding pass serves the probes and the other metrics
            ztr, zte = enc.embed(tr), enc.embed(te)
        if frozen:
            into.update(evaluate_embeddings(ztr, tr.labels, zte, te.labels, fractions, seeds, protocols=frozen,
                                            **kwargs))
        if "finetune" in metrics:
            study = label_fraction_study(
                {name: enc.module}, tr, tr.labels, te, te.labels, fractions=fractions, seeds=seeds,
                protocols=("finetune",), preprocess=pre, augment=kind.finetune_views(pre),
                config=finetune, progress=print if progress else None)
            into.update({"finetune": study["results"][name]["finetune"], "finetune_config": study["finetune_config"],
                         "n_train": study["n_train"], "n_test": study["n_test"]})
        if "equivariance" in metrics:
            into["equivariance"] = measure_equivariance(enc.module, te, kind.equivariance_transforms(pre), pre,
                                                        n=min(len(te), 2000))
        if wants_extra:
            results.update(evaluate_beyond_accuracy(ztr, tr.labels, zte, te.labels, extra))
    return results


def _cross_validate(encoder: PretrainedEncoder, ds: Any, train: Any, metrics: Sequence[str],
                    fractions: Sequence[float], seeds: Sequence[int], folds: int, **kwargs: Any) -> dict[str, Any]:
    """``evaluate`` without a test set: the frozen probes in k-fold cross-validation over ``ds``."""
    needs_test = [m for m in metrics if m not in PROBES]
    if needs_test:
        raise DataError(f"{', '.join(needs_test)} need(s) a labelled test set; give test data, or keep to the probes "
                        f"({', '.join(PROBES)}) for cross-validation over the training data")
    if not ds.has_labels:
        raise DataError(f"{ds.origin}: the data has no labels (or some are unknown) and cannot be cross-validated; "
                        "give graph labels, class sub-folders or labelled series")
    results = cross_validate_embeddings(encoder.embed(ds), ds.labels, folds, seeds[0] if seeds else 0, fractions,
                                        seeds, metrics, **kwargs)
    recorded = str(train) if isinstance(train, (str, os.PathLike)) else ds.origin
    return {**results, "data": {"train": recorded, "test": None, "cv_folds": results["protocol"]["cv_folds"]},
            "encoder": encoder.spec()}


def pretrain_from_config(cfg: dict[str, Any]) -> PretrainedEncoder:
    """Run ``pretrain`` from a config dict with sections data, views, encoder, method, trainer."""
    from selfsup.config import validate_sections

    validate_sections(cfg)
    data = dict(cfg.get("data") or {})
    if "path" not in data:
        raise ConfigError("data.path is required: a folder of images, a series file (.tsv, .ts, .csv), an "
                          ".npy/.npz file, a CIFAR-10 folder, Planetoid ind.<name> files or a TU folder")
    path = data.pop("path")
    kind = modality_for(path, data.pop("modality", None) or "auto")
    loader = {"image": load_images, "series": load_series, "graph": load_graphs, "tabular": load_table,
              "audio": load_audio}[kind.name]
    check_keys("data", data, loader, skip=("path", "data"))
    views_cfg = dict(cfg.get("views") or {})
    valid_views = ("preset", "n_views", *kind.view_options)
    unknown = [k for k in views_cfg if k not in valid_views]
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(f'views.{k}' for k in unknown)}; valid keys for views with "
                          f"{kind.name} data: {', '.join(valid_views)}")
    enc = dict(cfg.get("encoder") or {})
    meth = dict(cfg.get("method") or {})
    trainer = dict(cfg.get("trainer") or {})
    check_keys("trainer", trainer, TrainConfig)
    image_size = data.pop("image_size", None)
    ds = kind.load(path, image_size=image_size, **data) if kind.name == "image" else kind.load(path, **data)
    if ds.summary:
        print(f"selfsup: {ds.summary}")
    preset = views_cfg.pop("preset", None)
    monitor = dict(cfg.get("monitor") or {})  # pretrain checks its keys
    return pretrain(ds, meth.pop("name", "simclr"), enc.pop("name", None), views=preset, modality=kind.name,
                    image_size=image_size, encoder_kwargs=enc, method_kwargs=meth, run_dir=cfg.get("run_dir"),
                    monitor=monitor, **views_cfg, **trainer)
