"""Self-chat (PLATO-2 section 3.4.1): a model talks with itself, or with a partner model, from a start utterance.

Each dialogue has `turns` utterances including the start (the paper: 10), which P1 says; P2 answers, then P1, and
so on. P1 is the partner agent when one is given, else the model itself; each side sees the dialogue from its own
point of view (its own turns as its own) and keeps its own persona. Logs are JSON lines, one dialogue a line:
{id, start, model, partner, persona_p1, persona_p2, turns: [{speaker, text, score, z}]}; written with the
resumable writer of `eval responses`, sampling seeded by dialogue and turn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from confab.errors import InvalidInput
from confab.eval.responses import reseed, write_log
from confab.replies import Agent
from confab.resources import resource_path


def vinyals_le_questions() -> list[str]:
    """The 200 start questions PLATO-2 uses (Vinyals & Le 2015; Apache-2.0, shipped with confab)."""
    return read_starts(resource_path("selfchat/vinyals_le_200_questions.txt"))


def read_starts(path: Path) -> list[str]:
    starts = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not starts:
        raise InvalidInput(f"{path}: no start utterances (one a line)")
    return starts


def dialogue(
    model: Agent, partner: Agent, start: str, turns: int, personas: tuple[list[str], list[str]], seed: int
) -> list[dict]:
    """`turns` utterances from `start`; P2 is `model`, P1 is `partner` (which may be the same agent)."""
    if turns < 2:
        raise InvalidInput(f"turns {turns}: a dialogue needs the start and at least one answer")
    said = [{"speaker": "P1", "text": start, "score": None, "z": None}]
    for t in range(1, turns):
        speaker, agent, persona = ("P2", model, personas[1]) if t % 2 else ("P1", partner, personas[0])
        reseed(agent, seed, t)
        reply = agent.respond([u["text"] for u in said], persona)
        best = reply.candidates[0] if reply.candidates else None
        said.append({"speaker": speaker, "text": reply.text, "score": best.score if best else None,
                     "z": best.info.get("z") if best else None})  # fmt: skip
    return said


def write_selfchats(
    model: Agent,
    starts: list[str],
    out: Path,
    turns: int = 10,
    partner: Agent | None = None,
    personas: tuple[list[str], list[str]] = ([], []),
    seed: int = 0,
    names: tuple[str, str] = ("model", "model"),
    on_progress: Callable[[int], None] | None = None,
) -> Path:
    def line(i: int) -> dict:
        said = dialogue(model, partner or model, starts[i], turns, personas, seed * 1_000_003 + i * 1_009)
        return {"id": i, "start": starts[i], "model": names[0], "partner": names[1], "persona_p1": personas[0],
                "persona_p2": personas[1], "turns": said}  # fmt: skip

    return write_log(out, len(starts), line, on_progress)
