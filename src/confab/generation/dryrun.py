"""Check a paper-size PLATO-2 recipe without GPUs: build the model, run one training step on made-up data, and
report the parameter count, the memory each process needs and the tokens of a step.

    confab train dry-run --config 1.6B --world-size 64

Memory per process (per GPU) for training with Adam in float32 under each strategy of `fit`: weights 4 bytes a
parameter, gradients 4, Adam's two moments 8. "ddp": all of it on every process; "zero": Adam's moments sharded,
1/world each; "fsdp": weights, gradients and moments sharded, plus the whole weights of the two largest layers
gathered at a time (the one computing and the one prefetched). Activations come on top: measured here for one
micro-batch of `max_tokens`, with activation checkpointing unless it is turned off. When the step with Adam would
not fit in this machine's memory, the step runs forward and backward only, in the precision `auto` picks here
(bfloat16 where the CPU has units for it), and the report says so.
"""

from __future__ import annotations

import math
import resource
import time

import psutil
import torch

from confab.errors import InvalidInput
from confab.generation.batches import Sequence, collate
from confab.generation.model import Generator
from confab.generation.stages import make_stage
from confab.generation.train import PAPER_RECIPE
from confab.precision import choose
from confab.training import TrainConfig, make_optimizer
from confab.transformer.model import SIZES, PlatoConfig

BYTES_PER_PARAMETER = {"weights": 4, "gradients": 4, "adam": 8}
GB = 2**30


def parameter_count(config: PlatoConfig) -> int:
    """Counted on the meta device: nothing is allocated."""
    with torch.device("meta"):
        model = Generator(config)
    return sum(p.numel() for p in model.parameters())


def memory_plan(parameters: int, world: int = 1, strategy: str = "ddp", layer: int = 0) -> dict:
    """Bytes per process for weights, gradients and Adam state under `strategy` (ddp, zero, fsdp); `layer`: the
    parameters of the largest unit FSDP gathers whole."""
    plan = {k: parameters * b for k, b in BYTES_PER_PARAMETER.items()}
    if strategy == "zero":
        plan["adam"] = math.ceil(plan["adam"] / world)
    elif strategy == "fsdp":
        plan = {k: math.ceil(v / world) for k, v in plan.items()}
        plan["gathered_layers"] = 2 * layer * BYTES_PER_PARAMETER["weights"]
    elif strategy != "ddp":
        raise InvalidInput(f"strategy {strategy!r}: ddp, zero or fsdp")
    return plan


def largest_unit(config: PlatoConfig) -> int:
    """Parameters of the largest unit FSDP shards apart: a block, or the embeddings the root holds."""
    with torch.device("meta"):
        model = Generator(config)
    block = sum(p.numel() for p in model.blocks[0].parameters())
    rest = sum(p.numel() for p in model.parameters()) - block * len(model.blocks)
    return max(block, rest)


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
            vocab_size: int = 8000, strategy: str = "ddp") -> dict:  # fmt: skip
    if size not in SIZES:
        raise InvalidInput(f"unknown size {size!r}; sizes: {', '.join(SIZES)}")
    if stage not in ("1", "2.1"):
        raise InvalidInput("the dry run checks the generation stages, 1 and 2.1 (2.2's network has the same body)")
    latent_k = 20 if stage == "2.1" else 0  # the paper's K
    config = PlatoConfig(vocab_size=vocab_size, gradient_checkpointing=checkpointing, latent_k=latent_k, **SIZES[size])
    parameters = parameter_count(config)
    layer = largest_unit(config)
    plan = memory_plan(parameters, world, strategy, layer)
    tokens_per_step = PAPER_RECIPE[stage]["tokens_per_step"]
    report = {
        "size": size, "stage": stage, "parameters": parameters, "world_size": world,
        "strategy": strategy, "activation_checkpointing": checkpointing,
        "tokens_per_step": tokens_per_step, "max_tokens_per_micro_batch": max_tokens,
        "micro_batches_per_process_per_step": math.ceil(tokens_per_step / (world * max_tokens)),
        "memory_per_process_gb": {k: round(v / GB, 2) for k, v in plan.items()},
        "weights_gradients_adam_per_process_gb_by_strategy": {
            s: round(sum(memory_plan(parameters, world, s, layer).values()) / GB, 2) for s in ("ddp", "zero", "fsdp")},
    }  # fmt: skip
    needed = sum(memory_plan(parameters).values())  # this one process holds all of Adam's state
    available = psutil.virtual_memory().available
    full_step = needed * 1.3 < available
    batch = made_up_batch(config, max_tokens)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if full_step:
        model = Generator(config)
        objective = make_stage(stage, model)
        optimizer = make_optimizer(model, TrainConfig(optimizer="adam", lr=PAPER_RECIPE[stage]["lr"]))
        loss = objective(batch)
        loss.backward()
        optimizer.step()
        report["step"] = "forward, backward and an Adam step in float32"
    else:
        dtype = choose("auto").dtype
        model = Generator(config).to(dtype)
        loss = make_stage(stage, model)(batch)
        loss.backward()
        report["step"] = (f"forward and backward only, in {str(dtype)[6:]}: weights, gradients and Adam in float32 "
                          f"need {needed / GB:.1f} GB, {available / GB:.1f} GB are free here")  # fmt: skip
    report["step_seconds"] = round(time.perf_counter() - start, 2)
    report["loss"] = round(float(loss.detach()), 4)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report["measured_peak_gb"] = round(peak / GB, 2)
    report["measured_step_growth_gb"] = round(max(0, peak - before) / GB, 2)
    report["finite_loss"] = math.isfinite(report["loss"])
    return report
