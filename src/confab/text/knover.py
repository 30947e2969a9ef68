"""The released PLATO-2's vocabulary: Knover's SentencePiece model (`spm.model`) with its id table (`vocab.txt`).

`vocab.txt` gives every SentencePiece piece its own id (the same as SentencePiece's for the 8,000 pieces) and adds
[MASK] = 8000, with the aliases [PAD] = [UNK] = 0, [CLS] = 1 (BOS), [SEP] = 2 (EOS). Text is normalised as the
reference does before SentencePiece: whitespace collapsed, NFKD with combining marks dropped (no lower-casing),
curly quotes and dashes to ASCII, control characters dropped; a piece the table lacks is 0. The model has no
[M] token (its latent is a bare vector, `PlatoConfig.latent_slot`), so `latent` is [MASK], never fed.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from confab.errors import InvalidInput, MissingInput
from confab.io import atomic_path, atomic_write_json

KIND = "knover-sentencepiece"
FILES = ("spm.model", "vocab.txt")
ASCII = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"',
                       "–": "-", "—": "-", "―": "-", "‐": "-", "‑": "-", "`": "'"})  # fmt: skip


def normalise(text: str) -> str:
    text = " ".join(text.split())
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.translate(ASCII)
    return "".join(c for c in text if c in "\t\n" or not unicodedata.category(c).startswith("C"))


class KnoverTokenizer:
    kind = KIND

    def __init__(self, folder: Path):
        folder = Path(folder)
        if missing := [f for f in FILES if not (folder / f).exists()]:
            raise MissingInput(f"{folder}: no {' or '.join(missing)}: not Knover's vocabulary")
        self.folder = folder
        self.sp = spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
        self.vocab: dict[str, int] = {}
        for number, line in enumerate((folder / "vocab.txt").read_text(encoding="utf-8").splitlines(), 1):
            piece, _, given = line.partition("\t")
            if not piece:
                raise InvalidInput(f"{folder / 'vocab.txt'}:{number}: an empty piece")
            self.vocab.setdefault(piece, int(given) if given.strip() else len(self.vocab))
        self.pieces = {i: p for p, i in reversed(list(self.vocab.items()))}
        try:
            self.pad, self.unk = self.vocab["[PAD]"], self.vocab["[UNK]"]
            self.bos, self.eos, self.mask = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[MASK]"]
        except KeyError as e:
            raise InvalidInput(f"{folder / 'vocab.txt'}: no {e.args[0]}") from None
        self.cls, self.latent = self.bos, self.mask
        self.special_ids = frozenset((self.pad, self.unk, self.bos, self.eos, self.mask))
        self.size = max(self.vocab.values()) + 1

    @classmethod
    def load(cls, folder: str | Path) -> KnoverTokenizer:
        return cls(Path(folder))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            if (folder / name).resolve() != (self.folder / name).resolve():
                with atomic_path(folder / name) as tmp:
                    shutil.copyfile(self.folder / name, tmp)
        atomic_write_json(folder / "tokenizer.json", {"kind": KIND, "vocab_size": len(self)})

    def __len__(self) -> int:
        return self.size

    def digest(self) -> str:
        return hashlib.sha256(b"".join((self.folder / f).read_bytes() for f in FILES)).hexdigest()

    def tokenize(self, text: str) -> list[str]:
        """SentencePiece pieces of the normalised text, numbers before a comma split off as the reference does."""
        pieces = []
        for piece in self.sp.encode(normalise(text), out_type=str):
            if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                split = self.sp.encode(piece[:-1].replace("▁", ""), out_type=str)
                if piece[0] != "▁" and split and split[0][0] == "▁":
                    split = split[1:] if len(split[0]) == 1 else [split[0][1:], *split[1:]]
                pieces += [*split, piece[-1]]
            else:
                pieces.append(piece)
        return pieces

    def retokenised(self, text: str | list[int]) -> str:
        """A text (or ids) as PaddleNLP's PLATO-2 hands it to its NSP model: the pieces joined by spaces, which it
        then tokenises again ("▁hell o" becomes "▁hell ▁o")."""
        pieces = self.tokenize(text) if isinstance(text, str) else [self.pieces.get(i, "") for i in text
                                                                       if i not in self.special_ids]  # fmt: skip
        return " ".join(pieces)

    def encode(self, text: str) -> list[int]:
        return [self.vocab.get(p, self.unk) for p in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        text = "".join(self.pieces.get(i, "") for i in ids if i not in self.special_ids)
        return re.sub(" +", " ", text.replace("▁", " ")).strip()
