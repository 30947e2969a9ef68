"""Decoding with a key/value cache: greedy, top-k and nucleus sampling, beam search, n-gram repetition blocking
and length limits.

Prefixes are left-padded so that every row's next token lands in the same column; position ids are explicit,
so padding changes nothing but which keys are visible. The prefix (slot, persona, context) is encoded in one
pass, then [BOS] and each further token cost one position per row: the context never sees the response, as in
training.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from confab.errors import InvalidInput
from confab.generation.batches import Sequence
from confab.transformer.model import UnifiedTransformer

STRATEGIES = ("sampling", "greedy", "beam")


@dataclass
class DecodeConfig:
    strategy: str = "sampling"  # sampling | greedy | beam
    top_k: int = 0  # sampling: keep the k most likely tokens (0: all)
    top_p: float = 0.9  # sampling: keep the smallest set of tokens whose probability reaches p (1.0: all)
    temperature: float = 1.0
    beam_size: int = 4
    length_penalty: float = 1.0  # beam: scores are log p / length**length_penalty
    min_length: int = 1  # response tokens before [EOS] may be chosen
    max_length: int = 40  # response tokens, [EOS] included
    no_repeat_ngram: int = 3  # never repeat an n-gram inside one response (0: off)
    seed: int | None = None

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise InvalidInput(f"decoding {self.strategy!r}: {', '.join(STRATEGIES)}")
        if self.max_length < 1 or self.min_length < 0 or self.top_k < 0 or self.no_repeat_ngram < 0:
            raise InvalidInput("max length must be at least 1; min length, top-k and n-gram blocking at least 0")
        if not 0 < self.top_p <= 1 or self.temperature <= 0 or self.beam_size < 1:
            raise InvalidInput("top-p must be in (0, 1], the temperature above 0, the beam at least 1 wide")


@dataclass
class Output:
    ids: list[int]  # the response tokens, without [BOS] and [EOS]
    logprob: float  # sum of log p(token) under the model (untempered), [EOS] included when finished
    finished: bool  # ended with [EOS] within max_length


@torch.no_grad()
def generate(
    model: UnifiedTransformer,
    prefixes: list[Sequence],
    eos: int,
    config: DecodeConfig,
    slots: torch.Tensor | None = None,
    banned: Iterable[int] = (),
) -> list[Output]:
    """One response per prefix (each ends with [BOS]); `slots` [B, D] replaces the slot embeddings (latent z);
    `banned` tokens are never emitted (the vocabulary's special tokens but [EOS], as the reference bans UNK,
    BOS and MASK)."""
    device = model.device  # everything decoding makes lives where the model does
    banned = torch.tensor(sorted(set(banned) - {eos}), dtype=torch.long, device=device)
    if config.strategy == "beam":
        return [
            _beam(model, p, eos, config, None if slots is None else slots[i : i + 1], banned)
            for i, p in enumerate(prefixes)
        ]
    generator = torch.Generator(device).manual_seed(config.seed) if config.seed is not None else None
    logits, visible, position, cache, role = _first_step(model, prefixes, slots, config.max_length)
    b = len(prefixes)
    out = [[] for _ in range(b)]
    logprob = torch.zeros(b, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    for step in range(config.max_length):
        # the logits themselves are blocked and sampled (the same order as log p): only the chosen token's log p
        # is needed, logit - logsumexp, not a second vocabulary-wide tensor
        logits = logits.float()
        normaliser = torch.logsumexp(logits, dim=-1)
        allowed = _block(logits, out, eos, step, config, banned)
        if config.strategy == "greedy":
            token = allowed.argmax(-1)
        else:
            token = _sample(allowed if config.temperature == 1 else allowed / config.temperature, config, generator)
        token = torch.where(done, torch.full_like(token, eos), token)
        # a chosen token is never blocked, so its logit is the model's
        logprob += torch.where(done, 0.0, allowed.gather(1, token[:, None])[:, 0] - normaliser)
        for ids, t in zip(out, token.tolist(), strict=True):
            if t != eos:  # finished rows only ever get [EOS]
                ids.append(t)
        done |= token == eos
        if done.all() or step == config.max_length - 1:
            break
        visible = torch.cat([visible, visible.new_ones(b, 1)], dim=1)
        logits = _next(model, token, position, visible, cache, role)
        position += 1
    return [Output(out[i], float(logprob[i]), bool(done[i])) for i in range(b)]


def _left_padded(prefixes: list[Sequence], device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    width = max(len(p.tokens) for p in prefixes)

    def rows(get) -> torch.Tensor:
        return torch.tensor([[0] * (width - len(p.tokens)) + get(p) for p in prefixes], dtype=torch.long,
                            device=device)  # fmt: skip

    batch = {
        "tokens": rows(lambda p: p.tokens),
        "roles": rows(lambda p: p.roles),
        "turns": rows(lambda p: p.turns),
        "positions": rows(lambda p: list(range(len(p.tokens)))),
        "length": torch.tensor([len(p.tokens) for p in prefixes], device=device),
    }
    visible = torch.arange(width, device=device)[None, :] >= (width - batch["length"])[:, None]
    return batch, visible


def _first_step(model, prefixes: list[Sequence], slots, max_length: int):
    """Encode the prefixes without their final [BOS] in one pass (bidirectional: the slot, persona and context
    see each other and not the response, as in training), then feed [BOS] as the first step. Returns the logits of
    the token after [BOS], the visible keys, the next position, the cache and the response's role per row."""
    device = model.device
    context = [Sequence(p.tokens[:-1], p.roles[:-1], p.turns[:-1], p.prefix) for p in prefixes]
    batch, visible = _left_padded(context, device)
    width = batch["tokens"].size(1)
    cache = [{"capacity": width + 1 + max_length} for _ in model.blocks]
    mask = None  # no padding (e.g. K candidates of one context): SDPA's unmasked kernel
    if not visible.all():
        mask = visible[:, None, :].expand(-1, width, -1) | torch.eye(width, dtype=torch.bool, device=device)[None]
    first = (~visible).sum(1)  # the slot is the first visible column of each row
    model(batch, mask, slot=slots, cache=cache, slot_at=first, outputs_from=width - 1)
    role = torch.tensor([p.roles[-1] for p in prefixes], device=device)
    bos = torch.tensor([p.tokens[-1] for p in prefixes], device=device)
    visible = torch.cat([visible, visible.new_ones(len(prefixes), 1)], dim=1)
    position = batch["length"].clone()
    logits = _next(model, bos, position, visible, cache, role)
    return logits, visible, position + 1, cache, role


