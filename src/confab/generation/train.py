"""Training one PLATO-2 stage on a confab dataset, through the project's one training loop.

Stage 1 starts from scratch, --init or a pretrained encoder; stages 2.1 and 2.2 are warm-started from a stage-1
checkpoint, as the curriculum prescribes, and the evaluation model (2.2) may also start from the encoder itself.
Validation after each epoch: perplexity of the response (stages 1 and 2.1; for 2.1 with z recognised from the
true response) or coherence accuracy against random responses (stage 2.2).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist

from confab.config import check_fields, to_dict
from confab.data.schema import read_split
from confab.data.stream import stream, training_rows
from confab.errors import InvalidInput
from confab.generation import checkpoint
from confab.generation.data import BatchConfig, encode, plan, streamed_steps
from confab.generation.evaluate import evaluate_stage
from confab.generation.limits import Limits
from confab.generation.model import Generator, as_network
from confab.generation.pretrained import from_encoder
from confab.generation.stages import STAGES, make_stage
from confab.plots import training_curves
from confab.text import subwords
from confab.text.bpe import BpeTokenizer
from confab.training import RankBatch, TrainConfig, distributed, fit, seed_everything
from confab.transformer.model import SIZES, PlatoConfig, UnifiedTransformer

# The paper's recipe per stage (Table 6, 1.6B): tokens per step, learning rate, warm-up steps.
PAPER_RECIPE = {
    "1": dict(tokens_per_step=524_288, lr=5e-4, warmup_steps=3125),
    "2.1": dict(tokens_per_step=65_536, lr=1e-5, warmup_steps=3125),
    "2.2": dict(tokens_per_step=524_288, lr=5e-5, warmup_steps=3125),
}


@dataclass
class PlatoRun:
    stage: Literal["1", "2.1", "2.2"] = "1"
    # of transformer.model.SIZES (ignored with init: the checkpoint's model is kept)
    size: Literal["tiny", "small", "93M", "314M", "1.6B"] = "small"
    vocab_size: int = 8000  # of the BPE vocabulary trained on the data when no tokenizer is given
    dropout: float = 0.1
    limits: Limits = field(default_factory=Limits)
    batch: BatchConfig = field(default_factory=BatchConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=10,
            lr=1e-3,
            optimizer="adam",
            warmup_steps=100,
            schedule="inverse_sqrt",
            grad_clip=1.0,
            log_every=10,
        )
    )
    max_train: int | None = None
    max_valid: int = 1000
    gradient_checkpointing: bool = False
    backward: bool = False  # stage 1 only: learn p(c|r), the last context turn given the response (MMI ranking)
    init: str | None = None  # the checkpoint to start from (stage 2.1, and 2.2 without init_encoder: the stage 1)
    init_encoder: str | None = None  # stage 1 or 2.2: a BERT-style encoder folder or bundled:minilm to start from
    freeze_embeddings: bool = False  # keep the token and position embeddings (and so the tied LM output) fixed
    latent_k: int = 20  # stage 2.1 from stage 1: K, the number of latent values it adds
    mlm_weight: float = 1.0  # stage 2.2: the masked LM's weight beside coherence (generation.stages)
    latent_diversity: float = 0.0  # stage 2.1: the weight of the latent-usage entropy term (generation.stages)
    heads_lr: float = 1.0  # stages 2.x: the learning rate of the heads the stage adds, as a multiple of lr
    coherence: Literal["joint", "dual"] = "joint"  # stage 2.2: how the evaluator reads a pair (generation.model)
    tokenizer: str | None = None  # a folder from `confab tokenizer train`
    stream: bool = False  # read the train splits as a stream, shared among the ranks (splits larger than memory)

    def __post_init__(self):
        check_fields(self)


def train_plato(data: str | Path | list, run: PlatoRun, out: str | Path, progress: Callable | None = None) -> dict:
    datasets = [Path(d) for d in (data if isinstance(data, list) else [data])]
    out = Path(out)
    if run.stage == "2.1" and run.init_encoder:
        raise InvalidInput("--init-encoder starts stage 1 (or the evaluator, 2.2); stage 2.1 starts from that stage 1 "
                         "(--init)")  # fmt: skip
    # the evaluator may also start from the encoder itself: it reads bidirectionally, as the encoder was trained to
    if run.stage != "1" and not run.init and not (run.stage == "2.2" and run.init_encoder):
        raise InvalidInput(f"stage {run.stage} is warm-started from a stage-1 checkpoint: pass --init")
    if run.init and run.init_encoder:
        raise InvalidInput("--init (a confab checkpoint) and --init-encoder (a pretrained encoder): one of them")
    seed_everything(run.train.seed)
    rank, world = distributed(run.train.device)
    if run.stream and not (run.tokenizer or run.init):
        raise InvalidInput("--stream needs a vocabulary made beforehand (every rank must have the same one): "
                         "`confab tokenizer train`, then --tokenizer DIR")  # fmt: skip
    train, total = training_rows(datasets, run.stream, run.max_train)
    valid = read_split(datasets[0], "valid").to_pylist()[: run.max_valid]
    if run.backward:
        if run.stage != "1":
            raise InvalidInput("a backward model is a stage-1 model: --backward goes with --stage 1")
        train, valid = backward_examples(train) if train is not None else None, backward_examples(valid)
    if total < 2 * world:
        raise InvalidInput(f"{datasets[0]}: {total} training examples; at least {2 * world} are needed")
    stage_class = STAGES[run.stage]
    if run.coherence != "joint" and stage_class.network.network != "evaluator":
        raise InvalidInput("--coherence is how the evaluator (stage 2.2) reads a pair")
    # what the stage's network differs by from a model of another stage: how an evaluator reads a pair, or how
    # many latents a generator has (none in stage 1)
    if run.stage == "2.2":
        changes = {"coherence": run.coherence}
    else:
        changes = {"latent_k": run.latent_k if run.stage == "2.1" else 0}
    base = None
    if run.init:
        model, tok, meta = checkpoint.load(run.init)
        run.limits, base = checkpoint.limits_of(meta), meta.base
        model = started_as(model, stage_class.network.network, changes)
    elif run.init_encoder:
        model, tok, base = from_encoder(run.init_encoder, stage_class.network.network, run.dropout, **changes)
    else:
        if run.tokenizer:
            tok = subwords.load(run.tokenizer)
        else:
            tok = BpeTokenizer.train(training_texts(train), run.vocab_size)
        config = PlatoConfig(vocab_size=len(tok), dropout=run.dropout, **SIZES[run.size], **changes)
        model = stage_class.network(config)
    model.config.gradient_checkpointing = run.gradient_checkpointing
    needed = run.limits.max_context + run.limits.max_persona + run.limits.max_response
    if needed > model.config.max_positions:
        raise InvalidInput(f"limits need {needed} positions; the model has {model.config.max_positions}")
    stage = make_stage(run.stage, model, run.heads_lr, run.mlm_weight, run.latent_diversity)
    if run.freeze_embeddings:
        model.tokens.requires_grad_(False)
        model.positions.requires_grad_(False)
    # evaluation pairs double each micro-batch (a random response per context), so it plans half as many tokens
    batching = replace(run.batch, max_tokens=run.batch.max_tokens // 2) if stage.pairs else run.batch
    if run.stream:
        # each rank fills its own share of a step's tokens from its own share of the examples
        mine = replace(batching, tokens_per_step=max(1, batching.tokens_per_step // world))

        def rank_steps(epoch: int) -> Iterator[list[dict]]:
            rows = stream(
                datasets, "train", rank, world, epoch, run.train.seed, columns=["persona", "context", "response"]
            )
            rows = backward_examples(rows) if run.backward else rows
            return streamed_steps(rows, tok, run.limits, mine, stage.pairs, run.train.seed, epoch, rank)

        def batches(epoch: int):
            return equal_steps(rank_steps(epoch), world)

        steps_per_epoch = estimated_steps(rank_steps(0), total // world)
    else:
        seqs = encode(train, tok, run.limits)
        lengths = [len(s.tokens) for s in seqs]
        steps_per_epoch = len(plan(lengths, batching, run.train.seed, 0))

        def batches(epoch: int):
            steps = plan(lengths, batching, run.train.seed, epoch)
            for s, step in enumerate(steps):
                rng = np.random.default_rng([run.train.seed, epoch, s])
                yield stage.step(seqs, step, tok, rng, run.limits.layout)

    validate, (metric, higher) = None, stage.metric
    if valid:
        valid_seqs = encode(valid, tok, run.limits)

        def validate() -> dict:
            return evaluate_stage(stage, valid_seqs, tok, batching, run.train.seed, run.limits.layout)

    work = out / ".train"
    result = fit(stage, batches, steps_per_epoch, run.train, work, validate, metric, progress, higher)
    if distributed(run.train.device)[0] != 0:
        return result  # rank 0 writes the checkpoint
    extra = {"run": to_dict(run), "data": [str(d) for d in datasets], "result": result}
    checkpoint.save(out, model, tok, run.stage, run.limits, extra | ({"base": base} if base else {}))
    for name in ("log.csv", "steps.csv"):
        if (work / name).exists():
            shutil.copyfile(work / name, out / f"train_{name}")
    training_curves(out / "train_steps.csv", out / "train_log.csv", out / "training.png", metric)
    shutil.rmtree(work, ignore_errors=True)
    return result


def equal_steps(steps: Iterator[list[dict]], world: int) -> Iterator[RankBatch]:
    """A rank's streamed steps, as many as the rank with the most: ranks' shares of tokens differ, and every
    rank must join each step's gradient reduction. The ranks count who still has a step; one that has run out
    joins with a step of weight 0, and each step is the mean over the ranks that had data."""
    last = None
    while True:
        step = next(steps, None)
        active = torch.tensor(int(step is not None))
        if world > 1:
            dist.all_reduce(active)
        if not active:
            return
        if step is None:
            step = [{**last[-1], "weight": 0.0}]
        last = step
        yield RankBatch({**m, "weight": m["weight"] / int(active)} for m in step)


def estimated_steps(steps: Iterator[list[dict]], examples: int, sample: int = 50) -> int:
    """Steps of a streamed epoch, for the progress bar: from the examples per step of the first few steps."""
    # a stage-2.2 micro-batch holds each example twice (with its own response and a random one)
    seen = [sum(len(m["length"]) // (2 if "label" in m else 1) for m in step) for step in islice(steps, sample)]
    per_step = sum(seen) / max(len(seen), 1)
    return max(1, round(examples / per_step)) if per_step else 1


def backward_examples(examples: Iterable[dict]) -> Iterable[dict]:
    """The examples of a backward model p(c|r): the response becomes the context and the turn it answers the
    target (PLATO-2 appendix E; DialoGPT's maximum mutual information ranking). No persona: it scores context.
    Lazy for a stream, a list for a list."""
    turned = (
        {"persona": [], "context": [e["response"]], "response": e["context"][-1]} for e in examples if e["context"]
    )
    return list(turned) if isinstance(examples, list) else turned


def training_texts(examples: list[dict]):
    for e in examples:
        yield from e.get("persona") or []
        yield from e["context"]
        yield e["response"]


def started_as(model: UnifiedTransformer, name: str, changes: dict) -> UnifiedTransformer:
    """The checkpoint a stage starts from (--init) as that stage's network: itself when it is one already (a run
    continued), else its body under the stage's heads (stage 2.1 from stage 1 gains z, at the scale of the words
    it stands in for; the evaluator from stage 1 gains coherence)."""
    if model.network == "evaluator" and name == "generator":
        raise InvalidInput("a generator stage starts from a generator (stage 1), not from an evaluator")
    had_latents = isinstance(model, Generator) and model.config.latent_k > 0
    if had_latents and changes.get("latent_k"):
        # stage 2.1 goes on from a latent generator with its own K; a release gains the training-only heads
        changes = {"recognition": True}
    if model.network == name and model.config == replace(model.config, **changes):
        return model
    new = as_network(model, name, **changes)
    if isinstance(new, Generator) and new.config.latent_k and not had_latents:
        new.scale_latents()
    return new
