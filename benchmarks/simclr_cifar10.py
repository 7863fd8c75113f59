"""SimCLR on CIFAR-10 (JPEG q75 copy): views, step, end-to-end throughput, peak memory, kNN at equal wall-clock.

Runs selfsup and, when installed (``pip install -e .[bench]``), LightlySSL 1.6 with the same encoder, batch,
optimiser and budget, each measurement in its own subprocess (clean peak-RSS, no warm caches shared).

    python benchmarks/simclr_cifar10.py --parts views,step,e2e,precision,knn --budget-min 15

Writes benchmarks/results/simclr_cifar10.{json,md}. Data: ../shared/data/cifar10_jpeg (JPEG quality 75, so
accuracies sit a little below published lossless CIFAR-10 numbers). Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import load_cifar10_jpeg, machine, write_results  # noqa: E402
from common import run_child as common_run_child  # noqa: E402

LR, MOMENTUM, WD, TEMP = 0.12, 0.9, 5e-4, 0.5  # the lightly recipe quoted in the issue


# ------------------------------------------------------------------ workers (run inside a subprocess)


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _small_cnn():
    from selfsup.encoders import SmallCNN

    return SmallCNN()


def _encoder(name: str):
    from selfsup.encoders import create_encoder

    return create_encoder(name)


def views_ours(threads: int, batches: int = 30) -> dict[str, Any]:
    import torch

    from selfsup.views import image_views

    _threads(threads)
    x, *_ = load_cifar10_jpeg(256 * 4, 10)
    xb = torch.from_numpy(x).permute(0, 3, 1, 2)
    views = image_views("simclr", 32)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        views(xb[:256], g)
    t = time.perf_counter()
    for i in range(batches):
        views(xb[(i % 4) * 256:(i % 4 + 1) * 256], g)
    return {"images_per_s": 256 * batches / (time.perf_counter() - t)}


def views_kornia(threads: int, batches: int = 15) -> dict[str, Any]:
    import kornia.augmentation as K
    import torch

    _threads(threads)
    x, *_ = load_cifar10_jpeg(256, 10)
    xb = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    aug = torch.nn.Sequential(K.RandomResizedCrop((32, 32), scale=(0.08, 1.0)), K.RandomHorizontalFlip(),
                              K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2),
                              K.Normalize(torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])))
    for _ in range(2):
        aug(xb), aug(xb)
    t = time.perf_counter()
    for _ in range(batches):
        aug(xb), aug(xb)
    return {"images_per_s": 256 * batches / (time.perf_counter() - t)}


def views_lightly(threads: int, n: int = 2048) -> dict[str, Any]:
    from lightly.transforms import SimCLRTransform
    from PIL import Image

    _threads(threads)
    x, *_ = load_cifar10_jpeg(n, 10)
    imgs = [Image.fromarray(a) for a in x]
    tf = SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0)
    for im in imgs[:64]:
        tf(im)
    t = time.perf_counter()
    for im in imgs:
        tf(im)
    return {"images_per_s": n / (time.perf_counter() - t)}


def _lightly_model(encoder: str):
    import torch
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead

    backbone = _encoder(encoder)

    class LightlySimCLR(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone
            self.head = SimCLRProjectionHead(backbone.out_dim, 512, 128)
            self.loss = NTXentLoss(temperature=TEMP)

        def forward(self, x0, x1):
            return self.loss(self.head(self.backbone(x0)), self.head(self.backbone(x1)))

    return LightlySimCLR()


def _ours_model(encoder: str):
    from selfsup.methods import SimCLR

    return SimCLR(_encoder(encoder), proj_hidden_dim=512, proj_dim=128, temperature=TEMP)


def step_alone(impl: str, encoder: str, threads: int, bf16: bool, channels_last: bool,
               steps: int = 8) -> dict[str, Any]:
    import torch

    _threads(threads)
    torch.manual_seed(0)
    model = _ours_model(encoder) if impl == "selfsup" else _lightly_model(encoder)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    x0 = torch.randn(256, 3, 32, 32).contiguous(memory_format=fmt)
    x1 = torch.randn(256, 3, 32, 32).contiguous(memory_format=fmt)

    def one() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model([x0, x1])["loss"] if impl == "selfsup" else model(x0, x1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        one()
    t = time.perf_counter()
    for _ in range(steps):
        one()
    return {"images_per_s": 256 * steps / (time.perf_counter() - t), "peak_rss_mb": _peak_rss_mb()}


def e2e_ours(encoder: str, threads: int, precision: str, steps: int = 40) -> dict[str, Any]:
    import numpy as np

    from selfsup.data import ImageDataset
    from selfsup.train import Trainer
    from selfsup.views import image_views

    x, y, *_ = load_cifar10_jpeg(None, 10)
    ds = ImageDataset.from_arrays(x, y)
    model = _ours_model(encoder)
    res = Trainer(max_steps=steps, batch_size=256, lr=LR, weight_decay=WD, threads=threads, precision=precision,
                  progress=False, log_every=1, warmup_epochs=0).fit(model, ds, image_views("simclr", 32))
    el = np.array([h["elapsed_s"] for h in res.history])
    skip = 3
    return {"images_per_s": 256 * (steps - skip) / (el[-1] - el[skip - 1]), "peak_rss_mb": _peak_rss_mb()}


def _lightly_loader(x, workers: int = 1):
    import torch
    from lightly.transforms import SimCLRTransform
    from PIL import Image

    tf = SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0)

    class Data(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i):
            return tf(Image.fromarray(x[i]))

    return torch.utils.data.DataLoader(Data(), batch_size=256, shuffle=True, num_workers=workers, drop_last=True,
                                       persistent_workers=workers > 0)


def e2e_lightly(encoder: str, threads: int, bf16: bool, channels_last: bool, steps: int = 40) -> dict[str, Any]:
    import torch

    _threads(threads)
    x, *_ = load_cifar10_jpeg(None, 10)
    torch.manual_seed(0)
    model = _lightly_model(encoder)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    it = iter(_lightly_loader(x))
    t = None
    for i in range(steps):
        if i == 3:
            t = time.perf_counter()
        v0, v1 = next(it)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(v0.contiguous(memory_format=fmt), v1.contiguous(memory_format=fmt))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {"images_per_s": 256 * (steps - 3) / (time.perf_counter() - t), "peak_rss_mb": _peak_rss_mb()}


def _knn_eval(backbone, x_tr, y_tr, x_te, y_te) -> float:
    from selfsup.api import PretrainedEncoder
    from selfsup.evaluate import knn_accuracy
    from selfsup.views import Preprocess

    enc = PretrainedEncoder(backbone, "small_cnn", {}, Preprocess(32))
    return knn_accuracy(enc.embed(x_tr), y_tr, enc.embed(x_te), y_te, k=200, temperature=0.1)


def knn_ours(threads: int, budget_s: float, precision: str) -> dict[str, Any]:
    import torch

    from selfsup.data import ImageDataset
    from selfsup.train import Trainer
    from selfsup.views import image_views

    x, y, xt, yt = load_cifar10_jpeg()
    ds = ImageDataset.from_arrays(x, y)
    rate = e2e_ours("small_cnn", threads, precision, steps=25)["images_per_s"]
    epochs = max(1, int(budget_s * rate / (len(x) // 256 * 256)))
    torch.manual_seed(0)
    model = _ours_model("small_cnn")
    init = _knn_eval(model.encoder, x, y, xt, yt)
    t = time.perf_counter()
    Trainer(epochs=epochs, batch_size=256, lr=LR, weight_decay=WD, threads=threads, precision=precision,
            progress=False, warmup_epochs=0).fit(model, ds, image_views("simclr", 32))
    wall = time.perf_counter() - t
    return {"epochs": epochs, "train_wall_s": wall, "knn_init": init,
            "knn": _knn_eval(model.encoder, x, y, xt, yt), "peak_rss_mb": _peak_rss_mb()}


def knn_lightly(threads: int, budget_s: float) -> dict[str, Any]:
    import torch

    _threads(threads)
    x, y, xt, yt = load_cifar10_jpeg()
    rate = e2e_lightly("small_cnn", threads, False, False, steps=25)["images_per_s"]
    spe = len(x) // 256
    epochs = max(1, int(budget_s * rate / (spe * 256)))
    torch.manual_seed(0)
    model = _lightly_model("small_cnn")
    init = _knn_eval(model.backbone, x, y, xt, yt)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loader = _lightly_loader(x)
    t = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for v0, v1 in loader:
            loss = model(v0, v1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    wall = time.perf_counter() - t
    return {"epochs": epochs, "train_wall_s": wall, "knn_init": init, "knn": _knn_eval(model.backbone, x, y, xt, yt),
            "peak_rss_mb": _peak_rss_mb()}


def precision_check(threads: int, precision: str, seed: int, epochs: int = 4) -> dict[str, Any]:
    """kNN after the same number of epochs in bf16 and fp32: does the fast path keep accuracy?"""
    import torch

    from selfsup.data import ImageDataset
    from selfsup.train import Trainer
    from selfsup.views import image_views

    x, y, xt, yt = load_cifar10_jpeg(10_000, 2_000)
    torch.manual_seed(seed)
    model = _ours_model("small_cnn")
    t = time.perf_counter()
    Trainer(epochs=epochs, batch_size=256, lr=LR, weight_decay=WD, threads=threads, precision=precision, seed=seed,
            progress=False).fit(model, ImageDataset.from_arrays(x, y), image_views("simclr", 32))
    return {"epochs": epochs, "train_wall_s": time.perf_counter() - t, "knn": _knn_eval(model.encoder, x, y, xt, yt),
            "seed": seed}


WORKERS = {f.__name__: f for f in (views_ours, views_kornia, views_lightly, step_alone, e2e_ours, e2e_lightly,
                                   knn_ours, knn_lightly, precision_check)}


# ------------------------------------------------------------------ driver


def run_child(fn: str, tunables: bool = True, timeout: float = 3600, **kwargs: Any) -> dict[str, Any]:
    return common_run_child("simclr_cifar10", fn, tunables, timeout, **kwargs)


def _has(mod: str) -> bool:
    from importlib.util import find_spec

    return find_spec(mod) is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="views,step,e2e,precision,knn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget-min", type=float, default=15.0)
    ap.add_argument("--encoders", default="small_cnn,resnet18_cifar")
    ap.add_argument("--render", action="store_true", help="only re-render the Markdown from the saved JSON")
    args = ap.parse_args()
    if args.render:
        saved = json.loads((HERE / "results" / "simclr_cifar10.json").read_text())
        write_results("simclr_cifar10", saved, to_markdown(saved))
        print(to_markdown(saved))
        return
    parts = set(args.parts.split(","))
    th = args.threads
    lightly = _has("lightly")
    res: dict[str, Any] = {"machine": machine(), "threads": th, "batch_size": 256, "data": "CIFAR-10 JPEG q75 copy",
                           "lightly_installed": lightly, "rows": {}}
    previous = HERE / "results" / "simclr_cifar10.json"
    if previous.exists():  # parts run separately accumulate in one table
        res["rows"] = json.loads(previous.read_text()).get("rows", {})
    rows = res["rows"]

    def record(key: str, value: dict[str, Any]) -> None:
        rows[key] = value
        print(f"{key:55s} {json.dumps(value)}", flush=True)

    if "views" in parts:
        record("views/selfsup/1 thread", run_child("views_ours", threads=1))
        record(f"views/selfsup/{th} threads", run_child("views_ours", threads=th))
        if _has("kornia"):
            record("views/kornia/1 thread", run_child("views_kornia", threads=1))
        if lightly:
            record("views/lightly PIL/1 worker", run_child("views_lightly", threads=1))
    encoders = args.encoders.split(",")
    if "step" in parts:
        for enc in encoders:
            for impl in ("selfsup", "lightly") if lightly else ("selfsup",):
                for name, bf16, cl, tun in (("fp32", False, False, False), ("channels_last", False, True, False),
                                            ("bf16", True, False, False), ("bf16+channels_last", True, True, False),
                                            ("bf16+channels_last+malloc", True, True, True)):
                    if impl == "lightly" and name not in ("fp32", "bf16+channels_last+malloc"):
                        continue
                    record(f"step/{impl}/{enc}/{name}",
                           run_child("step_alone", tunables=tun, impl=impl, encoder=enc, threads=th, bf16=bf16,
                                     channels_last=cl, steps=8 if enc == "small_cnn" else 3))
    if "e2e" in parts:
        for enc in encoders:
            steps = 40 if enc == "small_cnn" else 8
            record(f"e2e/selfsup/{enc}/default", run_child("e2e_ours", tunables=False, encoder=enc, threads=th,
                                                           precision="auto", steps=steps))
            record(f"e2e/selfsup/{enc}/default+malloc", run_child("e2e_ours", encoder=enc, threads=th,
                                                                  precision="auto", steps=steps))
            record(f"e2e/selfsup/{enc}/fp32", run_child("e2e_ours", tunables=False, encoder=enc, threads=th,
                                                        precision="fp32", steps=steps))
            if lightly:
                record(f"e2e/lightly/{enc}/default", run_child("e2e_lightly", tunables=False, encoder=enc, threads=th,
                                                               bf16=False, channels_last=False, steps=steps))
                record(f"e2e/lightly/{enc}/bf16+channels_last+malloc",
                       run_child("e2e_lightly", encoder=enc, threads=th, bf16=True, channels_last=True, steps=steps))
    if "precision" in parts:
        for prec in ("bf16", "fp32"):
            for seed in (0, 1):
                record(f"precision/selfsup/small_cnn/{prec}/seed{seed}",
                       run_child("precision_check", threads=th, precision=prec, seed=seed))
    if "knn" in parts:
        budget = args.budget_min * 60
        record("knn/selfsup/small_cnn/default(bf16)+malloc", run_child("knn_ours", threads=th, budget_s=budget,
                                                                       precision="auto", timeout=budget * 3))
        record("knn/selfsup/small_cnn/fp32+malloc", run_child("knn_ours", threads=th, budget_s=budget,
                                                              precision="fp32", timeout=budget * 3))
        if lightly:
            record("knn/lightly/small_cnn/default", run_child("knn_lightly", tunables=False, threads=th,
                                                              budget_s=budget, timeout=budget * 3))
    path = write_results("simclr_cifar10", res, to_markdown(res))
    print(to_markdown(res))
    print(f"wrote {path}")


def to_markdown(res: dict[str, Any]) -> str:
    rows, m = res["rows"], res["machine"]
    out = [f"SimCLR, CIFAR-10 (JPEG q75 copy), batch 256, {res['threads']} threads, {m['cpu']}, torch {m['torch']}, "
           f"{m['date']}. img/s counts source images (two views each).", "",
           "| measurement | img/s | peak RSS MB | kNN top-1 | notes |", "|---|---|---|---|---|"]
    for k, v in rows.items():
        if "error" in v:
            out.append(f"| {k} | error | | | {' '.join(v['error'])[:80]} |")
            continue
        ips = f"{v['images_per_s']:,.0f}" if "images_per_s" in v else ""
        knn = (f"{v['knn']:.3f}" + (f" (init {v['knn_init']:.3f})" if "knn_init" in v else "")) if "knn" in v else ""
        notes = f"{v['epochs']} epochs in {v['train_wall_s'] / 60:.1f} min" if "epochs" in v else ""
        rss = f"{v['peak_rss_mb']:,.0f}" if "peak_rss_mb" in v else ""
        out.append(f"| {k} | {ips} | {rss} | {knn} | {notes} |")
    ratios = _ratios(rows)
    if ratios:
        out += ["", "| ratio | value |", "|---|---|"] + [f"| {k} | {v:.2f}x |" for k, v in ratios.items()]
    ours, theirs = rows.get("knn/selfsup/small_cnn/default(bf16)+malloc", {}), rows.get("knn/lightly/small_cnn/default",
                                                                                          {})
    if "knn" in ours and "knn" in theirs:
        out.append(f"| kNN top-1 at equal wall-clock: selfsup default - lightly default | "
                   f"{100 * (ours['knn'] - theirs['knn']):+.1f} points |")
    return "\n".join(out)


def _ratios(rows: dict[str, Any]) -> dict[str, float]:
    def ips(k: str) -> float | None:
        return rows.get(k, {}).get("images_per_s")

    r: dict[str, float] = {}
    pairs = [("views: selfsup / lightly (1 core)", "views/selfsup/1 thread", "views/lightly PIL/1 worker"),
             ("views: selfsup / kornia (1 core)", "views/selfsup/1 thread", "views/kornia/1 thread"),
             ("e2e small_cnn: selfsup / lightly, both defaults", "e2e/selfsup/small_cnn/default",
              "e2e/lightly/small_cnn/default"),
             ("e2e small_cnn: selfsup / lightly, both bf16+channels_last+malloc",
              "e2e/selfsup/small_cnn/default+malloc",
              "e2e/lightly/small_cnn/bf16+channels_last+malloc"),
             ("e2e small_cnn: selfsup end to end / own step alone (bf16+cl+malloc)",
              "e2e/selfsup/small_cnn/default+malloc", "step/selfsup/small_cnn/bf16+channels_last+malloc"),
             ("e2e small_cnn: selfsup / own step alone (bf16+cl, no malloc)", "e2e/selfsup/small_cnn/default",
              "step/selfsup/small_cnn/bf16+channels_last"),
             ("e2e resnet18_cifar: selfsup / lightly, both defaults", "e2e/selfsup/resnet18_cifar/default",
              "e2e/lightly/resnet18_cifar/default")]
    for name, a, b in pairs:
        if ips(a) and ips(b):
            r[name] = ips(a) / ips(b)
    return r


if __name__ == "__main__":
    main()
