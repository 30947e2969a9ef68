"""Texts to padded id tensors: the paper's tokenizer with a frequency dictionary, or a pretrained WordPiece one.

Both keep the *end* of a context (the latest turns matter most) and the start of a response or persona sentence.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch

from confab.text import Dictionary, tokenize

TURN_SEP = "__sep__"  # joins the turns of a multi-turn context, as ParlAI joins them with a newline


def join_turns(turns: list[str]) -> str:
    return f" {TURN_SEP} ".join(turns)


def _pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, max((len(r) for r in rows), default=1))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return ids, ids != pad


class WordTokenizer:
    """The paper's tokenizer, lower-cased, over a dictionary of the most frequent training tokens."""

    kind = "words"

    def __init__(self, dictionary: Dictionary):
        self.dictionary = dictionary
        self.pad_id = 0

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int) -> WordTokenizer:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_words(text))
        counts[TURN_SEP] += 1  # always in the dictionary
        return cls(Dictionary.build(counts, max_size))

    def __len__(self) -> int:
        return len(self.dictionary)

    def encode(self, texts: list[str], max_len: int, keep_end: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        rows = []
        for text in texts:
            ids = self.dictionary.encode(_words(text))
            rows.append(ids[-max_len:] if keep_end else ids[:max_len])
        return _pad(rows, self.pad_id)

    def save(self, folder: Path) -> None:
        self.dictionary.save(folder / "dict.tsv")

    @classmethod
    def load(cls, folder: Path) -> WordTokenizer:
        return cls(Dictionary.load(folder / "dict.tsv"))


def _words(text: str) -> list[str]:
    out: list[str] = []
    for i, part in enumerate(text.split(TURN_SEP)):
        if i:
            out.append(TURN_SEP)
        out.extend(t.lower() for t in tokenize(part))
    return out


class PretrainedTokenizer:
    """The WordPiece tokenizer that ships with the pretrained sentence encoder (loaded from files, offline)."""

    kind = "pretrained"

    def __init__(self, folder: Path):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        self.hf = AutoTokenizer.from_pretrained(str(folder))
        self.pad_id = self.hf.pad_token_id

    def __len__(self) -> int:
        return len(self.hf)

    def encode(self, texts: list[str], max_len: int, keep_end: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        texts = [t.replace(TURN_SEP, self.hf.sep_token) for t in texts]
        self.hf.truncation_side = "left" if keep_end else "right"
        out = self.hf(texts, max_length=max_len, truncation=True, padding=True, return_tensors="pt")
        return out["input_ids"], out["attention_mask"].bool()

    def save(self, folder: Path) -> None:
        self.hf.save_pretrained(str(folder / "tokenizer"))

    @classmethod
    def load(cls, folder: Path) -> PretrainedTokenizer:
        return cls(folder / "tokenizer")
