"""The embedded default: the whole mission on the real samples that ship with confab, in minutes.

Builds persona dialogue datasets from the bundled samples (`quick`: PERSONA-CHAT examples of the PLATO-2 reference
code, with their personas, and Topical-Chat, with personas extracted from each speaker's turns; `full` adds
XPersona's PERSONA-CHAT dialogues, Synthetic-Persona-Chat, the other Topical-Chat splits and the Chit-Chat
Challenge conversations), trains a retrieval agent and PLATO-2's three
stages, evaluates them (hits@k, perplexity, distinct-1/2 and F1 of answers to test contexts, self-chats from the
200 questions, response selection on DailyDialog++), writes a report with a plot, and ends in a chat.

Every step writes its outputs atomically and is skipped when they are there, so a second run only shows the
results and a killed run starts again at the step it was in (the trainers and logs resume mid-way).

Two budgets run the same steps: `quick` (the demo: minutes on 2 cores) and `full` (the recipe of the models that
ship with confab, under two hours). `full` also packs the models for shipping (`ship`).
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from rich.console import Console

from confab import plots
from confab.agents import load_agent
from confab.bundled import BUNDLED, bundled_folder
from confab.chat import run_chat
from confab.config import load_config, recipe
from confab.data.build import Build, BuildConfig
from confab.data.clean import CleanConfig
from confab.data.schema import SPLITS, iter_examples, read_split
from confab.data.sources.chitchat import installed
from confab.devices import resolve as resolve_device
from confab.errors import InvalidInput
from confab.eval.compare import perplexity_results, ranking_results, selection_results
from confab.eval.report import Report, Table
from confab.eval.responses import log_metrics, read_log, write_responses
from confab.eval.selfchat import vinyals_le_questions, write_selfchats
from confab.generation.train import PlatoRun, train_plato
from confab.io import atomic_write_json
from confab.packing import pack
from confab.precision import choose
from confab.resources import resource_path
from confab.retrieval import checkpoint
from confab.retrieval.index import build_index, collect_responses
from confab.retrieval.score import RankerScorer
from confab.retrieval.train import RetrievalRun, train_retrieval
from confab.training import describe_result

PERSONA = ["i love hiking in the mountains .", "i have two dogs .", "i work as a nurse at night ."]
SCRIPT = ["hi ! what do you like to do on weekends ?", "do you have any pets ?", "what do you do for a living ?",
          "nice talking to you , bye !"]  # fmt: skip


# The datasets the demo can build: (bundled files or the installed chitchat-dataset, format, build options).
# PERSONA-CHAT's own examples come first: their validation and test splits are the demo's; the persona corpora
# (personas given by the data) are what the retrieval agent, stage 2.1 and the evaluator train on.
# `clean`: the rules turned off (Reddit's cleaning, `confab.data.clean`). In a chat, dropping a turn drops the rest of
# its conversation, so the rules for Reddit comments that would cut chats at their greetings ("Hello": one token)
# and their common phrases (repeated) are off for the two chat corpora of the full recipe.
CHAT_SKIP = ("token_count", "repeated", "parent_overlap")
TOPICAL = dict(format="topicalchat", examples="paths", persona="rules", max_persona=20, clean=())
SOURCES = {
    "persona": (("knover_example_train.tsv.gz", "knover_example_valid.tsv.gz"),
                dict(format="knover", valid_size=100, test_size=100)),
    "xpersona": (("xpersona_en_persona_convai2_train.json.gz",),
                 dict(format="xpersona", valid_size=100, test_size=100)),
    "synthetic": (("synthetic_persona_chat_test.csv.gz",),
                  dict(format="syntheticpersonachat", valid_size=200, test_size=200)),
    "topical": (("topical_chat_valid_freq.json.gz",), TOPICAL),
    "topical4": (tuple(f"topical_chat_{s}.json.gz" for s in ("valid_freq", "valid_rare", "test_freq", "test_rare")),
                 {**TOPICAL, "clean": CHAT_SKIP}),
    "chitchat": (("chitchat-dataset",), dict(format="chitchat", examples="paths", persona="rules", max_persona=20,
                                             valid_size=500, test_size=500, clean=CHAT_SKIP)),
}  # fmt: skip
PERSONA_SOURCES = ("persona", "xpersona", "synthetic")
# what each dataset is, for the model cards (licences and attribution: resources/samples/README.md)
DESCRIBED = {
    "persona": "PERSONA-CHAT examples of the PLATO-2 reference code (Knover; Apache-2.0), personas given",
    "xpersona": "XPersona's English PERSONA-CHAT: ConvAI2 training dialogues (MIT / CC BY 4.0), the bot's persona",
    "synthetic": "Synthetic-Persona-Chat `test`, the conversations sharing no persona sentence with ConvAI2 "
    "validation (CC BY 4.0), both users' personas",
    "topical": "Topical-Chat `valid_freq` (CDLA-Sharing-1.0), personas extracted from each speaker's other turns",
    "topical4": "Topical-Chat, its four validation and test splits (CDLA-Sharing-1.0), personas extracted from each "
    "speaker's other turns",
    "chitchat": "Chit-Chat Challenge (package `chitchat-dataset`, MIT), personas extracted from each sender's turns",
}


@dataclass(frozen=True)
class Budget:
    sources: tuple[str, ...]  # of SOURCES, the first being "persona"
    persona_examples: str  # what an example of the persona corpora holds: "pairs" (the last turn) or "paths" (all)
    retrieval_examples: int | None  # training examples of the retrieval agent (None: all)
    retrieval_epochs: int
    indexed: int | None  # training responses in the retrieval agent's index (None: all)
    plato_examples: int | None  # training examples of PLATO-2 stage 1 (None: all)
    stage21_examples: int | None  # training examples of stage 2.1 (the first ones: PERSONA-CHAT's)
    stage22_examples: int | None  # training examples of stage 2.2 (idem)
    stage1_epochs: int
    stage21_epochs: int
    stage22_epochs: int
    answered: int  # test contexts each agent answers (distinct-1/2, F1)
    selfchats: int  # of the 200 start questions
    selfchat_turns: int
    selection: int | None  # DailyDialog++ contexts (None: all 1,028)


BUDGETS = {
    # seconds: what the tests run
    "smoke": Budget(sources=("persona", "topical"), persona_examples="pairs", retrieval_examples=128,
                    retrieval_epochs=1, indexed=300, plato_examples=100, stage21_examples=100, stage22_examples=100,
                    stage1_epochs=1, stage21_epochs=1, stage22_epochs=1, answered=4, selfchats=2, selfchat_turns=3,
                    selection=8),
    # minutes on 2 cores of a CPU without bfloat16 units (float32): a third of the work of the budget before the
    # precision policy, which took 10 minutes in bfloat16 on a CPU with AMX (benchmarks/README.md)
    "quick": Budget(sources=("persona", "topical"), persona_examples="pairs", retrieval_examples=None,
                    retrieval_epochs=1, indexed=3000, plato_examples=600, stage21_examples=600, stage22_examples=1000,
                    stage1_epochs=1, stage21_epochs=1, stage22_epochs=1, answered=20, selfchats=2, selfchat_turns=6,
                    selection=50),
    # the shipped models (under 2 hours on 2 cores): 2 cores reach only the persona corpora in that time, so
    # every training takes the persona corpora first; the chat corpora are there for longer budgets (GPUs) and
    # fill no index (its 20,000 responses are persona ones). Examples with the whole dialogue before the response:
    # trained on the last turn alone, stage 2.1 had per-word perplexity 132 on ConvAI2 given the last turn and 161
    # given the dialogue (benchmarks/README.md). The retrieval agent takes the first 10,000 persona examples: on
    # ConvAI2 it ranks as well as with all 26,595 (hits@1 67.6 against 67.1), trained in 15 minutes in float32 where
    # all of them took 34 in bfloat16 (about 50 in float32): the recipe stays within 2 hours on a CPU without
    # bfloat16 units
    "full": Budget(sources=("persona", "xpersona", "synthetic", "chitchat", "topical4"), persona_examples="paths",
                   retrieval_examples=10000, retrieval_epochs=1, indexed=20000, plato_examples=14000,
                   stage21_examples=5000, stage22_examples=20000, stage1_epochs=1, stage21_epochs=1,
                   stage22_epochs=1, answered=100, selfchats=20, selfchat_turns=10, selection=None),
}  # fmt: skip
# The recipe is in the config files resources/configs/shipped-*.json, which `confab train` reads too (their README
# says why each choice); a budget sets only the epochs, the examples and the data. The retrieval agent, PLATO-2's
# stage 1 and its evaluator start from this pretrained encoder, which the ranking also shows untrained.
ENCODER = "bundled:minilm"


@dataclass
class Demo:
    out: Path
    budget: str = "quick"
    console: Console | None = None
    progress: Callable | None = None
    precision: str = "auto"  # of every training and model run (confab.precision): auto follows the hardware
    device: str = "auto"  # where they run (confab.devices): the GPU when there is one

    def __post_init__(self):
        if self.budget not in BUDGETS:
            raise InvalidInput(f"budget {self.budget!r}: choose {' or '.join(BUDGETS)}")
        self.on = resolve_device(self.device)  # an unknown device or precision fails here, before any step
        self.chosen = choose(self.precision, self.on)
        self.b = BUDGETS[self.budget]
        self.console = self.console or Console()
        self.out = Path(self.out)
        self.data = [self.out / "data" / name for name in self.b.sources]
        # the corpora whose personas are given by the data, not extracted from a speaker's turns
        self.persona_data = [d for d, name in zip(self.data, self.b.sources, strict=True) if name in PERSONA_SOURCES]
        self.models = self.out / "models"

    # each step: (what it does, the file that says it is done, the function)
    def steps(self) -> list[tuple[str, Path, Callable[[], None]]]:
        m, e = self.models, self.out / "eval"
        steps = [
            ("build the persona dialogue datasets", self.data[-1] / "report.json", self.build),
            ("train the retrieval agent", m / "retrieval" / "config.json", self.retrieval),
            ("index its candidate responses", m / "retrieval-index" / "index.json", self.index),
            ("PLATO-2 stage 1: one-to-one generation", m / "plato-1" / "config.json", self.stage1),
            ("PLATO-2 stage 2.1: latent generation (K=20)", m / "plato-2.1" / "config.json",
             self.stage21),
            ("PLATO-2 stage 2.2: the evaluation model", m / "plato-2.2" / "config.json", self.stage22),
            ("hits@k and perplexity on the test split", e / "ranking.json", self.ranking),
            ("answer test contexts, self-chats", e / "answers.json", self.answers),
            ("response selection on DailyDialog++", e / "selection.json", self.selection),
            ("report and plot", self.out / "report" / "report.md", self.report),
        ]  # fmt: skip
        if self.budget == "full":
            steps.append(("pack the models for shipping", self.out / "shipped" / "README.md", self.ship))
        return steps

    def run(self) -> Path:
        steps = self.steps()
        timings = self.out / "timings.json"  # seconds each step took when it ran (benchmarks/demo_time.py)
        seconds = json.loads(timings.read_text()) if timings.exists() else {}
        for i, (what, done, step) in enumerate(steps, 1):
            if done.exists():
                self.console.print(f"[dim][{i}/{len(steps)}] {what}: done already ({done.parent})[/]")
                continue
            self.console.print(f"[bold][{i}/{len(steps)}] {what}[/]")
            start = time.perf_counter()
            step()
            seconds[what] = round(time.perf_counter() - start, 1)
            atomic_write_json(timings, seconds)
        self.show()
        return self.out / "report"

    def before(self) -> dict[str, Path]:
        """The models installed with confab, which the full recipe's would replace: measured beside them in the
        same run (the model cards show both). Other budgets train too little to be compared with them."""
        if self.budget != "full":
            return {}
        folder = bundled_folder()
        return {name: folder / name for name in ("plato2", "plato2-evaluator", "retrieval", "retrieval-index")}

    # --- data and training ---
    def build(self) -> None:
        for name, folder in zip(self.b.sources, self.data, strict=True):
            files, options = SOURCES[name]
            options = dict(options)
            if name in PERSONA_SOURCES:
                options["examples"] = self.b.persona_examples
            skip = options.pop("clean", None)
            clean = CleanConfig() if skip is None else CleanConfig(enabled=True, skip=list(skip))
            inputs = [str(installed() if f == "chitchat-dataset" else resource_path(f"samples/{f}")) for f in files]
            if not (folder / "report.json").exists():
                Build(BuildConfig(inputs=inputs, clean=clean, **options), folder).run()
            report = json.loads((folder / "report.json").read_text())
            self.console.print(f"  {name}: {_splits(report)}", highlight=False)

    def retrieval(self) -> None:
        run = load_config(RetrievalRun, recipe("shipped-retrieval"))
        train = replace(run.train, epochs=self.b.retrieval_epochs, precision=self.precision, device=self.device)
        run = replace(run, train=train, max_train=self.b.retrieval_examples)
        # the persona corpora only: extracted personas run to 20 sentences, which the encoder reads one by one, so
        # an epoch of Topical-Chat costs ten of PERSONA-CHAT's; its responses still fill the quick index
        self._show_epochs(train_retrieval(self.persona_data, run, self.models / "retrieval", self.progress))

    def index(self) -> None:
        ranker, tokenizer, _ = checkpoint.load(self.models / "retrieval")
        scorer = RankerScorer(ranker.to(self.on), tokenizer, precision=self.precision)
        # the training responses only: the test split's answers must be found by generalising, not recalled
        responses = collect_responses(row["response"] for d in self.data for row in iter_examples(d, SPLITS[0]))
        responses = responses[: self.b.indexed]
        build_index(responses, lambda texts: scorer.encode_responses(texts).float().cpu().numpy(),
                    self.models / "retrieval-index", progress=self.progress,
                    meta={"model": "retrieval", "data": [d.name for d in self.data], "split": SPLITS[0]},
                    unit_vectors=ranker.config.similarity == "cosine")  # fmt: skip

    def _plato(self, stage: str, epochs: int, examples: int | None, init: str | None, data: list[Path]) -> None:
        # the recipe is the stage's config file (resources/configs, as `train plato --config` reads it); a budget
        # sets only the epochs, the examples and the data
        run = load_config(PlatoRun, recipe(f"shipped-plato-{stage}"))
        train = replace(run.train, epochs=epochs, precision=self.precision, device=self.device)
        run = replace(run, train=train, max_train=examples, init=str(self.models / init) if init else run.init)
        self._show_epochs(train_plato(data, run, self.models / f"plato-{stage}", self.progress))

    def stage1(self) -> None:
        self._plato("1", self.b.stage1_epochs, self.b.plato_examples, None, self.data)

    def stage21(self) -> None:
        # the persona corpora only, in steps of 2,048 tokens: on the mix with Topical-Chat the recognition
        # spread Topical-Chat's long responses over 10 latents and put 86% of PERSONA-CHAT's on one
        self._plato("2.1", self.b.stage21_epochs, self.b.stage21_examples, "plato-1", self.persona_data)

    def stage22(self) -> None:
        # from the encoder itself, not from stage 1: from stage 1 its validation accuracy stayed at 0.49 after an
        # epoch (benchmarks/README.md), while the encoder, trained to read bidirectionally, learns coherence at once
        self._plato("2.2", self.b.stage22_epochs, self.b.stage22_examples, None, self.data)

    def _show_epochs(self, result: dict) -> None:
        for line in describe_result(result):
            self.console.print(f"  {line}", highlight=False)

    # --- evaluation ---
    def ranking(self) -> None:
        m = self.models
        # beside the retrieval model, the untrained encoder it starts from
        before = self.before()
        models = [str(m / "retrieval"), ENCODER, str(m / "plato-2.2"), "tfidf"]
        models += [str(before[n]) for n in ("retrieval", "plato2-evaluator") if n in before]
        ranked = ranking_results(models, self.data[0], candidates=20, precision=self.precision)
        generators = [m / "plato-1", m / "plato-2.1"] + ([before["plato2"]] if before else [])
        perplexity = perplexity_results(generators, self.data[0])
        atomic_write_json(self.out / "eval" / "ranking.json", {"ranking": ranked, "perplexity": perplexity})

    def answers(self) -> None:
        e, m = self.out / "eval", self.models
        plato = load_agent(m / "plato-2.1", evaluator=m / "plato-2.2", precision=self.precision, device=self.on)
        retrieval = load_agent(m / "retrieval", index=m / "retrieval-index", precision=self.precision,
                               device=self.on)
        agents = [("PLATO-2", plato), ("retrieval", retrieval)]
        if before := self.before():
            agents += [("PLATO-2, shipped before", load_agent(before["plato2"], evaluator=before["plato2-evaluator"],
                                                             precision=self.precision, device=self.on)),
                       ("retrieval, shipped before", load_agent(before["retrieval"], index=before["retrieval-index"],
                                                               precision=self.precision, device=self.on))]  # fmt: skip
        examples = read_split(self.data[0], "test").to_pylist()[: self.b.answered]
        results = {}
        for name, agent in agents:
            log = write_responses(agent, examples, e / f"answers-{name}.jsonl", on_progress=self._task(name, examples))
            results[name] = log_metrics(read_log(log))
        starts = vinyals_le_questions()[: self.b.selfchats]
        log = write_selfchats(plato, starts, e / "selfchat-PLATO-2.jsonl", self.b.selfchat_turns,
                              personas=(PERSONA, PERSONA), on_progress=self._task("self-chats", starts))  # fmt: skip
        results["PLATO-2 self-chat"] = log_metrics(read_log(log))
        atomic_write_json(e / "answers.json", results)

    def selection(self) -> None:
        m = self.models
        data = resource_path("samples/dailydialog_plusplus_dev.json.gz")
        before = self.before()
        models = [str(m / "plato-2.2"), str(m / "retrieval"), ENCODER, "tfidf"]
        models += [str(before[n]) for n in ("plato2-evaluator", "retrieval") if n in before]
        count, results = selection_results(models, data, ["random", "adversarial"], self.b.selection,
                                           self.precision)  # fmt: skip
        atomic_write_json(self.out / "eval" / "selection.json", {"contexts": count, "results": results})

    def _task(self, name: str, items: list) -> Callable | None:
        return self.progress(name, len(items)) if self.progress else None

    # --- report ---
    def tables(self) -> list:
        e = self.out / "eval"
        ranking = json.loads((e / "ranking.json").read_text())
        answers = json.loads((e / "answers.json").read_text())
        selection = json.loads((e / "selection.json").read_text())
        m = self.models
        names = {str(m / "retrieval"): "retrieval (MiniLM, persona)", ENCODER: "MiniLM untrained (its start)",
                 str(m / "plato-2.2"): "PLATO-2 evaluator", "tfidf": "TF-IDF",
                 str(m / "plato-1"): "PLATO-2 stage 1", str(m / "plato-2.1"): "PLATO-2 stage 2.1"}  # fmt: skip
        names |= {str(path): f"{name}, shipped before" for name, path in self.before().items()}
        leaves = {Path(k).name: v for k, v in list(names.items())[:6]}  # a report read from another working folder

        def label(model: str) -> str:
            return names.get(str(model)) or leaves.get(Path(model).name, str(model))

        test = f"{self.data[0].name} test split"
        ranked = Table(f"Ranking the true response among 20 candidates ({test})", ["model", "hits@1", "hits@3", "MRR"])
        ranked.rows = [[label(r["model"]), r["hits@1"], r["hits@3"], r["mrr"]] for r in ranking["ranking"]]
        ppl = Table(f"Perplexity of the reference responses ({test})", ["model", "per token", "per word"], digits=1)
        ppl.rows = [[label(r["model"]), r["ppl"], r["word_ppl"]] for r in ranking["perplexity"]]
        gen = Table("Answers to test contexts and self-chats",
                    ["agent", "distinct-1", "distinct-2", "words", "English words", "F1", "persona use"])  # fmt: skip
        gen.rows = [[name, r["distinct-1"], r["distinct-2"], r["avg_length"], r.get("english_words"), r.get("f1"),
                     r.get("persona_use")] for name, r in answers.items()]  # fmt: skip
        sel = Table(f"Response selection, DailyDialog++ dev ({selection['contexts']} contexts): MAP",
                    ["model", "random negatives", "adversarial negatives"])  # fmt: skip
        sel.rows = [[label(r["model"]), r["metrics"]["random"]["map"], r["metrics"]["adversarial"]["map"]]
                    for r in selection["results"]]  # fmt: skip
        return [ranked, ppl, gen, sel]

    def report(self) -> None:
        tables = self.tables()
        folder = self.out / "report"
        values = {row[0]: {"hits@1": row[1], "MRR": row[3]} for row in tables[0].rows}
        for row in tables[3].rows:
            values.setdefault(row[0], {}).update({"MAP random": row[1], "MAP adversarial": row[2]})
        plots.metric_bars(values, folder / "demo.png", "confab demo: ranking (persona test) and selection (DD++)")
        results = {t.title: t.records() for t in tables}
        Report("demo", f"confab demo --budget {self.budget}", asdict(self.b), results,
               inputs=[str(d) for d in self.data], tables=tables, plots=["demo.png"]).write(folder)  # fmt: skip

    def show(self) -> None:
        for table in self.tables():
            self.console.print(table.rich())
        folder = self.out / "report"
        self.console.print(f"report: {folder / 'report.md'}, plot: {folder / 'demo.png'}; training curves: "
                           f"{self.models}/*/training.png", highlight=False)  # fmt: skip

    # --- shipping (full budget) ---
    def ship(self) -> None:
        measured = "\n\n".join(t.markdown().replace("### ", "#### ") for t in self.tables())
        pack(self.models, self.out / "shipped", measured, f"confab demo --budget {self.budget}", self.samples(),
             data=self.data_card())  # fmt: skip

    def data_card(self) -> str:
        """The run's datasets, as built, and what each model trained on (the model cards' data section)."""
        rows = ["| dataset | examples: train / valid / test |", "|---|---:|"]
        for name, folder in zip(self.b.sources, self.data, strict=True):
            c = json.loads((folder / "report.json").read_text())["examples"]
            rows.append(f"| {DESCRIBED[name]} | {c['train']:,} / {c['valid']:,} / {c['test']:,} ({c['kind']}) |")

        def first(count: int | None, what: str) -> str:
            return f"the first {count:,} training examples of {what}" if count else f"every training example of {what}"

        persona = f"the persona corpora (the first {len(self.persona_data)} rows)"
        trained = [f"- retrieval: {first(self.b.retrieval_examples, persona)}; its index holds the first "
                   f"{self.b.indexed or 0:,} distinct training responses of the rows in order.",
                   f"- plato2: stage 1 on {first(self.b.plato_examples, 'the rows in order')}, then stage 2.1 on "
                   f"{first(self.b.stage21_examples, persona)}.",
                   f"- plato2-evaluator: {first(self.b.stage22_examples, 'the rows in order')}."]  # fmt: skip
        return "\n".join(["Licences and attribution: `confab/resources/samples/README.md`. Validation and test "
                          "splits are held out of training (split with seed 0).", "", *rows, "", *trained])

    def samples(self, count: int = 20) -> list[tuple[str, str]]:
        """The generator's replies to `count` of the 200 Vinyals & Le questions, picked with seed 0, each sampled
        with the question's index as its seed (benchmarks/plato_quality.py answers all 200 the same way)."""
        agent = load_agent(self.models / "plato-2.1", evaluator=self.models / "plato-2.2", precision=self.precision,
                           device=self.on)
        questions = vinyals_le_questions()
        picked = sorted(random.Random(0).sample(range(len(questions)), count))
        replies = []
        for i in picked:
            torch.manual_seed(i)
            replies.append((questions[i], agent.respond([questions[i]], []).text))
        return replies


