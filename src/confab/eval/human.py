"""Human evaluation kit (PLATO-2 sections 3.4.1 and 3.4.3, Table 7 rubric).

Export: self-chat logs (one per system) or a static-evaluation log (one column per agent) become a self-contained
HTML form that works offline, and a key file that maps the form's blinded slots (A, B, ...) back to the systems.
- Self-chat: an item is one start topic with each system's dialogue side by side (in a shuffled order). Annotators
  rate coherence and informativeness of each utterance of one speaker (P2, the model, by default) and the
  speaker's engagingness and humanness over the dialogue; with `pairwise` (two systems) they also say which
  speaker they would rather talk to (ACUTE-Eval style: A, B or tie).
- Static: an item is one context with each agent's reply; coherence, informativeness and engagingness (no
  humanness, as in the paper's static evaluation).
Scores are 0, 1 or 2.

Import: the answer files the form downloads (JSON or CSV), checked against the key. Each rated unit's score is
the majority vote of its annotators (with no majority, the median vote); a system's score on a metric is the mean
over its units. Agreement is Fleiss' kappa over the units every annotator rated.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

from confab.errors import InvalidInput
from confab.eval.responses import read_log
from confab.io import atomic_write_json, atomic_write_text
from confab.resources import resource_path

UTTERANCE_METRICS = ("coherence", "informativeness")
DIALOGUE_METRICS = {"selfchat": ("engagingness", "humanness"), "static": ("engagingness",)}
SCORES = (0, 1, 2)
PREFERENCES = ("A", "B", "tie")
CSV_COLUMNS = ("form", "annotator", "item", "slot", "turn", "metric", "score")


# --- export -------------------------------------------------------------------------------------------------------


def export_form(logs: list[Path], out: Path, speaker: str = "P2", max_items: int | None = 50, seed: int = 0,
                pairwise: bool = False, title: str = "Dialogue evaluation") -> tuple[Path, Path]:  # fmt: skip
    """Write OUT (the HTML form) and OUT with .key.json (the blinding key); returns both paths."""
    rows_by_log = {Path(p): read_log(p) for p in logs}
    kinds = {("static" if "replies" in rows[0] else "selfchat" if "turns" in rows[0] else "responses")
             for rows in rows_by_log.values()}  # fmt: skip
    if kinds == {"static"} and len(logs) == 1:
        kind, items = "static", _static_items(next(iter(rows_by_log.values())))
    elif kinds == {"selfchat"}:
        kind, items = "selfchat", _selfchat_items(rows_by_log, speaker)
    else:
        raise InvalidInput("export self-chat logs (one per system) or one static-evaluation log (`confab eval static`)")
    systems = sorted({s["system"] for item in items for s in item["slots"]})
    if pairwise and len(systems) != 2:
        raise InvalidInput(f"pairwise comparison needs exactly two systems, not {len(systems)}: {', '.join(systems)}")
    rng = random.Random(seed)
    if max_items is not None and len(items) > max_items:
        items = sorted(rng.sample(items, max_items), key=lambda it: it["order"])  # the paper: 50 at random
    for i, item in enumerate(items):
        rng.shuffle(item["slots"])  # blind: which system is A differs from item to item
        item["id"] = f"i{i}"
    metrics = {"utterance": list(UTTERANCE_METRICS), "dialogue": list(DIALOGUE_METRICS[kind])}
    key = {"kind": kind, "speaker": speaker if kind == "selfchat" else None, "metrics": metrics,
           "pairwise": pairwise, "systems": systems, "items": [_key_item(it) for it in items]}  # fmt: skip
    key["form"] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    page = {"form": key["form"], "title": title, "kind": kind, "metrics": metrics, "pairwise": pairwise,
            "rubric": rubric(), "items": [_page_item(it) for it in items]}  # fmt: skip
    out = Path(out)
    key_path = out.with_suffix(".key.json")
    atomic_write_json(key_path, key)
    atomic_write_text(out, render_form(page))
    return out, key_path


def _selfchat_items(rows_by_log: dict[Path, list[dict]], speaker: str) -> list[dict]:
    """One item per start utterance that every log has; the rated turns are `speaker`'s generated ones."""
    if speaker not in ("P1", "P2"):
        raise InvalidInput(f"speaker {speaker!r}: P1 or P2")
    by_start: dict[str, dict] = defaultdict(dict)
    for log, rows in rows_by_log.items():
        system = log.stem
        if any(system in by_start[r["start"]] for r in rows):
            raise InvalidInput(f"{log}: two logs or two dialogues share the system and start {system!r}")
        for r in rows:
            by_start[r["start"]][system] = r
    systems = [log.stem for log in rows_by_log]
    if len(set(systems)) < len(systems):
        raise InvalidInput(f"logs {', '.join(map(str, rows_by_log))} share a file name: it names the system")
    items = []
    for order, (start, dialogues) in enumerate(by_start.items()):
        if len(dialogues) < len(systems):
            continue  # a start that not every system talked from cannot be compared
        slots = []
        for system in systems:
            turns = dialogues[system]["turns"]
            rated = [t for t, u in enumerate(turns) if t > 0 and u["speaker"] == speaker]
            slots.append({"system": system, "turns": [{"speaker": u["speaker"], "text": u["text"]} for u in turns],
                          "rated": rated, "source": f"{system}:{dialogues[system].get('id')}"})  # fmt: skip
        items.append({"order": order, "prompt": start, "slots": slots})
    if not items:
        raise InvalidInput("no start utterance is in every log")
    return items


