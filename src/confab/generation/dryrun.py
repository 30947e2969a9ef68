"""Check a paper-size PLATO-2 recipe without GPUs: build the model, run one training step on made-up data, and
report the parameter count, the memory each process needs and the tokens of a step.

    confab train dry-run --config 1.6B --world-size 64

Memory per process for training with Adam in float32 under DDP (how `fit` distributes): weights 4 bytes a
parameter, gradients 4, Adam's two moments 8, all on every process; with `zero`, Adam's moments are sharded and
each process keeps 1/world of them. Activations come on top: measured here for
one micro-batch of `max_tokens`, with activation checkpointing unless it is turned off. When the step with Adam
would not fit in this machine's memory, the step runs forward and backward only, in bfloat16, and the report says
so.
"""

from __future__ import annotations

import math
import resource
import time

import psutil
import torch

from confab.generation.batches import Sequence, collate
from confab.generation.model import SIZES, PlatoConfig, UnifiedTransformer
from confab.generation.objectives import Objective
from confab.generation.train import PAPER_RECIPE
from confab.training import TrainConfig, make_optimizer

BYTES_PER_PARAMETER = {"weights": 4, "gradients": 4, "adam": 8}
GB = 2**30


def parameter_count(config: PlatoConfig) -> int:
    """Counted on the meta device: nothing is allocated."""
    with torch.device("meta"):
        model = UnifiedTransformer(config)
    return sum(p.numel() for p in model.parameters())


def memory_plan(parameters: int, world: int = 1, zero: bool = False) -> dict:
    """Bytes per process for weights, gradients and Adam state under DDP (Adam's sharded with `zero`)."""
    plan = {k: parameters * b for k, b in BYTES_PER_PARAMETER.items()}
    if zero:
        plan["adam"] = math.ceil(plan["adam"] / world)
    return plan


def made_up_batch(config: PlatoConfig, tokens: int, length: int = 128) -> dict:
    """`tokens` padded tokens of random sequences: a 32-token prefix and a response, like a real micro-batch."""
    g = torch.Generator().manual_seed(0)
    rows = max(1, tokens // length)
    seqs = []
    for _ in range(rows):
        ids = torch.randint(8, config.vocab_size, (length,), generator=g).tolist()
        seqs.append(Sequence(ids, [1] * 32 + [0] * (length - 32), [1] * 32 + [0] * (length - 32), 32))
    return collate(seqs, 0)


def dry_run(size: str, stage: str = "1", world: int = 64, max_tokens: int = 4096, checkpointing: bool = True,
            vocab_size: int = 8000, zero: bool = False) -> dict:  # fmt: skip
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; sizes: {', '.join(SIZES)}")
    if stage not in ("1", "2.1"):
        raise ValueError("the dry run checks the generation stages, 1 and 2.1 (2.2 has the same model)")
    config = PlatoConfig(vocab_size=vocab_size, gradient_checkpointing=checkpointing, **SIZES[size])
    parameters = parameter_count(config)
    plan = memory_plan(parameters, world, zero)
    tokens_per_step = PAPER_RECIPE[stage]["tokens_per_step"]
    report = {
        "size": size, "stage": stage, "parameters": parameters, "world_size": world,
        "strategy": "ddp + zero-1" if zero else "ddp", "activation_checkpointing": checkpointing,
        "tokens_per_step": tokens_per_step, "max_tokens_per_micro_batch": max_tokens,
        "micro_batches_per_process_per_step": math.ceil(tokens_per_step / (world * max_tokens)),
        "memory_per_process_gb": {k: round(v / GB, 2) for k, v in plan.items()},
    }  # fmt: skip
    needed = sum(memory_plan(parameters).values())  # this one process holds all of Adam's state
    available = psutil.virtual_memory().available
    full_step = needed * 1.3 < available
    batch = made_up_batch(config, max_tokens)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if full_step:
        model = UnifiedTransformer(config)
        objective = Objective(model, stage)
        optimizer = make_optimizer(model, TrainConfig(optimizer="adam", lr=PAPER_RECIPE[stage]["lr"]))
        loss = objective(batch)
        loss.backward()
        optimizer.step()
        report["step"] = "forward, backward and an Adam step in float32"
    else:
        model = UnifiedTransformer(config).to(torch.bfloat16)
        loss = Objective(model, stage)(batch)
        loss.backward()
        report["step"] = (f"forward and backward only, in bfloat16: weights, gradients and Adam in float32 need "
                          f"{needed / GB:.1f} GB, {available / GB:.1f} GB are free here")  # fmt: skip
    report["step_seconds"] = round(time.perf_counter() - start, 2)
    report["loss"] = round(float(loss.detach()), 4)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report["measured_peak_gb"] = round(peak / GB, 2)
    report["measured_step_growth_gb"] = round(max(0, peak - before) / GB, 2)
    report["finite_loss"] = math.isfinite(report["loss"])
    return report
