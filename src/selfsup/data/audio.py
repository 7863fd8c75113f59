"""Audio: WAV files (any sample rate, resampled to one) or an ``.npz`` of concatenated clips.

Clips of any length are stored end to end (``audio`` float32 in [-1, 1], ``offsets``); a batch is
(B, ``clip_samples``) float32 at ``sample_rate``: a longer clip is centre-cropped, a shorter one
zero-padded on both sides (views then crop at random inside it). Sources:

* a ``.wav`` file, or a folder of them (class sub-folders give labels; a flat folder is unlabelled);
* an ``.npz`` with ``audio`` (1-D, int16 or float), ``offsets`` (N + 1) and ``sample_rate``; labels
  from ``label_key`` (``auto``: labels, label or y); an ``is_test`` array picks ``split``; every
  other per-clip array (e.g. a speaker id) is kept in ``meta``. The FSDD copy in the shared data
  has this layout (``label_key="digit"``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from selfsup.data.errors import DataError, renumber_labels


@dataclass
class AudioDataset:
    """Mono clips at one sample rate, end to end, with labels (-1 where unknown)."""

    audio: np.ndarray
    offsets: np.ndarray
    sample_rate: int
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)
    clip_samples: int = 0
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    origin: str = "arrays"
    summary: str = ""

    modality = "audio"

    def __post_init__(self) -> None:
        if self.audio.ndim != 1 or self.audio.dtype != np.float32:
            raise DataError(f"{self.origin}: audio must be one float32 array of clips end to end, got "
                            f"{self.audio.shape} {self.audio.dtype}")
        if len(self.offsets) != len(self.labels) + 1 or self.offsets[-1] != len(self.audio):
            raise DataError(f"{self.origin}: {len(self.offsets)} offsets for {len(self.labels)} clips and "
                            f"{len(self.audio)} samples; offsets needs N + 1 entries ending at the sample count")
        if self.sample_rate <= 0:
            raise DataError(f"{self.origin}: sample rate must be positive, got {self.sample_rate}")
        if not self.clip_samples:
            self.clip_samples = default_clip_samples(self.lengths(), self.sample_rate)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def clip(self, i: int) -> np.ndarray:
        return self.audio[self.offsets[i]:self.offsets[i + 1]]

    def batch(self, indices: np.ndarray) -> Tensor:
        """float32 (B, clip_samples): each clip centre-cropped or zero-padded on both sides."""
        n = self.clip_samples
        out = np.zeros((len(indices), n), dtype=np.float32)
        for row, i in enumerate(np.asarray(indices)):
            c = self.clip(int(i))
            if len(c) >= n:
                start = (len(c) - n) // 2
                out[row] = c[start:start + n]
            else:
                start = (n - len(c)) // 2
                out[row, start:start + len(c)] = c
        return torch.from_numpy(out)

    def subset(self, indices: np.ndarray) -> AudioDataset:
        idx = np.asarray(indices)
        clips = [self.clip(int(i)) for i in idx]
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])]).astype(np.int64)
        audio = np.concatenate(clips).astype(np.float32) if clips else np.zeros(0, np.float32)
        return AudioDataset(audio, offsets, self.sample_rate, self.labels[idx], self.class_names, self.clip_samples,
                            {k: v[idx] for k, v in self.meta.items()}, self.origin, self.summary)

    def with_classes(self, class_names: Sequence[str]) -> AudioDataset:
        """Labels renumbered to ``class_names`` (a training set's)."""
        if list(class_names) == self.class_names or not self.class_names:
            return self
        y = renumber_labels(self.labels, self.class_names, class_names, self.origin, "clips")
        return AudioDataset(self.audio, self.offsets, self.sample_rate, y, list(class_names), self.clip_samples,
                            self.meta, self.origin, self.summary)

    def resampled(self, sample_rate: int, clip_samples: int | None = None) -> AudioDataset:
        """The clips at ``sample_rate`` (polyphase resampling), batched at ``clip_samples``."""
        if sample_rate == self.sample_rate:
            if clip_samples and clip_samples != self.clip_samples:
                return AudioDataset(self.audio, self.offsets, self.sample_rate, self.labels, self.class_names,
                                    clip_samples, self.meta, self.origin, self.summary)
            return self
        clips = [resample(self.clip(i), self.sample_rate, sample_rate) for i in range(len(self))]
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])]).astype(np.int64)
        ds = AudioDataset(np.concatenate(clips).astype(np.float32), offsets, sample_rate, self.labels,
                          self.class_names, clip_samples or 0, self.meta, self.origin)
        ds.summary = describe(ds)
        return ds

    @classmethod
    def from_clips(cls, clips: Sequence[np.ndarray], sample_rate: int, labels: Sequence | np.ndarray | None = None,
                   class_names: Sequence[str] = (), origin: str = "arrays", clip_samples: int = 0) -> AudioDataset:
        """Wrap a list of 1-D float arrays (values in [-1, 1]) of any lengths."""
        if not len(clips):
            raise DataError(f"{origin}: no clips")
        clips = [np.asarray(c, dtype=np.float32).reshape(-1) for c in clips]
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])]).astype(np.int64)
        y = np.full(len(clips), -1, np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
        ds = cls(np.concatenate(clips), offsets, int(sample_rate), y, list(class_names), clip_samples, {}, origin)
        ds.summary = describe(ds)
        return ds


def default_clip_samples(lengths: np.ndarray, sample_rate: int) -> int:
    """The batch length: the 95th-percentile clip length, at most 10 s, at least 0.1 s."""
    if not len(lengths):
        return sample_rate
    return int(np.clip(np.percentile(lengths, 95), 0.1 * sample_rate, 10 * sample_rate))


def resample(x: np.ndarray, source: int, target: int) -> np.ndarray:
    """Polyphase resampling (scipy) from ``source`` Hz to ``target`` Hz."""
    from scipy.signal import resample_poly

    g = gcd(int(source), int(target))
    return resample_poly(x, int(target) // g, int(source) // g).astype(np.float32)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(mono float32 samples in [-1, 1], sample rate) of a PCM or float WAV file; stereo is averaged."""
    import warnings

    from scipy.io import wavfile

    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks (e.g. LIST) are skipped
            rate, data = wavfile.read(p)
    except (ValueError, EOFError, OSError) as e:
        raise DataError(f"{p}: not a readable WAV audio file ({e}); give PCM or float WAV files "
                        "(convert others, e.g. with ffmpeg -i in.mp3 out.wav)") from e
    if data.size == 0:
        raise DataError(f"{p}: the WAV file holds no samples")
    if data.dtype == np.uint8:
        x = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        x = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    else:
        x = data.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(1)
    if not np.isfinite(x).all():
        raise DataError(f"{p}: the WAV file holds non-finite samples")
    return x, int(rate)


def is_audio_path(path: str | os.PathLike) -> bool:
    """A .wav file, a folder with .wav files (in class sub-folders or not), or an .npz with audio + offsets."""
    p = Path(path)
    if p.suffix.lower() == ".wav":
        return True
    if p.is_dir():
        return next(p.glob("*.wav"), None) is not None or next(p.glob("*/*.wav"), None) is not None
    if p.suffix.lower() == ".npz" and p.is_file():
        import zipfile

        try:
            with zipfile.ZipFile(p) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
        return {"audio.npy", "offsets.npy"} <= names
    return False


def load_audio(path: str | os.PathLike, split: str | None = None, sample_rate: int | None = None,
               clip_seconds: float | None = None, label_key: str = "auto") -> AudioDataset:
    """Read WAV files or an ``.npz`` of clips; resample to ``sample_rate`` (default: the most common rate).

    ``clip_seconds`` fixes the batch length (default: the 95th-percentile clip length).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder; give a .wav file, a folder of them or an .npz of clips")
    if p.suffix.lower() == ".npz":
        ds = _load_npz(p, split, label_key)
    else:
        ds = _load_wavs(p)
    target = int(sample_rate or ds.sample_rate)
    clip = round(clip_seconds * target) if clip_seconds else 0
    ds = ds.resampled(target, clip or None)
    if not ds.summary:
        ds.summary = describe(ds)
    return ds


def _load_wavs(p: Path) -> AudioDataset:
    files = [p] if p.is_file() else sorted(p.glob("*.wav")) + sorted(p.glob("*/*.wav"))
    if not files:
        raise DataError(f"{p}: no .wav files here (looked in the folder and its sub-folders)")
    labelled = p.is_dir() and all(f.parent != p for f in files)
    class_names = sorted({f.parent.name for f in files}) if labelled else []
    clips, rates = [], []
    for f in files:
        x, r = read_wav(f)
        clips.append(x)
        rates.append(r)
    values, counts = np.unique(rates, return_counts=True)
    rate = int(values[np.argmax(counts)])
    clips = [c if r == rate else resample(c, r, rate) for c, r in zip(clips, rates, strict=True)]
    labels = [class_names.index(f.parent.name) for f in files] if labelled else None
    ds = AudioDataset.from_clips(clips, rate, labels, class_names, str(p))
    ds.meta["file"] = np.array([str(f.relative_to(p)) if p.is_dir() else f.name for f in files])
    return ds


def _load_npz(p: Path, split: str | None, label_key: str) -> AudioDataset:
    try:
        d = np.load(p, allow_pickle=False)
        arrays = {k: d[k] for k in d.files}
    except (ValueError, OSError) as e:
        raise DataError(f"{p}: not a readable .npz file ({e})") from e
    missing = [k for k in ("audio", "offsets", "sample_rate") if k not in arrays]
    if missing:
        raise DataError(f"{p}: an audio .npz needs arrays audio, offsets and sample_rate; {', '.join(missing)} "
                        f"missing (found {', '.join(sorted(arrays))})")
    raw, offsets = arrays.pop("audio"), arrays.pop("offsets").astype(np.int64)
    rate = int(np.asarray(arrays.pop("sample_rate")).reshape(-1)[0])
    audio = raw.astype(np.float32) / 32768.0 if raw.dtype == np.int16 else raw.astype(np.float32)
    n = len(offsets) - 1
    key = next((k for k in ("labels", "label", "y") if k in arrays), None) if label_key == "auto" else label_key
    if key is not None and key not in arrays:
        raise DataError(f"{p}: label_key {key!r} is not an array here (found {', '.join(sorted(arrays))})")
    raw_labels = arrays.pop(key) if key is not None else None
    if raw_labels is not None and len(raw_labels) != n:
        raise DataError(f"{p}: {len(raw_labels)} labels for {n} clips")
    meta = {k: v for k, v in arrays.items() if v.ndim == 1 and len(v) == n}
    if raw_labels is None:
        labels, names = np.full(n, -1, np.int64), []
    else:
        names_arr, labels = np.unique(raw_labels, return_inverse=True)
        names = [str(v) for v in names_arr]
    ds = AudioDataset(audio, offsets, rate, labels.astype(np.int64), names, 0, meta, str(p))
    if split is not None and "is_test" in meta:
        if split not in ("train", "test"):
            raise DataError(f"{p}: split must be train or test, got {split!r}")
        ds = ds.subset(np.flatnonzero(meta["is_test"] == (split == "test")))
        ds.origin = f"{p} ({split})"
    return ds


def describe(ds: AudioDataset) -> str:
    secs = ds.lengths() / ds.sample_rate
    labels = f", {len(ds.class_names)} classes" if ds.class_names else ""
    return (f"{ds.origin}: {len(ds)} clips at {ds.sample_rate} Hz, {secs.min():.2f}-{secs.max():.2f} s (median "
            f"{np.median(secs):.2f} s), batched at {ds.clip_samples / ds.sample_rate:.2f} s{labels}")


__all__ = ["AudioDataset", "is_audio_path", "load_audio", "read_wav", "resample"]
