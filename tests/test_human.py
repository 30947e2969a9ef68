import csv
import json
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from confab.cli import app
from confab.eval.human import check_answers, export_form, fleiss_kappa, majority, read_answers, summarise
from confab.eval.selfchat import write_selfchats
from confab.eval.static import write_static
from tests.scripted import Scripted

STARTS = ["what is two plus two ?", "where do you live ?", "say </script> please"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def selfchat_logs(tmp_path: Path) -> list[Path]:
    return [write_selfchats(Scripted("bot"), STARTS, tmp_path / f"{name}.jsonl", turns=4) for name in ("big", "small")]


def test_fleiss_kappa_of_fleiss_1971_worked_example():
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1], [7, 7, 0, 0, 0],
             [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]  # fmt: skip
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=1e-4)
    assert fleiss_kappa([[3, 0, 0], [0, 3, 0]]) == 1.0
    assert fleiss_kappa([[2, 0, 0], [2, 0, 0]]) == 1.0  # one category throughout
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[3, 0, 0], [1, 1, 0]])


def test_majority_vote_with_a_median_when_no_score_wins():
    assert majority([2, 2, 0]) == 2 and majority([0, 1, 2]) == 1 and majority([0, 2]) == 1.0
    assert majority(["A", "A", "tie"]) == "A" and majority(["A", "B"]) == "tie"


def test_export_blinds_the_systems_and_embeds_the_dialogues(tmp_path):
    form, key_path = export_form(selfchat_logs(tmp_path), tmp_path / "form.html", pairwise=True, seed=1)
    key = json.loads(key_path.read_text())
    assert key["kind"] == "selfchat" and key["systems"] == ["big", "small"] and len(key["items"]) == 3
    assert {frozenset(s["system"] for s in it["slots"].values()) for it in key["items"]} == {frozenset(key["systems"])}
    assert [it["slots"]["A"]["rated"] for it in key["items"]] == [[1, 3]] * 3  # P2's utterances
    page = form.read_text()
    data_line = page.split('id="form-data"')[1].split("\n")[0]
    assert "say <\\/script> please" in data_line and data_line.count("</script>") == 1  # only its own end
    assert "big" not in page and "small" not in page  # the systems' names stay in the key
    assert "The response is coherent with the context." in page  # the rubric of PLATO-2 Table 7
    assert (tmp_path / "form.html").stat().st_mode & 0o044  # readable by others: it is sent out
    with pytest.raises(ValueError, match="exactly two systems"):
        export_form(selfchat_logs(tmp_path)[:1], tmp_path / "one.html", pairwise=True)
    few, _ = export_form(selfchat_logs(tmp_path), tmp_path / "few.html", max_items=2)
    assert len(json.loads(few.with_suffix(".key.json").read_text())["items"]) == 2


def answer(key: dict, annotator: str, score_of_slot: dict, preference: str | None = None) -> list[dict]:
    rows = []
    for item in key["items"]:
        for slot, s in item["slots"].items():
            rows += [{"item": item["id"], "slot": slot, "turn": t, "metric": m, "score": score_of_slot[slot]}
                     for t in s["rated"] for m in key["metrics"]["utterance"]]  # fmt: skip
            rows += [{"item": item["id"], "slot": slot, "turn": -1, "metric": m, "score": score_of_slot[slot]}
                     for m in key["metrics"]["dialogue"]]  # fmt: skip
        if preference:
            rows.append({"item": item["id"], "slot": "", "turn": -1, "metric": "preference", "score": preference})
    return [{"form": key["form"], "annotator": annotator, **r, "_where": f"{annotator}: answers[{i}]"}
            for i, r in enumerate(rows)]  # fmt: skip


def test_import_takes_majority_votes_per_unit_and_unblinds(tmp_path):
    _, key_path = export_form(selfchat_logs(tmp_path), tmp_path / "form.html", pairwise=True)
    key = json.loads(key_path.read_text())
    rows = answer(key, "ann", {"A": 2, "B": 0}, "A") + answer(key, "bob", {"A": 2, "B": 1}, "A")
    rows += answer(key, "cy", {"A": 1, "B": 1}, "tie")
    summary = summarise(key, check_answers(key, rows))
    # A got 2, 2, 1 (majority 2); B got 0, 1, 1 (majority 1): a system's mean is over the items it sat in A
    in_a = {s: sum(it["slots"]["A"]["system"] == s for it in key["items"]) for s in key["systems"]}
    for system, v in summary["systems"].items():
        expected = (2 * in_a[system] + 1 * (3 - in_a[system])) / 3
        assert v["coherence"] == pytest.approx(expected) and v["humanness"] == pytest.approx(expected)
    assert summary["pairwise"]["tie"] == 0 and sum(summary["pairwise"][s] for s in key["systems"]) == 3
    assert set(summary["kappa"]) == {"coherence", "informativeness", "engagingness", "humanness", "preference"}
    assert summary["annotators"] == ["ann", "bob", "cy"] and summary["units"]["coherence"] == 3 * 2 * 2


