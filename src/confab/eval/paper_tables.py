"""The papers' result tables, of the same shape, for the models given.

- Mazaré et al. Table 1: hits@1/3/10 (percent) among 100 candidates per encoder, with and without persona, and
  the IR (TF-IDF) baseline.
- Mazaré et al. Table 3: hits@1 by persona selection (N sentences at most; rules, rules + classifier, random
  from the user, random from the dataset), read from each model's training dataset.
- Mazaré et al. Table 4: hits@1 of each model (rows) on each dataset (columns): PERSONA-CHAT with its 20
  candidates, Reddit with 100.
- PLATO-2 Table 1: self-chat logs (one per system) with the human scores of an imported evaluation next to
  distinct-1/2 and the average length.
- PLATO-2 Table 8: MAP, MRR and P@1 of each scoring function in response selection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from confab.bundled import resolve
from confab.checkpoints import Meta, kind_of, read
from confab.errors import InvalidInput
from confab.eval.compare import ranking_results, selection_results
from confab.eval.report import Table
from confab.eval.responses import log_metrics, read_log
from confab.retrieval import checkpoint

HUMAN_METRICS = ("coherence", "informativeness", "engagingness", "humanness")
ENCODERS = {"bow": "BOW", "lstm": "LSTM", "transformer": "Transformer", "pretrained": "Pretrained (MiniLM)"}


def _checkpoint_meta(model: str) -> Meta:
    if model == checkpoint.ZERO_SHOT:
        return checkpoint.zero_shot_meta()
    folder = resolve(model)[0]
    return read(folder, kind_of(folder))


def _describe(model: str) -> tuple[str, str]:
    """(architecture, persona yes/no) of a checkpoint, as the paper's rows name them."""
    if model == "tfidf":
        return "IR Baseline", "No"
    meta = _checkpoint_meta(model)
    if meta.kind == "confab-retrieval":
        ranker = meta.config
        return ENCODERS.get(ranker["encoder"], ranker["encoder"]), "Yes" if ranker["use_persona"] else "No"
    return f"PLATO-2 stage {meta.stage}", "Yes"


def _with_baseline(models: Sequence[str]) -> list[str]:
    return ["tfidf", *[m for m in models if m != "tfidf"]]


def _percent(x: float) -> float:
    return round(100 * x, 1)


def mazare_table1(models: Sequence[str], data: Path, candidates: int | None = 100, seed: int = 0,
                  precision: str = "auto", limit: int | None = None, device: str = "auto",
                  ) -> tuple[Table, list[dict]]:  # fmt: skip
    results = ranking_results(_with_baseline(models), data, "parquet", "test", candidates, (1, 3, 10), seed,
                              precision, limit, device)  # fmt: skip
    rows = [[r["model"], *_describe(r["model"]), *(_percent(r[f"hits@{k}"]) for k in (1, 3, 10))] for r in results]
    n = results[0]["candidates"]
    table = Table(f"Test results when classifying the correct answer among {n} candidates ({Path(data).name})",
                  ["model", "encoder", "persona", "hits@1", "hits@3", "hits@10"], rows, digits=1)  # fmt: skip
    return table, results


def persona_selection(model: str) -> tuple[int, str]:
    """(N, selection) of the dataset a retrieval model was trained on: N = 0 without the persona memory."""
    if model == "tfidf":
        return 0, "–"
    meta = _checkpoint_meta(model)
    if not meta.config.get("use_persona", True):
        return 0, "–"
    data = meta.extra.get("data")
    first = data[0] if isinstance(data, list) else data
    built = Path(first or "") / "config.json"
    if not built.exists():
        return -1, f"unknown (training data {first} not found)"
    build = json.loads(built.read_text())
    return int(build.get("max_persona", 0)), str(build.get("persona", "?")).replace("-", " ").replace("+", " + ")


def mazare_table3(models: Sequence[str], data: Path, candidates: int | None = 100, seed: int = 0,
                  precision: str = "auto", limit: int | None = None, device: str = "auto",
                  ) -> tuple[Table, list[dict]]:  # fmt: skip
    results = ranking_results(list(models), data, "parquet", "test", candidates, (1,), seed, precision, limit, device)
    rows = []
    for r in results:
        n, selection = persona_selection(r["model"])
        r.update(max_persona=n, persona_selection=selection)
        rows.append([r["model"], n if n >= 0 else None, selection, _percent(r["hits@1"])])
    table = Table(f"Retrieval precision by persona selection ({Path(data).name}, {results[0]['candidates']} "
                  "candidates)", ["model", "N", "persona selection", "hits@1"], rows, digits=1)  # fmt: skip
    return table, results


def mazare_table4(models: Sequence[str], datasets: Sequence[Path], seed: int = 0, precision: str = "auto",
                  limit: int | None = None, device: str = "auto") -> tuple[Table, list[dict]]:  # fmt: skip
    """Columns: each dataset's test split, ranked among its own candidates when it has them (PERSONA-CHAT: 20),
    else among 100."""
    names = _with_baseline(models)
    cells: dict[str, list] = {name: [] for name in names}
    results = []
    columns = ["model"]
    for i, data in enumerate(datasets, 1):
        found = ranking_results(names, data, "parquet", "test", None, (1,), seed, precision, limit, device)
        label = f"{Path(data).name} ({found[0]['candidates']} cand.)"
        columns.append(label if label not in columns else f"{label} #{i}")  # columns must stay distinct
        for r in found:
            cells[r["model"]].append(_percent(r["hits@1"]))
            results.append({"data": str(data), **r})
    table = Table("hits@1 of each model on each test set", columns, [[m, *cells[m]] for m in names], digits=1)
    return table, results


def plato_table1(logs: Sequence[Path], human: Path | None = None) -> tuple[Table, list[dict]]:
    """One row per self-chat log (the system is the log's file name, as in `confab human export`); human scores
    from the report.json of `confab human import`."""
    scores = {}
    if human:  # the report.json of `confab human import`
        found = json.loads(Path(human).read_text())
        scores = found.get("results", found).get("systems", {})
    results, rows = [], []
    for log in logs:
        system = Path(log).stem
        metrics = log_metrics(read_log(log))
        judged = scores.get(system, {})
        result = {"system": system, **{m: judged.get(m) for m in HUMAN_METRICS}, "distinct-1": metrics["distinct-1"],
                  "distinct-2": metrics["distinct-2"], "avg_length": metrics["avg_length"]}  # fmt: skip
        results.append(result)
        rows.append(list(result.values()))
    if human and not any(r["coherence"] is not None for r in results):
        raise InvalidInput(f"{human}: no scores for the systems {', '.join(r['system'] for r in results)}")
    columns = ["system", *HUMAN_METRICS, "distinct-1", "distinct-2", "average length"]
    return Table("Self-chat evaluation (human scores 0–2; automatic on all logs)", columns, rows), results


def plato_table8(models: Sequence[str], data: Path, negatives: str = "both", limit: int | None = None,
                 precision: str = "auto", device: str = "auto") -> tuple[Table, list[dict]]:  # fmt: skip
    contexts, results = selection_results(models, data, [negatives], limit, precision, device)
    rows = [[r["score"], r["model"], *(r["metrics"][negatives][k] for k in ("map", "mrr", "p@1"))] for r in results]
    title = f"Score functions in response selection ({Path(data).name}, {contexts} contexts, {negatives} negatives)"
    return Table(title, ["score function", "model", "MAP", "MRR", "P@1"], rows), results
