"""Retrieval checkpoints in confab's one format (`confab.checkpoints`): config.json + model.safetensors + tokenizer
files. Loading runs no code from the files.

The pretrained encoder runs in confab's transformer (`transformer.bert`, as PLATO-2 does). Tuned in its top layers
only (`tuned_layers`), it stores those layers alone ("changed-from-base"); the rest is read from the installed
all-MiniLM-L6-v2, whose checksum the config records so that a different one is refused. Checkpoints saved when the
encoder was Hugging Face's BertModel (its tensor names under `bert.`) load with their tensors renamed."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from confab.bundled import pretrained_folder, resolve
from confab.checkpoints import CHANGED, Base, Meta, read, write
from confab.config import from_dict, to_dict
from confab.errors import InvalidInput
from confab.io import atomic_path
from confab.retrieval.model import PersonaRanker, RankerConfig
from confab.retrieval.tokens import PretrainedTokenizer, WordTokenizer
from confab.transformer.bert import as_ours, block_as_ours, load_encoder, weights_sha256

KIND = "confab-retrieval"
# The untrained all-MiniLM-L6-v2 as a ranker, with the context and persona read as a trained agent of the same
# config reads them. The construction's weights were chosen on the bundled PERSONA-CHAT samples
# (benchmarks/README.md, "Context construction"); the shipped retrieval model starts from them.
ZERO_SHOT = "bundled:minilm"
ZERO_SHOT_RANKER = dict(encoder="pretrained", persona_encoder="encoder", similarity="cosine", context="turns",
                        context_turns=2, turn_decay=0.15, memory_gate=0.0, persona_match=1.0)  # fmt: skip


def new_model(config: RankerConfig) -> PersonaRanker:
    """A fresh ranker; the pretrained encoder starts from the installed all-MiniLM-L6-v2 weights."""
    return PersonaRanker(config, load_encoder(ZERO_SHOT) if config.encoder == "pretrained" else None)


def save(folder: Path, model: PersonaRanker, tokenizer, extra: dict) -> None:
    """The checkpoint of `model`; `extra` may hold its run (a typed field of the config.json) and anything else
    worth keeping beside it (data, result)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(folder)
    partial = _partial(model.config)
    with atomic_path(folder / "model.safetensors") as tmp:
        if partial:
            save_file({n: p.detach().contiguous() for n, p in _tuned(model)}, str(tmp))
        else:
            save_model(model, str(tmp))
    extra = dict(extra)
    meta = Meta(kind=KIND, network="ranker", config=to_dict(model.config), run=extra.pop("run", None),
                weights=CHANGED if partial else "all", base=_base() if partial else None, extra=extra)  # fmt: skip
    write(folder, meta)


def zero_shot(**changes) -> tuple[PersonaRanker, PretrainedTokenizer, Meta]:
    """`bundled:minilm`: the installed encoder untrained, read as ZERO_SHOT_RANKER (with `changes`) reads it."""
    meta = zero_shot_meta(**changes)
    model = new_model(from_dict(RankerConfig, meta.config)).eval()
    return model, PretrainedTokenizer(pretrained_folder()), meta


def zero_shot_meta(**changes) -> Meta:
    """What `zero_shot` would read from a config.json (the vocabulary: the encoder's 30,522 WordPiece tokens)."""
    config = RankerConfig(**{**ZERO_SHOT_RANKER, "tuned_layers": 0, "vocab_size": 30522, **changes})
    return Meta(kind=KIND, network="ranker", config=to_dict(config), extra={"model": ZERO_SHOT})


def load(folder: str | Path) -> tuple[PersonaRanker, WordTokenizer | PretrainedTokenizer, Meta]:
    """A checkpoint's ranker, tokenizer and config.json; `bundled:retrieval` is the shipped model,
    `bundled:minilm` the untrained encoder (`zero_shot`)."""
    if str(folder) == ZERO_SHOT:
        return zero_shot()
    folder = resolve(folder)[0]
    meta = read(folder, KIND)
    meta_path = folder / "config.json"
    if "context" not in meta.config:
        raise InvalidInput(
            f"{meta_path}: saved by a confab that read every context as one flat text, before the context and "
            f"persona options (`confab train retrieval --context`); train it again with this version"
        )
    config = from_dict(RankerConfig, meta.config, f"{meta_path}:config")
    weights = folder / "model.safetensors"
    if meta.weights == CHANGED:
        if meta.base != _base():
            raise InvalidInput(f"{meta_path}: tuned on another all-MiniLM-L6-v2 than the installed one (base)")
        tokenizer = PretrainedTokenizer.load(folder)
        model = PersonaRanker(config, load_encoder(ZERO_SHOT))
        tensors, tuned = _ours(load_file(weights), model), {n for n, _ in _tuned(model)}
        if set(tensors) != tuned:
            raise InvalidInput(f"{weights}: its tensors are not the {config.tuned_layers} tuned layers of the config")
        model.load_state_dict(tensors, strict=False)
    elif config.encoder == "pretrained":
        tokenizer = PretrainedTokenizer.load(folder)
        model = PersonaRanker(config, load_encoder(ZERO_SHOT, weights=False))
        tensors = load_file(weights)
        if any(k.startswith("context_encoder.bert.") for k in tensors):  # saved with BertModel's names
            renamed, state = _ours(tensors, model), model.state_dict()
            missing, _ = model.load_state_dict(renamed, strict=False)
            # a name of a tensor loaded under another (the encoders share one; the embeddings are its), or the LM
            # head BertModel had not, which a sentence encoder never reads
            shared = {state[k].data_ptr() for k in renamed if k in state}
            unloaded = [k for k in missing if state[k].data_ptr() not in shared and ".body.lm_" not in k]
            if unloaded:
                raise InvalidInput(f"{weights}: lacks {', '.join(unloaded[:5])}")
        else:
            load_model(model, str(weights))
    else:
        tokenizer = WordTokenizer.load(folder)
        model = PersonaRanker(config)
        load_model(model, str(weights))
    model.eval()
    return model, tokenizer, meta


def _ours(tensors: dict[str, torch.Tensor], model: PersonaRanker) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors under this version's names: those saved when the encoder was Hugging Face's BertModel
    (`context_encoder.bert.*`) become the transformer's (`context_encoder.body.*`, query, key and value fused)."""
    old = "context_encoder.bert."
    bert = {k.removeprefix(old): v for k, v in tensors.items() if k.startswith(old)}
    if not bert:
        return tensors
    if any(not k.startswith("encoder.layer.") for k in bert):  # the whole encoder
        ours = as_ours(bert, model.context_encoder.body.config, "checkpoint")
        ours = {k: v for k, v in ours.items() if not k.startswith(("pooler.", "lm_"))}
    else:  # its tuned layers
        layers = sorted({int(k.split(".")[2]) for k in bert})
        ours = {k: v for i in layers for k, v in block_as_ours(bert, i).items()}
    rest = {k: v for k, v in tensors.items() if not k.startswith(old)}
    return rest | {f"context_encoder.body.{k}": v for k, v in ours.items()}


def _partial(config: RankerConfig) -> bool:
    return config.encoder == "pretrained" and config.tuned_layers is not None


def _tuned(model: PersonaRanker) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


@functools.cache
def _base() -> Base:
    """The installed pretrained encoder a partial checkpoint builds on (hashed once a process: 90 MB)."""
    return Base(encoder=ZERO_SHOT, sha256=weights_sha256(pretrained_folder()))
