"""The Python face for paired multimodal records: align one encoder per modality, embed, evaluate.

``pretrain_records(records, objective="clip")`` trains ``methods.alignment.ModalityAlignment`` on a
``MultiModalDataset`` with each modality's own preprocessing, default views (one view per record) and
default encoder, and returns a ``MultiModalEncoder``: one ``PretrainedEncoder`` per modality (each
usable alone: ``selfsup.evaluate``, fine-tuning, ``embed``) plus the projections into the shared space
that cross-modal retrieval reads. ``evaluate_records`` measures each modality and their fusion with the
frozen probes, and cross-modal retrieval (recall@k).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from selfsup.api import PretrainedEncoder, _trainer_kwargs, build_encoder
from selfsup.config import ConfigError
from selfsup.data import DataError
from selfsup.data.multimodal import MultiModalDataset, RecordBatch
from selfsup.evaluate import evaluate_embeddings
from selfsup.methods.alignment import OBJECTIVES, ModalityAlignment, encode_present
from selfsup.modalities import modality_for
from selfsup.train import TrainConfig, Trainer

PROJECTORS_FILE = "projectors.safetensors"


class RecordViews(nn.Module):
    """Each modality's own view pipeline applied to its part of a ``RecordBatch`` (one view per record)."""

    def __init__(self, views: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.views = nn.ModuleDict(dict(views))

    def forward(self, rb: RecordBatch, g: torch.Generator) -> list[tuple[RecordBatch, dict[str, Tensor]]]:
        parts, params = {}, {}
        for name, view in self.views.items():
            x, p = view(rb.parts[name], g)[0]
            parts[name] = x
            params.update({f"{name}.{k}": v for k, v in p.items()})
        return [(RecordBatch(parts, rb.present), params)]


class FirstView(nn.Module):
    """The one view of a ``RecordViews`` as ``(batch, params)``: the ``augment`` contract of fine-tuning."""

    def __init__(self, views: RecordViews) -> None:
        super().__init__()
        self.views = views

    def forward(self, rb: RecordBatch, g: torch.Generator) -> tuple[RecordBatch, dict[str, Tensor]]:
        return self.views(rb, g)[0]


class RecordPreprocess:
    """Each modality's inference preprocessing applied to its part of a ``RecordBatch``."""

    def __init__(self, preprocess: Mapping[str, Any]) -> None:
        self.preprocess = dict(preprocess)

    def __call__(self, rb: RecordBatch) -> RecordBatch:
        return RecordBatch({k: self.preprocess[k](v) for k, v in rb.parts.items()}, rb.present)


class FusedEncoder(nn.Module):
    """The modality encoders side by side on a ``RecordBatch``: (B, sum of out_dims), zeros where a record lacks
    a modality; each encoder runs only on the records that have its modality. Fine-tuned as one network."""

    def __init__(self, encoders: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(dict(encoders))
        self.out_dim = sum(int(e.out_dim) for e in self.encoders.values())

    def forward(self, rb: RecordBatch) -> Tensor:
        return torch.cat([encode_present(enc, rb.parts[name], rb.present[:, m], int(enc.out_dim), self.training)[0]
                          for m, (name, enc) in enumerate(self.encoders.items())], 1)


class MultiModalEncoder:
    """One ``PretrainedEncoder`` per modality and the linear maps into the shared space."""

    def __init__(self, encoders: Mapping[str, PretrainedEncoder], projectors: Mapping[str, nn.Linear],
                 objective: str) -> None:
        self.encoders, self.projectors, self.objective = dict(encoders), dict(projectors), objective

    def __repr__(self) -> str:
        return f"MultiModalEncoder({', '.join(f'{k}: {v.name}' for k, v in self.encoders.items())}; {self.objective})"

    @property
    def names(self) -> list[str]:
        return list(self.encoders)

    def embed(self, name: str, data: Any, aligned: bool = False, batch_size: int = 512) -> np.ndarray:
        """Modality ``name``'s embeddings of ``data``; ``aligned``: L2-normalised in the shared space."""
        if name not in self.encoders:
            raise ConfigError(f"no modality {name!r}; this encoder has {', '.join(self.encoders)}")
        z = self.encoders[name].embed(data, batch_size=batch_size)
        return self.align(name, z) if aligned else z

    def align(self, name: str, z: np.ndarray) -> np.ndarray:
        """Encoder embeddings of modality ``name`` mapped into the shared space, L2-normalised (NaN rows kept)."""
        with torch.no_grad():
            p = self.projectors[name](torch.from_numpy(np.asarray(z, dtype=np.float32)))
            return torch.nn.functional.normalize(p, dim=1).numpy()

    def embed_records(self, records: MultiModalDataset, aligned: bool = False) -> dict[str, np.ndarray]:
        """Per modality (N, D) embeddings of every record's part, NaN rows where the modality is missing."""
        out = {}
        for m, name in enumerate(records.names):
            z = self.embed(name, records.parts[name], aligned)
            out[name] = np.where(records.present[:, m, None], z, np.nan).astype(np.float32)
        return out

    def fused(self, records: MultiModalDataset, embeddings: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """(N, sum D + M): each modality's embedding standardised over the records that have it (zeros where
        missing), then the presence indicators: one vector per record for the probes. ``embeddings``:
        ``embed_records(records)`` when already computed."""
        cols = []
        for m, z in enumerate((embeddings or self.embed_records(records)).values()):
            have = records.present[:, m]
            mean = np.nanmean(z[have], 0) if have.any() else 0.0
            sd = np.nanstd(z[have], 0) + 1e-6 if have.any() else 1.0
            cols.append(np.where(have[:, None], (z - mean) / sd, 0.0))
        return np.concatenate([*cols, records.present.astype(np.float64)], 1).astype(np.float32)

    def for_encoders(self, records: MultiModalDataset) -> MultiModalDataset:
        """``records`` with each part read as its encoder's training data was (table schema, audio rate)."""
        return records.with_parts({k: self.encoders[k].load_data(v) for k, v in records.parts.items()})

    def save(self, run_dir: str | os.PathLike) -> Path:
        """``encoder_<name>.safetensors`` per modality (each loadable with ``selfsup.load``) and the projections."""
        from safetensors.torch import save

        from selfsup.train.checkpoint import atomic_write_bytes

        run = Path(run_dir)
        run.mkdir(parents=True, exist_ok=True)
        for name, enc in self.encoders.items():
            enc.save(run / f"encoder_{name}.safetensors")
        tensors = {f"{k}.{n}": t.detach().cpu().contiguous() for k, p in self.projectors.items()
                   for n, t in p.state_dict().items()}
        meta = {"names": self.names, "objective": self.objective,
                "dims": {k: [p.in_features, p.out_features] for k, p in self.projectors.items()}}
        blob = save(tensors, metadata={"selfsup-records": json.dumps(meta)})
        atomic_write_bytes(run / PROJECTORS_FILE, lambda f: f.write(blob))
        return run

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> MultiModalEncoder:
        from safetensors import safe_open
        from safetensors.torch import load_file

        run = Path(run_dir)
        if not (run / PROJECTORS_FILE).exists():
            raise FileNotFoundError(f"{run}: no {PROJECTORS_FILE}; pass the run folder that pretrain_records wrote")
        with safe_open(str(run / PROJECTORS_FILE), "pt") as f:
            meta = json.loads((f.metadata() or {})["selfsup-records"])
        state = load_file(str(run / PROJECTORS_FILE))
        projectors = {}
        for name in meta["names"]:
            p = nn.Linear(*meta["dims"][name])
            p.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.split(".", 1)[0] == name})
            projectors[name] = p.eval()
        encoders = {name: PretrainedEncoder.load(run / f"encoder_{name}.safetensors") for name in meta["names"]}
        return cls(encoders, projectors, meta["objective"])


def pretrain_records(records: MultiModalDataset, objective: str = "clip",
                     encoders: Mapping[str, str | nn.Module] | None = None, *,
                     encoder_kwargs: Mapping[str, dict[str, Any]] | None = None,
                     views: Mapping[str, str] | None = None, proj_dim: int = 128, temperature: float = 0.07,
                     learnable_temperature: bool = True, run_dir: str | os.PathLike | None = None,
                     resume: bool = True, **trainer_kwargs: Any) -> MultiModalEncoder:
    """Align one encoder per modality of ``records`` (AstroM³-style ``clip``, ``symile`` or ``mv_infonce``).

    ``encoders`` / ``encoder_kwargs`` / ``views`` map a modality name to an encoder name (or module), its
    settings and a view preset; unnamed ones get the modality's defaults (``tab_mlp`` with no corruption,
    ``audio_conv2d`` / ``audio_conv1d`` with BYOL-A views, ``ts_conv``, ``small_cnn``). Each encoder is fed
    only the records that have its modality. ``trainer_kwargs`` are ``TrainConfig`` fields (default: AdamW,
    lr 1e-3, batch 256, as CLIP-style training of small encoders).
    """
    if not isinstance(records, MultiModalDataset):
        raise DataError(f"pretrain_records needs a MultiModalDataset, got {type(records).__name__}")
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown alignment objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    unknown = [k for k in (*(encoders or {}), *(encoder_kwargs or {}), *(views or {})) if k not in records.parts]
    if unknown:
        raise ConfigError(f"modality(ies) {', '.join(sorted(set(unknown)))} are not in the records "
                          f"({', '.join(records.names)})")
    trainer_kwargs = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "batch_size": 256,
                      "warmup_epochs": 0.0, **_trainer_kwargs(trainer_kwargs)}
    cfg = TrainConfig(**trainer_kwargs)
    torch.manual_seed(cfg.seed)
    built, specs, sources, view_modules = {}, {}, {}, {}
    for name, ds in records.parts.items():
        kind = modality_for(ds)
        if kind.name == "graph":
            raise ConfigError(f"modality {name!r}: graphs cannot be a part of paired records yet")
        enc_name = (encoders or {}).get(name) or kind.default_encoder
        pre = kind.preprocess(ds, encoder=enc_name)
        defaults = kind.encoder_kwargs(enc_name, pre, ds) if isinstance(enc_name, str) else {}
        module, saved_name, ekw = build_encoder(enc_name, getattr(pre, "size", None), defaults,
                                                **dict((encoder_kwargs or {}).get(name, {})))
        built[name], specs[name] = module, (saved_name, ekw, pre)
        sources[name] = kind.training_source(ds, pre)
        preset = (views or {}).get(name) or ("none" if kind.name == "tabular" else kind.default_views)
        try:
            view_modules[name] = kind.views(preset, pre, 1)
        except ValueError as e:
            raise ConfigError(f"views for {name!r}: {e}") from e
    model = ModalityAlignment(built, objective, proj_dim, temperature, learnable_temperature)
    arch = {"method": f"align:{objective}", "modalities": json.dumps({k: v[0] for k, v in specs.items()}),
            "encoder_kwargs": json.dumps({k: v[1] for k, v in specs.items()}, sort_keys=True)}
    # no monitors: the online probe and the collapse alarm read one embedding per sample, records have M
    Trainer(cfg, []).fit(model, records.with_parts(sources), RecordViews(view_modules), run_dir=run_dir,
                               arch=arch, resume=resume)
    model.cpu().eval()
    result = MultiModalEncoder({k: PretrainedEncoder(model.encoders[k], *specs[k]) for k in records.names},
                               {k: model.projectors[k] for k in records.names}, objective)
    if run_dir is not None and int(os.environ.get("RANK", "0")) == 0:
        result.save(run_dir)
    return result


