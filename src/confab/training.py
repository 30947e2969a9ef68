"""One training loop for every model: optimiser, warm-up, mixed precision, validation, keep-best, resume.

The model's forward(batch) returns the loss. Batches come from `batches(epoch)`, which must give the same
batches in the same order for the same epoch, so that a run killed mid-epoch resumes at the same batch. A batch
may be a list of micro-batches, each with a "weight" (its share of the step): their gradients are accumulated
into one optimiser step, which is how a step reaches a token budget that does not fit in memory at once.
The resume state is written with torch.save and read back with weights_only=True (no code runs on load).
The forward passes run under the precision policy (`confab.precision`): bfloat16 autocast where the hardware
computes it fast, float32 elsewhere; every epoch's log row says which it ran in.

The model and each batch live on `config.device` (`confab.devices`: the GPU when there is one). Devices,
mixed precision and distribution go through Lightning Fabric. Measured against Hugging Face Accelerate on the CPU
path (benchmarks/distributed_speed.py): the same step time with DDP, but Fabric shards a model with PyTorch's
FSDP2 (`fully_shard`, through its ModelParallelStrategy) on any device, so the sharded strategy runs and is
tested here on CPU processes over gloo, while Accelerate's FSDP needs GPUs (on CPUs it falls back to DDP); and
Fabric leaves this loop as it is (keep-best, resume, accumulation, logs) where Accelerate's checkpointing and
data loaders would want to own it.

Under `torchrun` (WORLD_SIZE > 1) every rank builds the same steps, takes every world-th micro-batch of each, and
the gradients are summed across ranks once per step, so a step equals the single-process step over the same
micro-batches. A trainer that streams its data gives each rank its own share instead (RankBatch). Rank 0 writes
files. `config.strategy` says what each rank holds: "ddp", the whole model and optimizer state; "zero", the
optimizer state of 1/world of the parameters (ZeRO-1); "fsdp", 1/world of the weights, gradients and optimizer
state (FSDP2: each block's weights gathered for its forward and backward only), for models whose Adam training
does not fit one device.
"""

from __future__ import annotations

import atexit
import csv
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from confab.config import check_fields
from confab.devices import resolve, to_device
from confab.errors import InvalidInput
from confab.io import atomic_path
from confab.precision import Precision, choose
from confab.progress import no_progress


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 512
    lr: float = 8e-4
    optimizer: Literal["adamax", "adam", "adamw"] = "adamax"
    weight_decay: float = 0.0
    warmup_steps: int = 0
    # after warm-up: constant, 1/sqrt(step) (PLATO-2) or linear to zero at the last step (BERT fine-tuning)
    schedule: Literal["constant", "inverse_sqrt", "linear"] = "constant"
    grad_clip: float = 0.0  # 0: off
    precision: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # confab.precision: follows the hardware
    device: str = "auto"  # confab.devices: the GPU when there is one
    seed: int = 0
    save_every: int = 200  # steps between resume points
    save_minutes: float = 10.0  # also a resume point when this long has passed since the last (slow steps); 0: off
    patience: int = 0  # stop after this many validations without improvement (0: never)
    log_every: int = 0  # steps between rows of steps.csv (step, loss, learning rate); 0: off
    tensorboard: str | None = None  # also write those rows and each validation as TensorBoard events here
    strategy: Literal["ddp", "zero", "fsdp"] = "ddp"  # under torchrun: what each rank holds (the module's doc)
    validate_start: bool = True  # the starting weights compete for the best: a run that never beats them keeps them

    def __post_init__(self):
        check_fields(self)

    @staticmethod
    def legacy(data: dict) -> dict:
        """A config saved before `precision`: `bf16` said whether to autocast to bfloat16."""
        data = dict(data)
        if "bf16" in data and "precision" not in data:
            data["precision"] = "bfloat16" if data.pop("bf16") else "float32"
        if "zero" in data and "strategy" not in data:  # before `strategy`: ZeRO-1 or not
            data["strategy"] = "zero" if data.pop("zero") else "ddp"
        return data


