"""selfsup: self-supervised learning on any kind of data.

>>> import selfsup
>>> enc = selfsup.pretrain("images/", method="simclr", encoder="small_cnn", epochs=20)
>>> z = enc.embed(x)              # (N, out_dim) numpy array
>>> enc.save("encoder.safetensors"); enc = selfsup.load("encoder.safetensors")
>>> model = selfsup.SelfSupervised("ts2vec").fit(x_train)   # series (N, T) / (N, C, T), NaN = missing
>>> z = model.encode(x_test)      # (N, 320); encoding_window=None gives per-timestamp (N, T, 320)
"""

from selfsup.api import PretrainedEncoder, as_image_dataset, evaluate, load, pretrain
from selfsup.data import DataError, ImageDataset, demo_dataset, load_images
from selfsup.data.audio import AudioDataset, load_audio
from selfsup.data.multimodal import MultiModalDataset
from selfsup.data.series import SeriesDataset, load_series
from selfsup.data.tabular import TabularDataset, load_table
from selfsup.encoders import ENCODERS, create_encoder
from selfsup.estimator import SelfSupervised
from selfsup.methods import METHODS, create_method
from selfsup.records import MultiModalEncoder, evaluate_records, finetune_records, pretrain_records
from selfsup.train import TrainConfig, Trainer
from selfsup.views import image_views

__version__ = "0.1.0"

__all__ = ["ENCODERS", "METHODS", "AudioDataset", "DataError", "ImageDataset", "MultiModalDataset", "MultiModalEncoder",
           "PretrainedEncoder", "SelfSupervised", "SeriesDataset", "TabularDataset", "TrainConfig", "Trainer",
           "__version__", "as_image_dataset", "create_encoder", "create_method", "demo_dataset", "evaluate",
           "evaluate_records", "finetune_records", "image_views", "load", "load_audio", "load_images", "load_series",
           "load_table", "pretrain", "pretrain_records"]
