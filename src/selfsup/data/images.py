"""Image sources: folders, arrays and the CIFAR-10 python layout, decoded once into a uint8 cache.

Every source becomes an ``ImageDataset``: ``images`` is an (N, H, W, C) uint8 array
(a memory map for decoded folders, so data larger than RAM works) and ``labels`` an
(N,) int64 array, -1 where unknown. What can be converted without guessing is
converted (modes to RGB, sizes to one square size) and summarised in one line; what
cannot be read is an error naming the file, unless the user opts into skipping it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from selfsup.data.errors import DataError, split_path

MAX_DEFAULT_SIZE = 256  # cache side when the user names none: larger photos are cut down to this
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")
_CACHE_VERSION = 1


@dataclass
class ImageDataset:
    """Decoded images (N, H, W, C) uint8 with optional labels (-1 where unknown)."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)
    origin: str = "arrays"
    summary: str = ""
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise DataError(f"{self.origin}: images must be (N, H, W, C) uint8, got {self.images.shape} "
                            f"{self.images.dtype}")
        if len(self.labels) != len(self.images):
            raise DataError(f"{self.origin}: {len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def batch(self, indices: np.ndarray) -> Tensor:
        """uint8 (B, C, H, W) tensor for ``indices`` (read in sorted order: fast on a memory map)."""
        order = np.argsort(indices, kind="stable")
        rows = np.empty((len(indices), *self.images.shape[1:]), dtype=np.uint8)
        rows[order] = self.images[indices[order]]
        return torch.from_numpy(rows).permute(0, 3, 1, 2)

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray | None = None, origin: str = "arrays",
                    class_names: Sequence[str] = ()) -> ImageDataset:
        """Wrap (N, H, W), (N, H, W, C) uint8 or (N, C, H, W) arrays; grayscale and RGBA become RGB."""
        x = np.asarray(images)
        if x.dtype != np.uint8:
            raise DataError(f"{origin}: images must be uint8 (0..255), got {x.dtype}; convert with "
                            "(x * 255).round().astype(np.uint8) if they are floats in [0, 1]")
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise DataError(f"{origin}: expected images of shape (N, H, W[, C]), got {x.shape}")
        if x.shape[-1] not in (1, 3, 4) and x.shape[1] in (1, 3, 4):
            x = x.transpose(0, 2, 3, 1)
        if x.shape[-1] == 1:
            x = np.repeat(x, 3, axis=-1)
        elif x.shape[-1] == 4:
            x = x[..., :3]
        elif x.shape[-1] != 3:
            raise DataError(f"{origin}: images have {x.shape[-1]} channels; expected 1 (gray), 3 (RGB) or 4 (RGBA)")
        if len(x) == 0:
            raise DataError(f"{origin}: no images (the array is empty)")
        y = np.full(len(x), -1, dtype=np.int64) if labels is None else np.asarray(labels).astype(np.int64).reshape(-1)
        if len(y) != len(x):
            raise DataError(f"{origin}: {len(y)} labels for {len(x)} images; pass one label per image")
        return cls(np.ascontiguousarray(x), y, list(class_names), origin)


def load_images(path: str | os.PathLike, image_size: int | None = None, split: str = "train",
                cache_dir: str | os.PathLike | None = None, skip_corrupt: bool = False,
                progress: bool = True) -> ImageDataset:
    """Load a folder of images (any depth), an .npy/.npz array file, or a CIFAR-10 python folder.

    Folders: class sub-folders, when every image sits in one, become evaluation labels.
    Images are converted to RGB and resized (short side) and centre-cropped to a square of
    ``image_size``; by default the most common short side, at most 256. The decoded result is cached
    under ``cache_dir`` (default ``$SELFSUP_CACHE`` or ``~/.cache/selfsup``) and memory-mapped.
    ``split`` picks ``x_<split>`` arrays from an .npz and train/test batches of CIFAR-10; a
    ``:split`` suffix on the path (``data.npz:test``) does the same from a config or command line.
    """
    p, split = split_path(path, split)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder; check the path (relative paths start at {Path.cwd()})")
    if p.is_file():
        if p.suffix.lower() in (".npy", ".npz"):
            ds = _load_array_file(p, split)
            return _resize_dataset(ds, image_size) if image_size else ds
        raise DataError(f"{p}: unsupported file type {p.suffix!r}; pass a folder of images, an .npy/.npz array "
                        "file (N, H, W, C) uint8, or a CIFAR-10 python folder")
    if _is_cifar_python(p):
        ds = _load_cifar_python(p, split)
        return _resize_dataset(ds, image_size) if image_size else ds
    return _load_folder(p, image_size, cache_dir, skip_corrupt, progress)


