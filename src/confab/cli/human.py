"""`confab human`: the human-evaluation kit (a form to fill in offline, and the import of the answers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from confab.cli.common import AsJson, ReportDir, console, finish
from confab.errors import InvalidInput, MissingInput

app = typer.Typer(help="Human evaluation: export a form for annotators, import their answers.", no_args_is_help=True)


@app.command("export")
def human_export(
    log: Annotated[
        list[Path],
        typer.Argument(
            help="Self-chat logs (one per system, named by the file name), or one log of `confab eval static`."
        ),
    ],  # fmt: skip
    out: Annotated[Path, typer.Option(help="The HTML form to write; the blinding key goes beside it (.key.json).")],
    speaker: Annotated[
        str, typer.Option(help="Self-chat: the speaker to rate (P2: the model; P1: the partner).")
    ] = "P2",
    max_items: Annotated[int, typer.Option(help="Items drawn at random (PLATO-2: 50 of the 200 self-chats).")] = 50,
    pairwise: Annotated[bool, typer.Option(help="Two systems: also ask which speaker is better (A/B/tie).")] = False,
    title: str = "Dialogue evaluation",
    seed: int = 0,
) -> None:
    """Write a self-contained HTML form (works offline, no server) with the PLATO-2 Table 7 rubric."""
    from confab.eval.human import export_form

    form, key = export_form(log, out, speaker, max_items, seed, pairwise, title)
    items = len(json.loads(key.read_text())["items"])
    console.print(f"{items} items: send {form} to each annotator (three in the paper) and keep {key}.", highlight=False)
    console.print(f"Their downloaded answers go to `confab human import {key} ANSWERS...`.", highlight=False)


@app.command("import")
def human_import(
    ctx: typer.Context,
    key: Annotated[Path, typer.Argument(help="The .key.json written by `confab human export`.")],
    answers: Annotated[list[Path], typer.Argument(help="Answer files the form downloaded (JSON or CSV).")],
    report: ReportDir = None,
    as_json: AsJson = False,
) -> None:
    """Majority votes of the annotators, each system's mean scores (PLATO-2 Tables 1 and 3), Fleiss' kappa, and
    pairwise wins (Table 4)."""
    from confab.eval.human import check_answers, read_answers, summarise
    from confab.eval.report import Table

    try:
        blind = json.loads(key.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingInput(f"{key}: not found") from None
    except ValueError as e:
        raise InvalidInput(f"{key}: not JSON ({e})") from None
    rows = [row for path in answers for row in read_answers(path)]
    try:
        summary = summarise(blind, check_answers(blind, rows))
    except KeyError as e:
        raise InvalidInput(f"{key}: no field {e}: not the key of a form of `confab human export`") from None
    metrics = [*blind["metrics"]["utterance"], *blind["metrics"]["dialogue"]]
    tables = [Table(f"Human evaluation ({len(summary['annotators'])} annotators, majority vote, scores 0–2)",
                    ["system", *metrics], [[s, *(v[m] for m in metrics)] for s, v in summary["systems"].items()]),
              Table("Agreement (Fleiss' kappa over units every annotator rated)", ["metric", "kappa"],
                    list(summary["kappa"].items()))]  # fmt: skip
    if "pairwise" in summary:
        a, b = blind["systems"]
        p = summary["pairwise"]
        tables.append(Table("Pairwise preference (items)", [f"{a} win", "tie", f"{b} win"], [[p[a], p["tie"], p[b]]]))
    finish(ctx, "human import", summary, tables, [key, *answers], None, report, as_json)
