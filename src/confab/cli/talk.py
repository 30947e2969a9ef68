"""`confab chat` and `confab respond`: talk to an agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from confab.cli.common import PRECISION_HELP, console, fail


def chat(
    model: Annotated[Path, typer.Option(help="A retrieval checkpoint, or a PLATO-2 generator (stage 2.1 or 1).")],
    index: Annotated[Path | None, typer.Option(help="Retrieval: an index made by `confab index build`.")] = None,
    evaluator: Annotated[Path | None, typer.Option(help="PLATO-2: the stage-2.2 model that ranks candidates.")] = None,
    persona: Annotated[list[str] | None, typer.Option(help="A persona sentence (repeatable).")] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
) -> None:
    """Talk to an agent in the terminal. /help lists the commands."""
    from confab.agents import load_agent
    from confab.chat import run_chat

    options = {} if precision is None else {"precision": precision}
    try:
        agent = load_agent(model, index=index, evaluator=evaluator, **options)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        fail(str(e))
    run_chat(agent, list(persona or []), console)


def respond(
    model: Annotated[Path, typer.Option(help="A retrieval checkpoint, or a PLATO-2 generator.")],
    index: Annotated[Path | None, typer.Option(help="Retrieval: a candidate index.")] = None,
    evaluator: Annotated[Path | None, typer.Option(help="PLATO-2: the stage-2.2 evaluation model.")] = None,
    persona: Annotated[list[str] | None, typer.Option(help="A persona sentence (repeatable).")] = None,
    ranking: Annotated[str | None, typer.Option(help="PLATO-2: evaluator | loglik | backward.")] = None,
    backward: Annotated[
        Path | None, typer.Option(help="PLATO-2: a backward model p(c|r) for --ranking backward.")
    ] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
) -> None:
    """Answer one context read from standard input (one turn a line, oldest first); prints JSON with the
    response and the ranked candidates."""
    import sys

    from confab.agents import load_agent

    history = [line.strip() for line in sys.stdin if line.strip()]
    if not history:
        fail("standard input is empty: give the context, one turn a line")
    options = {"ranking": ranking, "backward": backward, "precision": precision}
    options = {k: v for k, v in options.items() if v is not None}
    try:
        agent = load_agent(model, index=index, evaluator=evaluator, **options)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        fail(str(e))
    reply = agent.respond(history, list(persona or []))
    candidates = [{"text": c.text, "score": c.score, **c.info} for c in reply.candidates]
    print(json.dumps({"response": reply.text, "candidates": candidates, "seconds": round(reply.seconds, 3)}))
