"""An agent's responses to the contexts of a dataset split, as a JSON-lines log for `confab eval generation`.

One line per example: id, persona, context, reference, response, the chosen candidate's score and latent z, and
every candidate. The log grows in LOG.partial, one flushed line at a time; a killed run continues where it
stopped (the seed of each example's sampling is fixed by its position, so the log equals an unbroken run's) and
the finished log is renamed into place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from confab.errors import InvalidInput
from confab.eval.generation import generation_metrics
from confab.replies import Agent


def write_responses(
    agent: Agent, examples: list[dict], out: Path, seed: int = 0, on_progress: Callable[[int], None] | None = None
) -> Path:
    def line(i: int) -> dict:
        e = examples[i]
        reseed(agent, seed, i)
        reply = agent.respond(list(e["context"]), list(e.get("persona") or []))
        best = reply.candidates[0] if reply.candidates else None
        return {
            "id": e.get("id", i),
            "persona": list(e.get("persona") or []),
            "context": list(e["context"]),
            "reference": e.get("response"),
            "response": reply.text,
            "score": best.score if best else None,
            "z": best.info.get("z") if best else None,
            "candidates": [{"text": c.text, "score": c.score, **c.info} for c in reply.candidates],
        }

    return write_log(out, len(examples), line, on_progress)


def reseed(agent: Agent, seed: int, i: int) -> None:
    """Sampling agents draw from a seed fixed by (seed, i), so a resumed log equals an unbroken one."""
    if hasattr(agent, "decode"):
        agent.decode = replace(agent.decode, seed=seed * 1_000_003 + i)


def write_log(out: Path, count: int, line: Callable[[int], dict], on_progress: Callable[[int], None] | None) -> Path:
    """Lines line(0) .. line(count - 1) as JSON lines, flushed one at a time into OUT.partial (continued after a
    kill), renamed onto `out` when all are there."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    done = _complete_lines(partial)
    with open(partial, "a", encoding="utf-8") as f:
        for i in range(done, count):
            f.write(json.dumps(line(i), ensure_ascii=False) + "\n")
            f.flush()
            if on_progress:
                on_progress(i + 1)
        os.fsync(f.fileno())
    partial.replace(out)
    return out


def _complete_lines(path: Path) -> int:
    """Lines of a partial log that ended with a newline; a torn last line is cut off."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        path.write_bytes(keep)
    return keep.count(b"\n")


def read_log(path: Path) -> list[dict]:
    """A responses, static-evaluation or self-chat log; a line that is not a JSON object with a string `response`,
    `replies` by agent or a list of `turns` is an error naming it."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(f"{path}:{lineno}: not JSON ({e})") from None
            if not isinstance(row, dict) or not (isinstance(row.get("response"), str) or _turns(row) or _replies(row)):
                raise InvalidInput(
                    f"{path}:{lineno}: needs a 'response' string, 'replies' by agent or a list of 'turns'"
                )
            rows.append(row)
    if not rows:
        raise InvalidInput(f"{path}: no responses")
    return rows


def _replies(row: dict) -> bool:
    replies = row.get("replies")
    return isinstance(replies, dict) and all(isinstance(r, dict) and isinstance(r.get("response"), str)
                                             for r in replies.values())  # fmt: skip


def _turns(row: dict) -> bool:
    turns = row.get("turns")
    if not isinstance(turns, list) or not turns:
        return False
    return all(isinstance(t, dict) and isinstance(t.get("text"), str) for t in turns)


def generated_turns(rows: list[dict]) -> list[dict]:
    """Every generated utterance of a self-chat log (the starts are given, not generated)."""
    return [t for r in rows for t in r["turns"][1:]]


def log_metrics(rows: list[dict]) -> dict:
    """distinct-1/2, length and latent usage of a log's generated texts; F1 too when every row has a reference, and
    persona use when every row has a persona. A self-chat log (rows with `turns`) counts every generated utterance."""
    if rows and all("turns" in r for r in rows):
        generated = generated_turns(rows)
        return generation_metrics([t["text"] for t in generated], None, [t.get("z") for t in generated])
    references = [r.get("reference") for r in rows]
    return generation_metrics(
        [r["response"] for r in rows],
        references if all(isinstance(g, str) for g in references) else None,
        [r.get("z") for r in rows],
        row_personas(rows),
    )


def row_personas(rows: list[dict]) -> list[list[str]] | None:
    """The personas of a log's rows when every row has one, else None."""
    personas = [r.get("persona") for r in rows]
    return personas if all(isinstance(p, list) and p for p in personas) else None