class RankBatch(list):
    """The micro-batches of a step that are already this rank's share (data streamed per rank), each with its
    "weight": fit gives them to the model as they are instead of dealing them out to the ranks."""


def make_optimizer(model: nn.Module, config: TrainConfig, world: int = 1) -> torch.optim.Optimizer:
    """With `zero` and several ranks, each rank keeps the optimizer state of 1/world of the parameters, updates
    them and broadcasts them (the same steps as unsharded; Adam's state is half a model's training memory).
    A model with `lr_scales` ({parameter-name prefix: factor}) trains those parameters at lr x factor."""
    scales = getattr(model, "lr_scales", {})
    groups: dict[float, list] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            scale = next((f for prefix, f in scales.items() if name.startswith(prefix)), 1.0)
            groups.setdefault(scale, []).append(p)
    params = [{"params": ps, "lr": config.lr * scale} for scale, ps in groups.items()]
    # the fused kernels update all parameters in one pass (CPU and GPU alike)
    kind, options = {"adamax": (torch.optim.Adamax, {}), "adam": (torch.optim.Adam, {"fused": True}),
                     "adamw": (torch.optim.AdamW, {"fused": True})}[config.optimizer]  # fmt: skip
    options.update(lr=config.lr, weight_decay=config.weight_decay)
    if config.strategy == "zero" and world > 1:
        from torch.distributed.optim import ZeroRedundancyOptimizer

        return ZeroRedundancyOptimizer(params, optimizer_class=kind, **options)
    return kind(params, **options)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def distributed(device: str = "auto") -> tuple[int, int]:
    """(rank, world size); joins the process group that torchrun describes in the environment: NCCL between GPUs,
    gloo between CPU processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        chosen = resolve(device)
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
        # left to interpreter teardown, gloo's threads can be destroyed still running ("terminate called
        # without an active exception", SIGABRT after a finished run); a caller may have destroyed it already
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def fit(
    model: nn.Module,
    batches: Callable[[int], Iterable[dict]],
    steps_per_epoch: int,
    config: TrainConfig,
    work: Path,
    validate: Callable[[], dict] | None = None,
    metric: str = "hits@1",
    progress: Callable | None = None,
    higher_is_better: bool = True,
) -> dict:
    """Train `model` in place; returns the history. With `validate`, the weights of the best validation
    `metric` are restored at the end, the starting weights among them (`config.validate_start`): the result's
    `start` is their validation and `kept_start` says whether no epoch beat them."""
    rank, world = distributed(config.device)
    device = resolve(config.device)
    work.mkdir(parents=True, exist_ok=True)
    precision = choose(config.precision, device)
    seed_everything(config.seed + rank)
    fabric = _fabric(device, precision, world, config.strategy)
    sharded = world > 1 and config.strategy == "fsdp"
    # wrapped for the device, the precision and the strategy; `model` itself stays the module whose weights are saved
    net = fabric.setup_module(model.to(device))
    optimizer = make_optimizer(model, config, world)  # after sharding: FSDP's parameters are its shards
    stepper = fabric.setup_optimizers(optimizer)
    total = config.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config, total))
    state_path = work / "train_state.pt"
    state = {"epoch": 0, "batch": 0, "step": 0, "best": -math.inf, "bad": 0, "history": []}
    best_weights = None
    if state_path.exists():
        saved = torch.load(state_path, weights_only=True, map_location="cpu")
        _load_weights(model, saved["model"], sharded, everyone_has_them=True)
        if sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            whole = StateDictOptions(full_state_dict=True)
            set_optimizer_state_dict(model, optimizer, saved["optimizer"], options=whole)
        else:
            optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        if rank == 0:
            torch.set_rng_state(saved["rng"])
            if device.type == "cuda" and "cuda_rng" in saved:
                torch.cuda.set_rng_state(saved["cuda_rng"], device)
        else:  # only rank 0's generator is saved; the others restart theirs from the step
            seed_everything(config.seed + rank + 1000 * saved["state"]["step"])
        best_weights = saved.get("best_weights")
        state = saved["state"]
    if validate is not None and config.validate_start and "start" not in state:
        model.eval()
        with torch.no_grad():
            state["start"] = {f"valid_{k}": v for k, v in validate().items()}
        state["best"] = state["start"][f"valid_{metric}"] * (1 if higher_is_better else -1)
        best_weights = _weights(model, sharded)
    task = (progress or no_progress)("train (steps)", config.epochs * steps_per_epoch)
    saved_at = time.monotonic()
    log = work / "log.csv"
    events = _event_writer(config.tensorboard) if rank == 0 else None
    for epoch in range(state["epoch"], config.epochs):
        model.train()
        start, losses = time.perf_counter(), []
        for i, batch in enumerate(batches(epoch)):
            if i < state["batch"]:
                continue  # resuming: these batches were trained on before the interruption
            stepper.zero_grad(set_to_none=True)
            micro = batch if isinstance(batch, list) else [batch]
            # streamed data is already this rank's share; a list is dealt out, and every rank joins each reduction
            mine = micro if isinstance(batch, RankBatch) else micro[rank::world] or [{**micro[0], "weight": 0.0}]
            if sharded:  # every forward and backward gathers weights from all ranks: each rank runs as many
                mine = _as_many_as_the_others(mine, device)
            loss = torch.zeros((), device=device)
            for j, m in enumerate(mine):
                # the ranks average gradients; scaling by the world size makes that the sum of the weighted parts
                with fabric.no_backward_sync(net, enabled=world > 1 and j < len(mine) - 1):
                    weight = m.get("weight", 1.0 if len(micro) == 1 else 1.0 / len(micro))
                    part = net(to_device(m, device)) * weight * world  # under the precision's autocast
                    fabric.backward(part)  # through the gradient scaler in float16
                loss += part.detach() / world
            if world > 1:
                dist.all_reduce(loss)
            if config.grad_clip:
                fabric.clip_gradients(net, stepper, max_norm=config.grad_clip)
            stepper.step()
            schedule.step()
            losses.append(float(loss))
            state["step"] += 1
            state["batch"] = i + 1
            task(epoch * steps_per_epoch + i + 1)
            if rank == 0 and config.log_every and state["step"] % config.log_every == 0:
                row = {"step": state["step"], "epoch": epoch + 1, "loss": float(loss), "lr": schedule.get_last_lr()[0]}
                _append_csv(work / "steps.csv", row)
                if events:
                    events.add_scalar("train/loss", row["loss"], row["step"])
                    events.add_scalar("train/lr", row["lr"], row["step"])
            if _resume_point(config, state["step"], saved_at, world, device):
                _save_state(state_path, model, optimizer, schedule, state, best_weights, rank, sharded, device)
                saved_at = time.monotonic()
        record = {"epoch": epoch + 1, "step": state["step"], "loss": float(np.mean(losses)) if losses else None,
                  "seconds": round(time.perf_counter() - start, 2), "precision": precision.name}  # fmt: skip
        if validate is not None:
            model.eval()
            with torch.no_grad():
                record.update({f"valid_{k}": v for k, v in validate().items()})
            score = record[f"valid_{metric}"] * (1 if higher_is_better else -1)
            if score > state["best"]:
                state["best"], state["bad"] = score, 0
                best_weights = _weights(model, sharded)
            else:
                state["bad"] += 1
        state["history"].append(record)
        state["epoch"], state["batch"] = epoch + 1, 0
        if rank == 0:
            _append_csv(log, record)
            if events:
                for key, value in record.items():
                    if key.startswith("valid_") and isinstance(value, int | float):
                        events.add_scalar(f"valid/{key[6:]}", value, state["step"])
                events.flush()
        _save_state(state_path, model, optimizer, schedule, state, best_weights, rank, sharded, device)
        if config.patience and state["bad"] >= config.patience:
            break
    if events:
        events.close()
    if best_weights is not None:
        _load_weights(model, best_weights, sharded, everyone_has_them=False)
    if sharded:  # rank 0 writes the checkpoint from a plain module that holds the whole weights
        weights = _weights(model, sharded)
        if rank == 0:
            _unshard(model, weights)
    model.eval()
    best = state["best"] * (1 if higher_is_better else -1) if validate else None
    result = {"history": state["history"], "best": best, "steps": state["step"], "precision": str(precision)}
    if "start" in state:
        kept = not any(
            r[f"valid_{metric}"] * (1 if higher_is_better else -1) > state["best"] - 1e-12 for r in state["history"]
        )
        result |= {"start": state["start"], "kept_start": kept}
    return result


def _resume_point(config: TrainConfig, step: int, saved_at: float, world: int, device) -> bool:
    """Whether to save a resume point after this step: every `save_every` steps, or when `save_minutes` have passed
    (a step of a large model on 2 cores can take seconds, and an epoch hours). Ranks agree on the clock of the
    slowest, so that all of them save together."""
    if config.save_every and step % config.save_every == 0:
        return True
    if not config.save_minutes:
        return False
    due = time.monotonic() - saved_at >= 60 * config.save_minutes
    if world > 1:
        flag = torch.tensor(float(due), device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        due = bool(flag)
    return due


def describe_result(result: dict) -> list[str]:
    """A training result as readable lines: its precision, the starting point's validation, each epoch, and what
    was kept."""
    lines = [f"precision {result['precision']}"] if "precision" in result else []
    lines += [describe({"epoch": "start", **result["start"]})] if "start" in result else []
    lines += [describe(record) for record in result["history"]]
    if result.get("kept_start"):
        lines.append("no epoch beat the starting weights on validation: the checkpoint keeps them")
    return lines


def describe(record: dict) -> str:
    """One epoch of a training history as a readable line: epoch, step, loss, time, then the validation figures
    (lists such as the latent usage are left to the logs and plots)."""
    if record["epoch"] == "start":
        return "start · valid: " + ", ".join(_validation(record))
    parts = [f"epoch {record['epoch']}", f"step {record['step']:,}"]
    if record.get("loss") is not None:
        parts.append(f"loss {record['loss']:.3f}")
    parts.append(f"{record.get('seconds', 0):.0f} s")
    shown = _validation(record)
    return " · ".join(parts) + (" · valid: " + ", ".join(shown) if shown else "")


def _validation(record: dict) -> list[str]:
    return [f"{k[6:].replace('_', ' ')} {_figure(v)}" for k, v in record.items()
            if k.startswith("valid_") and not isinstance(v, list | dict)]  # fmt: skip


def _figure(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def lr_factor(step: int, config: TrainConfig, total: int = 0) -> float:
    """Linear warm-up over `warmup_steps`, then constant, decaying as 1/sqrt(step), or linearly to zero at step
    `total` (a run's steps)."""
    s, w = step + 1, config.warmup_steps
    if config.schedule == "inverse_sqrt":
        return min(s / w, (w / s) ** 0.5) if w else s**-0.5
    if config.schedule == "linear":
        if total <= w:
            raise InvalidInput(f"a linear schedule needs more steps ({total}) than warm-up steps ({w})")
        return min(s / w if w else 1.0, max(0.0, (total - step) / (total - w)))
    return min(1.0, s / w) if w else 1.0


def _event_writer(folder: str | None):
    if not folder:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InvalidInput("TensorBoard logs need the tensorboard package: pip install 'confab[tensorboard]'") from None
    return SummaryWriter(folder)


def _fabric(device: torch.device, precision: Precision, world: int, strategy: str):
    """Lightning Fabric for this process: its device, precision plugin and (under torchrun) strategy. The process
    group is already joined (`distributed`), so Fabric launches nothing."""
    from lightning_fabric import Fabric
    from lightning_fabric.strategies import DDPStrategy, ModelParallelStrategy, SingleDeviceStrategy

    if world == 1:
        chosen = SingleDeviceStrategy(device)
    elif strategy == "fsdp":
        chosen = ModelParallelStrategy(_shard, data_parallel_size=world, tensor_parallel_size=1)
    else:  # some parameters sit out some steps (a persona memory when no example of the shard has a persona)
        chosen = DDPStrategy(find_unused_parameters=True)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    accelerator = "cuda" if device.type == "cuda" else "cpu"
    fabric = Fabric(accelerator=accelerator, devices=local if world > 1 else 1, num_nodes=max(1, world // local),
                    strategy=chosen, precision=precision.fabric)  # fmt: skip
    fabric.launch()
    return fabric


def _shard(module: nn.Module, mesh) -> nn.Module:
    """FSDP2 over the data-parallel ranks: each layer of the model's layer lists (PLATO's blocks, a BERT encoder's
    layers) is one unit whose weights are gathered for its own forward and backward; the root holds the rest."""
    from torch.distributed.fsdp import fully_shard

    ranks, done = mesh["data_parallel"], []
    for name, child in module.named_modules():
        if isinstance(child, nn.ModuleList) and not any(name.startswith(f"{d}.") for d in done):
            for layer in child:
                fully_shard(layer, mesh=ranks)
            done.append(name)
    return fully_shard(module, mesh=ranks)


def _as_many_as_the_others(mine: list[dict], device: torch.device) -> list[dict]:
    """This rank's micro-batches, padded with weight-0 copies to the most any rank has in this step."""
    most = torch.tensor(len(mine), device=device)
    dist.all_reduce(most, op=dist.ReduceOp.MAX)
    return list(mine) + [{**mine[0], "weight": 0.0}] * (int(most) - len(mine))


def _unshard(model: nn.Module, weights: dict) -> None:
    """The FSDP2-sharded `model` made the plain module it was, holding `weights`: fully_shard gives each unit a
    class deriving (FSDPModule, its class), hooks that gather and free its weights, and DTensor parameters; without
    them the callers keep the module they built (its config, submodules and trainable flags) to save it."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.__class__ = next(c for c in type(module).__bases__ if not issubclass(c, FSDPModule))
        for hooks in (module._forward_pre_hooks, module._forward_hooks, module._state_dict_pre_hooks,
                      module._state_dict_hooks, module._load_state_dict_pre_hooks,
                      module._load_state_dict_post_hooks):  # fmt: skip
            for key in [k for k, hook in hooks.items() if _from_fsdp(hook)]:
                del hooks[key]
    # each its own tensor: the gathered ones may be views of one flat buffer, which safetensors refuses to save
    model.load_state_dict({k: v.clone() for k, v in weights.items()}, assign=True)


def _from_fsdp(hook) -> bool:
    where = getattr(hook, "__module__", None) or getattr(getattr(hook, "func", None), "__module__", None) or ""
    return where.startswith("torch.distributed.fsdp")


def _weights(model: nn.Module, sharded: bool) -> dict:
    """A copy of the model's weights on the CPU; under FSDP gathered whole on rank 0 (the others get {})."""
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _load_weights(model: nn.Module, weights: dict, sharded: bool, everyone_has_them: bool) -> None:
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=not everyone_has_them)
        set_model_state_dict(model, weights, options=options)
    else:
        model.load_state_dict(weights)


def _save_state(path: Path, model, optimizer, schedule, state: dict, best_weights, rank: int, sharded: bool,
                device: torch.device) -> None:  # fmt: skip
    """Every rank calls this; rank 0 writes. A sharded optimizer or model is first gathered whole on rank 0."""
    if hasattr(optimizer, "consolidate_state_dict"):
        optimizer.consolidate_state_dict(to=0)
    if sharded:  # gathered whole on rank 0, with every rank taking part
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        weights = _weights(model, sharded)
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        optimizer_state = get_optimizer_state_dict(model, optimizer, options=options)
    if rank != 0:
        return
    if not sharded:  # written as they are: no copy (loaded with map_location="cpu")
        weights, optimizer_state = model.state_dict(), optimizer.state_dict()
    saved = {"model": weights, "optimizer": optimizer_state,
             "schedule": schedule.state_dict(), "rng": torch.get_rng_state(), "state": state,
             "best_weights": best_weights}  # fmt: skip
    if device.type == "cuda":
        saved["cuda_rng"] = torch.cuda.get_rng_state(device)
    with atomic_path(path) as tmp:
        torch.save(saved, tmp)


def _append_csv(path: Path, record: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(record))
        if new:
            writer.writeheader()
        writer.writerow(record)
