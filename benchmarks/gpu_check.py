"""The GPU check's table (run by benchmarks/gpu_check.sh): reply latency and training speed on one device.

    .venv/bin/python benchmarks/gpu_check.py [--device cuda] [--sizes 93M 314M] [--releases 24L 32L] [--steps 10]

Rows: a reply of `bundled:plato2` and of a random-weight release of the 24- and 32-layer shape (generator and
evaluator, 20 candidates) in bfloat16 and float32, p50 of a few; PLATO-2 training tokens/s of each stage (1, 2.1,
2.2) for the paper's 93M and 314M sizes, under the precision `auto` picks there; peak device memory of each row.
On the CPU (`--device cpu`, the rehearsal where there is no GPU) use small settings: `--sizes tiny --releases`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from confab.devices import resolve
from confab.precision import choose, machine

CONTEXT = ["hi ! what do you like to do on weekends ?"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mb(device: torch.device) -> str:
    if device.type != "cuda":
        return "–"
    mb = torch.cuda.max_memory_allocated(device) / 2**20
    torch.cuda.reset_peak_memory_stats(device)
    return f"{mb:,.0f}"


def reply_ms(generator, evaluator, precision: str, device: torch.device, replies: int) -> float:
    from confab.generation.agent import PlatoAgent

    agent = PlatoAgent(generator, evaluator, precision=precision, device=str(device), decoding={"max_length": 32})
    seconds = []
    for i in range(replies + 1):
        torch.manual_seed(i)
        synchronize(device)
        start = time.perf_counter()
        agent.respond(CONTEXT, ["i have two dogs ."])
        synchronize(device)
        if i:  # the first warms up
            seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds)


def training_tokens_per_s(size: str, stage: str, device: torch.device, steps: int) -> tuple[float, str]:
    from confab.generation.batches import Sequence
    from confab.generation.model import network
    from confab.generation.stages import make_stage
    from confab.text.bpe import BpeTokenizer
    from confab.transformer.model import SIZES, PlatoConfig

    tok = BpeTokenizer.train(["hello there how are you doing today", "i like to ski in the winter"], 300)
    config = PlatoConfig(vocab_size=8000, gradient_checkpointing=device.type == "cuda" and size != "tiny",
                         latent_k=20 if stage == "2.1" else 0, **SIZES[size])  # fmt: skip
    model = network("evaluator" if stage == "2.2" else "generator", config).to(device)
    objective = make_stage(stage, model).train()
    optimizer = torch.optim.Adam([p for p in objective.parameters() if p.requires_grad], lr=1e-4)
    precision = choose("auto", device)
    rng = np.random.default_rng(0)
    seqs = [Sequence(rng.integers(8, 8000, 128).tolist(), [0] * 64 + [1] * 64, [0] * 128, 64) for _ in range(64)]
    tokens = 0
    for i in range(steps + 1):
        if i == 1:  # the first step warms up
            synchronize(device)
            start, tokens = time.perf_counter(), 0
        batch = objective.batch(seqs, list(range(8)), tok, rng)
        with precision.autocast():
            loss = objective(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tokens += int(batch["length"].sum())
    synchronize(device)
    return tokens / (time.perf_counter() - start), precision.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", nargs="*", default=["93M", "314M"])
    parser.add_argument("--releases", nargs="*", default=["24L", "32L"])
    parser.add_argument("--replies", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "plato2_reference"
    parser.add_argument("--vocab", type=Path, default=shared, help="a Knover vocabulary for the releases")
    args = parser.parse_args()
    device = resolve(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else machine()
    print(f"\n{name}; device {device}\n")
    print("| what | precision | result | peak device memory MB |\n|---|---|---:|---:|")
    precisions = ["bfloat16", "float32"] if device.type == "cuda" or choose("auto").reduced else ["float32"]
    for precision in precisions:
        ms = reply_ms("bundled:plato2", None, precision, device, args.replies)
        print(f"| bundled:plato2 reply p50 | {precision} | {ms:,.0f} ms | {peak_mb(device)} |", flush=True)
    if args.releases and not (args.vocab / "spm.model").exists():
        print(f"(random releases skipped: no Knover vocabulary at {args.vocab})")
    elif args.releases:
        from confab.generation.knover import random_release

        with tempfile.TemporaryDirectory() as tmp:
            for size in args.releases:
                for precision in precisions:
                    folder = random_release(size, Path(tmp) / size / precision, args.vocab, precision)
                    ms = reply_ms(folder["generator"], folder["evaluator"], precision, device, args.replies)
                    print(f"| random {size} reply p50 (generator + evaluator) | {precision} | {ms:,.0f} ms | "
                          f"{peak_mb(device)} |", flush=True)  # fmt: skip
    for size in args.sizes:
        for stage in ("1", "2.1", "2.2"):
            speed, precision = training_tokens_per_s(size, stage, device, args.steps)
            print(f"| {size} stage {stage} training | {precision} | {speed:,.0f} tokens/s | {peak_mb(device)} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
