"""Time-series sources: UCR ``.tsv``, UEA/sktime ``.ts``, wide CSV and ``.npy``/``.npz`` arrays.

Every source becomes a ``SeriesDataset``: ``values`` is an (N, C, T) float32 array in which
NaN marks a missing value, and series shorter than the longest are padded with NaN at the
end (the mask is ``~isnan``). Missing values are kept, never dropped or guessed; the encoder
and views treat them as absent. What cannot be read (a non-numeric cell, a row with a label
and no values, a row with a different number of columns) is an error naming the file, the
line and the fix.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from selfsup.data.errors import DataError, renumber_labels, split_path

SERIES_SUFFIXES = (".tsv", ".ts", ".csv")
_MISSING = {"", "?", "nan", "NaN", "NAN", "na", "NA", "null"}


@dataclass
class SeriesDataset:
    """Series (N, C, T) float32, NaN where missing or past a series' end, with labels (-1 where unknown)."""

    values: np.ndarray
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)
    origin: str = "arrays"
    summary: str = ""

    modality = "series"

    def __post_init__(self) -> None:
        if self.values.ndim != 3 or self.values.dtype != np.float32:
            raise DataError(f"{self.origin}: series must be (N, C, T) float32, got {self.values.shape} "
                            f"{self.values.dtype}")
        if len(self.labels) != len(self.values):
            raise DataError(f"{self.origin}: {len(self.labels)} labels for {len(self.values)} series")

    def __len__(self) -> int:
        return len(self.values)

    @property
    def n_channels(self) -> int:
        return int(self.values.shape[1])

    @property
    def length(self) -> int:
        return int(self.values.shape[2])

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def lengths(self) -> np.ndarray:
        """Observed length of each series: one past its last timestamp with any channel present."""
        present = ~np.isnan(self.values).all(axis=1)  # (N, T)
        last = present.shape[1] - np.argmax(present[:, ::-1], axis=1)
        return np.where(present.any(axis=1), last, 0)

    def batch(self, indices: np.ndarray) -> Tensor:
        """float32 (B, C, T) tensor for ``indices`` (NaN kept)."""
        return torch.from_numpy(np.ascontiguousarray(self.values[np.asarray(indices)]))

    def with_classes(self, class_names: Sequence[str]) -> SeriesDataset:
        """The same series with labels renumbered to ``class_names`` (a train split's), so a test file
        whose classes are a subset or in another order is scored against the right ids."""
        if list(class_names) == self.class_names or not self.class_names:
            return self
        y = renumber_labels(self.labels, self.class_names, class_names, self.origin, "series")
        return SeriesDataset(self.values, y, list(class_names), self.origin, self.summary)

    @classmethod
    def from_arrays(cls, values: np.ndarray | Sequence[np.ndarray], labels: np.ndarray | Sequence | None = None,
                    origin: str = "arrays", class_names: Sequence[str] = ()) -> SeriesDataset:
        """Wrap (N, T) or (N, C, T) arrays, or a list of (T_i,) / (C, T_i) arrays of unequal length (NaN-padded).

        Labels that are not integer ids 0..K-1 (strings, -1/1, 3/5/7) become ids, the values kept as
        ``class_names``.
        """
        x = _stack(values, origin)
        if x.shape[0] == 0:
            raise DataError(f"{origin}: no series (the array is empty)")
        if x.shape[2] == 0:
            raise DataError(f"{origin}: the series have no timestamps")
        if np.isinf(x).any():
            bad = int(np.isinf(x).any(axis=(1, 2)).argmax())
            raise DataError(f"{origin}: series {bad} holds an infinite value; replace it with NaN (missing) or a "
                            "finite number")
        y, names = _label_ids(labels, len(x), origin, class_names)
        ds = cls(x, y, names, origin)
        ds.summary = describe(ds)
        return ds


