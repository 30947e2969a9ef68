"""PLATO-2's networks started from a pretrained BERT-family encoder (`transformer.bert`), as UniLM and PLATO (v1)
start from BERT: the encoder's weights, its WordPiece vocabulary, and its pooler for a joint evaluator. The LM head
is tied to the word embeddings, with BERT's transform (dense, GELU, LayerNorm) and bias, taken from the folder when
it has an MLM head and started as the identity otherwise; the prefix-LM mask, the persona segment and the latent/[CLS]
slot are the unified transformer's own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from confab.checkpoints import Base
from confab.errors import InvalidInput
from confab.generation.model import Generator, network
from confab.text.wordpiece import WordPieceTokenizer
from confab.transformer.bert import encoder_folder, plato_config, state_dict_of, weights_sha256
from confab.transformer.model import UnifiedTransformer


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