def _next(model, token, position, visible, cache, role) -> torch.Tensor:
    step = {
        "tokens": token[:, None],
        "roles": role[:, None],
        "turns": torch.zeros_like(token)[:, None],
        "positions": position.clamp(max=model.config.max_positions - 1)[:, None],
    }
    return model.logits(model(step, None if visible.all() else visible[:, None, :], cache=cache)[:, -1])


def _block(scores: torch.Tensor, out: list[list[int]], eos: int, step: int, config: DecodeConfig,
           banned: torch.Tensor) -> torch.Tensor:  # fmt: skip
    scores[:, banned] = -float("inf")
    if step < config.min_length:
        scores[:, eos] = -float("inf")
    n = config.no_repeat_ngram
    if n:
        rows, banned = [], []
        for i, ids in enumerate(out):
            tail = ids[len(ids) - n + 1 :] if n > 1 else []
            for j in range(len(ids) - n + 1):
                if ids[j : j + n - 1] == tail:
                    rows.append(i)
                    banned.append(ids[j + n - 1])
        scores[rows, banned] = -float("inf")
    return scores


def _sample(logits: torch.Tensor, config: DecodeConfig, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row from the top-k tokens, then the nucleus of those. The draw is over the kept tokens
    only: a draw over the whole vocabulary costs more than a decoding step of a small model."""
    k = min(config.top_k or logits.size(-1), logits.size(-1))
    values, ids = logits.topk(k, dim=-1)  # sorted, most likely first
    if config.top_p < 1.0:
        probs = values.softmax(-1)
        values = values.masked_fill(probs.cumsum(-1) - probs >= config.top_p, -float("inf"))
    choice = torch.multinomial(values.softmax(-1), 1, generator=generator)
    return ids.gather(1, choice)[:, 0]


def _beam(model, prefix: Sequence, eos: int, config: DecodeConfig, slot: torch.Tensor | None, banned) -> Output:
    """Beam search for one prefix: the beams are the rows of one batch sharing one encoded prefix."""
    w = config.beam_size
    logits, visible, position, cache, role = _first_step(model, [prefix], slot, config.max_length)
    beams: list[list[int]] = [[]]
    scores = torch.zeros(1, device=logits.device)
    finished: list[tuple[float, list[int], float]] = []
    for step in range(config.max_length):
        logp = _block(F.log_softmax(logits.float(), dim=-1), beams, eos, step, config, banned)
        total = (scores[:, None] + logp).view(-1)
        top = total.topk(min(2 * w, int(torch.isfinite(total).sum())))
        keep_rows, keep_tokens, keep_scores = [], [], []
        for value, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            row, token = divmod(flat, logp.size(1))
            if token == eos:
                length = len(beams[row]) + 1
                finished.append((value / length**config.length_penalty, beams[row], value))
            elif len(keep_rows) < w:
                keep_rows.append(row)
                keep_tokens.append(token)
                keep_scores.append(value)
        best_open = max(keep_scores, default=-float("inf")) / (step + 2) ** config.length_penalty
        if not keep_rows or (len(finished) >= w and max(f[0] for f in finished) >= best_open):
            break
        rows = torch.tensor(keep_rows, device=logits.device)
        for layer in cache:
            layer["k"], layer["v"] = layer["k"][rows], layer["v"][rows]
        beams = [beams[r] + [t] for r, t in zip(keep_rows, keep_tokens, strict=True)]
        scores = torch.tensor(keep_scores, device=logits.device)
        visible = torch.cat([visible[:1].expand(len(rows), -1), visible.new_ones(len(rows), 1)], dim=1)
        logits = _next(model, torch.tensor(keep_tokens, device=logits.device), position.expand(len(rows)), visible,
                       cache, role.expand(len(rows)))  # fmt: skip
        position = position + 1
    if finished:
        _, ids, logprob = max(finished, key=lambda f: f[0])
        return Output(ids, logprob, True)
    return Output(beams[0], float(scores[0]), False)