# ---------------------------------------------------------------- arrays and CIFAR


def _load_array_file(p: Path, split: str) -> ImageDataset:
    try:
        data = np.load(p, allow_pickle=False, mmap_mode="r" if p.suffix == ".npy" else None)
    except Exception as e:
        raise DataError(f"{p}: cannot read as a numpy array file ({e}); re-save with np.save/np.savez") from e
    if isinstance(data, np.ndarray):
        return ImageDataset.from_arrays(data, None, str(p))
    keys = list(data.keys())
    for xk, yk in ((f"x_{split}", f"y_{split}"), ("images", "labels"), ("x", "y"), ("X", "y")):
        if xk in keys:
            y = data[yk] if yk in keys else None
            names = [str(n) for n in data["class_names"]] if "class_names" in keys else []
            return ImageDataset.from_arrays(data[xk], y, f"{p}:{xk}", names)
    raise DataError(f"{p}: no image array found (keys: {', '.join(keys)}); name it 'images' (with optional "
                    f"'labels'), 'x'/'y', or 'x_{split}'/'y_{split}'")


def _is_cifar_python(p: Path) -> bool:
    return (p / "data_batch_1").exists() or (p / "cifar-10-batches-py" / "data_batch_1").exists()


def _load_cifar_python(p: Path, split: str) -> ImageDataset:
    """The CIFAR-10 python layout (pickled dicts; this format is pickle by design, read only what the user gave)."""
    root = p / "cifar-10-batches-py" if (p / "cifar-10-batches-py").exists() else p
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for n in names:
        f = root / n
        if not f.exists():
            raise DataError(f"{f}: missing CIFAR-10 batch file; the folder needs data_batch_1..5 and test_batch")
        with open(f, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(d[b"labels"], dtype=np.int64))
    class_names: list[str] = []
    meta = root / "batches.meta"
    if meta.exists():
        with open(meta, "rb") as fh:
            class_names = [n.decode() for n in pickle.load(fh, encoding="bytes")[b"label_names"]]
    return ImageDataset(np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys), class_names,
                        f"{root} ({split})")


def _resize_dataset(ds: ImageDataset, size: int) -> ImageDataset:
    if ds.images.shape[1:3] == (size, size):
        return ds
    out = np.stack([_square(Image.fromarray(np.asarray(im)), size) for im in ds.images])
    return ImageDataset(out, ds.labels, ds.class_names, ds.origin, f"resized {len(out)} images to {size}x{size}")


# ---------------------------------------------------------------- folders


def _list_images(root: Path) -> list[Path]:
    files = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                   and not any(part.startswith(".") for part in f.relative_to(root).parts))
    if not files:
        others = sum(1 for f in root.rglob("*") if f.is_file())
        raise DataError(f"{root}: no images found ({others} other files); expected files ending in "
                        f"{', '.join(IMAGE_EXTENSIONS)} at any depth")
    return files


def _square(img: Image.Image, size: int) -> np.ndarray:
    """Resize the short side to ``size`` and centre-crop a square."""
    w, h = img.size
    if (w, h) != (size, size):
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        img = img.resize((nw, nh), Image.BICUBIC, reducing_gap=3.0)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8)


def _to_rgb(img: Image.Image) -> tuple[Image.Image, str]:
    """Convert any PIL mode to 8-bit RGB; returns the image and the mode it came from."""
    mode = img.mode
    if mode == "RGB":
        return img, mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8))
    elif mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB"), mode


def _decode(path: Path, size: int) -> tuple[np.ndarray | None, str, bool, str]:
    try:
        with Image.open(path) as im:
            im.load()
            orig = im.size
            rgb, mode = _to_rgb(im)
            return _square(rgb, size), mode, orig != (size, size), ""
    except Exception as e:
        return None, "", False, f"{type(e).__name__}: {e}"


def _header_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:
        return None