def _static_items(rows: list[dict]) -> list[dict]:
    items = []
    for order, r in enumerate(rows):
        turns = [{"speaker": "P1" if (len(r["context"]) - i) % 2 else "P2", "text": t}
                 for i, t in enumerate(r["context"])]  # fmt: skip
        slots = [{"system": name, "turns": [*turns, {"speaker": "P2", "text": reply["response"]}],
                  "rated": [len(turns)], "source": f"{name}:{r.get('id')}"}
                 for name, reply in r["replies"].items()]  # fmt: skip
        items.append({"order": order, "prompt": " / ".join(r["context"][-1:]), "persona": r.get("persona") or [],
                      "slots": slots})  # fmt: skip
    return items


def _letters(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]


def _key_item(item: dict) -> dict:
    return {"id": item["id"], "prompt": item["prompt"],
            "slots": {letter: {"system": s["system"], "source": s["source"], "rated": s["rated"]}
                      for letter, s in zip(_letters(len(item["slots"])), item["slots"], strict=True)}}  # fmt: skip


def _page_item(item: dict) -> dict:
    return {"id": item["id"], "persona": item.get("persona", []),
            "slots": [{"letter": letter, "turns": s["turns"], "rated": s["rated"]}
                      for letter, s in zip(_letters(len(item["slots"])), item["slots"], strict=True)]}  # fmt: skip


def rubric() -> dict:
    """PLATO-2 Table 7: what 0, 1 and 2 mean for each metric."""
    return json.loads(resource_path("human/rubric.json").read_text(encoding="utf-8"))


def render_form(page: dict) -> str:
    template = resource_path("human/form.html").read_text(encoding="utf-8")
    data = json.dumps(page, ensure_ascii=False).replace("</", "<\\/")  # no early </script>
    return template.replace("{{TITLE}}", html.escape(page["title"])).replace("{{DATA}}", data)


# --- import -------------------------------------------------------------------------------------------------------


