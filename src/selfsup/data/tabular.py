"""Tables: CSV/TSV (optionally gzipped) and Parquet files with numeric and categorical columns.

A table becomes one float32 tensor per batch, ``(B, n_numeric + n_categorical)``: the numeric
columns first (NaN where missing), then each categorical column's integer code stored as a float
(0 = missing or a category the training data never had, ``k + 1`` = the schema's ``k``-th
category). Views corrupt both kinds alike (a value swapped for another row's value is a draw from
that column's marginal); the encoder embeds the codes. The ``TabularSchema`` (column types and
category lists) travels with a trained encoder, so a new file is read exactly as the training one.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from selfsup.data.errors import DataError, renumber_labels

TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet", ".pq")
#: cells read as missing unless ``na_values`` says otherwise
NA_VALUES = ("", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
#: column names taken as the label when ``target="auto"``
TARGET_NAMES = ("label", "target", "class", "y")


@dataclass(frozen=True)
class TabularSchema:
    """Column names by type, each categorical column's categories (code ``k + 1``), and the label column."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    target: str | None = None

    @property
    def cardinalities(self) -> list[int]:
        """Codes per categorical column, the missing/unseen code 0 included."""
        return [len(c) + 1 for c in self.categories]

    def to_dict(self) -> dict:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical),
                "categories": [list(c) for c in self.categories], "target": self.target}

    @classmethod
    def from_dict(cls, d: dict) -> TabularSchema:
        return cls(tuple(d["numeric"]), tuple(d["categorical"]), tuple(tuple(c) for c in d["categories"]),
                   d.get("target"))


@dataclass
class TabularDataset:
    """Rows of a table: ``numeric`` (N, Fn) float32 with NaN, ``codes`` (N, Fc) int64 (0 = missing/unseen),
    labels (-1 where unknown) and the schema that names the columns."""

    numeric: np.ndarray
    codes: np.ndarray
    schema: TabularSchema
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)
    origin: str = "arrays"
    summary: str = ""

    modality = "tabular"

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.numeric.shape != (n, len(self.schema.numeric)) or self.codes.shape != (n, len(self.schema.categorical)):
            raise DataError(f"{self.origin}: numeric {self.numeric.shape} / categorical {self.codes.shape} arrays do "
                            f"not match {n} rows of {len(self.schema.numeric)} numeric and "
                            f"{len(self.schema.categorical)} categorical columns")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_features(self) -> int:
        return len(self.schema.numeric) + len(self.schema.categorical)

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def batch(self, indices: np.ndarray) -> Tensor:
        """float32 (B, Fn + Fc): numeric values (NaN kept), then the categorical codes."""
        idx = np.asarray(indices)
        return torch.from_numpy(np.concatenate([self.numeric[idx], self.codes[idx].astype(np.float32)], axis=1))

    def with_classes(self, class_names: Sequence[str]) -> TabularDataset:
        """Labels renumbered to ``class_names`` (a training file's), so a test file is scored against the same ids."""
        if list(class_names) == self.class_names or not self.class_names:
            return self
        y = renumber_labels(self.labels, self.class_names, class_names, self.origin, "rows")
        return TabularDataset(self.numeric, self.codes, self.schema, y, list(class_names), self.origin, self.summary)

    def aligned(self, schema: TabularSchema) -> TabularDataset:
        """The same rows in ``schema``'s column order and category codes (a trained encoder's view of them)."""
        if schema == self.schema:
            return self
        missing = [c for c in (*schema.numeric, *schema.categorical)
                   if c not in self.schema.numeric and c not in self.schema.categorical]
        if missing:
            raise DataError(f"{self.origin}: column(s) {', '.join(missing)} of the training table are missing; "
                            "give a table with the same columns")
        wrong = [c for c in schema.numeric if c not in self.schema.numeric]
        wrong += [c for c in schema.categorical if c not in self.schema.categorical]
        if wrong:
            raise DataError(f"{self.origin}: column(s) {', '.join(wrong)} changed type (numeric vs categorical) "
                            "from the training table; load it with selfsup.data.tabular.load_table(path, "
                            "schema=...) so the training types are applied")
        numeric = self.numeric[:, [self.schema.numeric.index(c) for c in schema.numeric]]
        codes = np.zeros((len(self), len(schema.categorical)), dtype=np.int64)
        for j, (name, cats) in enumerate(zip(schema.categorical, schema.categories, strict=True)):
            k = self.schema.categorical.index(name)
            lookup = {c: i + 1 for i, c in enumerate(cats)}
            remap = np.array([0] + [lookup.get(c, 0) for c in self.schema.categories[k]], dtype=np.int64)
            codes[:, j] = remap[self.codes[:, k]]
        return TabularDataset(numeric, codes, schema, self.labels, self.class_names, self.origin, self.summary)

    @classmethod
    def from_arrays(cls, numeric: np.ndarray | None = None, categorical: np.ndarray | None = None,
                    labels: Sequence | np.ndarray | None = None, numeric_names: Sequence[str] | None = None,
                    categorical_names: Sequence[str] | None = None, origin: str = "arrays") -> TabularDataset:
        """Wrap a float (N, Fn) array (NaN = missing) and/or an (N, Fc) array of category values (any type;
        None/NaN = missing)."""
        arrays = [a for a in (numeric, categorical) if a is not None]
        if not arrays:
            raise DataError("a table needs numeric or categorical columns")
        n = len(arrays[0])
        num = np.zeros((n, 0), np.float32) if numeric is None else np.asarray(numeric, dtype=np.float32).reshape(n, -1)
        cat = np.zeros((n, 0), object) if categorical is None else np.asarray(categorical, dtype=object).reshape(n, -1)
        num_names = list(numeric_names or [f"x{i}" for i in range(num.shape[1])])
        cat_names = list(categorical_names or [f"c{i}" for i in range(cat.shape[1])])
        cols = [[None if _is_missing_value(v) else str(v) for v in cat[:, j]] for j in range(cat.shape[1])]
        cats, codes = _encode_categories(cols, n)
        y, names = _encode_labels(None if labels is None else [None if _is_missing_value(v) else str(v)
                                                                for v in labels], n)
        schema = TabularSchema(tuple(num_names), tuple(cat_names), cats)
        ds = cls(num, codes, schema, y, names, origin)
        ds.summary = describe(ds)
        return ds


