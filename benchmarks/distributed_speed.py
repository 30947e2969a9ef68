"""Lightning Fabric against Hugging Face Accelerate (and PyTorch's own DDP) on the CPU path: 2 processes over
gloo, the same PLATO-2 stage-1 steps of a small model; the figures behind `confab.training`'s choice of Fabric.

    .venv/bin/python benchmarks/distributed_speed.py [--steps 12]

Each row runs under `torch.distributed.run` with 2 processes of one thread each: the median step time (after two
warm-up steps), the sum of the trained weights (equal sums: the same training), and what the library actually ran
(Accelerate's FSDP plugin on CPU processes falls back to DDP; Fabric's string "fsdp" refuses CPUs, its
ModelParallelStrategy shards with FSDP2 on any device).
Needs `pip install accelerate` (the `bench` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

CASES = ("torch-ddp", "fabric-ddp", "fabric-fsdp2", "accelerate-ddp", "accelerate-fsdp")


def worker(case: str, steps: int) -> None:
    import numpy as np
    import torch

    from confab.generation.batches import Sequence, collate
    from confab.generation.model import Generator
    from confab.generation.stages import Generation
    from confab.transformer.model import PlatoConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = PlatoConfig(vocab_size=2000, hidden=256, layers=4, heads=4, ffn=1024)
    objective = Generation(Generator(config))
    ran = case
    if case == "torch-ddp":
        import torch.distributed as dist

        dist.init_process_group("gloo")
        rank = dist.get_rank()
        net = torch.nn.parallel.DistributedDataParallel(objective)
        optimizer = torch.optim.Adam(objective.parameters(), lr=1e-4)
        backward = torch.Tensor.backward
    elif case.startswith("fabric"):
        from lightning_fabric import Fabric
        from lightning_fabric.strategies import DDPStrategy, ModelParallelStrategy

        from confab.training import _shard

        strategy = ModelParallelStrategy(_shard, 2, 1) if case == "fabric-fsdp2" else DDPStrategy()
        fabric = Fabric(accelerator="cpu", devices=2, strategy=strategy, precision="32-true")
        fabric.launch()
        rank = fabric.global_rank
        net = fabric.setup_module(objective)
        optimizer = fabric.setup_optimizers(torch.optim.Adam(objective.parameters(), lr=1e-4))
        backward = fabric.backward
    else:
        from accelerate import Accelerator
        from accelerate.utils import FullyShardedDataParallelPlugin

        plugin = FullyShardedDataParallelPlugin(fsdp_version=2) if case == "accelerate-fsdp" else None
        accelerator = Accelerator(cpu=True, fsdp_plugin=plugin)
        rank = accelerator.process_index
        ran = f"{case} (ran: {accelerator.distributed_type.value})"
        optimizer = torch.optim.Adam(objective.parameters(), lr=1e-4)
        net, optimizer = accelerator.prepare(objective, optimizer)
        backward = accelerator.backward

    def batch(i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        rows = [torch.randint(5, 2000, (64,), generator=g).tolist() for _ in range(8)]
        return collate([Sequence(r, [0] * 32 + [1] * 32, [0] * 64, 32) for r in rows], 0)

    times = []
    for i in range(steps):
        b = batch(2 * i + rank)
        start = time.perf_counter()
        optimizer.zero_grad()
        backward(net(b))
        optimizer.step()
        times.append(time.perf_counter() - start)
    whole = [p.full_tensor() if hasattr(p, "full_tensor") else p for p in objective.parameters()]
    total = sum(float(p.detach().double().sum()) for p in whole)
    if rank == 0:
        print(json.dumps({"case": ran, "ms": 1000 * float(np.median(times[2:])), "weights": total}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    from confab.precision import machine

    print(f"\n{machine()}\n\n2 processes x 1 thread, gloo; PLATO-2 stage 1, 4 layers x 256, 8 x 64 tokens a process\n")
    print("| library and strategy | median step (ms) | sum of the trained weights |")
    print("|---|---:|---:|")
    for case in CASES:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                   __file__, "--worker", case, "--steps", str(args.steps)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        if not rows:
            reason = next((line for line in reversed(done.stderr.splitlines()) if "Error" in line), "failed")
            print(f"| {case} | – | {reason.strip()[:100]} |", flush=True)
            continue
        row = rows[0]
        print(f"| {row['case']} | {row['ms']:,.0f} | {row['weights']:,.4f} |", flush=True)


if __name__ == "__main__":
    main()
