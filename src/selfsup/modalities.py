"""What differs between modalities, in one place: how data loads, which views and encoders are the
defaults, and how raw samples are preprocessed for the encoder at inference.

The trainer, methods, objectives and evaluation never ask which modality they run on; ``api``
asks ``modality_for(data)`` once and then uses the returned object's methods.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from selfsup.config import ConfigError
from selfsup.data import DataError, ImageDataset, load_images
from selfsup.data.audio import AudioDataset, is_audio_path, load_audio
from selfsup.data.graphs import GraphBatch, GraphSetDataset, NodeDataset, is_graph_path, load_graphs
from selfsup.data.series import SeriesDataset, is_series_file, load_series
from selfsup.data.tabular import TabularDataset, TabularSchema, is_table_file, load_table
from selfsup.views import IMAGENET_MEAN, IMAGENET_STD, Preprocess, equivariance_transforms, finetune_views, image_views
from selfsup.views.audio import AUDIO_PRESETS, Gain, LogMel, audio_views
from selfsup.views.base import Preprocessed, ViewPipeline
from selfsup.views.graph import GRAPH_PRESETS, graph_views
from selfsup.views.image_presets import PRESETS as IMAGE_PRESETS
from selfsup.views.series import SERIES_PRESETS, Jitter, Scaling, series_views
from selfsup.views.tabular import TABULAR_PRESETS, MarginalCorruption, tabular_views

#: which modality each built-in encoder reads (``timm:``/``torchvision:`` models and custom modules: images)
ENCODER_MODALITY = {"ts_conv": "series", "patch_tst": "series", "pits": "series", "gcn": "graph", "gat": "graph",
                    "gin": "graph", "tab_mlp": "tabular", "audio_conv1d": "audio", "audio_conv2d": "audio"}
#: the audio front end each audio encoder reads (custom modules: log-mel)
AUDIO_FRONT_END = {"audio_conv1d": "waveform", "audio_conv2d": "logmel"}

#: view options only one modality understands, with their neutral values
IMAGE_VIEW_OPTIONS = {"n_local": 0, "local_size": None, "local_scale": (0.05, 0.14), "scale": None,
                      "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "random_fields": None}
SERIES_VIEW_OPTIONS = {"mask_p": None}
GRAPH_VIEW_OPTIONS = {"edge_drop": None, "feature_mask": None, "feature_norm": None}
TABULAR_VIEW_OPTIONS = {"corruption": None}
AUDIO_VIEW_OPTIONS = {"crop": None}


@dataclass(frozen=True)
class SeriesPreprocess:
    """Per-channel standardisation with the training data's statistics (NaN kept as missing)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, x: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, -1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, -1, 1)
        return (x.float() - mean) / std

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "series", "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def fit(cls, ds: SeriesDataset) -> SeriesPreprocess:
        v = ds.values
        mean = np.nanmean(v, axis=(0, 2)) if np.isfinite(v).any() else np.zeros(v.shape[1])
        std = np.nanstd(v, axis=(0, 2))
        std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
        return cls(tuple(float(m) for m in np.nan_to_num(mean)), tuple(float(s) for s in std))


class _Standardised:
    """A series or table source whose batches come standardised (the trainer's view of the data)."""

    def __init__(self, ds: SeriesDataset | TabularDataset, preprocess: SeriesPreprocess | TabularPreprocess) -> None:
        self.ds, self.preprocess = ds, preprocess

    def __len__(self) -> int:
        return len(self.ds)

    def batch(self, indices: np.ndarray) -> Tensor:
        return self.preprocess(self.ds.batch(indices))


@dataclass(frozen=True)
class TabularPreprocess:
    """The training table's schema (column types, category codes) and numeric means/sds: numeric columns
    are standardised and missing values set to 0 (the mean); categorical codes pass through."""

    schema: TabularSchema
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, x: Tensor) -> Tensor:
        k = len(self.mean)
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32)
        std = torch.tensor(self.std, device=x.device, dtype=torch.float32)
        numeric = torch.nan_to_num((x[:, :k].float() - mean) / std, nan=0.0)
        return torch.cat([numeric, x[:, k:].float()], 1)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "tabular", "schema": self.schema.to_dict(), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def fit(cls, ds: TabularDataset) -> TabularPreprocess:
        v = ds.numeric
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(v, axis=0)) if v.size else np.zeros(v.shape[1])
            std = np.nanstd(v, axis=0) if v.size else np.ones(v.shape[1])
        std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
        return cls(ds.schema, tuple(float(m) for m in mean), tuple(float(s) for s in std))


