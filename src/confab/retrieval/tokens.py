"""The retrieval family's tokenizers: the paper's, over a frequency dictionary, or the pretrained encoder's
WordPiece one. Both have the interface of every confab tokenizer (`text.subwords.Tokenizer`): `encode(text) -> ids`
and `pad`; `encode_batch` encodes many at once, and `framing` says how many special tokens open and close what
`encode` returns, which `retrieval.batches` keeps when it cuts a text to its role's length and pads the batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from confab.text import Dictionary, tokenize
from confab.text.wordpiece import WordPieceTokenizer

TURN_SEP = "__sep__"  # joins the turns of a multi-turn context, as ParlAI joins them with a newline


def join_turns(turns: list[str]) -> str:
    return f" {TURN_SEP} ".join(turns)


class WordTokenizer:
    """The paper's tokenizer, lower-cased, over a dictionary of the most frequent training tokens."""

    kind = "words"
    framing = (0, 0)  # no special tokens around a text

    def __init__(self, dictionary: Dictionary):
        self.dictionary = dictionary
        self.pad = 0

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int) -> WordTokenizer:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_words(text))
        counts[TURN_SEP] += 1  # always in the dictionary
        return cls(Dictionary.build(counts, max_size))

    def __len__(self) -> int:
        return len(self.dictionary)

    def encode(self, text: str) -> list[int]:
        return self.dictionary.encode(_words(text))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

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
    framing = (1, 1)  # [CLS] ... [SEP]

    def __init__(self, folder: Path):
        self.wordpiece = WordPieceTokenizer.from_encoder(folder)
        self.pad = self.wordpiece.pad

    def __len__(self) -> int:
        return len(self.wordpiece)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        wp = self.wordpiece
        return [[wp.cls, *ids, wp.eos] for ids in wp.encode_batch([t.replace(TURN_SEP, "[SEP]") for t in texts])]

    def save(self, folder: Path) -> None:
        self.wordpiece.save_encoder_files(folder / "tokenizer")

    @classmethod
    def load(cls, folder: Path) -> PretrainedTokenizer:
        return cls(folder / "tokenizer")
