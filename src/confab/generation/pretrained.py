"""A unified transformer started from a pretrained BERT-family encoder, as UniLM and PLATO (v1) start from BERT.

The encoder's embeddings, blocks, pooler and WordPiece vocabulary become the unified transformer's; the LM head
is tied to its word embeddings, with BERT's transform (dense, GELU, LayerNorm) and bias, taken from the folder when
it has an MLM head and started as the identity otherwise. The response role starts from the encoder's second segment
embedding, context and persona from its first, and the turn embeddings from zero, so under a bidirectional mask the
model computes exactly what the encoder does on the same tokens and segments;
the prefix-LM mask, the persona segment and the latent/[CLS] slot are the unified transformer's own.

A folder in Hugging Face layout (config.json, model.safetensors, tokenizer.json or vocab.txt) is read as data:
JSON and safetensors, no code. `bundled:minilm` is the all-MiniLM-L6-v2 installed with confab.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from confab.bundled import pretrained_folder
from confab.checkpoints import Base
from confab.errors import InvalidInput, MissingInput
from confab.generation.model import ROLE_SELF, Generator, PlatoConfig, UnifiedTransformer, network
from confab.io import checksum
from confab.text.wordpiece import WordPieceTokenizer

BUNDLED = "bundled:minilm"
# tensors of a BERT checkpoint that the unified transformer has no use for (pre-training heads, buffers)
UNUSED = ("embeddings.position_ids", "cls.seq_relationship.", "cls.predictions.decoder.")


def encoder_folder(name: str | Path) -> Path:
    if str(name) == BUNDLED:
        return pretrained_folder()
    folder = Path(name)
    if not (folder / "config.json").exists():
        raise MissingInput(f"{name}: no config.json; give a BERT-style encoder folder or {BUNDLED}")
    return folder


def plato_config(folder: Path, dropout: float | None = None) -> PlatoConfig:
    """The unified transformer of the encoder's shape: post-norm, embedding LayerNorm, LM-head transform."""
    path = folder / "config.json"
    bert = json.loads(path.read_text())
    if bert.get("model_type") not in ("bert", None) or bert.get("position_embedding_type", "absolute") != "absolute":
        kind = bert.get("model_type")
        raise InvalidInput(f"{path}: a {kind!r} model; a BERT-style one (absolute positions) is needed")
    if bert.get("hidden_act", "gelu") != "gelu":
        raise InvalidInput(f"{path}: hidden_act {bert['hidden_act']!r}; the unified transformer uses (erf) gelu")
    return PlatoConfig(
        vocab_size=bert["vocab_size"], layers=bert["num_hidden_layers"], hidden=bert["hidden_size"],
        heads=bert["num_attention_heads"], ffn=bert["intermediate_size"],
        max_positions=bert["max_position_embeddings"],
        dropout=bert.get("hidden_dropout_prob", 0.1) if dropout is None else dropout,
        norm="post", norm_eps=bert.get("layer_norm_eps", 1e-12), embedding_norm=True, lm_transform=True,
        pooling=sentence_pooling(folder), recognition_norm=True, latent_k=0,
    )  # fmt: skip


def sentence_pooling(folder: Path) -> str:
    """How the encoder pools a sequence: sentence-transformers' 1_Pooling/config.json says so for its models
    (all-MiniLM-L6-v2: the mean); a plain BERT folder has the [CLS] pooler, the first position."""
    path = folder / "1_Pooling" / "config.json"
    if not path.exists():
        return "first"
    modes = json.loads(path.read_text())
    if modes.get("pooling_mode_mean_tokens"):
        return "mean"
    if modes.get("pooling_mode_cls_token"):
        return "first"
    raise InvalidInput(f"{path}: pools by {[k for k, v in modes.items() if v is True]}; mean or cls is supported")


# the unified transformer's names -> BERT's (in each block, and outside the blocks); query, key and value are fused
BLOCK = {"attention.out": "attention.output.dense", "norm1": "attention.output.LayerNorm",
         "mlp.0": "intermediate.dense", "mlp.2": "output.dense", "norm2": "output.LayerNorm"}  # fmt: skip
EMBEDDINGS = {"tokens": "embeddings.word_embeddings", "positions": "embeddings.position_embeddings",
              "embedding_norm": "embeddings.LayerNorm"}  # fmt: skip
HEADS = {"pooler.0": "pooler.dense", "lm_transform.0": "cls.predictions.transform.dense",
         "lm_transform.2": "cls.predictions.transform.LayerNorm"}  # fmt: skip
TYPES = "embeddings.token_type_embeddings.weight"