@dataclass(frozen=True)
class AudioPreprocess:
    """The audio front end: clips at ``sample_rate``, batched at ``clip_samples``, turned into normalised
    log-mel (B, 1, n_mels, frames) or normalised waveforms (B, 1, T); ``mean``/``std`` are the training
    data's (one number each, as BYOL-A normalises)."""

    sample_rate: int
    clip_samples: int
    front_end: str = "logmel"
    n_mels: int = 64
    n_fft: int = 1024
    hop: int = 160
    f_min: float = 0.0
    f_max: float | None = None
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if self.front_end not in ("logmel", "waveform"):
            raise ConfigError(f"audio front end must be 'logmel' or 'waveform', got {self.front_end!r}")

    @functools.cached_property
    def _log_mel(self) -> LogMel:
        return LogMel(self.sample_rate, self.n_fft, self.hop, self.n_mels, self.f_min, self.f_max)

    def features(self, x: Tensor) -> Tensor:
        """The front end before normalisation."""
        return self._log_mel(x) if self.front_end == "logmel" else x.float().unsqueeze(1)

    def __call__(self, x: Tensor) -> Tensor:
        return (self.features(x) - self.mean) / self.std

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("sample_rate", "clip_samples", "front_end", "n_mels", "n_fft", "hop",
                                           "f_min", "f_max", "mean", "std")}
        return {"kind": "audio", **d}

    @classmethod
    def fit(cls, ds: AudioDataset, front_end: str = "logmel") -> AudioPreprocess:
        """Mel settings for the sample rate (32 ms window, 10 ms hop; 64 mels, 40 at 8 kHz and below) and the
        mean/sd of the front end's output over up to 512 clips."""
        sr = ds.sample_rate
        n_fft = 2 ** math.ceil(math.log2(0.032 * sr))
        pre = cls(sr, ds.clip_samples, front_end, 40 if sr <= 8000 else 64, n_fft, max(1, sr // 100))
        idx = np.linspace(0, len(ds) - 1, min(len(ds), 512)).round().astype(int)
        with torch.no_grad():
            f = pre.features(ds.batch(idx))
        return replace(pre, mean=float(f.mean()), std=float(f.std().clamp_min(1e-6)))


@dataclass(frozen=True)
class GraphPreprocess:
    """Node-feature normalisation: ``row`` divides each node's features by their sum (bag-of-words graphs
    such as Cora, as PyG's NormalizeFeatures), ``none`` leaves them (one-hot labels, TU attributes)."""

    mode: str = "none"

    def __post_init__(self) -> None:
        if self.mode not in ("row", "none"):
            raise ConfigError(f"graph feature normalisation must be 'row' or 'none', got {self.mode!r}")

    def features(self, x: Tensor) -> Tensor:
        if self.mode == "row":
            return x / x.sum(1, keepdim=True).clamp_min(1e-12)
        return x

    def __call__(self, gb: GraphBatch) -> GraphBatch:
        return gb.replace(x=self.features(gb.x.float()))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "graph", "mode": self.mode}

    @classmethod
    def fit(cls, ds: NodeDataset | GraphSetDataset) -> GraphPreprocess:
        """Row normalisation for one graph with non-negative features (the Planetoid recipe), else none."""
        return cls("row" if isinstance(ds, NodeDataset) and (ds.x >= 0).all() else "none")


def _with_features(ds: NodeDataset | GraphSetDataset, x: np.ndarray) -> NodeDataset | GraphSetDataset:
    return replace(ds, x=x)


def preprocess_from_dict(d: dict[str, Any]) -> Any:
    """Rebuild a saved encoder's preprocessing (files without ``kind`` are images)."""
    if d.get("kind", "image") == "series":
        return SeriesPreprocess(tuple(d["mean"]), tuple(d["std"]))
    if d.get("kind") == "audio":
        return AudioPreprocess(**{k: v for k, v in d.items() if k != "kind"})
    if d.get("kind") == "tabular":
        return TabularPreprocess(TabularSchema.from_dict(d["schema"]), tuple(d["mean"]), tuple(d["std"]))
    if d.get("kind") == "graph":
        return GraphPreprocess(d["mode"])
    return Preprocess(d["size"], tuple(d["mean"]), tuple(d["std"]))


class ImageModality:
    """Images: (B, C, H, W) uint8 batches; views normalise; preprocessing resizes and normalises."""

    name = "image"
    unavailable_metrics: tuple[str, ...] = ()
    presets = IMAGE_PRESETS
    default_views = "simclr"
    default_encoder = "small_cnn"
    view_options = IMAGE_VIEW_OPTIONS

    def load(self, data: Any, split: str = "train", image_size: int | None = None, **kw: Any) -> ImageDataset:
        if isinstance(data, ImageDataset):
            return data
        if isinstance(data, (str, os.PathLike)):
            return load_images(data, image_size=image_size, split=split, **kw)
        if isinstance(data, np.ndarray):
            return ImageDataset.from_arrays(data)
        raise DataError(f"cannot use {type(data).__name__} as image data; pass a path, a uint8 array or an "
                        "ImageDataset")

    def load_options(self, preprocess: Preprocess) -> dict[str, Any]:
        """Loader options that make new data read as the encoder's training data was (the image size)."""
        return {"image_size": preprocess.size}

    def view_size(self, ds: ImageDataset, image_size: int | None) -> int:
        """Train at the stored size for small images, at 224 px (the ImageNet recipe) for large ones."""
        return image_size or (ds.image_size if ds.image_size <= 64 else min(ds.image_size, 224))

    def preprocess(self, ds: ImageDataset, image_size: int | None = None, mean: Sequence[float] = IMAGENET_MEAN,
                   std: Sequence[float] = IMAGENET_STD, **_: Any) -> Preprocess:
        return Preprocess(self.view_size(ds, image_size), tuple(mean), tuple(std))

    def training_source(self, ds: ImageDataset, preprocess: Preprocess) -> ImageDataset:
        return ds  # the views crop, convert and normalise

    def views(self, preset: str, preprocess: Preprocess, n_views: int, **options: Any) -> nn.Module:
        opts = {**self.view_options, **options}
        scale = tuple(opts["scale"]) if opts["scale"] else None
        return image_views(preset, preprocess.size, n_views=n_views, scale=scale, mean=preprocess.mean,
                           std=preprocess.std, n_local=opts["n_local"], local_size=opts["local_size"],
                           local_scale=tuple(opts["local_scale"]), random_fields=opts["random_fields"])

    def encoder_kwargs(self, name: str, preprocess: Preprocess, ds: ImageDataset) -> dict[str, Any]:
        return {"image_size": preprocess.size} if name in ("vit_tiny", "scatnet") else {}

    def finetune_views(self, preprocess: Preprocess) -> nn.Module:
        return finetune_views(preprocess.size, preprocess.mean, preprocess.std)

    def equivariance_transforms(self, preprocess: Preprocess) -> dict[str, nn.Module]:
        return equivariance_transforms(preprocess.size)


class SeriesModality:
    """Time series: (B, C, T) float batches with NaN for missing values, standardised per channel."""

    name = "series"
    unavailable_metrics = ("equivariance",)
    presets = SERIES_PRESETS
    default_views = "contrastive"
    default_encoder = "ts_conv"
    view_options = SERIES_VIEW_OPTIONS

    def load(self, data: Any, split: str = "train", **kw: Any) -> SeriesDataset:
        if isinstance(data, SeriesDataset):
            return data
        if isinstance(data, (str, os.PathLike)):
            return load_series(data, split=split, **kw)
        if isinstance(data, (np.ndarray, list, tuple)):
            return SeriesDataset.from_arrays(data if isinstance(data, np.ndarray) and data.dtype != object
                                             else list(data))
        raise DataError(f"cannot use {type(data).__name__} as series data; pass a path, an (N, T) or (N, C, T) "
                        "float array, a list of arrays or a SeriesDataset")

    def load_options(self, preprocess: SeriesPreprocess) -> dict[str, Any]:
        return {}

    def preprocess(self, ds: SeriesDataset, **_: Any) -> SeriesPreprocess:
        return SeriesPreprocess.fit(ds)

    def training_source(self, ds: SeriesDataset, preprocess: SeriesPreprocess) -> _Standardised:
        return _Standardised(ds, preprocess)

    def views(self, preset: str, preprocess: SeriesPreprocess, n_views: int, **options: Any) -> nn.Module:
        return series_views(preset, n_views=n_views, mask_p={**self.view_options, **options}["mask_p"])

    def encoder_kwargs(self, name: str, preprocess: SeriesPreprocess, ds: SeriesDataset) -> dict[str, Any]:
        return {"in_channels": ds.n_channels} if ENCODER_MODALITY.get(name) == "series" else {}

    def finetune_views(self, preprocess: SeriesPreprocess) -> nn.Module:
        return ViewPipeline([Preprocessed(preprocess), Scaling(0.1), Jitter(0.05)])

    def equivariance_transforms(self, preprocess: SeriesPreprocess) -> dict[str, nn.Module]:
        raise ConfigError("the equivariance measure predicts image transforms (rotation, crop); it has no series "
                          "version yet: leave 'equivariance' out of the metrics")


class GraphModality:
    """Graphs: one graph whose samples are nodes, or a set of graphs; batches are ``GraphBatch``es."""

    name = "graph"
    unavailable_metrics = ("equivariance", "finetune")
    presets = GRAPH_PRESETS
    default_views = "grace"
    default_encoder = "gcn"
    view_options = GRAPH_VIEW_OPTIONS

    def load(self, data: Any, split: str | None = None, **_: Any) -> NodeDataset | GraphSetDataset:
        return load_graphs(data, split)

    def load_options(self, preprocess: GraphPreprocess) -> dict[str, Any]:
        return {}

    def preprocess(self, ds: NodeDataset | GraphSetDataset, feature_norm: str | None = None,
                   **_: Any) -> GraphPreprocess:
        """``feature_norm`` (row, none) when a method asks for one, else ``GraphPreprocess.fit``'s choice."""
        return GraphPreprocess(feature_norm) if feature_norm is not None else GraphPreprocess.fit(ds)

    def training_source(self, ds: NodeDataset | GraphSetDataset,
                        preprocess: GraphPreprocess) -> NodeDataset | GraphSetDataset:
        return _with_features(ds, preprocess.features(torch.from_numpy(ds.x)).numpy())  # once, not per step

    def views(self, preset: str, preprocess: GraphPreprocess, n_views: int, **options: Any) -> nn.Module:
        opts = {**self.view_options, **options}
        return graph_views(preset, n_views=n_views, edge_drop=opts["edge_drop"], feature_mask=opts["feature_mask"])

    def encoder_kwargs(self, name: str, preprocess: GraphPreprocess, ds: NodeDataset | GraphSetDataset
                       ) -> dict[str, Any]:
        return {"in_channels": ds.num_features} if ENCODER_MODALITY.get(name) == "graph" else {}

    def finetune_views(self, preprocess: GraphPreprocess) -> nn.Module:
        raise ConfigError("fine-tuning graph encoders is not supported yet: use the knn, linear or svm probes")

    def equivariance_transforms(self, preprocess: GraphPreprocess) -> dict[str, nn.Module]:
        raise ConfigError("the equivariance measure predicts image transforms (rotation, crop); it has no graph "
                          "version: leave 'equivariance' out of the metrics")


class TabularModality:
    """Tables: (B, numeric + categorical) float batches; numeric columns standardised, categories coded by the
    training table's schema."""

    name = "tabular"
    unavailable_metrics = ("equivariance",)
    presets = TABULAR_PRESETS
    default_views = "scarf"
    default_encoder = "tab_mlp"
    view_options = TABULAR_VIEW_OPTIONS

    def load(self, data: Any, split: str | None = None, schema: TabularSchema | None = None,
             **kw: Any) -> TabularDataset:
        """A path (CSV/TSV/Parquet), a ``TabularDataset`` or a float (N, F) array; ``schema`` aligns it."""
        if isinstance(data, TabularDataset):
            return data.aligned(schema) if schema is not None else data
        if isinstance(data, (str, os.PathLike)):
            return load_table(data, schema=schema, **kw)
        if isinstance(data, np.ndarray) and data.ndim == 2 and data.dtype != object:
            ds = TabularDataset.from_arrays(numeric=data)
            return ds.aligned(schema) if schema is not None else ds
        raise DataError(f"cannot use {type(data).__name__} as a table; pass a .csv/.tsv/.parquet path, a float "
                        "(N, F) array or a TabularDataset (selfsup.data.tabular.load_table)")

    def load_options(self, preprocess: TabularPreprocess) -> dict[str, Any]:
        """The training table's schema: a new file's columns are typed and coded as the training file's."""
        return {"schema": preprocess.schema}

    def preprocess(self, ds: TabularDataset, **_: Any) -> TabularPreprocess:
        return TabularPreprocess.fit(ds)

    def training_source(self, ds: TabularDataset, preprocess: TabularPreprocess) -> _Standardised:
        return _Standardised(ds, preprocess)

    def views(self, preset: str, preprocess: TabularPreprocess, n_views: int, **options: Any) -> nn.Module:
        return tabular_views(preset, n_views=n_views, corruption={**self.view_options, **options}["corruption"])

    def encoder_kwargs(self, name: str, preprocess: TabularPreprocess, ds: TabularDataset) -> dict[str, Any]:
        if ENCODER_MODALITY.get(name) != "tabular":
            return {}
        return {"n_numeric": len(preprocess.schema.numeric), "cardinalities": preprocess.schema.cardinalities}

    def finetune_views(self, preprocess: TabularPreprocess) -> nn.Module:
        return ViewPipeline([Preprocessed(preprocess), MarginalCorruption(0.1)])

    def equivariance_transforms(self, preprocess: TabularPreprocess) -> dict[str, nn.Module]:
        raise ConfigError("the equivariance measure predicts image transforms (rotation, crop); it has no table "
                          "version: leave 'equivariance' out of the metrics")


class AudioModality:
    """Audio: (B, T) waveform batches at one sample rate; the views and the encoder's input go through the
    front end (log-mel for ``audio_conv2d``, the normalised waveform for ``audio_conv1d``)."""

    name = "audio"
    unavailable_metrics = ("equivariance",)
    presets = AUDIO_PRESETS
    default_views = "byol_a"
    default_encoder = "audio_conv2d"
    view_options = AUDIO_VIEW_OPTIONS

    def load(self, data: Any, split: str | None = None, sample_rate: int | None = None,
             clip_seconds: float | None = None, **kw: Any) -> AudioDataset:
        """A .wav file, a folder of them, an .npz of clips or an ``AudioDataset``, at ``sample_rate``."""
        if isinstance(data, AudioDataset):
            clip = round(clip_seconds * (sample_rate or data.sample_rate)) if clip_seconds else None
            return data.resampled(sample_rate or data.sample_rate, clip)
        if isinstance(data, (str, os.PathLike)):
            return load_audio(data, split=split, sample_rate=sample_rate, clip_seconds=clip_seconds, **kw)
        raise DataError(f"cannot use {type(data).__name__} as audio; pass a .wav file, a folder of them, an .npz of "
                        "clips or an AudioDataset (selfsup.data.audio)")

    def load_options(self, preprocess: AudioPreprocess) -> dict[str, Any]:
        """New clips at the training sample rate and batch length."""
        return {"sample_rate": preprocess.sample_rate,
                "clip_seconds": preprocess.clip_samples / preprocess.sample_rate}

    def preprocess(self, ds: AudioDataset, encoder: Any = None, **_: Any) -> AudioPreprocess:
        name = encoder if isinstance(encoder, str) else self.default_encoder if encoder is None else "custom"
        return AudioPreprocess.fit(ds, AUDIO_FRONT_END.get(name, "logmel"))

    def training_source(self, ds: AudioDataset, preprocess: AudioPreprocess) -> AudioDataset:
        return ds  # the views crop, mix and apply the front end

    def views(self, preset: str, preprocess: AudioPreprocess, n_views: int, **options: Any) -> nn.Module:
        return audio_views(preset, preprocess, preprocess.front_end == "logmel", n_views=n_views,
                           crop={**self.view_options, **options}["crop"])

    def encoder_kwargs(self, name: str, preprocess: AudioPreprocess, ds: AudioDataset) -> dict[str, Any]:
        return {"n_mels": preprocess.n_mels} if name == "audio_conv2d" else {}

    def finetune_views(self, preprocess: AudioPreprocess) -> nn.Module:
        return ViewPipeline([Gain(3.0), Preprocessed(preprocess)])

    def equivariance_transforms(self, preprocess: AudioPreprocess) -> dict[str, nn.Module]:
        raise ConfigError("the equivariance measure predicts image transforms (rotation, crop); it has no audio "
                          "version: leave 'equivariance' out of the metrics")


Modality = ImageModality | SeriesModality | GraphModality | TabularModality | AudioModality
MODALITIES = {"image": ImageModality(), "series": SeriesModality(), "graph": GraphModality(),
              "tabular": TabularModality(), "audio": AudioModality()}


def modality_named(name: str) -> Modality:
    if name not in MODALITIES:
        raise ConfigError(f"unknown modality {name!r}; choose one of auto, {', '.join(MODALITIES)}")
    return MODALITIES[name]


def modality_for(data: Any, modality: str = "auto") -> Modality:
    """The modality of ``data``: a dataset says so; arrays by dtype and shape (uint8 images, float series);
    paths by extension or content (.tsv/.ts/.csv and float arrays are series; Parquet, gzipped CSV and CSV files
    with a header and a text-valued column are tables; Planetoid and TU files, edge lists named ``edges.*`` /
    ``*_edges.*`` and .npz files with an ``edge_index`` are graphs);
    torch-geometric objects are graphs."""
    if modality != "auto":
        return modality_named(modality)
    if isinstance(data, (NodeDataset, GraphSetDataset)) or hasattr(data, "edge_index") or (
            isinstance(data, (list, tuple)) and data and hasattr(data[0], "edge_index")):
        return MODALITIES["graph"]
    if isinstance(data, SeriesDataset):
        return MODALITIES["series"]
    if isinstance(data, TabularDataset):
        return MODALITIES["tabular"]
    if isinstance(data, AudioDataset):
        return MODALITIES["audio"]
    if isinstance(data, ImageDataset):
        return MODALITIES["image"]
    if isinstance(data, np.ndarray):
        return MODALITIES["image" if data.dtype == np.uint8 and data.ndim >= 3 else "series"]
    if isinstance(data, (list, tuple)):
        return MODALITIES["series"]
    if isinstance(data, (str, os.PathLike)):
        if is_graph_path(data):
            return MODALITIES["graph"]
        if is_table_file(data):
            return MODALITIES["tabular"]
        if is_audio_path(data):
            return MODALITIES["audio"]
        return MODALITIES["series" if is_series_file(data) else "image"]
    raise DataError(f"cannot tell the modality of {type(data).__name__}; pass modality='image', 'series', 'graph', "
                    "'tabular' or 'audio'")


def resolve_defaults(method_cls: type, modality: Modality) -> tuple[str, str]:
    """The method's view preset and encoder where they suit the modality, else the modality's defaults."""
    supported = getattr(method_cls, "modalities", None)
    if supported is not None and modality.name not in supported:
        raise ConfigError(f"method {method_cls.__name__} trains on {', '.join(supported)} data, not "
                          f"{modality.name}; pick a method for {modality.name} data")
    views = method_cls.default_views if method_cls.default_views in modality.presets else modality.default_views
    enc = method_cls.default_encoder
    if ENCODER_MODALITY.get(enc, "image") != modality.name:
        enc = modality.default_encoder
    return views, enc


def check_view_options(modality: Modality, options: dict[str, Any]) -> dict[str, Any]:
    """The options that differ from their neutral value must be ones the modality understands."""
    known = {**IMAGE_VIEW_OPTIONS, **SERIES_VIEW_OPTIONS, **GRAPH_VIEW_OPTIONS, **TABULAR_VIEW_OPTIONS,
             **AUDIO_VIEW_OPTIONS}
    given = {k: v for k, v in options.items() if k in known and _differs(v, known[k])}
    foreign = [k for k in given if k not in modality.view_options]
    if foreign:
        raise ConfigError(f"view option(s) {', '.join(foreign)} do not apply to {modality.name} data; valid: "
                          f"{', '.join(modality.view_options)}")
    return given


def _differs(value: Any, neutral: Any) -> bool:
    if isinstance(value, (list, tuple)) and isinstance(neutral, (list, tuple)):
        return tuple(value) != tuple(neutral)
    return value != neutral

