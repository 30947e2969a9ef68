"""A terminal chat with any Agent: the user writes and changes the persona as the dialogue goes."""

from __future__ import annotations

from rich.console import Console

from confab.agents import Agent, Reply

HELP = (
    "/persona SENTENCE adds a persona sentence; /persona shows them; /clear-persona; /reset starts over; "
    "/candidates shows the last ranking; /quit"
)


def run_chat(agent: Agent, persona: list[str], console: Console) -> list[str]:
    """Read turns until /quit or end of input; returns the dialogue."""
    history: list[str] = []
    last: Reply | None = None
    console.print(f"[dim]{HELP}[/]")
    while True:
        try:
            line = console.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/help":
            console.print(HELP)
        elif line == "/persona":
            for sentence in persona or ["(no persona)"]:
                console.print(f"  [magenta]{sentence}[/]", highlight=False)
        elif line.startswith("/persona "):
            persona.append(line.removeprefix("/persona ").strip())
        elif line == "/clear-persona":
            persona.clear()
        elif line == "/reset":
            history, last = [], None
        elif line == "/candidates":
            for c in last.candidates if last else []:
                console.print(f"  {c.score:8.3f}  {c.text}", highlight=False)
        else:
            history.append(line)
            last = agent.respond(history, persona)
            history.append(last.text)
            console.print(f"[bold green]bot>[/] {last.text}", highlight=False)
    return history