def chat_at_the_end(demo: Demo) -> None:
    """PLATO-2 (generator + evaluator) in the terminal; without a terminal, a scripted sample chat. The models that
    ship with confab when they are installed (trained longer), else the demo's."""
    console = demo.console
    if (bundled_folder() / BUNDLED["plato2"][0] / "config.json").exists():
        agent = load_agent("bundled:plato2", precision=demo.precision, device=demo.on)
        which = "the PLATO-2 that ships with confab (`--budget full`)"
    else:
        m = demo.models
        agent = load_agent(m / "plato-2.1", evaluator=m / "plato-2.2", precision=demo.precision, device=demo.on)
        which = "the demo's PLATO-2"
    console.print(f"[bold]Chat[/] with {which}; persona: {' '.join(PERSONA)}", highlight=False)
    if sys.stdin.isatty() and sys.stdout.isatty():
        run_chat(agent, PERSONA, console)
        return
    console.print("[dim](no terminal: a scripted sample chat)[/]")
    history: list[str] = []
    for line in SCRIPT:
        history.append(line)
        reply = agent.respond(history, PERSONA)
        history.append(reply.text)
        console.print(f"[bold cyan]you>[/] {line}\n[bold green]bot>[/] {reply.text}", highlight=False)


def _splits(report: dict) -> str:
    counts = report["examples"]
    return f"{counts['kind']} examples: train {counts['train']:,}, valid {counts['valid']:,}, test {counts['test']:,}"
