"""What every `confab` subcommand shares: the console, errors, file globs and a trainer's progress."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from confab.errors import ConfabError, InvalidInput, MissingInput

console = Console()
PRECISION_HELP = "auto (bfloat16 where the CPU has bfloat16 matrix units, AMX or AVX512-BF16) | float32 | bfloat16."
REPORT_HELP = "Folder for report.json, report.md and plots (default: a new one under reports/)."
# options that many commands share
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ReportDir = Annotated[Path | None, typer.Option(help=REPORT_HELP)]
Precision = Annotated[str, typer.Option(help=PRECISION_HELP)]
Stream = Annotated[bool, typer.Option(help="Stream the train splits from disk, shared among torchrun's processes.")]
DEVICE_HELP = "auto (the GPU when there is one, else the CPU) | cpu | cuda | cuda:N."
Device = Annotated[str, typer.Option(help=DEVICE_HELP)]
AgentDevice = Annotated[str | None, typer.Option("--device", help=DEVICE_HELP)]
# an agent, named the same way on every command that talks with one (confab.agents.AgentSpec)
AGENT_HELP = ("MODEL[,evaluator=PATH][,index=PATH][,ranking=evaluator|loglik|backward][,backward=PATH]: a PLATO-2 "
              "generator with the stage-2.2 model that ranks its candidates, or a retrieval model with its candidate "
              "index (`confab index build`); bundled:plato2 and bundled:retrieval bring their own.")  # fmt: skip
AgentOption = Annotated[str, typer.Option("--agent", help=AGENT_HELP)]
AgentPrecision = Annotated[str | None, typer.Option("--precision", help=PRECISION_HELP)]
Persona = Annotated[list[str] | None, typer.Option(help="A persona sentence (repeatable).")]
Strategy = Annotated[str, typer.Option(
    help="Under torchrun: ddp (each process holds the model), zero (and 1/N of Adam's state) or fsdp (1/N of the "
         "weights, gradients and Adam's state: FSDP2).")]  # fmt: skip
# the trainers' --bf16 before --precision: still taken, with a warning
Bf16 = Annotated[bool, typer.Option(help="Deprecated: --precision bfloat16.", hidden=True)]


class Commands(TyperGroup):
    """confab's command group: a ConfabError (a problem with the input or the set-up, which the user can fix) ends
    in its message and exit status 2; any other exception is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfabError as e:
            fail(str(e))


def fail(message: str) -> None:
    # soft wrap: the terminal folds a long line; rich's own folding would break a path in it with a newline
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def expand(files: list[str]) -> list[str]:
    """Files as given; quoted globs (RC_2015-*.zst) are expanded here, in sorted order."""
    out = []
    for f in files:
        matches = sorted(glob.glob(f)) if any(c in f for c in "*?[") and not Path(f).exists() else [f]
        if not matches:
            fail(f"no file matches {f}")
        out.extend(matches)
    return out


def training_precision(precision: str, bf16: bool) -> str:
    """A trainer's --precision, with the deprecated --bf16 taken as `bfloat16`."""
    from confab.precision import PRECISIONS

    if bf16:
        warning = ("--bf16 is deprecated: use --precision bfloat16, or --precision auto (the default: bfloat16 "
                   "where the CPU computes it fast)")  # fmt: skip
        Console(stderr=True).print(f"[yellow]warning:[/] {warning}", highlight=False)
        if precision not in ("auto", "bfloat16"):
            fail(f"--bf16 and --precision {precision}: one of them")
        return "bfloat16"
    if precision not in PRECISIONS:
        fail(f"--precision must be one of {', '.join(PRECISIONS)}, not {precision}")
    return precision


def model_options(precision: str | None, device: str | None) -> dict:
    """load_agent's options from a command's --precision and --device (what was not given is left to auto)."""
    options = {} if precision is None else {"precision": precision}
    if device is not None:
        options["device"] = device_or_fail(device)
    return options


def device_or_fail(device: str):
    """The torch.device of a --device option (an InvalidInput, so exit 2 with the reason, when there is no such
    device here). Imported here: the command line loads PyTorch only when a command needs it."""
    from confab.devices import resolve

    return resolve(device)


