"""Examples (dicts of the dataset schema) to tensors for the ranker."""

from __future__ import annotations

import torch

from confab.retrieval.model import RankerConfig
from confab.retrieval.tokens import join_turns


def context_batch(examples: list[dict], tokenizer, config: RankerConfig) -> dict[str, torch.Tensor]:
    ids, mask = tokenizer.encode([join_turns(e["context"]) for e in examples], config.max_context_tokens, keep_end=True)
    batch = {"context": ids, "context_mask": mask}
    if config.use_persona:
        n = min(config.max_persona_sentences, max((len(e["persona"]) for e in examples), default=0))
        if n:
            flat, present = [], []
            for e in examples:
                sentences = list(e["persona"][:n])
                present.append([True] * len(sentences) + [False] * (n - len(sentences)))
                flat.extend(sentences + [""] * (n - len(sentences)))
            p_ids, p_mask = tokenizer.encode(flat, config.max_persona_tokens)
            p_ids = p_ids.view(len(examples), n, -1)
            p_mask = p_mask.view(len(examples), n, -1) & torch.tensor(present).unsqueeze(-1)
            batch.update(persona=p_ids, persona_mask=p_mask)
    return batch


def response_batch(texts: list[str], tokenizer, config: RankerConfig) -> dict[str, torch.Tensor]:
    ids, mask = tokenizer.encode(texts, config.max_response_tokens)
    return {"response": ids, "response_mask": mask}


def training_batch(examples: list[dict], tokenizer, config: RankerConfig) -> dict[str, torch.Tensor]:
    return {
        **context_batch(examples, tokenizer, config),
        **response_batch([e["response"] for e in examples], tokenizer, config),
    }
