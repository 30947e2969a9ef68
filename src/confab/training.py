"""One training loop for every model: optimiser, warm-up, mixed precision, validation, keep-best, resume.

The model's forward(batch) returns the loss. Batches come from `batches(epoch)`, which must give the same
batches in the same order for the same epoch, so that a run killed mid-epoch resumes at the same batch. A batch
may be a list of micro-batches, each with a "weight" (its share of the step): their gradients are accumulated
into one optimiser step, which is how a step reaches a token budget that does not fit in memory at once.
The resume state is written with torch.save and read back with weights_only=True (no code runs on load).
The forward passes run under the precision policy (`confab.precision`): bfloat16 autocast where the hardware
computes it fast, float32 elsewhere; every epoch's log row says which it ran in.

Under `torchrun` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel (gloo on CPU, NCCL on GPUs):
every rank builds the same steps, takes every world-th micro-batch of each, and the gradients are summed across
ranks once per step, so a step equals the single-process step over the same micro-batches. A trainer that streams
its data gives each rank its own share instead (RankBatch). Rank 0 writes files.
"""

from __future__ import annotations

import atexit
import csv
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from confab.io import atomic_path
from confab.precision import choose
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
    precision: Literal["auto", "float32", "bfloat16"] = "auto"  # confab.precision: auto follows the hardware
    seed: int = 0
    save_every: int = 200  # steps between resume points
    patience: int = 0  # stop after this many validations without improvement (0: never)
    log_every: int = 0  # steps between rows of steps.csv (step, loss, learning rate); 0: off
    tensorboard: str | None = None  # also write those rows and each validation as TensorBoard events here
    zero: bool = False  # under torchrun: shard the optimizer state across the ranks (ZeRO stage 1)
    validate_start: bool = True  # the starting weights compete for the best: a run that never beats them keeps them

    @staticmethod
    def legacy(data: dict) -> dict:
        """A config saved before `precision`: `bf16` said whether to autocast to bfloat16."""
        if "bf16" in data and "precision" not in data:
            data = dict(data)
            data["precision"] = "bfloat16" if data.pop("bf16") else "float32"
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
    if config.zero and world > 1:
        from torch.distributed.optim import ZeroRedundancyOptimizer

        return ZeroRedundancyOptimizer(params, optimizer_class=kind, **options)
    return kind(params, **options)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group that torchrun describes in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
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
    rank, world = distributed()
    work.mkdir(parents=True, exist_ok=True)
    precision = choose(config.precision)
    seed_everything(config.seed + rank)
    optimizer = make_optimizer(model, config, world)
    # some parameters sit out some steps (a persona memory when no example of the shard has a persona)
    net = DistributedDataParallel(model, find_unused_parameters=True) if world > 1 else model
    total = config.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config, total))
    state_path = work / "train_state.pt"
    state = {"epoch": 0, "batch": 0, "step": 0, "best": -math.inf, "bad": 0, "history": []}
    best_weights = None
    if state_path.exists():
        saved = torch.load(state_path, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        if rank == 0:
            torch.set_rng_state(saved["rng"])
        else:  # only rank 0's generator is saved; the others restart theirs from the step
            seed_everything(config.seed + rank + 1000 * saved["state"]["step"])
        best_weights = saved.get("best_weights")
        state = saved["state"]
    if validate is not None and config.validate_start and "start" not in state:
        model.eval()
        with torch.no_grad():
            state["start"] = {f"valid_{k}": v for k, v in validate().items()}
        state["best"] = state["start"][f"valid_{metric}"] * (1 if higher_is_better else -1)
        best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    task = (progress or no_progress)("train (steps)", config.epochs * steps_per_epoch)
    log = work / "log.csv"
    events = _event_writer(config.tensorboard) if rank == 0 else None
    for epoch in range(state["epoch"], config.epochs):
        model.train()
        start, losses = time.perf_counter(), []
        for i, batch in enumerate(batches(epoch)):
            if i < state["batch"]:
                continue  # resuming: these batches were trained on before the interruption
            optimizer.zero_grad(set_to_none=True)
            micro = batch if isinstance(batch, list) else [batch]
            # streamed data is already this rank's share; a list is dealt out, and every rank joins each reduction
            mine = micro if isinstance(batch, RankBatch) else micro[rank::world] or [{**micro[0], "weight": 0.0}]
            loss = torch.zeros(())
            for j, m in enumerate(mine):
                # DDP averages over ranks; scaling by the world size makes that the sum of the weighted parts
                with net.no_sync() if world > 1 and j < len(mine) - 1 else nullcontext():
                    with precision.autocast():
                        part = net(m) * m.get("weight", 1.0 if len(micro) == 1 else 1.0 / len(micro)) * world
                    part.backward()
                loss += part.detach() / world
            if world > 1:
                dist.all_reduce(loss)
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
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
            if config.save_every and state["step"] % config.save_every == 0:
                _save_state(state_path, model, optimizer, schedule, state, best_weights, rank)
        record = {"epoch": epoch + 1, "step": state["step"], "loss": float(np.mean(losses)) if losses else None,
                  "seconds": round(time.perf_counter() - start, 2), "precision": precision.name}  # fmt: skip
        if validate is not None:
            model.eval()
            with torch.no_grad():
                record.update({f"valid_{k}": v for k, v in validate().items()})
            score = record[f"valid_{metric}"] * (1 if higher_is_better else -1)
            if score > state["best"]:
                state["best"], state["bad"] = score, 0
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
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
        _save_state(state_path, model, optimizer, schedule, state, best_weights, rank)
        if config.patience and state["bad"] >= config.patience:
            break
    if events:
        events.close()
    if best_weights is not None:
        model.load_state_dict(best_weights)
    model.eval()
    best = state["best"] * (1 if higher_is_better else -1) if validate else None
    result = {"history": state["history"], "best": best, "steps": state["step"], "precision": str(precision)}
    if "start" in state:
        kept = not any(
            r[f"valid_{metric}"] * (1 if higher_is_better else -1) > state["best"] - 1e-12 for r in state["history"]
        )
        result |= {"start": state["start"], "kept_start": kept}
    return result


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
            raise ValueError(f"a linear schedule needs more steps ({total}) than warm-up steps ({w})")
        return min(s / w if w else 1.0, max(0.0, (total - step) / (total - w)))
    return min(1.0, s / w) if w else 1.0


def _event_writer(folder: str | None):
    if not folder:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("TensorBoard logs need the tensorboard package: pip install 'confab[tensorboard]'") from None
    return SummaryWriter(folder)


def _save_state(path: Path, model, optimizer, schedule, state: dict, best_weights, rank: int) -> None:
    """Every rank calls this; rank 0 writes. A sharded optimizer first gathers its state on rank 0."""
    if hasattr(optimizer, "consolidate_state_dict"):
        optimizer.consolidate_state_dict(to=0)
    if rank != 0:
        return
    with atomic_path(path) as tmp:
        torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
             "rng": torch.get_rng_state(), "state": state, "best_weights": best_weights},
            tmp,
        )  # fmt: skip


def _append_csv(path: Path, record: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(record))
        if new:
            writer.writeheader()
        writer.writerow(record)