@pytest.mark.parametrize("change,message", [
    ({"form": "other"}, "answers to form 'other'"),
    ({"item": "i99"}, "unknown item 'i99'"),
    ({"score": 3}, "score 3; scores are 0, 1 or 2"),
    ({"turn": 2}, "turn 2 of i0/A is not one to rate"),
    ({"metric": "fluency"}, "unknown metric 'fluency'"),
    ({"annotator": " "}, "no annotator name"),
    ({"slot": "C"}, "has no slot 'C'"),
])  # fmt: skip
def test_bad_answers_are_named(tmp_path, change, message):
    _, key_path = export_form(selfchat_logs(tmp_path), tmp_path / "form.html")
    key = json.loads(key_path.read_text())
    rows = answer(key, "ann", {"A": 2, "B": 0})
    first = next(r for r in rows if r["item"] == "i0" and r["slot"] == "A" and r["metric"] == "coherence")
    first.update(change)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_answers(key, rows)
    with pytest.raises(ValueError, match="rated i0/A/1/coherence twice"):
        check_answers(key, [first | {"form": key["form"], "annotator": "x", "item": "i0", "slot": "A", "turn": 1,
                                     "metric": "coherence", "score": 1}] * 2)  # fmt: skip


def test_static_logs_export_one_reply_per_agent(tmp_path):
    contexts = [{"id": i, "persona": [], "context": [f"hello {i}", "how are you ?"], "reference": None}
                for i in range(4)]  # fmt: skip
    log = write_static({"one": Scripted("one"), "two": Scripted("two")}, contexts, tmp_path / "static.jsonl")
    _, key_path = export_form([log], tmp_path / "form.html")
    key = json.loads(key_path.read_text())
    assert key["kind"] == "static" and key["metrics"]["dialogue"] == ["engagingness"]  # no humanness
    assert all(s["rated"] == [2] for it in key["items"] for s in it["slots"].values())


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package: chromium)")
def test_annotators_fill_the_form_in_a_browser_and_the_import_reads_it_back(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip: playwright)")
    runner = CliRunner()
    logs = [str(p) for p in selfchat_logs(tmp_path)]
    result = runner.invoke(app, ["human", "export", *logs, "--pairwise", "--out", str(tmp_path / "form.html")])
    assert result.exit_code == 0, result.output
    key = json.loads((tmp_path / "form.key.json").read_text())
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    answers = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        for name, scores, fmt in (("ann", {"A": "2", "B": "0"}, "json"), ("bob", {"A": "2", "B": "1"}, "csv")):
            page = browser.new_context(accept_downloads=True).new_page()
            errors = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto((tmp_path / "form.html").as_uri())
            page.click("#download-json")  # no name yet: the form asks for it and downloads nothing
            assert "enter your name" in page.text_content("#status")
            page.fill("#annotator", name)
            for radio in page.query_selector_all("input[type=radio]"):
                item, slot, _turn, metric = radio.get_attribute("name").split("|")
                wanted = "A" if metric == "preference" else scores[slot]
                if radio.get_attribute("value") == wanted:
                    radio.focus()
                    page.keyboard.press("Space")  # by keyboard, as an annotator may
            total = len({r.get_attribute("name") for r in page.query_selector_all("input[type=radio]")})
            assert page.text_content("#progress") == f"{total} / {total} answered"
            with page.expect_download() as download:
                page.click(f"#download-{fmt}")
            path = tmp_path / f"{name}.{fmt}"
            download.value.save_as(path)
            answers.append(str(path))
            assert errors == []
        # answers survive a reload (kept in the browser until downloaded); Chromium commits localStorage
        # asynchronously, so under load a reload at once can come first: read it back from a fresh page until there
        for _ in range(100):
            fresh = page.context.new_page()
            fresh.goto((tmp_path / "form.html").as_uri())
            restored = fresh.input_value("#annotator")
            fresh.close()
            if restored == "bob":
                break
            time.sleep(0.05)
        page.reload()
        assert page.input_value("#annotator") == "bob" and page.text_content("#progress").startswith(f"{total} /")
        browser.close()
    assert json.loads(Path(answers[0]).read_text())["annotator"] == "ann"
    header = next(csv.reader(Path(answers[1]).read_text().splitlines()))
    assert header == ["form", "annotator", "item", "slot", "turn", "metric", "score"]
    assert len(read_answers(Path(answers[1]))) == total
    result = runner.invoke(app, ["human", "import", str(tmp_path / "form.key.json"), *answers, "--json",
                                 "--report", str(tmp_path / "report")])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["annotators"] == ["ann", "bob"] and summary["kappa"]["coherence"] < 1  # they differ on B
    assert summary["kappa"]["humanness"] < 1 and summary["kappa"]["preference"] == 1.0
    in_a = {s: sum(it["slots"]["A"]["system"] == s for it in key["items"]) for s in key["systems"]}
    for system, v in summary["systems"].items():  # A: 2 and 2; B: 0 and 1, the median of a tie: 0.5
        assert v["engagingness"] == pytest.approx((2 * in_a[system] + 0.5 * (3 - in_a[system])) / 3)
    table = runner.invoke(app, ["eval", "table", "plato1", *logs, "--human", str(tmp_path / "report" / "report.json"),
                                "--json", "--report", str(tmp_path / "t1")])  # fmt: skip
    rows = json.loads(table.stdout)["rows"]
    assert [r["coherence"] for r in rows] == [summary["systems"][s]["coherence"] for s in ("big", "small")]
