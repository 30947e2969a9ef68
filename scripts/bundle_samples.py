"""Make the persona and chit-chat samples that ship in `confab/resources/samples` from the shared data folder.

    python scripts/bundle_samples.py ../shared/data

Deterministic gzip (no name, no time), so that a rerun changes no byte. Synthetic-Persona-Chat's conversations are
written from PERSONA-CHAT personas: its `valid` file uses the ConvAI2 validation personas, where confab measures,
so it is left out, and of its `test` file the conversations that share a persona sentence with the ConvAI2
validation file are dropped. XPersona's English file is from the ConvAI2 training set and ships whole.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "confab" / "resources" / "samples"


def gzip_bytes(data: bytes, out: Path) -> None:
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    print(f"{out.name}: {len(data):,} bytes -> {out.stat().st_size:,}")


def normalised(sentence: str) -> str:
    return re.sub(r"[^a-z0-9]", "", sentence.lower())


def validation_personas(shared: Path) -> set[str]:
    found = set()
    for line in (shared / "personachat" / "convai2_valid_self_original_part1.txt").open(encoding="utf-8"):
        if m := re.match(r"\d+ (?:your|partner's) persona: (.*)", line.strip()):
            found.add(normalised(m.group(1)))
    return found


def synthetic_without_validation_personas(path: Path, held_out: set[str]) -> tuple[bytes, int, int]:
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    header, body = rows[0], rows[1:]
    kept = [r for r in body if not any(normalised(s) in held_out for s in "\n".join(r[:2]).splitlines() if s.strip())]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *kept])
    return out.getvalue().encode("utf-8"), len(body), len(kept)


def main(shared: Path) -> None:
    held_out = validation_personas(shared)
    data, total, kept = synthetic_without_validation_personas(
        shared / "synthetic_persona_chat" / "Synthetic-Persona-Chat_test.csv", held_out
    )
    print(f"Synthetic-Persona-Chat test: kept {kept:,} of {total:,} conversations")
    gzip_bytes(data, SAMPLES / "synthetic_persona_chat_test.csv.gz")
    xpersona = shared / "personachat" / "xpersona_en_persona_valid.json"
    gzip_bytes(xpersona.read_bytes(), SAMPLES / "xpersona_en_persona_convai2_train.json.gz")
    shutil.copyfile(shared / "personachat" / "xpersona_LICENSE", SAMPLES / "xpersona_LICENSE")
    for split in ("valid_rare", "test_freq", "test_rare"):
        gzip_bytes((shared / "topical_chat" / f"{split}.json").read_bytes(), SAMPLES / f"topical_chat_{split}.json.gz")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
