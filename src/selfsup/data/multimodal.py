"""Paired records: several named modalities of the same N records, some possibly missing per record.

Each part is a dataset of one modality (audio, table, series, images) with one row per record, in
record order; a record that lacks a modality keeps a filler row there (anything readable: zeros,
an empty table row) and ``present[i, m]`` False. A batch is a ``RecordBatch``: each part's batch
and the (B, M) mask; the alignment objectives leave missing entries out of every term.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from selfsup.data.errors import DataError


@dataclass
class RecordBatch:
    """``parts``: name -> that modality's batch (B, ...); ``present``: (B, M) bool in ``parts`` order."""

    parts: dict[str, Tensor]
    present: Tensor

    @property
    def shape(self) -> tuple[int]:
        return (int(self.present.shape[0]),)

    @property
    def ndim(self) -> int:
        return 1

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def names(self) -> list[str]:
        return list(self.parts)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> RecordBatch:
        return RecordBatch({k: v.to(device, non_blocking=non_blocking) for k, v in self.parts.items()},
                           self.present.to(device, non_blocking=non_blocking))


@dataclass
class MultiModalDataset:
    """N records with M named parts (datasets of one modality each, N rows), a (N, M) ``present`` mask and
    record labels (-1 where unknown)."""

    parts: dict[str, Any]
    present: np.ndarray
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)
    origin: str = "records"
    summary: str = ""

    modality = "multimodal"

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise DataError(f"{self.origin}: paired records need at least 2 modalities, got {list(self.parts)}")
        counts = {name: len(ds) for name, ds in self.parts.items()}
        first, n = next(iter(counts.items()))
        for name, c in counts.items():
            if c != n:
                raise DataError(f"{self.origin}: modality {name!r} has {c} records but {first!r} has {n}; every "
                                "modality needs one row per record, in record order (mark a missing one in "
                                "`present` and give any filler row)")
        self.present = np.asarray(self.present, dtype=bool)
        if self.present.shape != (n, len(self.parts)):
            raise DataError(f"{self.origin}: present must be (records, modalities) = ({n}, {len(self.parts)}), got "
                            f"{self.present.shape}")
        empty = np.flatnonzero(~self.present.any(1))
        if len(empty):
            raise DataError(f"{self.origin}: record(s) {empty[:10].tolist()} have no modality present; drop them")
        if len(self.labels) != n:
            raise DataError(f"{self.origin}: {len(self.labels)} labels for {n} records")
        if not self.summary:
            have = ", ".join(f"{k} {int(c)}" for k, c in zip(self.parts, self.present.sum(0), strict=True))
            self.summary = f"{self.origin}: {n} records, {len(self.parts)} modalities (present: {have})"

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def names(self) -> list[str]:
        return list(self.parts)

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def batch(self, indices: np.ndarray) -> RecordBatch:
        idx = np.asarray(indices)
        return RecordBatch({k: ds.batch(idx) for k, ds in self.parts.items()}, torch.from_numpy(self.present[idx]))

    def with_parts(self, parts: Mapping[str, Any]) -> MultiModalDataset:
        """The same records with some parts replaced (e.g. by their training view)."""
        return MultiModalDataset({k: parts.get(k, v) for k, v in self.parts.items()}, self.present, self.labels,
                                 self.class_names, self.origin, self.summary)

    @classmethod
    def from_parts(cls, parts: Mapping[str, Any], present: np.ndarray | Mapping[str, np.ndarray] | None = None,
                   labels: np.ndarray | None = None, class_names: list[str] | None = None,
                   origin: str = "records") -> MultiModalDataset:
        """Pair datasets of equal length; ``present`` (N, M) or one bool array per name (default: all present);
        labels default to the first labelled part's."""
        names = list(parts)
        first = parts[names[0]]
        n = len(first)
        if present is None:
            mask = np.ones((n, len(names)), dtype=bool)
        elif isinstance(present, Mapping):
            unknown = [k for k in present if k not in parts]
            if unknown:
                raise DataError(f"{origin}: present names modality(ies) {unknown} that are not parts ({names})")
            mask = np.stack([np.asarray(present.get(k, np.ones(len(parts[k]), bool)), dtype=bool) for k in names], 1)
        else:
            mask = np.asarray(present, dtype=bool)
        if labels is None:
            donor = next((ds for ds in parts.values() if getattr(ds, "has_labels", False)), None)
            labels = donor.labels if donor is not None else np.full(n, -1, np.int64)
            class_names = class_names if class_names is not None else list(getattr(donor, "class_names", []) or [])
        return cls(dict(parts), mask, np.asarray(labels, dtype=np.int64), list(class_names or []), origin)


__all__ = ["MultiModalDataset", "RecordBatch"]
