"""Static evaluation (PLATO-2 section 3.4.3): several agents answer the same multi-turn contexts, side by side.

Contexts come from a file: JSON lines of {"context": [turns], "persona": [...], "reference": "..."} (or the
dialogue format's {"turns": [...]}, all of them the context), or any dialogue format confab reads (Knover TSV,
ParlAI, ...), where every example is a context with its reference response.

The log is JSON lines, one context a line: {id, persona, context, reference, replies: {agent: {response, score,
z}}}; written with the resumable writer of `eval responses` (sampling seeded by context), so a killed run
continues where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from confab.data.examples import examples_from_file
from confab.data.records import Problems
from confab.data.sources import detect_format
from confab.data.sources.lines import iter_json_lines
from confab.errors import InvalidInput, MissingInput
from confab.eval.generation import generation_metrics
from confab.eval.report import Table
from confab.eval.responses import reseed, row_personas, write_log
from confab.replies import Agent


def read_contexts(path: Path, fmt: str = "auto", limit: int | None = None) -> list[dict]:
    """Contexts as {id, persona, context, reference}; a malformed line is an error naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"no such file: {path}")
    if fmt == "auto":
        fmt = "jsonl" if _is_context_lines(path) else detect_format(path)
    if fmt == "jsonl":
        items = _context_lines(path, limit)
    else:
        items = [{"id": e["id"], "persona": list(e.get("persona") or []), "context": list(e["context"]),
                  "reference": e["response"]} for e in examples_from_file(path, fmt, "paths")[:limit]]  # fmt: skip
    if not items:
        raise InvalidInput(f"{path}: no contexts")
    return items


def _is_context_lines(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.readline()
    try:
        obj = json.loads(head)
    except json.JSONDecodeError:
        return False
    return isinstance(obj, dict) and ("context" in obj or "turns" in obj)


def _context_lines(path: Path, limit: int | None) -> list[dict]:
    problems, items = Problems(), []
    for lineno, obj in iter_json_lines(path, problems):
        turns = obj.get("context", obj.get("turns")) if isinstance(obj, dict) else None
        if not isinstance(turns, list) or not turns:
            raise InvalidInput(f"{path}:{lineno}: a context line needs a non-empty list 'context' (or 'turns')")
        turns = [t.get("text") if isinstance(t, dict) else t for t in turns]
        persona = obj.get("persona") or []
        if not all(isinstance(t, str) and t.strip() for t in turns) or not all(isinstance(p, str) for p in persona):
            raise InvalidInput(f"{path}:{lineno}: context turns and persona sentences must be non-empty strings")
        reference = obj.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise InvalidInput(f"{path}:{lineno}: 'reference' must be a string")
        items.append({"id": obj.get("id", lineno), "persona": persona, "context": turns, "reference": reference})
        if limit is not None and len(items) >= limit:
            break
    if problems.total():
        first = problems.samples[0]
        raise InvalidInput(f"{first['file']}:{first['line']}: {first['kind']}: {first['detail']}")
    return items


def write_static(
    agents: dict[str, Agent],
    contexts: list[dict],
    out: Path,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> Path:
    _check_resume(Path(out), list(agents))

    def line(i: int) -> dict:
        c = contexts[i]
        replies = {}
        for name, agent in agents.items():
            reseed(agent, seed, i)
            reply = agent.respond(list(c["context"]), list(c["persona"]))
            best = reply.candidates[0] if reply.candidates else None
            replies[name] = {"response": reply.text, "score": best.score if best else None,
                             "z": best.info.get("z") if best else None}  # fmt: skip
        return {**c, "replies": replies}

    return write_log(out, len(contexts), line, on_progress)


def _check_resume(out: Path, names: list[str]) -> None:
    """A resumed log must be answered by the same agents, or its lines would not line up."""
    partial = out.with_name(out.name + ".partial")
    if not partial.exists() or partial.stat().st_size == 0:
        return
    with open(partial, encoding="utf-8") as f:
        try:
            logged = list(json.loads(f.readline())["replies"])
        except (json.JSONDecodeError, KeyError) as e:
            raise InvalidInput(f"{partial}: not a static-evaluation log ({e}); remove it to start again") from e
    if logged != names:
        raise InvalidInput(f"{partial} was answered by {', '.join(logged)}, not {', '.join(names)}: "
                         "give the same agents, or remove it to start again")  # fmt: skip


def static_metrics(rows: list[dict]) -> dict[str, dict]:
    """Each agent's distinct-1/2, length, F1 against the references (when every context has one), latents."""
    names = list(rows[0]["replies"])
    references = [r.get("reference") for r in rows]
    refs = references if all(isinstance(g, str) for g in references) else None
    personas = row_personas(rows)
    return {name: generation_metrics([r["replies"][name]["response"] for r in rows], refs,
                                     [r["replies"][name].get("z") for r in rows], personas)
            for name in names}  # fmt: skip


def side_by_side(rows: list[dict], limit: int = 20, turns: int = 3) -> Table:
    """The last `turns` of each context, the reference when there is one, and every agent's reply."""
    names = list(rows[0]["replies"])
    shown = rows[:limit]
    references = any(r.get("reference") for r in shown)
    table_rows = [[" / ".join(r["context"][-turns:]), *([r.get("reference")] if references else []),
                   *(r["replies"][n]["response"] for n in names)] for r in shown]  # fmt: skip
    return Table(f"Replies side by side (first {len(shown)} of {len(rows)} contexts)",
                 ["context", *(["reference"] if references else []), *names], table_rows)  # fmt: skip


def metrics_table(title: str, metrics: dict[str, dict]) -> Table:
    """One row per agent: the generation metrics any of them has."""
    names = ("distinct-1", "distinct-2", "avg_length", "english_words", "f1", "persona_use", "latents_chosen")
    shown = [m for m in names if any(m in v for v in metrics.values())]
    return Table(title, ["agent", *shown], [[name, *(m.get(k) for k in shown)] for name, m in metrics.items()])
