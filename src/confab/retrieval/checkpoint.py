"""Retrieval checkpoints: config.json + model.safetensors + tokenizer files. Loading runs no code from the files."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_model, save_model

from confab import __version__
from confab.config import from_dict, to_dict
from confab.io import atomic_path, atomic_write_json
from confab.retrieval.encoders import load_bert, pretrained_folder
from confab.retrieval.model import PersonaRanker, RankerConfig
from confab.retrieval.tokens import PretrainedTokenizer, WordTokenizer

KIND = "confab-retrieval"


def new_model(config: RankerConfig) -> PersonaRanker:
    """A fresh ranker; the pretrained encoder starts from the installed all-MiniLM-L6-v2 weights."""
    bert = load_bert(pretrained_folder(), weights=True) if config.encoder == "pretrained" else None
    return PersonaRanker(config, bert)


def save(folder: Path, model: PersonaRanker, tokenizer, extra: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(folder)
    if model.config.encoder == "pretrained":
        bert_dir = folder / "bert"
        bert_dir.mkdir(exist_ok=True)
        model.context_encoder.bert.config.to_json_file(str(bert_dir / "config.json"))
    with atomic_path(folder / "model.safetensors") as tmp:
        save_model(model, str(tmp))
    atomic_write_json(
        folder / "config.json",
        {"kind": KIND, "confab_version": __version__, "ranker": to_dict(model.config), **extra},
    )


def load(folder: str | Path) -> tuple[PersonaRanker, WordTokenizer | PretrainedTokenizer, dict]:
    folder = Path(folder)
    meta_path = folder / "config.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{folder}: no config.json; is it a checkpoint of `confab train retrieval`?")
    meta = json.loads(meta_path.read_text())
    if meta.get("kind") != KIND:
        raise ValueError(f"{meta_path}: not a retrieval checkpoint (kind {meta.get('kind')!r})")
    config = from_dict(RankerConfig, meta["ranker"], f"{meta_path}:ranker")
    if config.encoder == "pretrained":
        tokenizer = PretrainedTokenizer.load(folder)
        model = PersonaRanker(config, load_bert(folder / "bert", weights=False))
    else:
        tokenizer = WordTokenizer.load(folder)
        model = PersonaRanker(config)
    load_model(model, str(folder / "model.safetensors"))
    model.eval()
    return model, tokenizer, meta