def cross_modal_recall(query: np.ndarray, gallery: np.ndarray, ks: Sequence[int] = (1, 5),
                       backend: str = "auto") -> dict[str, float]:
    """Recall@k of finding each query's own record (same row) among the gallery's k most cosine-similar
    (FAISS when installed, an exact matrix product otherwise)."""
    from selfsup.evaluate.retrieval import cosine_neighbours

    _, idx = cosine_neighbours(query, gallery, max(ks), exclude_self=False, backend=backend)
    hit = idx == np.arange(len(idx))[:, None]
    return {f"recall@{k}": float(hit[:, :k].any(1).mean()) for k in ks}


def evaluate_records(encoder: MultiModalEncoder, train: MultiModalDataset, test: MultiModalDataset,
                     fractions: Sequence[float] = (0.01, 0.1, 1.0), seeds: Sequence[int] = (0, 1, 2),
                     protocols: Sequence[str] = ("knn", "linear"), ks: Sequence[int] = (1, 5),
                     extra: Sequence[str] = (), **kwargs: Any) -> dict[str, Any]:
    """Frozen probes per modality (on the records that have it) and on the fused records, and cross-modal
    retrieval between every ordered pair of modalities (test records that have both; recall@k). ``extra``:
    metrics of ``evaluate_beyond_accuracy`` on the fused records (anomaly, misclassified, retrieval,
    clustering, diagnostics) under ``results["fused_extra"]``. JSON-ready."""
    from selfsup.evaluate.protocol import evaluate_beyond_accuracy

    for name, d in (("train", train), ("test", test)):
        if not d.has_labels:
            raise DataError(f"{d.origin}: the {name} records have no labels; give record labels to evaluate")
    if train.names != encoder.names or test.names != encoder.names:
        raise DataError(f"records have modalities {train.names} / {test.names}, the encoder {encoder.names}")
    results: dict[str, Any] = {"modalities": {}, "objective": encoder.objective}
    ztr, zte = encoder.embed_records(train), encoder.embed_records(test)
    for m, name in enumerate(encoder.names):
        a, b = train.present[:, m], test.present[:, m]
        results["modalities"][name] = evaluate_embeddings(ztr[name][a], train.labels[a], zte[name][b],
                                                          test.labels[b], fractions, seeds, protocols=protocols,
                                                          **kwargs)
    ftr, fte = encoder.fused(train, ztr), encoder.fused(test, zte)
    results["fused"] = evaluate_embeddings(ftr, train.labels, fte, test.labels, fractions, seeds, protocols=protocols,
                                           **kwargs)
    if extra:
        results["fused_extra"] = evaluate_beyond_accuracy(ftr, train.labels, fte, test.labels, extra)
    aligned = {name: encoder.align(name, z) for name, z in zte.items()}  # NaN rows (missing) stay NaN
    retrieval = {}
    for m, a in enumerate(encoder.names):
        for n, b in enumerate(encoder.names):
            if m == n:
                continue
            both = test.present[:, m] & test.present[:, n]
            if both.sum() >= 2:
                retrieval[f"{a}->{b}"] = {**cross_modal_recall(aligned[a][both], aligned[b][both], ks),
                                          "n": int(both.sum())}
    results["retrieval"] = retrieval
    results["retrieval_from_rest"] = retrieval_from_rest(encoder.objective, aligned, test.present, ks)
    return results


