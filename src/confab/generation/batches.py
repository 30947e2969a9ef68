"""Examples laid out as one token sequence each (persona, context, response), padded into batches, and the
attention masks of the unified transformer.

Layout: [slot] persona_1 [EOS] ... context_1 [EOS] ... [BOS] response [EOS]. Everything before [BOS] is the
prefix, read bidirectionally; the response is read left to right. Context is cut from its oldest turn when the
prefix is too long; persona sentences keep their own budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from confab.generation.limits import Limits
from confab.text.subwords import Tokenizer
from confab.transformer.model import ROLE_PARTNER, ROLE_PERSONA, ROLE_SELF

TYPE_CONTEXT, TYPE_RESPONSE = 0, 1  # the knover layout's two roles (Knover's type ids)
PERSONA_TURN = "your persona : {}"  # how a persona sentence goes in as a leading context turn (knover layout)


@dataclass
class Sequence:
    tokens: list[int]
    roles: list[int]
    turns: list[int]
    prefix: int  # positions read bidirectionally (slot, persona, context)


def layout(
    tok: Tokenizer,
    persona: list[str],
    context: list[str],
    response: str | list[int] | None,
    limits: Limits,
    slot: int | None = None,
) -> Sequence:
    """One example as a sequence; with `response=None`, the prefix and [BOS] (to generate from). A response may
    be ids already (a candidate as generated)."""
    if limits.layout == "knover":
        return knover_layout(tok, persona, context, response, limits, slot)
    tokens, roles, turns = [tok.latent if slot is None else slot], [ROLE_SELF], [0]
    budget = limits.max_persona
    for sentence in persona:
        if budget < 2:
            break
        ids = tok.encode(sentence)[: budget - 1] + [tok.eos]
        budget -= len(ids)
        tokens += ids
        roles += [ROLE_PERSONA] * len(ids)
        turns += [0] * len(ids)
    # the last context turn is the partner's; turns count back from the response (turn 0)
    kept, budget = [], limits.max_context - 1
    for back, turn in enumerate(reversed(context), start=1):
        ids = tok.encode(turn) + [tok.eos]
        if len(ids) > budget:
            ids = ids[len(ids) - budget :] if not kept else []
        if not ids:
            break
        kept.append((ids, ROLE_PARTNER if back % 2 else ROLE_SELF, back))
        budget -= len(ids)
    for ids, role, back in reversed(kept):
        tokens += ids
        roles += [role] * len(ids)
        turns += [back] * len(ids)
    prefix = len(tokens)
    body = _body(tok, response, limits)
    return Sequence(tokens + body, roles + [ROLE_SELF] * len(body), turns + [0] * len(body), prefix)


def _body(tok: Tokenizer, response: str | list[int] | None, limits: Limits) -> list[int]:
    """[BOS] response [EOS], cut to max_response; [BOS] alone to generate from."""
    if response is None:
        return [tok.bos]
    ids = tok.encode(response) if isinstance(response, str) else list(response)
    return [tok.bos, *ids[: limits.max_response - 2], tok.eos]


def knover_layout(
    tok: Tokenizer, persona: list[str], context: list[str], response: str | list[int] | None, limits: Limits,
    slot: int | None,
) -> Sequence:  # fmt: skip
    """The released PLATO-2's input: [slot] [BOS] turn_1 [EOS] ... turn_n [EOS] [BOS] response [EOS], type 0 for
    the context and 1 for the response, turns not counted. The model has no persona segment, so persona sentences
    go in as leading turns ("your persona : ..."). While 1 + the turns' tokens (each with its [EOS]) exceed
    `max_context`, the oldest turn goes, whole (so a single turn longer than that leaves the context empty, as the
    reference's reader does). The slot is the latent's bare column of a generator; an evaluator reads the sequence
    from the [BOS] after it (`evaluator_view`)."""
    turns = [tok.encode(t) + [tok.eos] for t in [*(PERSONA_TURN.format(p) for p in persona), *context]]
    while turns and 1 + sum(map(len, turns)) > limits.max_context:
        turns.pop(0)
    tokens = [tok.latent if slot is None else slot, tok.bos, *(i for t in turns for i in t)]
    prefix = len(tokens)
    body = _body(tok, response, limits)
    roles = [TYPE_CONTEXT] * prefix + [TYPE_RESPONSE] * len(body)
    return Sequence(tokens + body, roles, [0] * len(roles), prefix)


def evaluator_view(seq: Sequence, tok: Tokenizer, layout: str) -> Sequence:
    """The sequence an evaluation model reads: the slot is [CLS] (confab), or there is no slot and the sequence
    starts at the context's [BOS], where the reference's NSP pools (knover)."""
    if layout == "knover":
        return Sequence(seq.tokens[1:], seq.roles[1:], seq.turns[1:], seq.prefix - 1)
    return Sequence([tok.cls, *seq.tokens[1:]], seq.roles, seq.turns, seq.prefix)


def collate(sequences: list[Sequence], pad: int = 0, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Right-padded tensors: tokens, roles, turns, positions [B, T]; prefix and length [B]; on `device` (default:
    the CPU, where training batches are made before they are moved)."""
    width = max(len(s.tokens) for s in sequences)

    def padded(rows: list[list[int]], value: int) -> torch.Tensor:
        return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long, device=device)

    return {
        "tokens": padded([s.tokens for s in sequences], pad),
        "roles": padded([s.roles for s in sequences], 0),
        "turns": padded([s.turns for s in sequences], 0),
        "positions": padded([list(range(len(s.tokens))) for s in sequences], 0),
        "prefix": torch.tensor([s.prefix for s in sequences], device=device),
        "length": torch.tensor([len(s.tokens) for s in sequences], device=device),
    }


