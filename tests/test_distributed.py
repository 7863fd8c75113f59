"""Two gloo processes: objective gradients equal single-process gradients; DDP training stays in sync."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from selfsup.objectives import BarlowTwinsLoss, NegativeCosineLoss, NTXentLoss

WORLD = 2
N, D = 8, 6  # global batch, embedding width


def _objectives():
    from selfsup.objectives import (
        DebiasedContrastiveLoss,
        DecoupledContrastiveLoss,
        DINOLoss,
        InfoNCELoss,
        MixedCorrelationLoss,
        MultiViewInfoNCELoss,
        RobustContrastiveLoss,
        SwAVLoss,
        VICRegLoss,
        WhiteningMSELoss,
    )
    from selfsup.objectives.distributed import rank

    def swav(a, b):
        crit = SwAVLoss(0.1, epsilon=0.5)
        return crit([a, b], [crit.codes(a), crit.codes(b)], [(1, 0), (0, 1)])[0]

    def index(a):
        return torch.arange(len(a)) + rank() * len(a)

    queue = torch.randn(5, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return {
        "ntxent": lambda a, b: NTXentLoss(0.3)(a, b)[0],
        "ntxent_3_views": lambda a, b: NTXentLoss(0.3)(a, b, a * b)[0],
        "dcl": lambda a, b: DecoupledContrastiveLoss(0.3)(a, b)[0],
        "dclw": lambda a, b: DecoupledContrastiveLoss(0.3, "vmf")(a, b)[0],
        "debiased": lambda a, b: DebiasedContrastiveLoss(0.5, 0.1)(a, b)[0],
        "mv_infonce": lambda a, b: MultiViewInfoNCELoss(0.3)(a, b, a - b)[0],
        "mv_dhel": lambda a, b: MultiViewInfoNCELoss(0.3, decoupled=True)(a, b, a - b)[0],
        "moco": lambda a, b: InfoNCELoss(0.2)(a, b, queue)[0],
        "isogclr": lambda a, b: RobustContrastiveLoss(N).double()(a, b, index=index(a))[0],
        "barlow": lambda a, b: BarlowTwinsLoss(0.05)(a, b)[0],
        "vicreg": lambda a, b: VICRegLoss()(a, b)[0],
        "wmse": lambda a, b: WhiteningMSELoss(w_size=N)(a, b)[0],
        "mixed_barlow": lambda a, b: MixedCorrelationLoss()(a * b, a, b, torch.arange(len(a)), 0.3),
        "negcos": lambda a, b: NegativeCosineLoss()(a, b)[0],
        "swav": swav,
        "dino": lambda a, b: DINOLoss(D)([a, b], [b, a], [(1, 0), (0, 1)], 0.5)[0],
    }


def _inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, D, generator=g, dtype=torch.float64), torch.randn(N, D, generator=g, dtype=torch.float64)


def _grad_worker(rank, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    z1, z2 = _inputs()
    sl = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
    result = {}
    for name, fn in _objectives().items():
        a, b = z1[sl].clone().requires_grad_(), z2[sl].clone().requires_grad_()
        loss = fn(a, b)
        loss.backward()
        # DDP averages gradients over processes; do the same to the input gradients
        result[name] = tuple(None if t.grad is None else t.grad / WORLD for t in (a, b))
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_objective_gradients_match_single_process_on_concatenated_batch(tmp_path):
    mp.start_processes(_grad_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD,
                       start_method="spawn")
    z1, z2 = _inputs()
    parts = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for name, fn in _objectives().items():
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        fn(a, b).backward()
        for i, full in enumerate((a.grad, b.grad)):
            if full is None:  # a stop-gradient input (the BYOL target) stays gradient-free everywhere
                assert all(p[name][i] is None for p in parts), name
                continue
            assert torch.allclose(torch.cat([p[name][i] for p in parts]), full, atol=1e-5), name
        assert a.grad.abs().sum() > 0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_worker(rank, port, run_dir, out_dir):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from helpers import TINY_ENCODER, TINY_SIMCLR, tiny_images

    import selfsup

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    enc = selfsup.pretrain(tiny_images(), "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER,
                           method_kwargs=TINY_SIMCLR, max_steps=4, batch_size=16, progress=False, threads=1,
                           precision="fp32", checkpoint_every=2, run_dir=run_dir)
    torch.save(enc.module.state_dict(), os.path.join(out_dir, f"w{rank}.pt"))
    dist.destroy_process_group()


def test_ddp_training_keeps_ranks_in_sync_and_checkpoints_once(tmp_path):
    run = tmp_path / "run"
    mp.start_processes(_train_worker, args=(_free_port(), str(run), str(tmp_path)), nprocs=WORLD,
                       start_method="spawn")
    w0, w1 = torch.load(tmp_path / "w0.pt"), torch.load(tmp_path / "w1.pt")
    for k in w0:
        if "running" not in k and "num_batches" not in k:  # BN statistics are per process
            assert torch.allclose(w0[k], w1[k], atol=1e-6), k
    assert (run / "checkpoint.pt").exists() and (run / "encoder.safetensors").exists()


def test_torchrun_cli_two_processes(tmp_path):
    """The documented command: torchrun --nproc_per_node 2 -m selfsup.cli pretrain ..."""
    import subprocess
    import sys

    import numpy as np
    import yaml

    np.savez(tmp_path / "d.npz", images=np.random.default_rng(0).integers(0, 255, (64, 16, 16, 3), dtype=np.uint8))
    cfg = {"encoder": {"name": "small_cnn", "widths": [8, 16]},
           "method": {"name": "simclr", "proj_hidden_dim": 32, "proj_dim": 16},
           "trainer": {"max_steps": 3, "batch_size": 16, "progress": False, "threads": 1}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(_free_port()), "-m", "selfsup.cli", "pretrain", str(tmp_path / "d.npz"),
                        "--config", str(tmp_path / "c.yaml"), "--run-dir", str(run)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (run / "encoder.safetensors").exists() and (run / "checkpoint.pt").exists()
