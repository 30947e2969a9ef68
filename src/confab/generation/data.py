"""Training steps for each stage: examples tokenised once, grouped by length into micro-batches of at most
`max_tokens` padded tokens, and micro-batches into optimiser steps of about `tokens_per_step` tokens.

Everything random (order, negatives, masks) is drawn from (seed, epoch, step), so the steps of an epoch are
the same after a restart and a killed run resumes exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch

from confab.generation.batches import Sequence, collate, evaluator_view, layout
from confab.generation.limits import Limits
from confab.text.subwords import Tokenizer

MLM_RATE = 0.15


@dataclass
class BatchConfig:
    max_tokens: int = 4096  # padded tokens in one micro-batch (bounds memory)
    tokens_per_step: int = 8192  # tokens of one optimiser step (accumulated over micro-batches)


def encode(examples: list[dict], tok: Tokenizer, limits: Limits) -> list[Sequence]:
    return [layout(tok, list(e.get("persona") or []), list(e["context"]), e["response"], limits) for e in examples]


def plan(lengths: list[int], config: BatchConfig, seed: int, epoch: int, *key: int) -> list[list[list[int]]]:
    """Steps, each a list of micro-batches of example indices (`key`: which chunk of a stream, if streamed)."""
    rng = np.random.default_rng([seed, epoch, *key])
    order = rng.permutation(len(lengths))
    # sort by length within windows of shuffled examples, so micro-batches hold similar lengths (little padding)
    window = 64 * max(1, config.max_tokens // max(1, int(np.mean(lengths))))
    micro = []
    for start in range(0, len(order), window):
        current, width = [], 0
        for i in sorted(order[start : start + window], key=lambda i: lengths[i]):
            if current and max(width, lengths[i]) * (len(current) + 1) > config.max_tokens:
                micro.append(current)
                current, width = [], 0
            current.append(int(i))
            width = max(width, lengths[i])
        micro.append(current)
    micro = [micro[j] for j in rng.permutation(len(micro))]
    steps, step, tokens = [], [], 0
    for m in micro:
        step.append(m)
        tokens += sum(lengths[i] for i in m)
        if tokens >= config.tokens_per_step:
            steps.append(step)
            step, tokens = [], 0
    if step:
        steps.append(step)
    return steps


def micro_batch(
    seqs: list[Sequence], indices: list[int], tok: Tokenizer, rng: np.random.Generator, layout: str = "confab",
    pairs: bool = False,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One micro-batch. With `pairs` (the evaluator's stage), each context with its response (label 1) and with
    the response of a random other example (label 0), 15% of the tokens masked for the masked LM."""
    chosen = [seqs[i] for i in indices]
    if not pairs:
        return collate(chosen, tok.pad)
    negatives = []
    for i, s in zip(indices, chosen, strict=True):
        j = int(rng.integers(len(seqs) - 1))
        other = seqs[j + (j >= i)]  # any example but this one
        p, q = s.prefix, other.prefix
        negatives.append(
            Sequence(s.tokens[:p] + other.tokens[q:], s.roles[:p] + other.roles[q:], s.turns[:p] + other.turns[q:], p)
        )
    both = [evaluator_view(s, tok, layout) for s in chosen + negatives]
    batch = collate(both, tok.pad)
    batch["label"] = torch.tensor([1] * len(chosen) + [0] * len(negatives))
    batch["tokens"], batch["mlm_targets"] = mask_tokens(batch, tok, rng)
    return batch


def mask_tokens(batch: dict, tok: Tokenizer, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's recipe: 15% of the real tokens (not the slot, not padding) are predicted; of those 80% become
    [MASK], 10% a random token, 10% stay."""
    tokens = batch["tokens"].clone()
    pos = torch.arange(tokens.size(1))[None, :]
    real = (pos > 0) & (pos < batch["length"][:, None])
    draw = torch.from_numpy(rng.random(tokens.shape + (2,)).astype(np.float32))
    chosen = real & (draw[..., 0] < MLM_RATE)
    targets = tokens.masked_fill(~chosen, -100)
    tokens[chosen & (draw[..., 1] < 0.8)] = tok.mask
    swap = chosen & (draw[..., 1] >= 0.8) & (draw[..., 1] < 0.9)
    tokens[swap] = torch.from_numpy(rng.integers(len(tok), size=int(swap.sum()))).long()
    return tokens, targets


def step_batches(
    seqs: list[Sequence], step: list[list[int]], tok: Tokenizer, rng: np.random.Generator, layout: str = "confab",
    pairs: bool = False,
) -> list[dict]:  # fmt: skip
    """The micro-batches of one step, each weighted by its share of the step's loss terms."""
    micro = [micro_batch(seqs, m, tok, rng, layout, pairs) for m in step]
    sizes = [loss_terms(b) for b in micro]
    for b, n in zip(micro, sizes, strict=True):
        b["weight"] = n / sum(sizes)
    return micro


def streamed_steps(rows: Iterable[dict], tok: Tokenizer, limits: Limits, config: BatchConfig, pairs: bool,
                   seed: int, epoch: int, rank: int, chunk: int = 20_000) -> Iterator[list[dict]]:  # fmt: skip
    """A rank's steps of one epoch from its stream of examples, `config` being its share of a step's tokens:
    the stream is read `chunk` examples at a time and each chunk is planned as a split in memory would be
    (evaluation pairs draw their random responses from the chunk). A last chunk of one example joins the one before."""
    rows = iter(rows)
    examples, c = list(islice(rows, chunk)), 0
    while examples:
        following = list(islice(rows, chunk))
        if len(following) < 2:
            examples, following = examples + following, []
        seqs = encode(examples, tok, limits)
        for s, step in enumerate(plan([len(q.tokens) for q in seqs], config, seed, epoch, rank, c)):
            rng = np.random.default_rng([seed, epoch, rank, c, s])
            yield step_batches(seqs, step, tok, rng, limits.layout, pairs)
        examples, c = following, c + 1


def loss_terms(batch: dict) -> int:
    """What a micro-batch's loss averages over: response tokens (generation) or sequences (evaluation pairs)."""
    if "label" in batch:
        return len(batch["label"])
    return int((batch["length"] - batch["prefix"] - 1).sum())
