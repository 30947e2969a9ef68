"""Does an agent answer from its persona? 50 questions whose answer is in one sentence of the persona, written for
this check (benchmarks/data/persona_questions.jsonl; no training data has them).

    .venv/bin/python benchmarks/persona_questions.py --agent plato=bundled:plato2 --agent retrieval=bundled:retrieval \
        [--agent old=OLD/plato2,evaluator=OLD/plato2-evaluator] [--out benchmarks/out/persona_questions]

Each question is asked alone, by an agent whose persona is the answering sentence among three others (those of
other questions, in a fixed order), and again with no persona. A reply answers from the persona when it says one of
the question's answer words (word starts: "dog" counts "dogs"; none of them is in the question). Also counted: replies
that repeat the question (`confab.text.overlap.repeats`, the retrieval agent's filter). Agents are named as on
`confab eval static` ([NAME=]MODEL[,evaluator=...][,index=...]); sampling is seeded by the question's number, so
runs repeat.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from confab.agents import AgentSpec
from confab.eval.report import Table
from confab.io import atomic_write_json
from confab.precision import machine
from confab.text.overlap import repeats

QUESTIONS = Path(__file__).resolve().parent / "data" / "persona_questions.jsonl"


def cases() -> list[dict]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    n = len(rows)
    out = []
    for i, row in enumerate(rows):
        others = [rows[(i + k) % n]["sentence"] for k in (7, 19, 31)]
        persona = others[: i % 4] + [row["sentence"]] + others[i % 4 :]  # the answer at a different place each time
        out.append({**row, "persona": persona})
    return out


def answers(reply: str, keys: list[str]) -> bool:
    text = reply.lower()
    return any(re.search(r"\b" + re.escape(k), text) for k in keys)


def ask(spec: AgentSpec, items: list[dict]) -> list[dict]:
    agent = spec.load()
    rows = []
    for i, item in enumerate(items):
        row = {"question": item["question"], "persona": item["persona"]}
        for setting, persona in (("with", item["persona"]), ("without", [])):
            torch.manual_seed(i)
            reply = agent.respond([item["question"]], persona).text
            row[setting] = {"reply": reply, "answers": answers(reply, item["answers"]),
                            "repeats": repeats(reply, item["question"])}  # fmt: skip
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", action="append", required=True, help="[NAME=]MODEL[,evaluator=...][,index=...]")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/persona_questions"))
    args = parser.parse_args()
    items = cases()
    table = Table(f"Questions answered from the persona ({len(items)} questions)",
                  ["agent", "with its persona", "with no persona", "replies repeating the question"])  # fmt: skip
    for spec in map(AgentSpec.parse, args.agent):
        rows = ask(spec, items)
        atomic_write_json(args.out / f"{spec.name}.json", rows)
        share = {s: sum(r[s]["answers"] for r in rows) / len(rows) for s in ("with", "without")}
        repeated = sum(r[s]["repeats"] for r in rows for s in ("with", "without"))
        table.rows.append([spec.name, share["with"], share["without"], repeated])
        print(table.rows[-1], flush=True)
        for r in rows[:5]:
            print(f"  {r['question']} -> {r['with']['reply']!r} | no persona: {r['without']['reply']!r}")
    print(f"\n{machine()}\n\n{table.markdown()}")


if __name__ == "__main__":
    main()
