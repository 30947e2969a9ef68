"""The WordPiece vocabulary of a pretrained BERT-family encoder, for a unified transformer started from its weights.

The special ids the generative models need come from BERT's own symbols, as UniLM lays out its sequences: [CLS]
begins a response (and is the evaluation model's slot), [SEP] ends every turn, [MASK] is the masked LM's;
[unused0] is the latent / recognition slot [M]. Loading reads `tokenizer.json` (the `tokenizers` library's own
JSON) or builds it from `vocab.txt`: data files only, no code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer

from confab.errors import InvalidInput, MissingInput
from confab.io import atomic_path, atomic_write_json

KIND = "wordpiece"
FILE = "wordpiece.json"  # the `tokenizers` JSON; confab's own tokenizer.json names the kind
SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "bos": "[CLS]", "eos": "[SEP]", "latent": "[unused0]", "cls": "[CLS]",
            "mask": "[MASK]"}  # fmt: skip
CONTRACTION = re.compile(r"(\w) ?(['’]) ?(s|t|m|re|ve|ll|d)\b")


class WordPieceTokenizer:
    kind = KIND

    def __init__(self, tokenizer: Tokenizer):
        self.tk = tokenizer
        tokenizer.no_padding()  # a sentence-transformers tokenizer.json pads and cuts to its own length
        tokenizer.no_truncation()
        vocab = tokenizer.get_vocab()
        if missing := [s for s in SPECIALS.values() if s not in vocab]:
            raise InvalidInput(f"a WordPiece vocabulary without {', '.join(missing)}: not a BERT-style one")
        for name, piece in SPECIALS.items():
            setattr(self, name, vocab[piece])
        self.special_ids = frozenset(vocab[s] for s in SPECIALS.values())

    @classmethod
    def from_encoder(cls, folder: str | Path) -> WordPieceTokenizer:
        """The tokenizer of a Hugging Face encoder folder: tokenizer.json, else vocab.txt (+ tokenizer_config.json)."""
        folder = Path(folder)
        if (folder / "tokenizer.json").exists():
            return cls(Tokenizer.from_file(str(folder / "tokenizer.json")))
        if not (folder / "vocab.txt").exists():
            raise MissingInput(f"{folder}: neither tokenizer.json nor vocab.txt: no WordPiece vocabulary")
        from tokenizers.implementations import BertWordPieceTokenizer

        settings = folder / "tokenizer_config.json"
        lowercase = json.loads(settings.read_text()).get("do_lower_case", True) if settings.exists() else True
        return cls(BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lowercase)._tokenizer)

    @classmethod
    def load(cls, folder: str | Path) -> WordPieceTokenizer:
        path = Path(folder) / FILE
        if not path.exists():
            raise MissingInput(f"{folder}: no {FILE}")
        return cls(Tokenizer.from_file(str(path)))

    def save_encoder_files(self, folder: Path) -> None:
        """The vocabulary as an encoder folder holds it (tokenizer.json), which `from_encoder` reads back."""
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "tokenizer.json") as tmp:
            self.tk.save(str(tmp))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / FILE) as tmp:
            self.tk.save(str(tmp))
        atomic_write_json(folder / "tokenizer.json", {"kind": KIND, "vocab_size": len(self)})

    def __len__(self) -> int:
        return self.tk.get_vocab_size()

    def digest(self) -> str:
        return hashlib.sha256(self.tk.to_str().encode()).hexdigest()

    def encode(self, text: str) -> list[int]:
        return self.tk.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tk.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        # BERT's pre-tokenizer splits at apostrophes and its decoder joins pieces with spaces: "i ' m" -> "i'm"
        return CONTRACTION.sub(r"\1\2\3", self.tk.decode([i for i in ids if i not in self.special_ids]))
