"""The one precision policy for everything that runs a model: training, evaluation, replies, indexing.

`auto` is bfloat16 where the device computes it fast and float32 elsewhere. On a CPU, bfloat16 is fast only with
matrix units for it (AMX, or AVX512-BF16): without them PyTorch emulates it 20-50x slower than float32, so `auto`
there must be float32, for training as for inference. A CUDA device is fast in bfloat16 where it supports it
(Ampere and later); older GPUs get float16, whose training needs a gradient scaler (Lightning Fabric's
"16-mixed" brings it). `float32`, `bfloat16` and `float16` are taken as asked.

The CPU is probed once per process. Two environment variables steer `auto` for a whole run:
- `CONFAB_PRECISION=float32|bfloat16`: what `auto` becomes (the test suite forced to float32 on a CPU that has
  bfloat16 units, to measure it as on one that has none);
- `ONEDNN_MAX_CPU_ISA` (oneDNN's own cap on the instructions it uses): capped below AVX512_CORE_BF16, oneDNN
  emulates bfloat16 whatever the CPU has, so `auto` counts the units as absent.
"""

from __future__ import annotations

import functools
import os
import platform
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from confab.errors import InvalidInput

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# Lightning Fabric's name for training in each: autocast to the reduced type over float32 weights
FABRIC = {torch.float32: "32-true", torch.bfloat16: "bf16-mixed", torch.float16: "16-mixed"}
ENVIRONMENT = "CONFAB_PRECISION"
# oneDNN's instruction-set caps at or above which it runs bfloat16 on the CPU's own units
ONEDNN_BF16_ISAS = ("AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_AMX", "AVX10_1_512_AMX", "AVX512_CORE_FP16",
                    "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT")  # fmt: skip


@dataclass(frozen=True)
class Precision:
    """What a model runs in, and why: `str()` is the line a training prints and its log keeps."""

    dtype: torch.dtype
    reason: str
    device_type: str = "cpu"

    @property
    def name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def reduced(self) -> bool:
        return self.dtype != torch.float32

    @property
    def fabric(self) -> str:
        """The precision plugin of Lightning Fabric that trains in it (float16 with a gradient scaler)."""
        return FABRIC[self.dtype]

    def autocast(self) -> AbstractContextManager:
        """Mixed precision for a forward pass of float32 weights (training, and inference of a trained-in-place
        model); a no-op in float32."""
        if not self.reduced:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


@functools.cache
def cpu_bfloat16_units() -> str | None:
    """The CPU's bfloat16 matrix units that PyTorch will use ("AMX", "AVX512-BF16"), or None."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()
    if cap and cap not in ONEDNN_BF16_ISAS:
        return None
    if torch.cpu._is_amx_tile_supported():
        return "AMX"
    if torch.cpu._is_avx512_bf16_supported():
        return "AVX512-BF16"
    return None


def choose(precision: str = "auto", device: str | torch.device = "cpu") -> Precision:
    """The precision `precision` stands for on `device`."""
    if precision not in PRECISIONS:
        raise InvalidInput(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    device_type = torch.device(device).type
    if precision != "auto":
        return Precision(getattr(torch, precision), "asked for", device_type)
    forced = os.environ.get(ENVIRONMENT, "").strip()
    if forced and forced != "auto":
        if forced not in PRECISIONS:
            raise InvalidInput(f"{ENVIRONMENT}={forced!r}: choose one of {', '.join(PRECISIONS)}")
        return Precision(getattr(torch, forced), f"{ENVIRONMENT}={forced}", device_type)
    if device_type == "cuda":
        name = torch.cuda.get_device_name(device)
        if torch.cuda.get_device_capability(device)[0] >= 8:  # Ampere and later: bfloat16 tensor cores
            return Precision(torch.bfloat16, f"{name} supports it", device_type)
        return Precision(torch.float16, f"{name} has no bfloat16 units", device_type)
    if device_type != "cpu":  # `meta` and others: shapes only, or a device without a policy here
        return Precision(torch.float32, f"the {device_type} device", device_type)
    units = cpu_bfloat16_units()
    if units:
        return Precision(torch.bfloat16, f"this CPU has {units}", device_type)
    return Precision(torch.float32, "this CPU has no bfloat16 units", device_type)


@functools.cache
def machine() -> str:
    """The CPU and what `auto` makes of it, for the header of every benchmark table: figures from CPUs with and
    without bfloat16 units are not alike."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        model = platform.processor() or model
    units = cpu_bfloat16_units()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{model}, {cores} cores, {torch.get_num_threads()} threads; bfloat16 units: {units or 'none'}; "
            f"auto precision: {choose('auto')}")  # fmt: skip
