"""Audio: WAV reading (formats, rates, named errors), the .npz clip layout, the log-mel front end, BYOL-A style
views and the two audio encoders, end to end through pretrain / save / load / embed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

import selfsup
from selfsup.data import DataError
from selfsup.data.audio import AudioDataset, is_audio_path, load_audio, read_wav
from selfsup.encoders import create_encoder
from selfsup.modalities import AudioPreprocess, modality_for
from selfsup.views.audio import Gain, LogMel, MixBackground, RandomCrop, RandomResizeCrop, SpecMask, mel_filterbank


def _tone(freq: float, rate: int, seconds: float = 0.25, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spec.argmax()])


def test_wav_formats_read_to_float_in_unit_range(tmp_path: Path) -> None:
    x = _tone(440, 8000)
    wavfile.write(tmp_path / "i16.wav", 8000, (x * 32767).astype(np.int16))
    wavfile.write(tmp_path / "f32.wav", 8000, x)
    wavfile.write(tmp_path / "u8.wav", 8000, np.round(x * 127 + 128).astype(np.uint8))
    wavfile.write(tmp_path / "stereo.wav", 8000, np.stack([x, -x * 0.0 + x], 1))
    for name, tol in (("i16", 1e-4), ("f32", 0), ("u8", 1e-2), ("stereo", 0)):
        y, rate = read_wav(tmp_path / f"{name}.wav")
        assert rate == 8000 and y.dtype == np.float32 and y.ndim == 1
        np.testing.assert_allclose(y, x, atol=tol + 1e-7)


def test_a_file_that_is_not_audio_is_a_named_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("these are meeting notes, not audio")
    with pytest.raises(DataError, match=r"notes\.wav: not a readable WAV audio file .*ffmpeg"):
        read_wav(bad)
    (tmp_path / "cls").mkdir()
    bad.rename(tmp_path / "cls" / "notes.wav")
    with pytest.raises(DataError, match=r"notes\.wav: not a readable WAV"):
        load_audio(tmp_path)
    wavfile.write(tmp_path / "empty.wav", 8000, np.zeros(0, np.int16))
    with pytest.raises(DataError, match="holds no samples"):
        read_wav(tmp_path / "empty.wav")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match=r"no \.wav files"):
        load_audio(tmp_path / "nothing")


def test_class_folders_label_clips_and_mixed_rates_are_resampled(tmp_path: Path) -> None:
    for cls, freq in (("low", 300.0), ("high", 1200.0)):
        (tmp_path / cls).mkdir()
        for i, rate in enumerate((8000, 8000, 16000)):
            wavfile.write(tmp_path / cls / f"{i}.wav", rate, _tone(freq, rate))
    ds = load_audio(tmp_path)
    assert ds.sample_rate == 8000 and ds.class_names == ["high", "low"] and len(ds) == 6
    assert sorted(ds.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    for i in range(6):
        clip = ds.clip(i)
        assert len(clip) == 2000  # 0.25 s at 8 kHz, the 16 kHz files resampled
        assert _peak_hz(clip, 8000) == pytest.approx(300.0 if ds.labels[i] == 1 else 1200.0, abs=8)
    up = load_audio(tmp_path, sample_rate=16000)
    assert up.sample_rate == 16000 and len(up.clip(0)) == 4000
    assert is_audio_path(tmp_path) and modality_for(str(tmp_path)).name == "audio"


def test_npz_clips_split_labels_and_meta(tmp_path: Path) -> None:
    clips = [_tone(200 + 50 * i, 8000, 0.1 + 0.05 * i) for i in range(6)]
    audio = np.concatenate([(c * 32767).astype(np.int16) for c in clips])
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])])
    p = tmp_path / "clips.npz"
    np.savez(p, audio=audio, offsets=offsets, sample_rate=np.array(8000), digit=np.array([3, 1, 3, 1, 2, 2]),
             speaker=np.array([0, 1, 0, 1, 0, 1]), is_test=np.array([0, 0, 0, 0, 1, 1], bool))
    train = load_audio(p, split="train", label_key="digit")
    test = load_audio(p, split="test", label_key="digit")
    assert len(train) == 4 and len(test) == 2 and train.class_names == ["1", "2", "3"]
    assert train.labels.tolist() == [2, 0, 2, 0] and test.labels.tolist() == [1, 1]
    assert test.meta["speaker"].tolist() == [0, 1]
    np.testing.assert_allclose(test.clip(1), clips[5], atol=1e-4)
    assert is_audio_path(p) and modality_for(str(p)).name == "audio"
    with pytest.raises(DataError, match="label_key 'word' is not an array"):
        load_audio(p, label_key="word")
    np.savez(tmp_path / "bad.npz", audio=audio)
    with pytest.raises(DataError, match="offsets, sample_rate missing"):
        load_audio(tmp_path / "bad.npz")


def test_batches_centre_crop_long_clips_and_pad_short_ones() -> None:
    ds = AudioDataset.from_clips([np.arange(10, dtype=np.float32), np.ones(4, np.float32)], 100, clip_samples=6)
    b = ds.batch(np.array([0, 1])).numpy()
    np.testing.assert_array_equal(b[0], [2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(b[1], [0, 1, 1, 1, 1, 0])


def test_mel_filterbank_puts_a_tone_in_the_nearest_band() -> None:
    rate, n_fft, n_mels = 8000, 256, 40
    fb = mel_filterbank(n_fft // 2 + 1, 0.0, rate / 2, n_mels, rate)
    assert fb.shape == (129, 40) and (fb >= 0).all() and fb.max() <= 1.0 + 1e-6
    centres = fb.argmax(0).float() * rate / n_fft  # bin of each filter's peak, in Hz
    log_mel = LogMel(rate, n_fft, 80, n_mels)
    for freq in (250.0, 1000.0, 3000.0):
        spec = log_mel(torch.from_numpy(_tone(freq, rate, 0.5))[None])  # (1, 1, 40, frames)
        band = int(spec[0, 0].mean(1).argmax())
        assert abs(float(centres[band]) - freq) <= float((centres - freq).abs().min()) + 70  # nearest band, +-1 bin
    assert log_mel(torch.zeros(2, 800)).shape == (2, 1, 40, 11)


def test_waveform_views_do_what_their_params_say() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.arange(40, dtype=torch.float32).repeat(3, 1)
    out, p = RandomCrop(0.5)(x, g)
    starts = (p["crop_start"] * 40).round().long()
    assert out.shape == (3, 20) and all(torch.equal(out[i], x[i, s:s + 20]) for i, s in enumerate(starts))
    y, q = Gain(6.0)(torch.ones(4, 5), g)
    np.testing.assert_allclose(y[:, 0].numpy(), 10 ** (q["gain_db"].numpy() / 20), rtol=1e-6)
    assert q["gain_db"].abs().max() <= 6.0
    waves = torch.randn(6, 50, generator=torch.Generator().manual_seed(1))
    mixed, r = MixBackground(0.4)(waves, g)
    assert (r["mix"] >= 0).all() and (r["mix"] <= 0.4).all()
    # each row is (1 - r) x + r * (some row of the batch)
    for i in range(6):
        residual = (mixed[i] - (1 - r["mix"][i]) * waves[i]) / r["mix"][i]
        assert min(float((residual - w).abs().max()) for w in waves) < 1e-4
    again, _ = RandomCrop(0.5)(x, torch.Generator().manual_seed(0))
    assert torch.equal(again, RandomCrop(0.5)(x, torch.Generator().manual_seed(0))[0])


def test_spectrogram_views_mask_the_reported_bands_and_crop_by_scale() -> None:
    g = torch.Generator().manual_seed(0)
    spec = torch.randn(4, 1, 16, 30, generator=g) + 5
    masked, p = SpecMask(3, 8)(spec, g)
    for i in range(4):
        start, width = (int(v) for v in p["time_mask"][i, 0])
        changed = (masked[i] != spec[i]).any(1).any(0)  # frames that changed
        assert changed.nonzero().flatten().tolist() == list(range(start, start + width))
    masked, p = SpecMask(2, 4)(spec, g)
    assert ((masked != spec).any(3).sum(2).squeeze(1) == p["freq_mask"][:, 0, 1]).all()
    rrc = RandomResizeCrop((1.0, 1.0), (1.0, 1.0))
    same, _ = rrc(spec, g)  # scale 1, centre 0: the identity up to interpolation at pixel centres
    assert torch.allclose(same, spec, atol=1e-4)
    out, q = RandomResizeCrop()(spec, g)
    assert out.shape == spec.shape and q["rrc"].shape == (4, 4)


def test_encoders_map_front_end_outputs_to_vectors() -> None:
    torch.manual_seed(0)
    wave = create_encoder("audio_conv1d")
    assert wave(torch.randn(2, 1, 4000)).shape == (2, 256)
    spec = create_encoder("audio_conv2d", n_mels=40, out_dim=64)
    assert spec(torch.randn(2, 1, 40, 50)).shape == (2, 64) and spec(torch.randn(2, 1, 40, 17)).shape == (2, 64)
    with pytest.raises(ValueError, match=r"expects \(B, 1, 40, frames\)"):
        spec(torch.randn(2, 1, 64, 50))


def test_preprocess_normalises_the_front_end_and_round_trips(tmp_path: Path) -> None:
    clips = [_tone(300 + 100 * i, 8000, 0.3) for i in range(8)]
    ds = AudioDataset.from_clips(clips, 8000, clip_samples=2400)
    pre = AudioPreprocess.fit(ds)
    assert (pre.n_fft, pre.hop, pre.n_mels) == (256, 80, 40)
    out = pre(ds.batch(np.arange(8)))
    assert out.shape == (8, 1, 40, 31) and abs(float(out.mean())) < 1e-4 and float(out.std()) == pytest.approx(1, 1e-3)
    from selfsup.modalities import preprocess_from_dict

    assert preprocess_from_dict(pre.to_dict()) == pre
    wave = AudioPreprocess.fit(ds, "waveform")
    assert wave(ds.batch(np.arange(2))).shape == (2, 1, 2400)


@pytest.mark.parametrize("encoder", ["audio_conv2d", "audio_conv1d"])
def test_pretrain_save_load_embed_audio(tmp_path: Path, encoder: str) -> None:
    for cls, freq in (("a", 300.0), ("b", 1500.0)):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(8):
            wavfile.write(tmp_path / "data" / cls / f"{i}.wav", 8000, _tone(freq * (1 + 0.02 * i), 8000, 0.2))
    kwargs = {"out_dim": 32, "channels": 8} if encoder == "audio_conv2d" else {"widths": (8, 8, 8, 8, 16)}
    enc = selfsup.pretrain(str(tmp_path / "data"), method="simclr", encoder=encoder, max_steps=3, batch_size=8,
                           run_dir=tmp_path / "run", encoder_kwargs=kwargs, method_kwargs={"proj_hidden_dim": 16})
    again = selfsup.load(tmp_path / "run")
    assert again.preprocess == enc.preprocess and again.preprocess.front_end == (
        "logmel" if encoder == "audio_conv2d" else "waveform")
    z = again.embed(str(tmp_path / "data"))
    np.testing.assert_allclose(z, enc.embed(str(tmp_path / "data")), atol=1e-5)
    assert z.shape == (16, enc.out_dim)
    res = selfsup.evaluate(again, str(tmp_path / "data"), fractions=(1.0,), seeds=(0,), metrics=("knn",), folds=2)
    assert res["knn"]["1"]["mean"] >= 0.5


def test_acoustic_descriptors_of_a_tone_match_its_physics() -> None:
    from selfsup.data.audio_descriptors import acoustic_descriptors, clip_descriptors, descriptor_names

    rate, f = 8000, 1000.0
    x = _tone(f, rate, 1.0, amp=0.5)
    d = dict(zip(descriptor_names(), clip_descriptors(x, rate), strict=True))
    assert d["duration_s"] == pytest.approx(1.0)
    assert d["log_rms"] == pytest.approx(np.log(0.5 / np.sqrt(2)), abs=1e-3)
    assert d["zcr"] == pytest.approx(2 * f / rate, abs=2e-3)  # two sign changes per period
    assert d["centroid_hz_mean"] == pytest.approx(f, rel=0.02) and d["rolloff_hz_mean"] == pytest.approx(f, rel=0.06)
    ds = AudioDataset.from_clips([x, _tone(300, rate, 0.5)], rate, labels=[1, 0], class_names=["low", "high"])
    table = acoustic_descriptors(ds)
    assert table.numeric.shape == (2, 22) and table.class_names == ["low", "high"] and table.labels.tolist() == [1, 0]
    assert table.numeric[1, 3] == pytest.approx(300, rel=0.05)

