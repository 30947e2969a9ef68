"""Several models measured on the same data, one result each: what the side-by-side tables and the paper's
tables are made of."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from confab.data.examples import examples_from_file
from confab.data.schema import read_split
from confab.errors import InvalidInput
from confab.eval.selection import evaluate_selection, read_selection
from confab.generation import checkpoint
from confab.generation.data import BatchConfig, encode
from confab.generation.evaluate import evaluate_stage
from confab.generation.model import Generator
from confab.generation.stages import Generation, LatentGeneration
from confab.retrieval.evaluate import evaluate
from confab.scorers import load_scorer


def ranking_examples(data: Path, format: str = "parquet", split: str = "test", limit: int | None = None) -> list:
    if format == "parquet":
        examples = read_split(data, split).to_pylist()
    else:
        examples = examples_from_file(data, format, kind="paths")
    examples = examples[:limit]
    if not examples:
        raise InvalidInput(f"{data}: no examples to rank")
    return examples


def tfidf_corpus(data: Path, format: str, examples: list[dict]) -> list[str]:
    """Document frequencies come from the training split when there is one, else from the data ranked."""
    if format == "parquet":
        train = read_split(data, "train", columns=["response"])["response"].to_pylist()
        if train:
            return train
    return [e["response"] for e in examples] + [c for e in examples for c in e.get("candidates") or []]


def ranking_results(
    models: Sequence[str],
    data: Path,
    format: str = "parquet",
    split: str = "test",
    candidates: int | None = None,
    ks: Sequence[int] = (1, 3, 10),
    seed: int = 0,
    precision: str = "auto",
    limit: int | None = None,
    device: str = "auto",
) -> list[dict]:
    """hits@k and MRR of each model on the same candidate sets (the same seed draws the same negatives)."""
    examples = ranking_examples(data, format, split, limit)
    corpus = tfidf_corpus(data, format, examples) if "tfidf" in models else []
    results = []
    for name in models:
        scorer, score, _ = load_scorer(name, corpus, precision, device)
        metrics = evaluate(scorer, examples, n=candidates, seed=seed, ks=tuple(ks))
        results.append({"model": str(name), "score": score, **metrics})
    return results


def selection_results(
    models: Sequence[str],
    data: Path,
    kinds: Sequence[str],
    limit: int | None = None,
    precision: str = "auto",
    device: str = "auto",
) -> tuple[int, list[dict]]:
    """(contexts, each model's MAP/MRR/P@1 per kind of negatives) on DailyDialog++-style data."""
    items = read_selection(data, limit)
    corpus = [t for it in items for t in [*it["context"], *it["positive"], *it["adversarial"], *it["random"]]]
    results = []
    for name in models:
        scorer, score, probabilities = load_scorer(name, corpus, precision, device)
        results.append({"model": str(name), "score": score,
                        "metrics": evaluate_selection(scorer, items, list(kinds), probabilities)})  # fmt: skip
    return len(items), results


def perplexity_results(
    models: Sequence[Path],
    data: Path,
    split: str = "test",
    limit: int | None = None,
    precision: str = "float32",
    device: str = "auto",
) -> list[dict]:
    """Each PLATO-2 generator's perplexity of the split's reference responses: per subword token (`ppl`) and per
    word (`word_ppl`, the same total log-likelihood over the responses' whitespace words), which compares models
    whose vocabularies differ."""
    examples = read_split(data, split).to_pylist()[:limit]
    if not examples:
        raise InvalidInput(f"{data}: no {split} examples")
    return [perplexity_of(path, examples, precision, device) for path in models]


def perplexity_of(path: Path | str, examples: list[dict], precision: str = "float32", device: str = "auto") -> dict:
    model, tok, meta = checkpoint.load(path, precision, device)
    if not isinstance(model, Generator) or meta.backward:
        raise InvalidInput(f"{path}: perplexity of responses needs a forward generator (stage 1 or 2.1)")
    stage = LatentGeneration(model) if model.config.latent_k else Generation(model)  # z recognised for 2.1
    # responses are scored whole (as far as the positions go), so that per word counts every word of them
    limits = checkpoint.limits_of(meta)
    longest = max(len(tok.encode(e["response"])) for e in examples) + 2  # [BOS] and [EOS]
    room = model.config.max_positions - limits.max_context - limits.max_persona
    limits = replace(limits, max_response=max(limits.max_response, min(longest, room)))
    seqs = encode(examples, tok, limits)
    metrics = evaluate_stage(stage, seqs, tok, BatchConfig(), seed=0)
    words = sum(len(e["response"].split()) for e in examples)
    word_nll = metrics["nll"] * metrics["tokens"] / max(words, 1)
    return {"model": str(path), "stage": stage.name, **metrics, "words": words, "word_ppl": math.exp(min(word_nll, 50))}