def state_dict_of(folder: Path, config: PlatoConfig) -> dict[str, torch.Tensor]:
    """The encoder's weights under the unified transformer's names; heads the folder lacks are left out."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise MissingInput(f"{folder}: no .safetensors weights")
    bert = {k.removeprefix("bert."): v for f in files for k, v in load_file(str(f)).items()}
    modules = dict(EMBEDDINGS)
    for i in range(config.layers):
        modules |= {f"blocks.{i}.{ours}": f"encoder.layer.{i}.{theirs}" for ours, theirs in BLOCK.items()}
    required = {f"{ours}.{p}": f"{theirs}.{p}" for ours, theirs in modules.items() for p in ("weight", "bias")}
    del required["tokens.bias"], required["positions.bias"]  # embeddings have weights only
    optional = {f"{ours}.{p}": f"{theirs}.{p}" for ours, theirs in HEADS.items() for p in ("weight", "bias")}
    optional["lm_bias"] = "cls.predictions.bias"
    qkv = {i: [f"encoder.layer.{i}.attention.self.{x}" for x in ("query", "key", "value")]
           for i in range(config.layers)}  # fmt: skip
    fused = [f"{q}.{p}" for parts in qkv.values() for q in parts for p in ("weight", "bias")]
    if missing := [k for k in [*required.values(), *fused] if k not in bert]:
        raise InvalidInput(f"{folder}: the encoder's weights lack {', '.join(missing[:5])}")
    used = {*required.values(), *optional.values(), *fused, TYPES}
    if unexpected := [k for k in bert if k not in used and not k.startswith(UNUSED)]:
        raise InvalidInput(f"{folder}: tensors the unified transformer has no place for: {', '.join(unexpected[:5])}")
    out = {ours: bert[theirs] for ours, theirs in required.items()}
    out |= {ours: bert[theirs] for ours, theirs in optional.items() if theirs in bert}
    for i, parts in qkv.items():
        for p in ("weight", "bias"):
            out[f"blocks.{i}.attention.qkv.{p}"] = torch.cat([bert[f"{q}.{p}"] for q in parts])
    # the response (and the slot) is BERT's second segment, as in its sentence pairs; context and persona the first
    segments = bert[TYPES] if TYPES in bert else torch.zeros(2, config.hidden)
    out["roles.weight"] = segments[[1 if r == ROLE_SELF else 0 for r in range(config.roles)]].clone()
    out["turns.weight"] = torch.zeros(config.max_turns, config.hidden)
    if "lm_transform.0.weight" not in out:  # no MLM head: the transform starts as the identity
        out["lm_transform.0.weight"], out["lm_transform.0.bias"] = torch.eye(config.hidden), torch.zeros(config.hidden)
    return {k: v.float() for k, v in out.items()}


def from_encoder(
    name: str | Path, role: str = "generator", dropout: float | None = None, **changes
) -> tuple[UnifiedTransformer, WordPieceTokenizer, dict]:
    """(model, tokenizer, base): the `role` network ("generator" or "evaluator") with the encoder's weights, its
    WordPiece vocabulary, and what it started from (its name and the sha256 of its weights) for the
    checkpoint's config; `changes` to the config: latent_k for a latent generator, coherence for how an evaluator
    reads a pair (generation.model)."""
    folder = encoder_folder(name)
    config = replace(plato_config(folder, dropout), **changes)
    model = network(role, config)
    shapes = model.state_dict()
    # the pooler is the joint evaluator's: the generator and a dual evaluator have no use for it
    weights = {k: v for k, v in state_dict_of(folder, config).items() if k in shapes or not k.startswith("pooler.")}
    if wrong := [f"{k} {tuple(v.shape)} (expected {tuple(shapes[k].shape)})" for k, v in weights.items()
                 if k not in shapes or v.shape != shapes[k].shape]:  # fmt: skip
        raise InvalidInput(f"{folder}: misshaped tensors: {', '.join(wrong[:5])}")
    model.load_state_dict(weights, strict=False)
    if isinstance(model, Generator) and config.latent_k:
        model.scale_latents()
    tok = WordPieceTokenizer.from_encoder(folder)
    if len(tok) > config.vocab_size:
        raise InvalidInput(f"{folder}: {len(tok)} tokens in the vocabulary, {config.vocab_size} embeddings")
    return model, tok, Base(encoder=str(name), sha256=weights_sha256(folder))


@functools.cache
def weights_sha256(folder: Path) -> str:
    """sha256 of the encoder's weights file (as the retrieval checkpoints record it); of their digests when several."""
    digests = [checksum(f)["sha256"] for f in sorted(Path(folder).glob("*.safetensors"))]
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
