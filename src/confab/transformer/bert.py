"""A BERT-family encoder's weights in confab's transformer (`transformer.model`), as UniLM and PLATO (v1) start
from BERT.

The encoder's embeddings, blocks, pooler and MLM head take the transformer's names; query, key and value are fused.
The response role starts from the encoder's second segment embedding, context and persona from its first, and the
turn embeddings from zero, so under a bidirectional mask the transformer computes exactly what the encoder does on
the same tokens and segments. A folder in Hugging Face layout (config.json, model.safetensors, tokenizer.json or
vocab.txt) is read as data: JSON and safetensors, no code. `bundled:minilm` is the all-MiniLM-L6-v2 installed with
confab.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from confab.bundled import pretrained_folder
from confab.errors import InvalidInput, MissingInput
from confab.io import checksum
from confab.transformer.model import ROLE_SELF, PlatoConfig, UnifiedTransformer

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
    return as_ours({k.removeprefix("bert."): v for f in files for k, v in load_file(str(f)).items()}, config, folder)


def as_ours(bert: dict[str, torch.Tensor], config: PlatoConfig, folder) -> dict[str, torch.Tensor]:
    """A BERT state dict (its names without the `bert.` prefix; from `folder`, for errors) under the transformer's
    names; heads it lacks are left out."""
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
    for i in range(config.layers):
        out |= block_as_ours(bert, i)  # with query, key and value fused
    # the response (and the slot) is BERT's second segment, as in its sentence pairs; context and persona the first
    segments = bert[TYPES] if TYPES in bert else torch.zeros(2, config.hidden)
    out["roles.weight"] = segments[[1 if r == ROLE_SELF else 0 for r in range(config.roles)]].clone()
    out["turns.weight"] = torch.zeros(config.max_turns, config.hidden)
    if "lm_transform.0.weight" not in out:  # no MLM head: the transform starts as the identity
        out["lm_transform.0.weight"], out["lm_transform.0.bias"] = torch.eye(config.hidden), torch.zeros(config.hidden)
    return {k: v.float() for k, v in out.items()}


@functools.cache
def weights_sha256(folder: Path) -> str:
    """sha256 of the encoder's weights file (as the retrieval checkpoints record it); of their digests when several."""
    digests = [checksum(f)["sha256"] for f in sorted(Path(folder).glob("*.safetensors"))]
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()


def load_encoder(name: str | Path = BUNDLED, weights: bool = True, dropout: float | None = None) -> UnifiedTransformer:
    """The encoder as confab's transformer body alone (a sentence encoder: no heads), with its weights or, without
    `weights`, of its shape only (a checkpoint's tensors about to replace them)."""
    folder = encoder_folder(name)
    config = plato_config(folder, dropout)
    body = UnifiedTransformer(config)
    if weights:
        tensors = {k: v for k, v in state_dict_of(folder, config).items() if not k.startswith("pooler.")}
        missing, _ = body.load_state_dict(tensors, strict=False)
        # an encoder without an MLM head leaves the LM head as a new model's: a sentence encoder never reads it
        if unloaded := [k for k in missing if not k.startswith(("lm_bias", "lm_transform."))]:
            raise InvalidInput(f"{folder}: no weights for {', '.join(unloaded[:5])}")
    return body


def block_as_ours(bert: dict[str, torch.Tensor], layer: int) -> dict[str, torch.Tensor]:
    """BERT's block `layer` (its names without the `bert.` prefix) under the transformer's names; query, key and
    value fused."""
    out = {}
    for p in ("weight", "bias"):
        parts = [f"encoder.layer.{layer}.attention.self.{x}.{p}" for x in ("query", "key", "value")]
        out[f"blocks.{layer}.attention.qkv.{p}"] = torch.cat([bert[q] for q in parts])
        for ours, theirs in BLOCK.items():
            out[f"blocks.{layer}.{ours}.{p}"] = bert[f"encoder.layer.{layer}.{theirs}.{p}"]
    return out
