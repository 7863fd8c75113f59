"""Image sources: folders with mixed modes and sizes, arrays, CIFAR-10 python layout, bad input."""

import pickle

import numpy as np
import pytest
from PIL import Image

from selfsup.data import DataError, ImageDataset, load_images


def _save(path, mode, size, color=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full(size[::-1], color * 256, dtype=np.uint16)).save(path)
    elif mode == "CMYK":
        Image.new("CMYK", size, (10, 20, 30, 0)).save(path, format="JPEG")
    else:
        Image.new(mode, size, color if mode in ("L", "P") else (color,) * len(mode)).save(path)


@pytest.fixture
def mixed_folder(tmp_path):
    root = tmp_path / "imgs"
    _save(root / "cats" / "a.png", "RGB", (32, 32))
    _save(root / "cats" / "sub" / "b.png", "L", (32, 32))          # grayscale, deeper
    _save(root / "cats" / "c.png", "RGBA", (40, 32))                # RGBA, other size
    _save(root / "dogs" / "d.gif", "P", (32, 32))                   # palette
    _save(root / "dogs" / "e.png", "I;16", (32, 32), color=200)     # 16-bit
    _save(root / "dogs" / "f.jpg", "CMYK", (64, 48))                # CMYK JPEG, other size
    return root


def test_folder_converts_modes_and_sizes_and_labels_from_subfolders(mixed_folder):
    ds = load_images(mixed_folder, progress=False)
    assert ds.images.shape == (6, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.class_names == ["cats", "dogs"] and list(ds.labels) == [0, 0, 0, 1, 1, 1]
    assert "converted to RGB" in ds.summary and "1 L" in ds.summary and "1 RGBA" in ds.summary
    assert "resized/cropped 2 of 6" in ds.summary
    e = ds.images[4]  # 16-bit value 200*256 maps to 8-bit 200
    assert abs(int(e[0, 0, 0]) - 200) <= 1


def test_explicit_image_size_and_cache_reuse(mixed_folder, tmp_path, monkeypatch):
    ds = load_images(mixed_folder, image_size=16, cache_dir=tmp_path / "c", progress=False)
    assert ds.images.shape == (6, 16, 16, 3)
    assert isinstance(ds.images, np.memmap)
    import selfsup.data.images as mod

    monkeypatch.setattr(mod, "_decode", lambda *a: (_ for _ in ()).throw(AssertionError("decoded again")))
    again = load_images(mixed_folder, image_size=16, cache_dir=tmp_path / "c", progress=False)
    assert np.array_equal(np.asarray(again.images), np.asarray(ds.images))


def test_truncated_image_named_and_skip_opt_in(mixed_folder):
    bad = mixed_folder / "dogs" / "broken.jpg"
    _save(bad, "RGB", (32, 32))
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(DataError, match=r"broken\.jpg.*skip_corrupt"):
        load_images(mixed_folder, progress=False)
    ds = load_images(mixed_folder, skip_corrupt=True, progress=False)
    assert len(ds) == 6 and len(ds.skipped) == 1 and "broken.jpg" in ds.skipped[0]
    assert "skipped 1 unreadable" in ds.summary


def test_non_image_with_image_extension(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.png").write_text("not an image")
    with pytest.raises(DataError, match=r"notes\.png"):
        load_images(tmp_path / "x", image_size=8, progress=False)


def test_empty_folder_and_wrong_path(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="no images found"):
        load_images(tmp_path / "empty")
    with pytest.raises(DataError, match="no such file or folder"):
        load_images(tmp_path / "nope")
    (tmp_path / "a.csv").write_text("1,2")
    with pytest.raises(DataError, match="unsupported file type"):
        load_images(tmp_path / "a.csv")


def test_npz_and_npy_arrays(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (5, 8, 8), dtype=np.uint8)  # grayscale
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(5), x_test=x[:2], y_test=np.arange(2))
    ds = load_images(tmp_path / "d.npz")
    assert ds.images.shape == (5, 8, 8, 3) and list(ds.labels) == [0, 1, 2, 3, 4]
    assert len(load_images(tmp_path / "d.npz", split="test")) == 2
    np.save(tmp_path / "d.npy", np.zeros((3, 8, 8, 4), np.uint8))
    assert load_images(tmp_path / "d.npy").images.shape == (3, 8, 8, 3)
    np.savez(tmp_path / "bad.npz", foo=x)
    with pytest.raises(DataError, match=r"no image array found.*foo"):
        load_images(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="uint8"):
        ImageDataset.from_arrays(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(DataError, match="3 labels for 2 images"):
        ImageDataset.from_arrays(np.zeros((2, 4, 4, 3), np.uint8), np.arange(3))


def test_cifar10_python_layout(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(root / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}, f)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane", b"automobile", b"bird", b"cat"]}, f)
    ds = load_images(tmp_path)
    assert ds.images.shape == (20, 32, 32, 3) and ds.class_names[0] == "airplane"
    assert len(load_images(root, split="test")) == 4


def test_batch_returns_nchw_uint8_in_requested_order():
    x = np.arange(4 * 2 * 2 * 3, dtype=np.uint8).reshape(4, 2, 2, 3)
    ds = ImageDataset.from_arrays(x)
    b = ds.batch(np.array([3, 0, 2]))
    assert b.shape == (3, 3, 2, 2) and b.dtype.is_floating_point is False
    assert np.array_equal(b[0].permute(1, 2, 0).numpy(), x[3])


def test_large_photos_cached_at_256_and_trained_at_224(tmp_path):
    from selfsup.api import default_view_size

    _save(tmp_path / "big" / "a.jpg", "RGB", (400, 300))
    ds = load_images(tmp_path / "big", progress=False)
    assert ds.images.shape[1:] == (256, 256, 3)
    assert default_view_size(ds.image_size) == 224 and default_view_size(32) == 32