def _fingerprint(files: list[Path], root: Path, size: int) -> str:
    h = hashlib.sha256(f"v{_CACHE_VERSION}|{root.resolve()}|{size}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def default_cache_dir() -> Path:
    return Path(os.environ.get("SELFSUP_CACHE", Path.home() / ".cache" / "selfsup"))


def _load_folder(root: Path, image_size: int | None, cache_dir: str | os.PathLike | None, skip_corrupt: bool,
                 progress: bool) -> ImageDataset:
    files = _list_images(root)
    rel = [f.relative_to(root) for f in files]
    labelled = all(len(r.parts) >= 2 for r in rel)
    class_names = sorted({r.parts[0] for r in rel}) if labelled else []
    if image_size is None:
        sizes = Counter(s for s in (_header_size(f) for f in files[:: max(1, len(files) // 2000)]) if s)
        if not sizes:
            raise DataError(f"{root}: none of the sampled images could be read; check the files")
        (w, h), _ = sizes.most_common(1)[0]
        image_size = min(w, h, MAX_DEFAULT_SIZE)
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _fingerprint(files, root, image_size)
    entry = cache_root / key
    if (entry / "meta.json").exists():
        return _open_cache(entry, root, skip_corrupt)
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_root))
    try:
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(len(files), image_size, image_size, 3))
        keep = np.zeros(len(files), dtype=bool)
        modes: Counter[str] = Counter()
        resized, bad = 0, []
        bar = _progress(len(files), f"decoding {root.name}", progress)
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for i, (arr, mode, was_resized, err) in enumerate(pool.map(lambda f: _decode(f, image_size), files,
                                                                         chunksize=64)):
                bar.update(1)
                if arr is None:
                    if not skip_corrupt:
                        raise DataError(f"{files[i]}: cannot read this image ({err}); fix or remove it, or pass "
                                        "skip_corrupt=True (CLI: --skip-corrupt) to skip unreadable files")
                    bad.append(f"{rel[i]} ({err})")
                    continue
                images[i], keep[i] = arr, True
                modes[mode] += 1
                resized += was_resized
        bar.close()
        images.flush()
        if not keep.any():
            raise DataError(f"{root}: every image was unreadable; nothing to train on")
        labels = np.array([class_names.index(r.parts[0]) if labelled else -1 for r in rel], dtype=np.int64)
        np.save(tmp / "labels.npy", labels)
        np.save(tmp / "keep.npy", keep)
        converted = {m: c for m, c in modes.items() if m != "RGB"}
        meta = {"root": str(root.resolve()), "size": image_size, "files": [str(r) for r in rel],
                "class_names": class_names, "converted_modes": converted, "resized": resized, "skipped": bad}
        (tmp / "meta.json").write_text(json.dumps(meta))
        del images
        try:
            os.replace(tmp, entry)  # atomic: a cache entry is complete or absent
        except OSError:  # another process finished first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _open_cache(entry, root, skip_corrupt)


def _open_cache(entry: Path, root: Path, skip_corrupt: bool) -> ImageDataset:
    meta = json.loads((entry / "meta.json").read_text())
    if meta["skipped"] and not skip_corrupt:
        raise DataError(f"{root}: {len(meta['skipped'])} unreadable image(s), first: {meta['skipped'][0]}; fix or "
                        "remove them, or pass skip_corrupt=True (CLI: --skip-corrupt)")
    images = np.load(entry / "images.npy", mmap_mode="r")
    labels = np.load(entry / "labels.npy")
    keep = np.load(entry / "keep.npy")
    if not keep.all():
        idx = np.flatnonzero(keep)
        images, labels = images[idx], labels[idx]  # copies only the readable rows
    n = len(meta["files"])
    parts = [f"{len(labels)} images from {root} at {meta['size']}x{meta['size']}"]
    if meta["converted_modes"]:
        parts.append("converted to RGB: " + ", ".join(f"{c} {m}" for m, c in sorted(meta["converted_modes"].items())))
    if meta["resized"]:
        parts.append(f"resized/cropped {meta['resized']} of {n}")
    if meta["skipped"]:
        shown = "; ".join(meta["skipped"][:10]) + (" ..." if len(meta["skipped"]) > 10 else "")
        parts.append(f"skipped {len(meta['skipped'])} unreadable: {shown}")
    summary = "; ".join(parts) + f" (cache {entry})"
    return ImageDataset(images, labels, meta["class_names"], str(root), summary, list(meta["skipped"]))


def _progress(total: int, desc: str, enabled: bool):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        enabled = False
    if not enabled:
        class _Null:
            def update(self, n: int) -> None: ...
            def close(self) -> None: ...
        return _Null()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tqdm(total=total, desc=desc, unit="img", leave=False)
