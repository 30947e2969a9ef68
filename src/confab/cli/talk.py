"""`confab chat` and `confab respond`: talk to an agent."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from confab.cli.common import (
    AgentDevice,
    AgentOption,
    AgentPrecision,
    Persona,
    console,
    fail,
    model_options,
)


def chat(
    agent: AgentOption = "bundled:plato2",
    persona: Persona = None,
    precision: AgentPrecision = None,
    device: AgentDevice = None,
) -> None:
    """Talk to an agent in the terminal. /help lists the commands."""
    from confab.agents import AgentSpec
    from confab.chat import run_chat

    run_chat(AgentSpec.parse(agent).load(**model_options(precision, device)), list(persona or []), console)


def respond(
    agent: AgentOption = "bundled:plato2",
    persona: Persona = None,
    precision: AgentPrecision = None,
    device: AgentDevice = None,
    decoding: Annotated[str | None, typer.Option(help="PLATO-2: sampling | greedy | beam.")] = None,
    max_length: Annotated[int | None, typer.Option(help="PLATO-2: response tokens at most ([EOS] included).")] = None,
    min_length: Annotated[int | None, typer.Option(help="PLATO-2: response tokens before [EOS] may come.")] = None,
    top_k: Annotated[int | None, typer.Option(help="PLATO-2 sampling: the k most likely tokens (0: all).")] = None,
    no_repeat_ngram: Annotated[int | None, typer.Option(help="PLATO-2: never repeat an n-gram (0: off).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json/--text", help="JSON with every candidate, or the reply only.")
    ] = True,
) -> None:
    """Answer one context read from standard input (one turn a line, oldest first); prints JSON with the
    response and the ranked candidates."""
    import sys

    from confab.agents import AgentSpec

    history = [line.strip() for line in sys.stdin if line.strip()]
    if not history:
        fail("standard input is empty: give the context, one turn a line")
    options = model_options(precision, device)
    settings = {"strategy": decoding, "max_length": max_length, "min_length": min_length, "top_k": top_k,
                "no_repeat_ngram": no_repeat_ngram}  # fmt: skip
    if settings := {k: v for k, v in settings.items() if v is not None}:
        options["decoding"] = settings
    reply = AgentSpec.parse(agent).load(**options).respond(history, list(persona or []))
    if not as_json:
        print(reply.text)
        return
    candidates = [{"text": c.text, "score": c.score, **c.info} for c in reply.candidates]
    print(json.dumps({"response": reply.text, "candidates": candidates, "seconds": round(reply.seconds, 3)}))


def serve(
    agent: AgentOption = "bundled:plato2",
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: int = 8000,
    max_batch: Annotated[int, typer.Option(help="Requests of different sessions in one model call (1: off).")] = 16,
    max_wait_ms: Annotated[float, typer.Option(help="How long a request waits for others to batch with.")] = 10.0,
    max_sessions: Annotated[int, typer.Option(help="Sessions kept; the least recently used makes way.")] = 1000,
    session_ttl: Annotated[float, typer.Option(help="Seconds a session lives without a message.")] = 3600.0,
    api_key: Annotated[
        str | None, typer.Option(envvar="CONFAB_API_KEY", help="Require this key (X-API-Key or Bearer).")
    ] = None,
    safety: Annotated[bool, typer.Option(help="Never send a candidate with an offensive word.")] = False,
    precision: AgentPrecision = None,
    device: AgentDevice = None,
) -> None:
    """Serve an agent over HTTP: a JSON chat API with sessions, /metrics, and a web page at /."""
    import uvicorn

    from confab.agents import AgentSpec
    from confab.serve.app import ServeConfig, create_app

    if max_batch < 1 or max_sessions < 1 or session_ttl <= 0 or max_wait_ms < 0:
        fail("--max-batch and --max-sessions must be at least 1, --session-ttl above 0, --max-wait-ms at least 0")
    spec = AgentSpec.parse(agent)
    served = spec.load(**model_options(precision, device))
    config = ServeConfig(model=spec.model, max_batch=max_batch, max_wait_ms=max_wait_ms, max_sessions=max_sessions,
                         session_ttl=session_ttl, api_key=api_key, safety=safety)  # fmt: skip
    console.print(f"confab serves {agent} on http://{host}:{port}/ (API: /v1/chat, schema: /openapi.json)")
    if note := getattr(served, "persona_note", None):
        console.print(f"Persona: {note}.", highlight=False)
    uvicorn.run(create_app(served, config), host=host, port=port, log_level="warning")