def train_with_progress(train, data: list[Path], run, out: Path, quiet: bool) -> None:
    """Run a trainer with progress bars; print its device and precision, its epochs and where the checkpoint
    went."""
    from confab.precision import choose
    from confab.progress import progress_bars

    if run.train.strategy not in ("ddp", "zero", "fsdp"):
        fail(f"--strategy must be ddp, zero or fsdp, not {run.train.strategy}")
    device = device_or_fail(run.train.device)
    if not quiet:
        console.print(f"device {device} · precision {choose(run.train.precision, device)}", highlight=False)
    with progress_bars(quiet) as bars:
        result = train(data, run, out, bars)
    if not quiet:
        from confab.training import describe_result

        for line in describe_result(result):
            console.print(line, highlight=False)


def invocation(ctx: typer.Context) -> tuple[str, dict]:
    """The running command as a full command line (every option, defaults included) and as a config dict, so a
    report says exactly how to reproduce it."""
    import shlex

    words = ["confab", *ctx.command_path.split()[1:]]
    options, arguments, config = [], [], {}
    for param in ctx.command.params:
        if param.name not in ctx.params:  # e.g. --install-completion: not an option of the command itself
            continue
        value = ctx.params[param.name]
        config[param.name] = [str(v) for v in value] if isinstance(value, list | tuple) else _plain(value)
        if value is None or value == [] or value == ():
            continue
        if param.param_type_name == "argument":
            arguments += [str(v) for v in value] if param.multiple or param.nargs != 1 else [str(value)]
        elif param.is_flag:
            if value:
                options.append(param.opts[0])
            elif param.secondary_opts:
                options.append(param.secondary_opts[0])
        else:
            for v in value if param.multiple else [value]:
                options += [param.opts[0], str(v)]
    return shlex.join(words + options + arguments), config


def _plain(value):
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def finish(
    ctx: typer.Context,
    evaluation: str,
    results: dict,
    tables: list,
    inputs: list,
    seed: int | None,
    folder: Path | None,
    as_json: bool,
    plots=None,
    quiet: bool = False,
) -> None:
    """Write the evaluation's report (with `plots(folder) -> [png names]`), then print JSON or the tables."""
    from confab.eval.report import Report, default_folder

    command, config = invocation(ctx)
    folder = folder or default_folder(evaluation)
    folder.mkdir(parents=True, exist_ok=True)
    drawn = plots(folder) if plots else []
    report = Report(evaluation, command, config, results, seed, [str(i) for i in inputs if i], tables, drawn)
    report.write(folder)
    if as_json:
        print(json.dumps(results))
    elif not quiet:
        for table in tables:
            console.print(table.rich())
        console.print(f"report: {folder / 'report.md'}", highlight=False)


def prepare(
    evaluation: str,
    folder: Path | None,
    data: list = (),
    agents: list = (),
    scorers: list = (),
    checkpoints: list = (),
    reads=None,
) -> tuple[Path, list[str]]:
    """What a command's report needs, checked before its work so that a run never fails at its end: the report
    folder (one that can be made) and the inputs it checksums: `data` files, and the folders that the models read,
    `bundled:NAME` resolved to the shipped ones: `agents` (AgentSpec), `scorers` as ranking
    evaluations read them, `checkpoints` (one folder each), and whatever `reads()` returns."""
    import os

    from confab.bundled import resolve
    from confab.eval.report import default_folder
    from confab.scorers import scorer_folder

    folder = Path(folder or default_folder(evaluation))
    paths = [*(Path(d) for d in data if d is not None), *(p for a in agents for p in a.reads())]
    paths += [p for p in [*map(scorer_folder, scorers), *(resolve(c)[0] for c in checkpoints)] if p is not None]
    paths += reads() if reads else []
    if missing := [str(p) for p in paths if not p.exists()]:
        raise MissingInput(f"{', '.join(missing)}: not found")
    existing = next(p for p in [folder, *folder.absolute().parents] if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise InvalidInput(f"report folder {folder}: {existing} is not a folder this process may write to")
    return folder, list(dict.fromkeys(str(p) for p in paths))