def _is_missing_value(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def is_table_file(path: str | os.PathLike) -> bool:
    """Parquet files, gzipped CSV/TSV, and CSV/TSV files with a header and a text-valued feature column (a
    CSV of numbers only reads as series unless ``modality="tabular"`` is given)."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".parquet", ".pq", ".csv.gz", ".tsv.gz")):
        return True
    if not name.endswith((".csv", ".tsv")) or not p.is_file():
        return False
    try:
        header, rows = _read_text(p, limit=200)
    except DataError:
        return False
    if not rows or _parses(header):  # no header row: a numeric series file
        return False
    label = next((i for i, h in enumerate(header) if h.lower() in TARGET_NAMES), None)
    return any(not _parses([r[j] for r in rows if j < len(r) and r[j] not in NA_VALUES])
               for j in range(len(header)) if j != label)


def _parses(cells: Sequence[str]) -> bool:
    try:
        np.asarray(cells, dtype=np.float64)
        return True
    except ValueError:
        return False


def _read_text(p: Path, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows (stripped cells) of a CSV/TSV file, gzipped or not."""
    import csv

    delimiter = "\t" if p.name.lower().endswith((".tsv", ".tsv.gz")) else ","
    try:
        raw = gzip.open(p, "rb") if p.name.lower().endswith(".gz") else open(p, "rb")
        with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:  # streamed: a sniff reads `limit` rows
            rows = []
            for r in csv.reader(text, delimiter=delimiter):
                if any(c.strip() for c in r):
                    rows.append([c.strip() for c in r])
                if limit is not None and len(rows) > limit:
                    break
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as e:
        raise DataError(f"{p}: cannot be read as a {'TSV' if delimiter == chr(9) else 'CSV'} table ({e}); save it as "
                        "UTF-8 text with a header row") from e
    if not rows:
        raise DataError(f"{p}: the table is empty; a table needs a header row and one row per sample")
    return rows[0], rows[1:]


def _read_parquet(p: Path) -> tuple[list[str], dict[str, list], set[str]]:
    """Column names, values per column (None = missing) and the names of the numeric columns."""
    try:
        import pyarrow.parquet as pq
        import pyarrow.types as pat
    except ImportError as e:
        raise ImportError(f"{p}: reading Parquet needs pyarrow: pip install 'selfsup[parquet]'") from e
    try:
        table = pq.read_table(p)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DataError(f"{p}: not a readable Parquet file ({e})") from e
    numeric = {f.name for f in table.schema if pat.is_integer(f.type) or pat.is_floating(f.type)}
    return list(table.column_names), {c: table.column(c).to_pylist() for c in table.column_names}, numeric


def load_table(path: str | os.PathLike, target: str | None = "auto", categorical: Sequence[str] = (),
               na_values: Sequence[str] = NA_VALUES, schema: TabularSchema | dict | None = None,
               split: str | None = None) -> TabularDataset:
    """Read a CSV/TSV (``.gz`` too) or Parquet table with a header row.

    ``target`` names the label column (``auto``: one named label, target, class or y; None: no labels).
    A column is numeric when every non-missing cell is a number, categorical when none is; a column with
    both is a named error unless listed in ``categorical`` (numbers that are category names) or its text
    cells are listed in ``na_values``. ``schema`` (a trained encoder's) fixes column types and category
    codes, so a test file is read as the training file was; categories it never saw get code 0.
    ``split`` is accepted for a uniform loader interface (a table file is one split).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file; give a .csv, .tsv, .csv.gz or .parquet table")
    if isinstance(schema, dict):
        schema = TabularSchema.from_dict(schema)
    na = set(na_values)
    categorical = [str(c) for c in categorical]  # YAML may read a numeric column name as a number
    if p.name.lower().endswith((".parquet", ".pq")):
        header, columns, typed = _read_parquet(p)
        lines = list(range(1, len(next(iter(columns.values()), [])) + 1))
        where = "row"
        cells = {c: [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in vals]
                 for c, vals in columns.items()}
        for c in cells:
            cells[c] = [None if v is None or v in na else v for v in cells[c]]
    else:
        header, rows = _read_text(p)
        typed = set()
        where = "line"
        width = len(header)
        for i, r in enumerate(rows):
            if len(r) != width:
                raise DataError(f"{p}, line {i + 2}: {len(r)} values, but the header has {width} columns; "
                                "quote values that contain the delimiter")
        lines = list(range(2, len(rows) + 2))
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
        cells = {h: [None if v in na else v for v in col] for h, col in zip(header, columns, strict=True)}
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise DataError(f"{p}: column name(s) {', '.join(dup)} appear more than once in the header; rename them")
    if not lines:
        raise DataError(f"{p}: the table has a header but no rows")
    n = len(lines)
    target = _resolve_target(p, header, target, schema)
    unknown = [c for c in categorical if c not in header]
    if unknown:
        raise DataError(f"{p}: categorical column(s) {', '.join(unknown)} are not in the header "
                        f"({', '.join(header[:12])}{', ...' if len(header) > 12 else ''})")
    features = [h for h in header if h != target]
    if schema is not None:
        missing = [c for c in (*schema.numeric, *schema.categorical) if c not in header]
        if missing:
            raise DataError(f"{p}: column(s) {', '.join(missing)} of the training table are missing; give a table "
                            "with the same columns")
        num_names, cat_names = list(schema.numeric), list(schema.categorical)
    else:
        num_names, cat_names = [], []
        for h in features:
            if h in categorical:
                cat_names.append(h)
            elif h in typed or _column_is_numeric(p, h, cells[h], lines, where):
                num_names.append(h)
            else:
                cat_names.append(h)
    numeric = np.empty((n, len(num_names)), dtype=np.float32)
    for j, h in enumerate(num_names):
        numeric[:, j] = _numeric_column(p, h, cells[h], lines, where)
    if schema is not None:
        cats = schema.categories
        codes = np.zeros((n, len(cat_names)), dtype=np.int64)
        for j, (h, vocab) in enumerate(zip(cat_names, cats, strict=True)):
            lookup = {c: i + 1 for i, c in enumerate(vocab)}
            codes[:, j] = [lookup.get(v, 0) if v is not None else 0 for v in cells[h]]
    else:
        cats, codes = _encode_categories([cells[h] for h in cat_names], n)
    labels, class_names = _encode_labels(cells[target] if target else None, n)
    ds = TabularDataset(numeric, codes, TabularSchema(tuple(num_names), tuple(cat_names), cats, target), labels,
                        class_names, str(p))
    ds.summary = describe(ds)
    return ds


def _resolve_target(p: Path, header: list[str], target: str | None, schema: TabularSchema | None) -> str | None:
    if target == "auto":
        if schema is not None and schema.target is not None:
            return schema.target if schema.target in header else None  # an unlabelled file to embed
        return next((h for h in header if h.lower() in TARGET_NAMES), None)
    if target is not None and target not in header:
        raise DataError(f"{p}: target column {target!r} is not in the header "
                        f"({', '.join(header[:12])}{', ...' if len(header) > 12 else ''})")
    return target


def _column_is_numeric(p: Path, name: str, col: list[str | None], lines: list[int], where: str) -> bool:
    """Whether every present cell is a number; a column mixing numbers and text is a named error."""
    present = [(i, v) for i, v in enumerate(col) if v is not None]
    if not present:
        return True  # all missing: a numeric column of NaN
    if _parses([v for _, v in present]):
        return True
    numbers, texts = [], []
    for i, v in present:
        (numbers if _parses([v]) else texts).append((i, v))
    if not numbers:
        return False
    (ni, nv), (ti, tv) = numbers[0], texts[0]
    raise DataError(
        f"{p}, column {name!r}: mixed types: {len(numbers)} numbers (e.g. {nv!r} on {where} {lines[ni]}) and "
        f"{len(texts)} text values (e.g. {tv!r} on {where} {lines[ti]}); if the numbers are category names, declare "
        f"the column categorical (categorical=[{name!r}], CLI --categorical {name}); if the text marks a missing "
        f"value, add it to na_values")


def _numeric_column(p: Path, name: str, col: list[str | None], lines: list[int], where: str) -> np.ndarray:
    try:
        out = np.array([np.nan if v is None else v for v in col], dtype=np.float64)
    except ValueError:
        i, v = next((i, v) for i, v in enumerate(col) if v is not None and not _parses([v]))
        raise DataError(f"{p}, {where} {lines[i]}, column {name!r}: {v!r} is not a number, but the column is numeric "
                        "(in the training table); fix the cell or add it to na_values") from None
    bad = np.isinf(out)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{p}, {where} {lines[i]}, column {name!r}: {col[i]!r} is not finite; leave the cell empty "
                        "for a missing value")
    return out.astype(np.float32)


def _encode_categories(columns: list[list[str | None]], n: int) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    """Sorted categories per column and (N, F) codes (0 = missing)."""
    cats, codes = [], np.zeros((n, len(columns)), dtype=np.int64)
    for j, col in enumerate(columns):
        vocab = sorted({v for v in col if v is not None}, key=_natural)
        lookup = {c: i + 1 for i, c in enumerate(vocab)}
        codes[:, j] = [0 if v is None else lookup[v] for v in col]
        cats.append(tuple(vocab))
    return tuple(cats), codes


def _natural(v: str) -> tuple:
    """Numbers in numeric order before text in text order."""
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def _encode_labels(col: list[str | None] | None, n: int) -> tuple[np.ndarray, list[str]]:
    if col is None:
        return np.full(n, -1, dtype=np.int64), []
    names = sorted({v for v in col if v is not None}, key=_natural)
    index = {c: i for i, c in enumerate(names)}
    return np.array([-1 if v is None else index[v] for v in col], dtype=np.int64), names


def describe(ds: TabularDataset) -> str:
    s = ds.schema
    missing = int(np.isnan(ds.numeric).sum() + (ds.codes == 0).sum())
    labels = f", {len(ds.class_names)} classes in {s.target!r}" if ds.class_names else ""
    return (f"{ds.origin}: {len(ds)} rows, {len(s.numeric)} numeric + {len(s.categorical)} categorical columns"
            f"{labels}, {missing} missing cells")


__all__ = ["NA_VALUES", "TABLE_SUFFIXES", "TabularDataset", "TabularSchema", "is_table_file", "load_table"]
