import json
from pathlib import Path

import pytest

from confab.agents import AgentSpec
from confab.eval.responses import read_log
from confab.eval.static import read_contexts, side_by_side, static_metrics, write_static
from tests.scripted import Scripted


def test_agent_specs_name_a_model_and_its_helpers():
    spec = AgentSpec.parse("small=models/g21,evaluator=models/e22")
    assert (spec.name, spec.model, spec.options) == ("small", "models/g21", {"evaluator": "models/e22"})
    assert spec.reads() == [Path("models/g21"), Path("models/e22")]
    shipped = AgentSpec.parse("ret=bundled:retrieval,backward=models/back").reads()
    assert [p.name for p in shipped] == ["retrieval", "retrieval-index", "back"]
    assert AgentSpec.parse("models/retrieval,index=idx").name == "retrieval"
    with pytest.raises(ValueError, match="'temperature=2' is not one of evaluator="):
        AgentSpec.parse("m,temperature=2")
    with pytest.raises(ValueError, match="no model"):
        AgentSpec.parse("name=")


def test_contexts_from_json_lines_and_dialogue_formats(tmp_path, fixtures):
    path = tmp_path / "contexts.jsonl"
    lines = [{"context": ["hi !", "hello , what do you do ?"], "persona": ["i am a nurse ."]},
             {"id": "x", "turns": [{"text": "do you like tea ?"}], "reference": "i love it ."}]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    first, second = read_contexts(path)
    assert first == {"id": 1, "persona": ["i am a nurse ."], "context": ["hi !", "hello , what do you do ?"],
                     "reference": None}  # fmt: skip
    assert second == {"id": "x", "persona": [], "context": ["do you like tea ?"], "reference": "i love it ."}
    knover = read_contexts(fixtures / "knover_fixture.tsv", limit=2)
    assert len(knover) == 2 and all(c["context"] and isinstance(c["reference"], str) for c in knover)
    path.write_text(json.dumps(lines[0]) + "\n" + json.dumps({"context": []}) + "\n")
    with pytest.raises(ValueError, match=r"contexts.jsonl:2: a context line needs a non-empty list"):
        read_contexts(path)
    path.write_text(json.dumps({"context": ["hi", 3]}) + "\n")
    with pytest.raises(ValueError, match=r"contexts.jsonl:1: context turns and persona sentences must be"):
        read_contexts(path)


def test_every_agent_answers_every_context_and_a_killed_log_resumes(tmp_path):
    contexts = [{"id": i, "persona": [f"i am {i} ."], "context": [f"turn{i} a", "b c"], "reference": "b c d"}
                for i in range(3)]  # fmt: skip
    agents = {"one": Scripted("one"), "two": Scripted("two")}
    whole = write_static(agents, contexts, tmp_path / "a.jsonl")
    rows = read_log(whole)
    assert [list(r["replies"]) for r in rows] == [["one", "two"]] * 3
    assert rows[2]["replies"]["two"] == {"response": "two heard b (2)", "score": 1.0, "z": 2}
    assert agents["one"].seen[0] == (["turn0 a", "b c"], ["i am 0 ."])
    metrics = static_metrics(rows)
    assert set(metrics) == {"one", "two"} and metrics["one"]["avg_length"] == 6 and metrics["one"]["f1"] > 0
    table = side_by_side(rows, limit=2)
    assert table.columns == ["context", "reference", "one", "two"]
    assert table.rows[0] == ["turn0 a / b c", "b c d", "one heard b (2)", "two heard b (2)"]
    partial = tmp_path / "b.jsonl.partial"
    partial.write_text(whole.read_text().splitlines()[0] + "\n")
    again = {"one": Scripted("one"), "two": Scripted("two")}
    write_static(again, contexts, tmp_path / "b.jsonl")
    assert len(again["one"].seen) == 2 and (tmp_path / "b.jsonl").read_text() == whole.read_text()
    partial.write_text(whole.read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match="was answered by one, two, not one, three"):
        write_static({"one": Scripted("one"), "three": Scripted("three")}, contexts, tmp_path / "b.jsonl")
