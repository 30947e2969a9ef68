"""PLATO-2 checkpoints: config.json + model.safetensors + the BPE model. Loading runs no code from the files."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_model, save_model

from confab import __version__
from confab.config import from_dict, to_dict
from confab.generation.batches import Limits
from confab.generation.model import PlatoConfig, UnifiedTransformer
from confab.io import atomic_path, atomic_write_json
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


def load(folder: str | Path) -> tuple[UnifiedTransformer, BpeTokenizer, dict]:
    folder = Path(folder)
    path = folder / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{folder}: no config.json; is it a checkpoint of `confab train plato`?")
    meta = json.loads(path.read_text())
    if meta.get("kind") != KIND:
        raise ValueError(f"{folder}: a {meta.get('kind')!r} checkpoint, not a PLATO-2 one")
    model = UnifiedTransformer(from_dict(PlatoConfig, meta["model"]))
    load_model(model, str(folder / "model.safetensors"))
    model.eval()
    return model, BpeTokenizer.load(folder), meta


def limits_of(meta: dict) -> Limits:
    return from_dict(Limits, meta["limits"])