def prefix_lm_mask(prefix: torch.Tensor, length: torch.Tensor, width: int, causal: bool = True) -> torch.Tensor:
    """[B, T, T] booleans, True where query i may attend key j: keys inside the sequence, and (when causal)
    either in the prefix or not after i. Padding queries attend to themselves only, so no row is empty."""
    i = torch.arange(width, device=length.device)[None, :, None]
    j = torch.arange(width, device=length.device)[None, None, :]
    inside = (j < length[:, None, None]) & (i < length[:, None, None])
    allowed = inside & ((j < prefix[:, None, None]) | (j <= i)) if causal else inside
    return allowed | ((i == j) & (i >= length[:, None, None]))


def coherence_view(batch: dict[str, torch.Tensor], dual: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The evaluator's input and mask: the whole sequence read bidirectionally (joint), or (dual) the prefix and
    the response each read on its own, the response's positions counted again from 0 as a sentence's are."""
    prefix, length, width = batch["prefix"], batch["length"], batch["tokens"].size(1)
    mask = prefix_lm_mask(prefix, length, width, causal=False)
    if not dual:
        return batch, mask
    column = torch.arange(width, device=prefix.device)[None, :]
    answer = column >= prefix[:, None]
    positions = torch.where(answer & (column < length[:, None]), column - prefix[:, None], batch["positions"])
    same = answer[:, :, None] == answer[:, None, :]
    alone = torch.eye(width, dtype=torch.bool, device=prefix.device)[None]
    return {**batch, "positions": positions}, mask & (same | alone)


def response_targets(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """[B, T] next-token targets: at each response position before [EOS], the token after it; elsewhere -100."""
    tokens, prefix, length = batch["tokens"], batch["prefix"], batch["length"]
    pos = torch.arange(tokens.size(1), device=tokens.device)[None, :]
    targets = torch.full_like(tokens, -100)
    targets[:, :-1] = tokens[:, 1:]
    inside = (pos >= prefix[:, None]) & (pos < length[:, None] - 1)
    return targets.masked_fill(~inside, -100)
