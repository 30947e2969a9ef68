"""Training a persona ranker on a confab dataset (Mazaré et al. 5.1: Adamax, lr 8e-4, batches of 512)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from confab.bundled import pretrained_folder
from confab.config import to_dict
from confab.data.schema import read_split
from confab.data.stream import stream, training_rows
from confab.errors import InvalidInput
from confab.retrieval import checkpoint
from confab.retrieval.batches import training_batch
from confab.retrieval.evaluate import evaluate
from confab.retrieval.model import PersonaRanker, RankerConfig
from confab.retrieval.score import RankerScorer
from confab.retrieval.tokens import PretrainedTokenizer, WordTokenizer
from confab.training import RankBatch, TrainConfig, distributed, fit, seed_everything


@dataclass
class RetrievalRun:
    ranker: RankerConfig = field(default_factory=RankerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    vocab_size: int = 250_000
    max_train: int | None = None  # the first N training examples only
    max_valid: int = 2_000  # validation examples ranked after each epoch
    valid_candidates: int | None = None  # None: the split's own candidates, else 20 drawn from it
    fasttext: str | None = None  # a FastText .vec file to initialise the word embeddings from
    init: str | None = None  # a checkpoint to fine-tune (its model config and vocabulary are kept)
    stream: bool = False  # read the train splits as a stream, shared among the ranks (splits larger than memory)


def train_retrieval(
    data: str | Path | list, run: RetrievalRun, out: str | Path, progress: Callable | None = None
) -> dict:
    """Train on the train splits of one or more datasets; validate on the first dataset's valid split."""
    datasets = [Path(d) for d in (data if isinstance(data, list) else [data])]
    data, out = datasets[0], Path(out)
    if run.train.strategy == "fsdp":
        # its encoders share one embedding table and score through methods besides forward, which FSDP2's sharded
        # state dicts and hooks do not follow yet; the models fit every GPU whole (at most MiniLM's 23M)
        raise InvalidInput("the retrieval trainer runs under ddp or zero; --strategy fsdp is PLATO-2's")
    seed_everything(run.train.seed)
    rank, world = distributed(run.train.device)
    train, total = training_rows(datasets, run.stream, run.max_train)
    valid = read_split(data, "valid").to_pylist()[: run.max_valid]
    if total < 2:
        raise InvalidInput(f"{data}: {total} training examples; in-batch training needs at least 2")
    if run.init:
        model, tokenizer, _ = checkpoint.load(run.init)
        run.ranker = model.config
    else:
        if run.ranker.encoder == "pretrained":
            tokenizer = PretrainedTokenizer(pretrained_folder())
        else:
            rows = train if train is not None else stream(datasets, "train", columns=["context", "response", "persona"])
            texts = (t for e in rows for t in [*e["context"], e["response"], *e["persona"]])
            tokenizer = WordTokenizer.build(texts, run.vocab_size)
        run.ranker.vocab_size = len(tokenizer)
        model = checkpoint.new_model(run.ranker)
    if run.fasttext:
        _load_fasttext(model, tokenizer, Path(run.fasttext))

    batch_size = min(run.train.batch_size, total) // world * world  # equal shards, one per rank
    if batch_size < 2:
        raise InvalidInput(f"a batch of {run.train.batch_size} cannot be shared by {world} processes")
    # streamed, each rank has its own share of the examples (the smallest is total // world)
    steps = total // world // (batch_size // world) if run.stream else total // batch_size

    def streamed(epoch: int) -> Iterator[RankBatch]:
        rows, size = stream(datasets, "train", rank, world, epoch, run.train.seed), batch_size // world
        for _ in range(steps):
            yield RankBatch([{**training_batch(list(islice(rows, size)), tokenizer, run.ranker), "weight": 1 / world}])

    def batches(epoch: int) -> Iterator[dict | list[dict]]:
        if run.stream:
            yield from streamed(epoch)
            return
        order = np.random.default_rng(run.train.seed + epoch).permutation(len(train))
        for s in range(steps):
            chosen = [train[j] for j in order[s * batch_size : (s + 1) * batch_size]]
            if world == 1:
                yield training_batch(chosen, tokenizer, run.ranker)
            else:  # rank r takes shard r (fit hands out micro-batches by rank); the model gathers the negatives
                size = batch_size // world
                yield [{**training_batch(chosen[r * size : (r + 1) * size], tokenizer, run.ranker), "weight": 1 / world}
                       for r in range(world)]  # fmt: skip

    validate = None
    if valid:
        own = run.valid_candidates is None and all(e["candidates"] for e in valid)
        n = None if own else min(run.valid_candidates or 20, len({e["response"] for e in valid}))

        def validate() -> dict:
            scorer = RankerScorer(model, tokenizer, precision=run.train.precision)
            return evaluate(scorer, valid, n=n, seed=run.train.seed)

    work = out / ".train"
    result = fit(model, batches, steps, run.train, work, validate, "hits@1", progress)
    if distributed(run.train.device)[0] != 0:
        return result  # rank 0 writes the checkpoint
    checkpoint.save(out, model, tokenizer, {"run": to_dict(run), "data": [str(d) for d in datasets], "result": result})
    shutil.rmtree(work, ignore_errors=True)
    return result


def _load_fasttext(model: PersonaRanker, tokenizer, path: Path) -> None:
    """Initialise the word embeddings of known tokens from a FastText .vec file ('n d' header, then 'w v1..vd')."""
    if not isinstance(tokenizer, WordTokenizer):
        raise InvalidInput("FastText vectors initialise word-level encoders, not the pretrained one")
    weight = model.embeddings.weight
    index = tokenizer.dictionary.index
    found = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().split()
        if len(header) != 2 or int(header[1]) != weight.size(1):
            raise InvalidInput(f"{path}:1: expected 'count {weight.size(1)}' (the embedding size), got {header}")
        with torch.no_grad():
            for lineno, line in enumerate(f, 2):
                word, *values = line.rstrip().split(" ")
                if word in index:
                    if len(values) != weight.size(1):
                        raise InvalidInput(f"{path}:{lineno}: {len(values)} values, expected {weight.size(1)}")
                    weight[index[word]] = torch.tensor([float(v) for v in values])
                    found += 1
    if not found:
        raise InvalidInput(f"{path}: none of its words is in the dictionary")