def retrieval_from_rest(objective: str, aligned: Mapping[str, np.ndarray], present: np.ndarray,
                        ks: Sequence[int] = (1, 5)) -> dict[str, dict[str, float]]:
    """Recall@k of finding each record's modality m from all its other modalities together (records that have
    every modality): the query is what the objective scores, the element-wise product of the others for
    Symile (its multilinear inner product with the candidate), their sum (summed cosines) otherwise."""
    names = list(aligned)
    complete = present.all(1)
    if complete.sum() < 2 or len(names) < 3:
        return {}
    out = {}
    for name in names:
        others = [aligned[k][complete] for k in names if k != name]
        query = np.prod(others, axis=0) if objective == "symile" else np.sum(others, axis=0)
        out[f"rest->{name}"] = {**cross_modal_recall(query, aligned[name][complete], ks), "n": int(complete.sum())}
    return out


def finetune_records(encoder: MultiModalEncoder, train: MultiModalDataset, test: MultiModalDataset,
                     fractions: Sequence[float] = (0.01, 0.1, 1.0), seeds: Sequence[int] = (0, 1, 2),
                     config: Any = None, baseline: bool = True, progress: bool = False) -> dict[str, Any]:
    """Fine-tune all modality encoders at once with one linear head on their fused output (``FusedEncoder``),
    with class-balanced label fractions, beside the same networks from scratch (``baseline``). Each part gets
    its modality's fine-tuning augmentation. JSON-ready: ``label_fraction_study``'s result."""
    from selfsup.api import _section, scratch_encoder
    from selfsup.evaluate.finetune import FinetuneConfig, label_fraction_study
    from selfsup.views.base import MultiView

    cfg = _section("finetune", config, FinetuneConfig)
    tr, te = encoder.for_encoders(train), encoder.for_encoders(test)
    views = RecordViews({k: MultiView([e.modality.finetune_views(e.preprocess)], 1)
                         for k, e in encoder.encoders.items()})
    models = {"pretrained": FusedEncoder({k: e.module for k, e in encoder.encoders.items()})}
    if baseline:
        seed = seeds[0] if seeds else 0
        models["scratch"] = FusedEncoder({k: scratch_encoder(e, seed).module for k, e in encoder.encoders.items()})
    return label_fraction_study(models, tr, train.labels, te, test.labels, fractions=fractions, seeds=seeds,
                                protocols=("finetune",), preprocess=RecordPreprocess(
                                    {k: e.preprocess for k, e in encoder.encoders.items()}),
                                augment=FirstView(views), config=cfg, progress=print if progress else None)


__all__ = ["FusedEncoder", "MultiModalEncoder", "RecordViews", "cross_modal_recall", "evaluate_records",
           "finetune_records", "pretrain_records", "retrieval_from_rest"]
