"""Examples (dicts of the dataset schema) to tensors for the ranker.

A context is a list of slots (texts encoded one by one): its turns, the latest first, or one flat text; a persona
is a list of sentences. Both become [B, N, T] ids with a mask, empty slots all padding."""

from __future__ import annotations

import torch

from confab.retrieval.model import RankerConfig
from confab.retrieval.tokens import join_turns


def context_texts(example: dict, config: RankerConfig) -> list[str]:
    """The texts the context is read as: its last `context_turns` turns, the latest first, or them (with the
    persona before them, `persona_as="text"`) joined into one."""
    turns = list(example["context"]) or [""]
    k = config.context_turns
    if config.context == "turns":
        return turns[::-1][:k]
    kept = turns[-k:] if k else turns
    if config.use_persona and config.persona_as == "text":
        kept = [*example.get("persona", [])[: config.max_persona_sentences], *kept]
    return [join_turns(kept)]


def persona_texts(example: dict, config: RankerConfig) -> list[str]:
    """The persona sentences the memory reads (none when it reads none)."""
    if not (config.use_persona and config.persona_as == "memory"):
        return []
    return list(example.get("persona", []))[: config.max_persona_sentences]


def token_limit(config: RankerConfig, role: str) -> tuple[int, bool]:
    """(most tokens, whether the end is kept) of a text in this role: a context keeps its latest tokens."""
    return {
        "context": (config.max_context_tokens, True),
        "persona": (config.max_persona_tokens, False),
        "response": (config.max_response_tokens, False),
    }[role]


def encode_texts(tokenizer, texts: list[str], max_len: int, keep_end: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts to ids and mask [B, T]: each cut to `max_len` tokens, keeping its end (a context: the latest turns matter
    most) or its start, and the tokenizer's framing ([CLS] ... [SEP]) around what is kept; padded with its pad id."""
    head, tail = tokenizer.framing
    room = max(0, max_len - head - tail)
    rows = []
    for ids in tokenizer.encode_batch(texts):
        inner = ids[head : len(ids) - tail]
        inner = (inner[len(inner) - room :] if keep_end else inner[:room]) if len(inner) > room else inner
        rows.append([*ids[:head], *inner, *ids[len(ids) - tail :]])
    width = max(1, max((len(r) for r in rows), default=1))
    # made on the CPU, whatever the default device: batches are moved to the model's device at its door
    ids = torch.full((len(rows), width), tokenizer.pad, dtype=torch.long, device="cpu")
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long, device="cpu")
    return ids, ids != tokenizer.pad


def slots(lists: list[list[str]], tokenizer, max_len: int, keep_end: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists of texts to ids and mask [B, N, T], N the longest list; missing slots are all padding."""
    n = max((len(x) for x in lists), default=0)
    flat = [t for x in lists for t in [*x, *[""] * (n - len(x))]]
    present = torch.tensor([[True] * len(x) + [False] * (n - len(x)) for x in lists], dtype=torch.bool)
    if not n:
        return torch.zeros(len(lists), 0, 1, dtype=torch.long), torch.zeros(len(lists), 0, 1, dtype=torch.bool)
    ids, mask = encode_texts(tokenizer, flat, max_len, keep_end)
    ids, mask = ids.view(len(lists), n, -1), mask.view(len(lists), n, -1) & present.view(len(lists), n, 1)
    return ids, mask


def context_batch(examples: list[dict], tokenizer, config: RankerConfig) -> dict[str, torch.Tensor]:
    ids, mask = slots([context_texts(e, config) for e in examples], tokenizer, *token_limit(config, "context"))
    batch = {"context": ids, "context_mask": mask}
    personas = [persona_texts(e, config) for e in examples]
    if any(personas):
        batch["persona"], batch["persona_mask"] = slots(personas, tokenizer, *token_limit(config, "persona"))
    return batch


def response_batch(texts: list[str], tokenizer, config: RankerConfig) -> dict[str, torch.Tensor]:
    limit, keep_end = token_limit(config, "response")
    ids, mask = encode_texts(tokenizer, texts, limit, keep_end)
    return {"response": ids, "response_mask": mask}


def training_batch(examples: list[dict], tokenizer, config: RankerConfig) -> dict[str, torch.Tensor]:
    return {
        **context_batch(examples, tokenizer, config),
        **response_batch([e["response"] for e in examples], tokenizer, config),
    }
