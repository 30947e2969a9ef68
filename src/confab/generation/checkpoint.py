"""PLATO-2 checkpoints: config.json + model.safetensors + the BPE model. Loading runs no code from the files."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from confab import __version__
from confab.config import from_dict, to_dict
from confab.generation.batches import Limits
from confab.generation.model import PlatoConfig, UnifiedTransformer
from confab.io import atomic_path, atomic_write_json
from confab.models import resolve
from confab.text.bpe import BpeTokenizer

KIND = "confab-plato"


def save(folder: Path, model: UnifiedTransformer, tok: BpeTokenizer, stage: str, limits: Limits, extra: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(folder)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_model(model, str(tmp))
    atomic_write_json(
        folder / "config.json",
        {"kind": KIND, "confab_version": __version__, "stage": stage, "model": to_dict(model.config),
         "limits": to_dict(limits), **extra},
    )  # fmt: skip


PRECISIONS = ("auto", "float32", "bfloat16")


def inference_dtype(precision: str) -> torch.dtype:
    """`auto` is bfloat16 where the CPU has bfloat16 matrix units (AMX or AVX512-BF16), where replies take about
    half the time, and float32 elsewhere (emulated bfloat16 is slower than float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        fast = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
        return torch.bfloat16 if fast else torch.float32
    return getattr(torch, precision)


def load(folder: str | Path, precision: str = "float32") -> tuple[UnifiedTransformer, BpeTokenizer, dict]:
    """The model in eval mode, its tokenizer and its config.json; `precision` as in `inference_dtype`.
    `bundled:plato2` is the shipped generator."""
    folder = resolve(folder)[0]
    path = folder / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{folder}: no config.json; is it a checkpoint of `confab train plato`?")
    meta = json.loads(path.read_text())
    if meta.get("kind") != KIND:
        raise ValueError(f"{folder}: a {meta.get('kind')!r} checkpoint, not a PLATO-2 one")
    model = UnifiedTransformer(from_dict(PlatoConfig, meta["model"]))
    load_model(model, str(folder / "model.safetensors"))
    model.eval().to(inference_dtype(precision))
    return model, BpeTokenizer.load(folder), meta


def limits_of(meta: dict) -> Limits:
    return from_dict(Limits, meta["limits"])
