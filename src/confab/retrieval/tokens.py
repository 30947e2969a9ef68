"""Texts to padded id tensors: the paper's tokenizer with a frequency dictionary, or a pretrained WordPiece one.

Both keep the *end* of a context (the latest turns matter most) and the start of a response or persona sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch

from confab.text import Dictionary, tokenize
from confab.text.wordpiece import WordPieceTokenizer

TURN_SEP = "__sep__"  # joins the turns of a multi-turn context, as ParlAI joins them with a newline


def join_turns(turns: list[str]) -> str:
    return f" {TURN_SEP} ".join(turns)


def _pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, max((len(r) for r in rows), default=1))
    # made on the CPU, whatever the default device: batches are moved to the model's device at its door
    ids = torch.full((len(rows), width), pad, dtype=torch.long, device="cpu")
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long, device="cpu")
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
    """The pretrained sentence encoder's WordPiece vocabulary (`text.wordpiece`, the one the generative models use
    too), framed as BERT frames a sentence: [CLS] tokens [SEP], turns of a context joined by [SEP]."""

    kind = "pretrained"

    def __init__(self, folder: Path):
        self.wordpiece = WordPieceTokenizer.from_encoder(folder)
        self.pad_id = self.wordpiece.pad

    def __len__(self) -> int:
        return len(self.wordpiece)

    def encode(self, texts: list[str], max_len: int, keep_end: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        wp, inner = self.wordpiece, max(0, max_len - 2)
        rows = []
        for ids in wp.encode_batch([t.replace(TURN_SEP, "[SEP]") for t in texts]):
            ids = (ids[len(ids) - inner :] if keep_end else ids[:inner]) if len(ids) > inner else ids
            rows.append([wp.cls, *ids, wp.eos])
        return _pad(rows, self.pad_id)

    def save(self, folder: Path) -> None:
        self.wordpiece.save_encoder_files(folder / "tokenizer")

    @classmethod
    def load(cls, folder: Path) -> PretrainedTokenizer:
        return cls(folder / "tokenizer")
