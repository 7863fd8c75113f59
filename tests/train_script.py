"""Run a tiny deterministic training in a subprocess (used by the SIGKILL resume test)."""

import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from helpers import TINY_ENCODER, TINY_SIMCLR, tiny_images

import selfsup
from selfsup.train import Callback


class Slow(Callback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, state) -> None:
        time.sleep(self.seconds)


if __name__ == "__main__":
    run_dir, delay = sys.argv[1], float(sys.argv[2])
    torch.set_num_threads(1)
    selfsup.pretrain(tiny_images(), "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER, method_kwargs=TINY_SIMCLR,
                     max_steps=24, batch_size=16, checkpoint_every=4, run_dir=run_dir, progress=False,
                     precision="fp32", threads=1, callbacks=[Slow(delay)])
