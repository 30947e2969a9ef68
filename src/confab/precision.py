"""The floating-point type inference runs in."""

from __future__ import annotations

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def inference_dtype(precision: str) -> torch.dtype:
    """`auto` is bfloat16 where the CPU has bfloat16 matrix units (AMX or AVX512-BF16), where encoding and replies
    take about half the time, and float32 elsewhere (emulated bfloat16 is slower than float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        fast = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
        return torch.bfloat16 if fast else torch.float32
    return getattr(torch, precision)
