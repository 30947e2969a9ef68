"""A PLATO-2 chatbot behind the Agent interface: one candidate per latent value z, ranked by the evaluation
model's coherence p(l=1|c,r) (PLATO-2 section 2.2), or by the alternatives of its appendix E: the length-averaged
log-likelihood p(r|c) of the generator, or p(c|r) from a backward model (`--backward` at stage 1).

Candidates that never end, repeat a word trigram of a context turn, or repeat a trigram of their own (words, lower-
cased, or ids) rank below every other candidate (less 1,000), as the reference code ranks them.
A stage-1 generator has no latent: its K candidates are K samples.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from confab.devices import resolve
from confab.errors import InvalidInput
from confab.generation import checkpoint, scoring
from confab.generation.batches import PERSONA_TURN, layout
from confab.generation.decode import DecodeConfig, Output, generate
from confab.generation.model import Evaluator, Generator
from confab.replies import Candidate, Reply

RANKINGS = ("evaluator", "loglik", "backward")
# what the evaluator reads of a candidate: its ids as generated (Knover), its text encoded again, or (PaddleNLP's
# port, Knover vocabulary) context and candidate re-tokenised from their pieces joined by spaces
EVALUATOR_INPUTS = ("ids", "text", "retokenised")
PERSONA_NOTE = (
    f"this model has no persona segment: persona sentences go in as its first context turns "
    f'("{PERSONA_TURN.format("...")}"), and the oldest turns are cut first when the context is long'
)
SAMPLES = 20  # the candidates of a generator without latent: as many samples as the paper's K
DEFAULT_DECODING = dict(strategy="sampling", top_k=10, top_p=1.0)
SCORED_BY = {  # what a candidate's score is, for people reading a ranking
    "evaluator": "coherence p(l=1|c,r) of the evaluation model",
    "loglik": "the generator's length-averaged log p(r|c)",
    "backward": "log p(c|r) of the backward model",
}


class PlatoAgent:
    def __init__(
        self,
        generator: str | Path,
        evaluator: str | Path | None = None,
        decode: DecodeConfig | None = None,
        candidates: int | None = None,
        ranking: str | None = None,
        backward: str | Path | None = None,
        precision: str = "auto",
        evaluator_input: str | None = None,
        decoding: dict | None = None,
        device: str = "auto",
    ):
        self.device = resolve(device)
        self.model, self.tok, meta = checkpoint.load(generator, precision, self.device)
        # a checkpoint may carry how it is meant to be decoded and ranked (a converted release: as the reference)
        self.evaluator_input = evaluator_input or meta.extra.get("evaluator_input", "ids")
        if self.evaluator_input not in EVALUATOR_INPUTS:
            raise InvalidInput(f"evaluator input {self.evaluator_input!r}: {', '.join(EVALUATOR_INPUTS)}")
        self.limits = checkpoint.limits_of(meta)
        if not isinstance(self.model, Generator):
            raise InvalidInput(f"{generator}: an evaluator; the agent's first model is a generator")
        self.latent = self.model.config.latent_k > 0
        self.k = candidates or self.model.config.latent_k or SAMPLES
        if self.latent and self.k > self.model.config.latent_k:
            raise InvalidInput(
                f"{generator}: {self.k} candidates asked, the model has {self.model.config.latent_k} latents"
            )
        self.evaluator = None
        if evaluator is not None:
            self.evaluator, etok, emeta = checkpoint.load(evaluator, precision, self.device)
            self.evaluator_limits = checkpoint.limits_of(emeta)  # it reads the context it was trained on
            if not isinstance(self.evaluator, Evaluator):
                raise InvalidInput(f"{evaluator}: a {self.evaluator.network}; the evaluator is stage 2.2's network")
            if etok.digest() != self.tok.digest():
                raise InvalidInput(
                    f"{evaluator}: its vocabulary differs from the generator's (train both from one stage 1)"
                )
        self.backward = None
        if backward is not None:
            self.backward, btok, bmeta = checkpoint.load(backward, precision, self.device)
            if not bmeta.backward:
                raise InvalidInput(f"{backward}: not a backward model (train one with --stage 1 --backward)")
            if btok.digest() != self.tok.digest():
                raise InvalidInput(f"{backward}: its vocabulary differs from the generator's")
        self.ranking = ranking or ("evaluator" if self.evaluator is not None else "loglik")
        needs = {"evaluator": self.evaluator, "backward": self.backward, "loglik": self.model}
        if needs.get(self.ranking) is None:
            raise InvalidInput(f"ranking {self.ranking!r}: choose loglik, evaluator (with an evaluation model) or "
                             "backward (with a backward model)")  # fmt: skip
        settings = {**DEFAULT_DECODING, **meta.extra.get("decoding", {}), **(decoding or {})}
        if unknown := sorted(set(settings) - set(DecodeConfig.__dataclass_fields__)):
            raise InvalidInput(f"unknown decoding settings: {', '.join(unknown)}")
        self.decode = decode or DecodeConfig(**settings)
        self.scored_by = SCORED_BY[self.ranking]
        # a model without a persona segment (the released PLATO-2) reads the persona as its first context turns
        self.persona_note = PERSONA_NOTE if self.limits.layout == "knover" else None

    def respond(self, history: list[str], persona: list[str]) -> Reply:
        return self.respond_batch([(history, persona)])[0]

    def respond_batch(self, requests: list[tuple[list[str], list[str]]]) -> list[Reply]:
        """Replies to several (history, persona) requests, all their candidates decoded as one batch."""
        start = time.perf_counter()
        prefixes = [layout(self.tok, persona, history, None, self.limits) for history, persona in requests]
        slots = None
        if self.latent:
            one_hot = torch.eye(self.model.config.latent_k, device=self.device)[: self.k]
            slots = self.model.latent_embedding(one_hot).repeat(len(requests), 1)
        with torch.no_grad():
            outputs = generate(self.model, [p for p in prefixes for _ in range(self.k)], self.tok.eos, self.decode,
                               slots, banned=self.tok.special_ids)  # fmt: skip
            replies = []
            for r, (history, persona) in enumerate(requests):
                mine = outputs[r * self.k : (r + 1) * self.k]
                replies.append(self._rank(history, persona, mine))
        seconds = time.perf_counter() - start
        return [Reply(r.text, r.candidates, seconds) for r in replies]

    def _rank(self, history: list[str], persona: list[str], outputs: list[Output]) -> Reply:
        texts = [self.tok.decode(o.ids) for o in outputs]
        coherence = None
        if self.ranking == "evaluator":
            responses = texts if self.evaluator_input == "text" else [o.ids for o in outputs]
            coherence = scoring.coherence(self.evaluator, self.tok, self.evaluator_limits, persona, history,
                                          responses, retokenise=self.evaluator_input == "retokenised")  # fmt: skip
        elif self.ranking == "backward":
            coherence = scoring.backward_loglik(self.backward, self.tok, self.limits, history, texts)
        # the turns the generator read as context (a persona is context to a model without a persona segment)
        turns = [*(PERSONA_TURN.format(p) for p in persona if self.limits.layout == "knover"), *history]
        context_words = [self.tok.decode(self.tok.encode(t)).split() for t in turns]
        candidates = []
        for i, (o, text) in enumerate(zip(outputs, texts, strict=True)):
            loglik = o.logprob / (len(o.ids) + int(o.finished)) if o.ids or o.finished else -float("inf")
            score = float(coherence[i]) if coherence is not None else loglik
            words = text.split()
            cross = cross_turn_repetition(context_words, words)
            inside = in_turn_repetition([w.lower() for w in words]) or in_turn_repetition(o.ids)
            info = {"z": i if self.latent else None, "loglik": loglik, "finished": o.finished, "repeats": inside,
                    "repeats_context": cross}  # fmt: skip
            # as the reference ranks: one that never ends, repeats a context turn or itself loses to every other
            bad = not o.finished or cross or inside
            candidates.append(Candidate(text, score - (PENALTY if bad else 0.0), info))
        candidates.sort(key=lambda c: -c.score)  # stable: ties go to the lowest z
        return Reply(candidates[0].text, candidates, 0.0)


PENALTY = 1e3


def in_turn_repetition(tokens: list, n: int = 3) -> bool:
    """Some n-gram occurs twice in the response (words or ids); an empty response counts as one."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return not tokens or len(grams) != len(set(grams))


def cross_turn_repetition(turns: list[list[str]], words: list[str], n: int = 3) -> bool:
    """Some word n-gram of the response occurs in a context turn; an empty response counts as one."""
    grams = {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
    return not words or any(tuple(t[i : i + n]) in grams for t in turns for i in range(len(t) - n + 1))