def _stack(values: np.ndarray | Sequence[np.ndarray], origin: str) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype != object:
        x = values
        if x.dtype.kind not in "fiub":
            raise DataError(f"{origin}: series values must be numbers, got dtype {x.dtype}")
        x = x.astype(np.float32, copy=False)
        if x.ndim == 2:
            x = x[:, None, :]
        if x.ndim != 3:
            raise DataError(f"{origin}: expected series of shape (N, T) or (N, C, T), got {x.shape}")
        return np.ascontiguousarray(x)
    rows = [np.asarray(v, dtype=np.float32) for v in values]
    rows = [r[None, :] if r.ndim == 1 else r for r in rows]
    if not rows:
        return np.zeros((0, 1, 0), np.float32)
    channels = {r.shape[0] for r in rows}
    if len(channels) > 1 or any(r.ndim != 2 for r in rows):
        raise DataError(f"{origin}: series must all have the same number of channels (got {sorted(channels)}); "
                        "each item is (T,) or (C, T)")
    out = np.full((len(rows), rows[0].shape[0], max(r.shape[1] for r in rows)), np.nan, np.float32)
    for i, r in enumerate(rows):
        out[i, :, : r.shape[1]] = r
    return out


def _label_ids(labels: np.ndarray | Sequence | None, n: int, origin: str,
               class_names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    if labels is None:
        return np.full(n, -1, dtype=np.int64), list(class_names)
    raw = np.asarray(labels).reshape(-1)
    if len(raw) != n:
        raise DataError(f"{origin}: {len(raw)} labels for {n} series; pass one label per series")
    if raw.dtype.kind in "iu":
        ids = np.unique(raw)
        if class_names or np.array_equal(ids, np.arange(len(ids))):  # already ids 0..K-1
            return raw.astype(np.int64), list(class_names)
    if raw.dtype.kind == "f":
        if np.isnan(raw).any():
            raise DataError(f"{origin}: label of series {int(np.isnan(raw).argmax())} is missing; every labelled "
                            "series needs a class")
        keys = [_number_name(v) for v in raw]
        order = sorted(set(keys), key=float)
    else:
        keys = [str(v) for v in raw]
        order = sorted(set(keys), key=_natural_key)
    index = {k: i for i, k in enumerate(order)}
    return np.array([index[k] for k in keys], dtype=np.int64), order


def _number_name(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _natural_key(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def describe(ds: SeriesDataset) -> str:
    """One line: how many series, channels and timestamps, unequal lengths and missing values."""
    lengths = ds.lengths()
    parts = [f"{len(ds)} series, {ds.n_channels} channel{'s' * (ds.n_channels > 1)}, length {ds.length}"]
    if lengths.min() != lengths.max():
        parts.append(f"lengths {lengths.min()}-{lengths.max()} (padded with NaN at the end)")
    inside = np.arange(ds.length)[None, None, :] < lengths[:, None, None]
    missing = int((np.isnan(ds.values) & inside).sum())
    if missing:
        parts.append(f"{missing} missing values ({missing / max(1, inside.sum() * ds.n_channels):.2%}) kept as NaN")
    if (lengths == 0).any():
        parts.append(f"{int((lengths == 0).sum())} series entirely missing")
    return ", ".join(parts)


# ---------------------------------------------------------------- the loaders


def load_series(path: str | os.PathLike, split: str = "train", label_column: str | int | None = "auto",
                channels_first: bool = True) -> SeriesDataset:
    """Load a UCR ``.tsv``, a UEA/sktime ``.ts``, a wide CSV (one series per row), or an .npy/.npz array.

    A folder holding ``<Name>_TRAIN.tsv``/``_TEST.tsv`` (or ``.ts``) loads ``split``, with class
    ids shared between both files. ``label_column`` (CSV only) names the label column; ``"auto"``
    uses a column called label, class, target or y if there is one, ``None`` means no labels.
    ``.npz`` files may hold ``x_<split>``/``y_<split>`` or ``x``/``y``; arrays are (N, T) or
    (N, C, T) (``channels_first=False`` for (N, T, C)). A ``:split`` suffix (``data.npz:test``) picks the split.
    """
    p, split = split_path(path, split)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder; check the path (relative paths start at {Path.cwd()})")
    if p.is_dir():
        return _load_split_folder(p, split)
    ext = p.suffix.lower()
    if ext == ".tsv":
        return _from_rows(*read_ucr_tsv(p), str(p))
    if ext == ".ts":
        return _from_rows(*read_ts(p), str(p))
    if ext == ".csv":
        return _from_rows(*read_wide_csv(p, label_column), str(p))
    if ext in (".npy", ".npz"):
        return _load_array_file(p, split, channels_first)
    raise DataError(f"{p}: unsupported file type {p.suffix!r}; pass a UCR .tsv, a UEA .ts, a CSV with one series "
                    "per row, or an .npy/.npz array (N, T) or (N, C, T)")


def _from_rows(rows: list[np.ndarray], labels: list[str] | None, origin: str,
               class_names: Sequence[str] | None = None) -> SeriesDataset:
    if not rows:
        raise DataError(f"{origin}: holds no series")
    if labels is None:
        return SeriesDataset.from_arrays(rows, None, origin)
    names = list(class_names) if class_names is not None else sorted(set(labels), key=_natural_key)
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    return SeriesDataset.from_arrays(rows, y, origin, names)


def _load_split_folder(p: Path, split: str) -> SeriesDataset:
    tag = {"train": "TRAIN", "test": "TEST"}.get(split.lower(), split.upper())
    for ext, reader in ((".tsv", read_ucr_tsv), (".ts", read_ts)):
        files = sorted(p.glob(f"*_{tag}{ext}"))
        if not files:
            continue
        if len(files) > 1:
            raise DataError(f"{p}: several *_{tag}{ext} files ({', '.join(f.name for f in files)}); pass one file")
        rows, labels = reader(files[0])
        names = None
        other = files[0].with_name(files[0].name.replace(f"_{tag}{ext}", f"_{'TEST' if tag == 'TRAIN' else 'TRAIN'}"
                                                         f"{ext}"))
        if labels is not None and other.exists():  # class ids shared by both splits
            other_labels = _read_labels_only(other, ext)
            names = sorted(set(labels) | set(other_labels), key=_natural_key)
        return _from_rows(rows, labels, str(files[0]), names)
    raise DataError(f"{p}: no <Name>_{tag}.tsv or <Name>_{tag}.ts file in this folder; pass a series file or a "
                    "UCR/UEA dataset folder")


def _read_labels_only(path: Path, ext: str) -> list[str]:
    if ext == ".tsv":
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.split("\t", 1)[0].strip() for line in f if line.strip()]
    _, labels = read_ts(path)
    return labels or []


def _cells_to_floats(cells: Sequence[str], where: str) -> np.ndarray:
    try:
        return np.array(cells, dtype=np.float64).astype(np.float32)
    except ValueError:
        pass
    out = np.empty(len(cells), np.float32)
    for j, c in enumerate(cells):
        c = c.strip()
        if c in _MISSING:
            out[j] = np.nan
            continue
        try:
            out[j] = float(c)
        except ValueError:
            raise DataError(f"{where}, value {j + 1}: {c[:40]!r} is not a number; write missing values as NaN "
                            "(or ? in .ts files)") from None
    return out


def read_ucr_tsv(path: str | os.PathLike) -> tuple[list[np.ndarray], list[str]]:
    """The UCR 2018 format: one series per line, the class label first, then the values, tab-separated
    (NaN where missing; shorter series padded with NaN). Returns (rows of (T,) float32, labels)."""
    p = Path(path)
    rows: list[np.ndarray] = []
    labels: list[str] = []
    width = None
    with open(p, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            cells = line.split("\t") if "\t" in line else line.split(",")
            label, values = cells[0].strip(), cells[1:]
            where = f"{p}: line {lineno}"
            if not label or label in _MISSING:
                raise DataError(f"{where}: the first column (the class label) is empty; UCR rows start with a label")
            if not values or all(not v.strip() for v in values):
                raise DataError(f"{where}: a label ({label!r}) with no values; each line is a label followed by the "
                                "series' values, tab-separated")
            if width is None:
                width = len(values)
            elif len(values) != width:
                raise DataError(f"{where}: {len(values)} values, but line 1 has {width}; UCR files pad shorter "
                                "series with NaN so every line has the same number of columns")
            rows.append(_cells_to_floats(values, where))
            labels.append(_number_name(float(label)) if _is_number(label) else label)
    return rows, labels


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


_TS_HEADER = re.compile(r"^@(\w+)\s*(.*)$")


def read_ts(path: str | os.PathLike) -> tuple[list[np.ndarray], list[str] | None]:
    """The sktime/UEA ``.ts`` format: ``@`` header lines, then ``@data`` with one case per line,
    channels separated by ``:``, values by ``,``, ``?`` for missing, the class label last.
    Unequal lengths are allowed (NaN-padded). Returns (rows of (C, T_i) float32, labels or None)."""
    p = Path(path)
    header: dict[str, str] = {}
    rows: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with open(p, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                m = _TS_HEADER.match(line)
                if not m:
                    raise DataError(f"{p}: line {lineno}: expected a header line starting with @ before @data, got "
                                    f"{line[:40]!r}")
                key, value = m.group(1).lower(), m.group(2).strip()
                if key == "data":
                    in_data = True
                    if header.get("timestamps", "false").lower() == "true":
                        raise DataError(f"{p}: @timeStamps true (values given as (time, value) pairs) is not "
                                        "supported; resample to a regular grid and write plain values")
                else:
                    header[key] = value
                continue
            has_label = header.get("classlabel", "false").split()[0].lower() == "true" or \
                header.get("targetlabel", "false").lower() == "true"
            parts = line.split(":")
            label = None
            if has_label:
                if len(parts) < 2:
                    raise DataError(f"{p}: line {lineno}: a label with no values; a case is "
                                    "'v1,v2,...:v1,v2,...:label'")
                label, parts = parts[-1].strip(), parts[:-1]
            where = f"{p}: line {lineno}"
            dims = header.get("dimensions")
            if dims is not None and len(parts) != int(dims):
                raise DataError(f"{where}: {len(parts)} channels, but the header says @dimensions {dims}")
            if rows and len(parts) != rows[0].shape[0]:
                raise DataError(f"{where}: {len(parts)} channels, but the first case has {rows[0].shape[0]}")
            chans = [_cells_to_floats(c.split(","), f"{where}, channel {k + 1}") for k, c in enumerate(parts)]
            if any(len(c) == 0 for c in chans):
                raise DataError(f"{where}: a channel with no values")
            t = max(len(c) for c in chans)
            arr = np.full((len(chans), t), np.nan, np.float32)
            for k, c in enumerate(chans):
                arr[k, : len(c)] = c
            rows.append(arr)
            if label is not None:
                declared = header.get("classlabel", "").split()[1:]
                if declared and label not in declared:
                    raise DataError(f"{where}: label {label!r} is not among the @classLabel values "
                                    f"{' '.join(declared)}")
                labels.append(label)
    if not in_data:
        raise DataError(f"{p}: no @data line; not a .ts file (see the sktime/UEA .ts format)")
    return rows, (labels if labels else None)


def read_wide_csv(path: str | os.PathLike, label_column: str | int | None = "auto"
                  ) -> tuple[list[np.ndarray], list[str] | None]:
    """A CSV with one series per row and one timestamp per column (empty cells: missing).

    A header row is detected when its cells are not numbers; ``label_column`` picks the label
    column by name or 0-based index (``"auto"``: label, class, target or y)."""
    p = Path(path)
    with open(p, newline="", encoding="utf-8", errors="replace") as f:
        lines = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    if not lines:
        raise DataError(f"{p}: the CSV is empty")
    header = None
    if not all(_is_number(c) or c.strip() in _MISSING for c in lines[0]):
        header, lines = [c.strip() for c in lines[0]], lines[1:]
    col: int | None = None
    if label_column == "auto":
        if header is not None:
            col = next((i for i, h in enumerate(header) if h.lower() in ("label", "class", "target", "y")), None)
    elif isinstance(label_column, str):
        if header is None or label_column not in header:
            raise DataError(f"{p}: no column named {label_column!r} (columns: "
                            f"{', '.join(header[:10]) if header else 'none, the file has no header'})")
        col = header.index(label_column)
    elif isinstance(label_column, int):
        col = label_column
    width = len(header) if header is not None else len(lines[0])
    if col is not None:
        if not -width <= col < width:
            raise DataError(f"{p}: label_column {col} is out of range for {width} columns")
        col %= width
    rows, labels = [], []
    first = 2 if header is not None else 1
    for i, r in enumerate(lines):
        where = f"{p}: row {i + first}"
        if len(r) != width:
            raise DataError(f"{where}: {len(r)} columns, but {'the header' if header else 'row 1'} has {width}; "
                            "leave a cell empty for a missing value")
        if col is not None:
            label = r[col].strip()
            if not label:
                raise DataError(f"{where}: the label cell is empty")
            labels.append(_number_name(float(label)) if _is_number(label) else label)
            r = r[:col] + r[col + 1:]
        if not r:
            raise DataError(f"{where}: a label with no values")
        rows.append(_cells_to_floats(r, where))
    return rows, (labels if col is not None else None)


def _load_array_file(p: Path, split: str, channels_first: bool) -> SeriesDataset:
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as e:
        raise DataError(f"{p}: cannot read as a numpy array file ({e}); re-save with np.save/np.savez") from e
    names: list[str] = []
    if isinstance(data, np.ndarray):
        x, y, key = data, None, str(p)
    else:
        keys = list(data.keys())
        pair = next(((xk, yk) for xk, yk in ((f"x_{split}", f"y_{split}"), ("x", "y"), ("X", "y"), ("series", "labels"))
                     if xk in keys), None)
        if pair is None:
            raise DataError(f"{p}: no series array found (keys: {', '.join(keys)}); name it 'x' (with optional 'y'), "
                            f"or 'x_{split}'/'y_{split}'")
        x, y, key = data[pair[0]], (data[pair[1]] if pair[1] in keys else None), f"{p}:{pair[0]}"
        if "class_names" in keys:
            names = [str(n) for n in data["class_names"]]
    if not channels_first and x.ndim == 3:
        x = x.transpose(0, 2, 1)
    return SeriesDataset.from_arrays(x, y, key, names)


def is_series_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a series source (by extension, folder content or array dtype)."""
    p, _ = split_path(path, "train")
    if p.is_dir():
        return any(p.glob("*_TRAIN.tsv")) or any(p.glob("*_TRAIN.ts")) or any(p.glob("*_TEST.tsv"))
    if p.suffix.lower() in SERIES_SUFFIXES:
        return True
    if p.suffix.lower() in (".npy", ".npz") and p.exists():
        header = _array_header(p)
        return header is not None and header[1] != np.uint8 and len(header[0]) in (2, 3)
    return False


def _array_header(p: Path) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, dtype) of an .npy file or of the data array of an .npz (x*, series*, images*), read from the
    header alone: a large image archive is not decompressed just to learn its modality."""
    import zipfile

    def read(f) -> tuple[tuple[int, ...], np.dtype]:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f)
        return tuple(shape), dtype

    try:
        if p.suffix.lower() == ".npy":
            with open(p, "rb") as f:
                return read(f)
        with zipfile.ZipFile(p) as zf:
            member = next((n for n in zf.namelist() if n.lower().startswith(("x", "series", "images"))), None)
            if member is None:
                return None
            with zf.open(member) as f:
                return read(f)
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def write_ucr_tsv(path: str | os.PathLike, values: np.ndarray, labels: Sequence) -> Path:
    """Write univariate series (N, T) in the UCR 2018 ``.tsv`` layout (label first, NaN where missing)."""
    p = Path(path)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 3:
        if x.shape[1] != 1:
            raise DataError(f"{p}: the UCR .tsv format holds univariate series; write multivariate ones as .ts")
        x = x[:, 0]
    with open(p, "w", encoding="utf-8") as f:
        for lab, row in zip(labels, x, strict=True):
            f.write(str(lab) + "\t" + "\t".join("NaN" if np.isnan(v) else f"{v:.8g}" for v in row) + "\n")
    return p


__all__ = ["SeriesDataset", "describe", "is_series_file", "load_series", "read_ts", "read_ucr_tsv",
           "read_wide_csv", "write_ucr_tsv"]