def read_answers(path: Path) -> list[dict]:
    """Answer rows {form, annotator, item, slot, turn, metric, score} of a JSON or CSV file from the form."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise InvalidInput(f"{path}:1: the header must be {','.join(CSV_COLUMNS)}")
        return [dict(row, _where=f"{path}:{n}") for n, row in enumerate(reader, start=2)]
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("answers"), list):
        raise InvalidInput(f"{path}: expected {{form, annotator, answers: [...]}} as the form downloads it")
    return [{"form": obj.get("form"), "annotator": obj.get("annotator"), **a, "_where": f"{path}: answers[{i}]"}
            for i, a in enumerate(obj["answers"]) if isinstance(a, dict)]  # fmt: skip


def check_answers(key: dict, rows: list[dict]) -> list[dict]:
    """Rows as {annotator, unit, score} after checking each against the key; a bad row is an error naming it."""
    items = {it["id"]: it for it in key["items"]}
    utterance, dialogue = key["metrics"]["utterance"], key["metrics"]["dialogue"]
    checked = []
    for row in rows:
        where = row["_where"]
        if row.get("form") != key["form"]:
            raise InvalidInput(f"{where}: answers to form {row.get('form')!r}, not this key's {key['form']!r}")
        annotator = str(row.get("annotator") or "").strip()
        if not annotator:
            raise InvalidInput(f"{where}: no annotator name")
        item, slot, metric, score = (
            items.get(row.get("item")),
            row.get("slot") or "",
            row.get("metric"),
            row.get("score"),
        )
        if item is None:
            raise InvalidInput(f"{where}: unknown item {row.get('item')!r}")
        if metric == "preference":
            if not key["pairwise"] or str(score) not in PREFERENCES:
                raise InvalidInput(f"{where}: a preference is one of {', '.join(PREFERENCES)} in a pairwise form")
            checked.append({"annotator": annotator, "unit": (item["id"], "", -1, metric), "score": str(score)})
            continue
        if slot not in item["slots"]:
            raise InvalidInput(f"{where}: item {item['id']} has no slot {slot!r}")
        try:
            turn = -1 if row.get("turn") in ("", None) else int(row["turn"])
            score = int(score)
        except (TypeError, ValueError):
            raise InvalidInput(f"{where}: turn and score must be whole numbers") from None
        if score not in SCORES:
            raise InvalidInput(f"{where}: score {score}; scores are 0, 1 or 2")
        if metric in utterance:
            if turn not in item["slots"][slot]["rated"]:
                raise InvalidInput(f"{where}: turn {turn} of {item['id']}/{slot} is not one to rate")
        elif metric in dialogue:
            turn = -1
        else:
            raise InvalidInput(f"{where}: unknown metric {metric!r}")
        checked.append({"annotator": annotator, "unit": (item["id"], slot, turn, metric), "score": score})
    seen = Counter((r["annotator"], r["unit"]) for r in checked)
    if twice := [u for u, n in seen.items() if n > 1]:
        raise InvalidInput(f"annotator {twice[0][0]!r} rated {'/'.join(map(str, twice[0][1]))} twice")
    return checked


def majority(votes: list) -> float | str:
    """The most common vote; with no single most common one, the median of the scores (three annotators who say
    0, 1 and 2 give 1), or a tie of preferences."""
    counts = Counter(votes).most_common()
    if len(counts) == 1 or counts[0][1] > counts[1][1]:
        return counts[0][0]
    if all(isinstance(v, int) for v in votes):
        ordered, mid = sorted(votes), len(votes) // 2
        return ordered[mid] if len(votes) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return "tie"


def fleiss_kappa(table: list[list[int]]) -> float:
    """Fleiss' kappa of `table` (one row per unit: how many raters chose each category; the same number of raters
    for every unit). 1 is perfect agreement, 0 what chance gives."""
    if not table:
        raise InvalidInput("no units to measure agreement on")
    n = sum(table[0])
    if n < 2 or any(sum(row) != n for row in table):
        raise InvalidInput("Fleiss' kappa needs the same number (at least 2) of raters for every unit")
    units = len(table)
    p = [sum(row[j] for row in table) / (units * n) for j in range(len(table[0]))]
    agreement = sum((sum(c * c for c in row) - n) / (n * (n - 1)) for row in table) / units
    chance = sum(x * x for x in p)
    if chance == 1:
        return 1.0  # every rater chose one category throughout: agreement is perfect, kappa undefined
    return (agreement - chance) / (1 - chance)


def summarise(key: dict, checked: list[dict]) -> dict:
    """Per-system means of the majority votes, Fleiss' kappa per metric, and pairwise wins."""
    votes: dict[tuple, list] = defaultdict(list)
    for row in checked:
        votes[row["unit"]].append(row["score"])
    annotators = sorted({r["annotator"] for r in checked})
    items = {it["id"]: it for it in key["items"]}
    scored: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    preferences: Counter = Counter()
    for (item_id, slot, _turn, metric), vs in votes.items():
        if metric == "preference":
            winner = majority(vs)
            system = items[item_id]["slots"][winner]["system"] if winner in ("A", "B") else "tie"
            preferences[system] += 1
            continue
        scored[items[item_id]["slots"][slot]["system"]][metric].append(majority(vs))
    metrics = [*key["metrics"]["utterance"], *key["metrics"]["dialogue"]]
    systems = {}
    for system in key["systems"]:
        means = {m: sum(v) / len(v) if (v := scored[system][m]) else None for m in metrics}
        systems[system] = {**means, "units": sum(len(v) for v in scored[system].values())}
    kappa = {}
    for metric in [*metrics, *(["preference"] if key["pairwise"] else [])]:
        categories = list(PREFERENCES) if metric == "preference" else list(SCORES)
        full = [vs for unit, vs in votes.items() if unit[3] == metric and len(vs) == len(annotators)]
        if len(annotators) >= 2 and full:
            kappa[metric] = fleiss_kappa([[vs.count(c) for c in categories] for vs in full])
    rated = {k: sum(1 for u in votes if u[3] == k) for k in metrics}
    result = {"form": key["form"], "kind": key["kind"], "annotators": annotators, "systems": systems,
              "kappa": kappa, "units": rated}  # fmt: skip
    if kappa:
        result["mean_kappa"] = sum(kappa.values()) / len(kappa)
    if key["pairwise"]:
        result["pairwise"] = {"systems": key["systems"], **{s: preferences[s] for s in key["systems"]},
                              "tie": preferences["tie"]}  # fmt: skip
    return result
