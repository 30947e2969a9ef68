"""The one interface of the generative models' subword vocabularies: the model code sees ids and these special
ids, never what is behind them (SentencePiece BPE trained by confab, the WordPiece of a pretrained encoder,
the released PLATO-2's SentencePiece with Knover's id table).

A folder holds confab's `tokenizer.json` ({"kind": ...}) beside the vocabulary's own files; `load` reads the kind
and builds the matching tokenizer from data files only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from confab.errors import InvalidInput
from confab.text.bpe import BpeTokenizer
from confab.text.knover import KnoverTokenizer
from confab.text.wordpiece import WordPieceTokenizer


class Tokenizer(Protocol):
    kind: str
    pad: int
    unk: int
    bos: int  # begins the response
    eos: int  # ends each persona sentence, turn and the response
    latent: int  # [M]: the latent / recognition slot
    cls: int  # the evaluation model's slot
    mask: int  # masked LM
    special_ids: frozenset[int]

    def __len__(self) -> int: ...
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Iterable[int]) -> str: ...
    def save(self, folder: str | Path) -> None: ...
    def digest(self) -> str: ...  # sha256 of the vocabulary: two models can share ids only when these match


def load(folder: str | Path) -> Tokenizer:
    folder = Path(folder)
    meta = folder / "tokenizer.json"
    kind = json.loads(meta.read_text()).get("kind") if meta.exists() else "sentencepiece-bpe"
    kinds = {k.kind: k for k in (BpeTokenizer, WordPieceTokenizer, KnoverTokenizer)}
    if kind not in kinds:
        raise InvalidInput(f"{meta}: unknown tokenizer kind {kind!r}; kinds: {', '.join(kinds)}")
    return kinds[kind].load(folder)
