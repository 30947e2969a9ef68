"""A terminal chat with any Agent: the user writes and changes the persona as the dialogue goes."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from confab.errors import InvalidInput
from confab.io import atomic_write_json
from confab.replies import Agent, Reply

HELP = """commands:
  /persona                  show the persona, numbered
  /persona add SENTENCE     add a sentence
  /persona set N SENTENCE   replace sentence N
  /persona del N            remove sentence N
  /persona clear            remove every sentence
  /candidates               the ranked candidates of the last reply (score, z)
  /history                  the dialogue so far
  /reset                    start a new dialogue (the persona stays)
  /save FILE                write the dialogue, persona and candidates as JSON
  /help, /quit"""


@dataclass
class ChatState:
    persona: list[str]
    history: list[str] = field(default_factory=list)
    replies: list[Reply | None] = field(default_factory=list)  # per turn of history: the bot's Reply, or None

    def transcript(self) -> dict:
        turns = []
        for text, reply in zip(self.history, self.replies, strict=True):
            turn = {"speaker": "bot" if reply else "user", "text": text}
            if reply:
                turn["candidates"] = [{"text": c.text, "score": c.score, **c.info} for c in reply.candidates]
            turns.append(turn)
        return {"persona": self.persona, "turns": turns}


def run_chat(agent: Agent, persona: list[str], console: Console) -> list[str]:
    """Read turns until /quit or end of input; returns the dialogue."""
    _line_editing()
    state = ChatState(list(persona))
    console.print("[dim]Type to talk; /help lists the commands.[/]")
    if note := getattr(agent, "persona_note", None):
        console.print(f"[dim]Persona: {note}.[/]", highlight=False)
    while True:
        try:
            line = console.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line.startswith("/"):
            try:
                command(line, state, console)
            except ValueError as e:
                console.print(f"[red]{e}[/]", highlight=False)
            continue
        state.history.append(line)
        state.replies.append(None)
        reply = agent.respond(state.history, state.persona)
        state.history.append(reply.text)
        state.replies.append(reply)
        console.print(f"[bold green]bot>[/] {reply.text}", highlight=False)
    return state.history


def command(line: str, state: ChatState, console: Console) -> None:
    word, _, rest = line.partition(" ")
    rest = rest.strip()
    if word == "/help":
        console.print(HELP, highlight=False)
    elif word == "/persona":
        persona_command(rest, state.persona)
        for i, sentence in enumerate(state.persona, 1):
            console.print(f"  [magenta]{i}. {sentence}[/]", highlight=False)
        if not state.persona:
            console.print("  [dim](no persona)[/]")
    elif word == "/candidates":
        last = next((r for r in reversed(state.replies) if r), None)
        for c in last.candidates if last else []:
            z = c.info.get("z")
            console.print(
                f"  {c.score:9.3f}" + (f"  z={z:<2}" if z is not None else "") + f"  {c.text}", highlight=False
            )
    elif word == "/history":
        for text, reply in zip(state.history, state.replies, strict=True):
            console.print(f"  [{'green' if reply else 'cyan'}]{'bot' if reply else 'you'}>[/] {text}", highlight=False)
    elif word == "/reset":
        state.history.clear()
        state.replies.clear()
        console.print("[dim]new dialogue[/]")
    elif word == "/save":
        if not rest:
            raise InvalidInput("/save FILE: give a file name")
        atomic_write_json(Path(rest), state.transcript())
        console.print(f"[dim]saved {rest}[/]", highlight=False)
    else:
        raise InvalidInput(f"unknown command {word}; /help lists them")


def persona_command(rest: str, persona: list[str]) -> None:
    """Apply `add S`, `set N S`, `del N` or `clear` to the persona ('' only shows it)."""
    action, _, argument = rest.partition(" ")
    argument = argument.strip()
    if action == "":
        return
    if action == "add" and argument:
        persona.append(argument)
    elif action == "clear":
        persona.clear()
    elif action in ("set", "del"):
        number, _, sentence = argument.partition(" ")
        if not number.isdigit() or not 1 <= int(number) <= len(persona):
            raise InvalidInput(f"/persona {action} N: N is a sentence number, 1 to {len(persona)}")
        if action == "del":
            del persona[int(number) - 1]
        elif sentence.strip():
            persona[int(number) - 1] = sentence.strip()
        else:
            raise InvalidInput("/persona set N SENTENCE: give the new sentence")
    else:
        raise InvalidInput("/persona add SENTENCE | set N SENTENCE | del N | clear")


def _line_editing() -> None:
    """Arrow keys and the history of typed lines, where the terminal has them."""
    with contextlib.suppress(ImportError):  # e.g. Windows without pyreadline
        import readline  # noqa: F401 - importing it is what turns line editing on for input()
