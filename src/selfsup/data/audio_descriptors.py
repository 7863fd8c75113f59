"""A table of acoustic descriptors per clip: the third modality of an audio record (AstroM³'s metadata role).

Per clip, from its own samples (no padding): duration, log RMS energy, zero-crossing rate, and the
mean and standard deviation over frames of the spectral centroid, bandwidth and 85 % roll-off, then
the means of the first ``n_mfcc`` MFCCs (DCT-II of the log mel spectrum, the usual construction).
Frames: ``window`` seconds (Hann), hop ``hop`` seconds.
"""

from __future__ import annotations

import numpy as np

from selfsup.data.audio import AudioDataset
from selfsup.data.tabular import TabularDataset


def descriptor_names(n_mfcc: int = 13) -> list[str]:
    spectral = [f"{f}_{s}" for f in ("centroid_hz", "bandwidth_hz", "rolloff_hz") for s in ("mean", "std")]
    return ["duration_s", "log_rms", "zcr", *spectral, *(f"mfcc{i}_mean" for i in range(n_mfcc))]


def clip_descriptors(x: np.ndarray, sample_rate: int, n_mfcc: int = 13, n_mels: int = 40, window: float = 0.032,
                     hop: float = 0.010) -> np.ndarray:
    """The descriptors of one clip as a float32 vector (``descriptor_names`` order)."""
    from scipy.fft import dct

    from selfsup.views.audio import mel_filterbank

    x = np.asarray(x, dtype=np.float64)
    n_fft = int(2 ** np.ceil(np.log2(window * sample_rate)))
    step = max(1, int(hop * sample_rate))
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    starts = np.arange(0, max(1, len(padded) - n_fft + 1), step)
    frames = np.stack([padded[s:s + n_fft] for s in starts]) * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=1))                        # (frames, F)
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    total = mag.sum(1) + 1e-12
    centroid = (mag * freqs).sum(1) / total
    bandwidth = np.sqrt((mag * (freqs[None] - centroid[:, None]) ** 2).sum(1) / total)
    cumulative = np.cumsum(mag, 1)
    rolloff = freqs[np.minimum((cumulative < 0.85 * cumulative[:, -1:]).sum(1), len(freqs) - 1)]
    fb = mel_filterbank(len(freqs), 0.0, sample_rate / 2, n_mels, sample_rate).numpy().astype(np.float64)
    log_mel = np.log(mag ** 2 @ fb + 1e-10)
    mfcc = dct(log_mel, type=2, axis=1, norm="ortho")[:, :n_mfcc]
    zcr = float(np.mean(np.abs(np.diff(np.signbit(x).astype(np.int8))))) if len(x) > 1 else 0.0
    values = [len(x) / sample_rate, np.log(np.sqrt(np.mean(x ** 2)) + 1e-8), zcr]
    for v in (centroid, bandwidth, rolloff):
        values += [v.mean(), v.std()]
    return np.array([*values, *mfcc.mean(0)], dtype=np.float32)


def acoustic_descriptors(ds: AudioDataset, n_mfcc: int = 13) -> TabularDataset:
    """One table row per clip of ``ds`` (same order and labels), every column numeric."""
    rows = np.stack([clip_descriptors(ds.clip(i), ds.sample_rate, n_mfcc) for i in range(len(ds))])
    labels = [ds.class_names[y] if y >= 0 and ds.class_names else (str(y) if y >= 0 else None) for y in ds.labels]
    table = TabularDataset.from_arrays(rows, labels=labels if ds.has_labels else None,
                                       numeric_names=descriptor_names(n_mfcc), origin=f"{ds.origin} (descriptors)")
    if ds.class_names and ds.has_labels:
        table = table.with_classes(ds.class_names)
    return table


__all__ = ["acoustic_descriptors", "clip_descriptors", "descriptor_names"]
