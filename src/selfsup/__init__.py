"""selfsup: self-supervised learning on any kind of data.

>>> import selfsup
>>> enc = selfsup.pretrain("images/", method="simclr", encoder="small_cnn", epochs=20)
>>> z = enc.embed(x)              # (N, out_dim) numpy array
>>> enc.save("encoder.safetensors"); enc = selfsup.load("encoder.safetensors")
"""

from selfsup.api import PretrainedEncoder, as_image_dataset, evaluate, load, pretrain
from selfsup.data import DataError, ImageDataset, demo_dataset, load_images
from selfsup.encoders import ENCODERS, create_encoder
from selfsup.methods import METHODS, create_method
from selfsup.train import TrainConfig, Trainer
from selfsup.views import image_views

__version__ = "0.1.0"

__all__ = ["ENCODERS", "METHODS", "DataError", "ImageDataset", "PretrainedEncoder", "TrainConfig", "Trainer",
           "__version__", "as_image_dataset", "create_encoder", "create_method", "demo_dataset", "evaluate",
           "image_views", "load", "load_images", "pretrain"]
