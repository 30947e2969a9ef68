"""Where a model runs: `auto` is the GPU when PyTorch sees one, the CPU elsewhere; `cpu`, `cuda` and `cuda:N`
are taken as asked, and asking for a GPU that is not there is a clear error, not a traceback from deep inside.

Data is prepared on the CPU (tokenising, collating, sampling negatives) and moved to the model's device at the
model's door (`to_device`); everything made after that point (masks, positions, decoding state) is made on the
device of the tensors it works with.
"""

from __future__ import annotations

import os

import torch

from confab.errors import InvalidInput


def resolve(device: str | torch.device = "auto") -> torch.device:
    """The torch.device `device` stands for; under torchrun on GPUs, `auto`/`cuda` is this process's own GPU."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        chosen = torch.device(name)
    except RuntimeError:
        raise InvalidInput(f"device {device!r}: choose auto, cpu, cuda or cuda:N") from None
    if chosen.type == "meta":  # shapes without data: the tests' check that nothing is made on the CPU by itself
        return chosen
    if chosen.type not in ("cpu", "cuda"):
        raise InvalidInput(f"device {device!r}: choose auto, cpu, cuda or cuda:N")
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise InvalidInput(f"device {device!r}: PyTorch sees no CUDA GPU here (torch {torch.__version__}, {build})")
        count = torch.cuda.device_count()
        index = chosen.index if chosen.index is not None else int(os.environ.get("LOCAL_RANK", 0))
        if index >= count:
            raise InvalidInput(f"device {device!r}: this machine has {count} CUDA GPU{'s' if count > 1 else ''}")
        chosen = torch.device("cuda", index)
    return chosen


def to_device(batch, device: torch.device):
    """A batch (tensors in dicts, lists and tuples) on `device`; what is not a tensor stays as it is."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=batch.is_pinned())
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):  # a list subclass (training.RankBatch) keeps its type; so does a namedtuple
        moved = [to_device(v, device) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (a model without parameters: the CPU)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))
