"""SentencePiece BPE vocabulary for the generative models (PLATO-2: 8K BPE tokens built with SentencePiece).

Ids 0-3 are [PAD], [UNK], [BOS], [EOS]; then the model's own symbols: [M] (the latent / recognition slot),
[CLS] (the evaluation model's slot) and [MASK] (masked LM). The model file is SentencePiece's own protobuf,
which loads without running code.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from confab.errors import MissingInput
from confab.io import atomic_path, atomic_write_json

MODEL_FILE = "bpe.model"
SPECIALS = ("[M]", "[CLS]", "[MASK]")


class BpeTokenizer:
    kind = "sentencepiece-bpe"

    def __init__(self, processor: spm.SentencePieceProcessor):
        self.sp = processor
        self.pad, self.unk, self.bos, self.eos = 0, 1, 2, 3
        self.latent, self.cls, self.mask = (processor.piece_to_id(s) for s in SPECIALS)
        self.special_ids = frozenset((self.pad, self.unk, self.bos, self.eos, self.latent, self.cls, self.mask))

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, max_sentences: int = 2_000_000) -> BpeTokenizer:
        """Train on `texts` (SentencePiece samples `max_sentences` of them when there are more)."""
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=(t for t in texts if t.strip()),
            model_writer=model,
            model_type="bpe",
            vocab_size=vocab_size,
            character_coverage=1.0,
            pad_id=0,
            unk_id=1,
            bos_id=2,
            eos_id=3,
            pad_piece="[PAD]",
            unk_piece="[UNK]",
            bos_piece="[BOS]",
            eos_piece="[EOS]",
            user_defined_symbols=list(SPECIALS),
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            hard_vocab_limit=False,  # a small corpus gets the vocabulary it can fill, not an error
            minloglevel=2,
        )
        return cls(spm.SentencePieceProcessor(model_proto=model.getvalue()))

    @classmethod
    def load(cls, folder: str | Path) -> BpeTokenizer:
        path = Path(folder) / MODEL_FILE
        if not path.exists():
            raise MissingInput(f"{folder}: no {MODEL_FILE}; train one with `confab tokenizer train`")
        return cls(spm.SentencePieceProcessor(model_file=str(path)))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / MODEL_FILE) as tmp:
            tmp.write_bytes(self.sp.serialized_model_proto())
        atomic_write_json(folder / "tokenizer.json", {"kind": self.kind, "vocab_size": len(self)})

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def digest(self) -> str:
        return hashlib.sha256(self.sp.serialized_model_proto()).hexdigest()

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([i for i in ids if i not in self.special_ids])
