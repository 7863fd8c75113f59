"""The GPU configuration of the method-zoo benchmark: LightlySSL's CIFAR-10 protocol.

ResNet-18 with the CIFAR stem, 200 epochs, batch 512, SGD (lr 0.06 x batch/256, momentum 0.9, weight decay 5e-4,
cosine), two views, kNN top-1 with k=200 over the 50,000 training images on the 10,000 test images. LightlySSL's
published kNN for this protocol (batch 512, 200 epochs): SimCLR 0.848, BYOL 0.868, MoCo 0.847, SimSiam 0.764,
SwAV 0.842, DINO 0.813, Barlow Twins 0.819, DCL 0.840. MAE and HPM run on ViT-Tiny (patch 4) with AdamW.

    python benchmarks/method_zoo_gpu.py --methods simclr,byol,moco_v2 --epochs 200

Needs a CUDA device; writes benchmarks/results/method_zoo_gpu.{json,md} (rows accumulate over runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import load_cifar10_jpeg, machine, write_results  # noqa: E402

REFERENCE = {"simclr": 0.848, "byol": 0.868, "moco_v2": 0.847, "simsiam": 0.764, "swav": 0.842, "dino": 0.813,
             "barlow_twins": 0.819, "dcl": 0.840}
MASKED = {"mae", "hpm"}
NAME = "method_zoo_gpu"


def run(method: str, epochs: int, batch: int) -> dict[str, Any]:
    import torch

    import selfsup
    from selfsup.evaluate import knn_accuracy

    if not torch.cuda.is_available():
        raise SystemExit("this configuration needs a CUDA GPU; the CPU table comes from method_zoo_cifar10.py")
    x, y, xt, yt = load_cifar10_jpeg()
    trainer = ({"optimizer": "adamw", "base_lr": 1.5e-4, "weight_decay": 0.05} if method in MASKED else
               {"optimizer": "sgd", "base_lr": 0.06, "momentum": 0.9, "weight_decay": 5e-4})
    t = time.perf_counter()
    enc = selfsup.pretrain(x, method, "vit_tiny" if method in MASKED else "resnet18_cifar", epochs=epochs,
                           batch_size=batch, device="cuda", progress=False, seed=0, **trainer)
    wall = time.perf_counter() - t
    knn = knn_accuracy(enc.embed(x, device="cuda"), y, enc.embed(xt, device="cuda"), yt, k=200, temperature=0.1)
    return {"epochs": epochs, "batch_size": batch, "train_wall_s": wall, "knn": knn,
            "lightly_reference_knn": REFERENCE.get(method), "gpu": torch.cuda.get_device_name()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(REFERENCE))
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=512)
    args = ap.parse_args()
    saved = HERE / "results" / f"{NAME}.json"
    res: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {"rows": {}}
    res["machine"] = machine()
    for method in args.methods.split(","):
        res["rows"][method] = run(method, args.epochs, args.batch_size)
        print(method, json.dumps(res["rows"][method]), flush=True)
        write_results(NAME, res, to_markdown(res))
    print(to_markdown(res))


def to_markdown(res: dict[str, Any]) -> str:
    out = ["LightlySSL's CIFAR-10 protocol on a GPU (ResNet-18 CIFAR stem, kNN k=200).", "",
           "| method | epochs | batch | kNN top-1 | LightlySSL reference | train time | GPU |",
           "|---|---|---|---|---|---|---|"]
    for method, v in res["rows"].items():
        ref = f"{v['lightly_reference_knn']:.3f}" if v.get("lightly_reference_knn") else ""
        out.append(f"| {method} | {v['epochs']} | {v['batch_size']} | {v['knn']:.3f} | {ref} | "
                   f"{v['train_wall_s'] / 3600:.1f} h | {v['gpu']} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
