import json

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from confab.cli import app
from confab.data.build import Build, BuildConfig
from confab.data.schema import read_split
from confab.resources import resource_path
from confab.retrieval import checkpoint
from confab.retrieval.batches import encode_texts, training_batch
from confab.retrieval.evaluate import candidate_sets, evaluate
from confab.retrieval.model import PersonaMemory, PersonaRanker, Query, RankerConfig
from confab.retrieval.score import RankerScorer, TfidfScorer
from confab.retrieval.tokens import WordTokenizer, join_turns
from confab.retrieval.train import RetrievalRun, train_retrieval
from confab.training import TrainConfig
from tests.conftest import free_port

EXAMPLES = [
    {"context": ["hi , do you like dogs ?"], "response": "yes i have two dogs .", "persona": ["i have two dogs ."],
     "candidates": [], "candidate_labels": []},
    {"context": ["what do you do ?", "i teach ."], "response": "i am a nurse at night .", "persona": [],
     "candidates": [], "candidate_labels": []},
    {"context": ["where are you from ?"], "response": "london , and you ?",
     "persona": ["i was born in london .", "i like tea .", "my dad is a pilot ."], "candidates": [],
     "candidate_labels": []},
]  # fmt: skip


def _close(a, b) -> bool:
    return torch.allclose(torch.as_tensor(a), torch.as_tensor(b), atol=1e-5)


def tokenizer():
    texts = [t for e in EXAMPLES for t in [*e["context"], e["response"], *e["persona"]]]
    return WordTokenizer.build(texts, 1000)


@pytest.mark.parametrize("encoder,dim", [("bow", 300), ("lstm", 600), ("transformer", 300)])
def test_encoder_shapes_and_padding_masks(encoder, dim):
    tok = tokenizer()
    torch.manual_seed(0)
    model = PersonaRanker(RankerConfig(encoder=encoder, vocab_size=len(tok), dropout=0.0)).eval()
    batch = training_batch(EXAMPLES, tok, model.config)
    assert batch["persona"].shape[:2] == (3, 3) and not batch["persona_mask"][1].any()
    assert batch["context"].shape[:2] == (3, 2) and batch["context_mask"][:, 1].any(-1).tolist() == [False, True, False]
    with torch.no_grad():
        joint = model.encode_query(batch).vector
        responses = model.encode(batch["response"], batch["response_mask"], "response")
        assert joint.shape == (3, dim) and responses.shape == (3, dim)
        # more padding must not change an encoding
        ids, mask = batch["response"], batch["response_mask"]
        padded = torch.cat([ids, torch.zeros(3, 5, dtype=torch.long)], 1)
        padded_mask = torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], 1)
        assert torch.allclose(model.encode(padded, padded_mask, "response"), responses, atol=1e-5)

        # the turns, the latest first, weighted 1 and turn_decay (0.15); the memory starts as the identity, so the
        # persona of the first example changes nothing yet
        def alone(text):
            ids, mask = encode_texts(tok, [text], 128, keep_end=True)
            return model.context_encoder(ids, mask)[0]

        assert torch.allclose(joint[1], alone("i teach .") + 0.15 * alone("what do you do ?"), atol=1e-5)
        assert torch.allclose(joint[0], alone(EXAMPLES[0]["context"][0]), atol=1e-5)


def test_memory_hop_attends_to_the_matching_persona_sentence():
    query = torch.tensor([[1.0, 0.0, 0.0]])
    memories = torch.tensor([[[0.0, 1.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    mask = torch.tensor([[True, True, True]])
    weights = PersonaMemory.weights(query, memories, mask)
    assert weights.argmax().item() == 1 and weights[0, 1] > 0.8
    out = PersonaMemory(1.0)(query, memories, mask)
    assert torch.allclose(out, query + torch.einsum("bn,bnd->bd", weights, memories))
    masked = PersonaMemory.weights(query, memories, torch.tensor([[True, False, True]]))
    assert masked[0, 1] == 0 and torch.isclose(masked.sum(), torch.tensor(1.0))
    empty = PersonaMemory(1.0)(query, memories, torch.tensor([[False, False, False]]))
    assert torch.equal(empty, query)  # no persona: the residual alone
    assert torch.equal(PersonaMemory(0.0)(query, memories, mask), query)  # the gate's start: the identity


def test_an_untrained_memory_scores_as_no_persona_and_the_match_adds_the_best_sentence():
    """memory_gate 0 and persona_match 0 (the defaults): the persona changes no score; persona_match w adds w
    times each candidate's best dot product with a persona sentence."""
    tok = tokenizer()
    torch.manual_seed(0)
    model = PersonaRanker(RankerConfig(encoder="bow", vocab_size=len(tok))).eval()
    cands = [[e["response"] for e in EXAMPLES]] * 3
    bare = [{**e, "persona": []} for e in EXAMPLES]
    scorer = RankerScorer(model, tok, precision="float32")
    with_persona, without = scorer(EXAMPLES, cands), scorer(bare, cands)
    assert all(_close(a, b) for a, b in zip(with_persona, without, strict=True))
    with torch.no_grad():
        model.match.fill_(0.5)
        matched = scorer(EXAMPLES, cands)
        memories = scorer.encode_texts(EXAMPLES[2]["persona"], "persona")
        responses = scorer.encode_texts(cands[2], "response")
    best = (memories @ responses.T).amax(0)
    assert torch.allclose(torch.tensor(matched[2]), torch.tensor(without[2]) + 0.5 * best, rtol=1e-4, atol=1e-4)
    assert torch.allclose(torch.tensor(matched[1]), torch.tensor(without[1]), atol=1e-5)  # no persona: no match


def test_each_distinct_text_is_encoded_once():
    """A dialogue's examples share their persona and their turns, and a file's candidates repeat: the scorer
    sends each distinct text through the encoder once (counted at the encoder)."""
    tok = tokenizer()
    model = PersonaRanker(RankerConfig(encoder="bow", vocab_size=len(tok), persona_encoder="encoder")).eval()
    rows = []
    for encoder in (model.context_encoder, model.response_encoder):  # two encoders: share_encoders is off
        encoder.register_forward_hook(lambda m, args, out: rows.append(len(args[0])))
    dialogue = ["hi !", "hello , do you like dogs ?", "yes , i have two .", "what are their names ?"]
    persona = ["i have two dogs .", "i like tea ."]
    examples = [{"context": dialogue[: i + 1], "persona": persona} for i in range(4)]
    candidates = [["yes i do .", "no .", "i like tea ."]] * 4
    scores = RankerScorer(model, tok)(examples, candidates)
    turns = {t for e in examples for t in e["context"][-2:]}
    responses = {c for cs in candidates for c in cs}
    assert sum(rows) == len(turns) + len(persona) + len(responses)  # 4 turns, 2 persona sentences, 3 responses
    rows.clear()
    one_by_one = [RankerScorer(model, tok)([e], [c])[0] for e, c in zip(examples, candidates, strict=True)]
    assert sum(rows) > 2 * (len(turns) + len(persona) + len(responses))
    assert all(_close(a, b) for a, b in zip(scores, one_by_one, strict=True))


def test_zero_shot_scores_are_the_cosines_of_the_encoders_mean_pooled_vectors():
    """bundled:minilm: the installed all-MiniLM-L6-v2, untrained; its scores are the cosine of the mean-pooled
    vectors of the latest turn (plus 0.15 x the one before) and the candidate, plus the candidate's best cosine
    with a persona sentence, computed here with transformers directly."""
    from transformers import AutoModel, AutoTokenizer

    from confab.bundled import pretrained_folder
    from confab.scorers import load_scorer

    folder = pretrained_folder()
    bert, hf = AutoModel.from_pretrained(str(folder)).eval(), AutoTokenizer.from_pretrained(str(folder))

    def vectors(texts):
        enc = hf(texts, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            x = bert(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        return F.normalize((x * m).sum(1) / m.sum(1), dim=-1)

    example = {"context": ["i work at a bakery .", "do you have pets ?"], "persona": ["i have two dogs .",
               "i like to ski ."]}  # fmt: skip
    cands = ["i love my two dogs .", "the stock market fell today .", "i go skiing every winter ."]
    scorer, _, _ = load_scorer("bundled:minilm", [], precision="float32")
    scores = torch.tensor(scorer([example], [cands])[0])
    turns, persona, responses = vectors(example["context"][::-1]), vectors(example["persona"]), vectors(cands)
    query = F.normalize(turns[0] + 0.15 * turns[1], dim=-1)
    expected = responses @ query + (persona @ responses.T).amax(0)
    assert torch.allclose(scores, expected, atol=1e-4), (scores, expected)
    assert scores.argmax() == 0


def test_in_batch_loss_by_hand():
    class Fixed(PersonaRanker):
        def encode_query(self, batch):
            return Query(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), None, None)

        def encode(self, ids, mask, role):
            return torch.tensor([[1.0, 1.0], [0.0, 1.0]])

    model = Fixed(RankerConfig(encoder="bow", vocab_size=10, use_persona=False))
    loss = model({"context": None, "context_mask": None, "response": None, "response_mask": None})
    scores = torch.tensor([[1.0, 0.0], [2.0, 2.0]])  # rows: contexts, columns: responses
    expected = (-(F.log_softmax(scores, 1)[0, 0]) - F.log_softmax(scores, 1)[1, 1]) / 2
    assert torch.isclose(loss, expected)


def test_candidates_are_the_files_or_drawn_from_the_split():
    rows = [{"response": f"r{i}", "candidates": [], "candidate_labels": []} for i in range(30)]
    cands, correct = candidate_sets(rows, 10, seed=1)
    assert all(len(c) == 10 and c[0] == rows[i]["response"] and len(set(c)) == 10 for i, c in enumerate(cands))
    assert correct == [0] * 30 and candidate_sets(rows, 10, seed=1)[0] == cands
    with pytest.raises(ValueError, match="distinct responses"):
        candidate_sets(rows, 31, seed=1)
    own = [{"response": "b", "candidates": ["a", "b", "c"], "candidate_labels": [0, 1, 0]}]
    assert candidate_sets(own, None, 0) == ([["a", "b", "c"]], [1])


def test_tfidf_prefers_word_overlap():
    scorer = TfidfScorer([e["response"] for e in EXAMPLES] + ["the weather is nice"])
    scores = scorer([{"context": ["do you have dogs ?"]}], [["the weather is nice", "yes i have two dogs ."]])[0]
    assert scores[1] > scores[0]


def test_checkpoint_reloads_to_identical_scores(tmp_path):
    tok = tokenizer()
    model = PersonaRanker(RankerConfig(encoder="transformer", vocab_size=len(tok), layers=1, heads=2)).eval()
    checkpoint.save(tmp_path / "ck", model, tok, {"note": "test"})
    loaded, loaded_tok, meta = checkpoint.load(tmp_path / "ck")
    cands = [[e["response"] for e in EXAMPLES]] * 3
    a = RankerScorer(model, tok)(EXAMPLES, cands)
    b = RankerScorer(loaded, loaded_tok)(EXAMPLES, cands)
    assert all((x == y).all() for x, y in zip(a, b, strict=True)) and meta.extra["note"] == "test"
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["config"]["layers"] == 1


def test_pretrained_encoder_loads_offline_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = RankerConfig(encoder="pretrained", persona_encoder="encoder")
    from confab.bundled import pretrained_folder
    from confab.retrieval.tokens import PretrainedTokenizer

    tok = PretrainedTokenizer(pretrained_folder())
    config.vocab_size = len(tok)
    model = checkpoint.new_model(config).eval()
    scorer = RankerScorer(model, tok)
    cands = [["i love my two dogs .", "the stock market fell today ."]]
    scores = scorer([{"context": ["do you have pets ?"], "persona": ["i have two dogs ."]}], cands)[0]
    assert scores[0] > scores[1]  # the pretrained encoder already knows dogs are pets
    checkpoint.save(tmp_path / "ck", model, tok, {})
    loaded, loaded_tok, _ = checkpoint.load(tmp_path / "ck")
    again = RankerScorer(loaded, loaded_tok)([{"context": ["do you have pets ?"], "persona": ["i have two dogs ."]}],
                                             cands)[0]  # fmt: skip
    assert (again == scores).all()


def test_tuning_the_top_layers_stores_them_alone(tmp_path):
    """--tuned-layers 1: one step of training moves the top layer only; the checkpoint holds that layer (a
    fraction of the encoder), loads on the installed encoder, and refuses another one."""
    from confab.bundled import pretrained_folder
    from confab.retrieval.tokens import PretrainedTokenizer

    tok = PretrainedTokenizer(pretrained_folder())
    model = checkpoint.new_model(RankerConfig(encoder="pretrained", persona_encoder="encoder", similarity="cosine",
                                              tuned_layers=1, vocab_size=len(tok)))  # fmt: skip
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = model(training_batch(EXAMPLES, tok, model.config))
    loss.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()
    moved = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    body = {k for k in moved if ".body." in k}  # the one encoder, under its context and response names
    assert {k.split(".")[3] for k in body} == {"5"}, moved  # blocks.5 (the top of six)
    assert moved - body == {"memory.gate", "match", "turn_weights"}  # and the construction's weights
    checkpoint.save(tmp_path / "ck", model.eval(), tok, {})
    stored = (tmp_path / "ck" / "model.safetensors").stat().st_size
    assert stored < 0.1 * (pretrained_folder() / "model.safetensors").stat().st_size
    loaded, _, _ = checkpoint.load(tmp_path / "ck")
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    (tmp_path / "ck" / "config.json").write_text(json.dumps({**meta, "base": {**meta["base"], "sha256": "another"}}))
    with pytest.raises(ValueError, match="another all-MiniLM-L6-v2"):
        checkpoint.load(tmp_path / "ck")
    with pytest.raises(ValueError, match="tuned_layers: 7"):
        checkpoint.new_model(RankerConfig(encoder="pretrained", tuned_layers=7, vocab_size=len(tok)))


@pytest.mark.trains
def test_train_and_rank_end_to_end_beats_chance(tmp_path, seed):
    """A small real corpus that ships with confab: Topical-Chat, pairs, 20 candidates (chance: 5% hits@1)."""
    sample = resource_path("samples/topical_chat_valid_freq.json.gz")
    Build(BuildConfig(inputs=[str(sample)], persona="none", valid_size=200, test_size=300,
                      split_unit="thread"), tmp_path / "ds").run()  # fmt: skip
    run = RetrievalRun(ranker=RankerConfig(encoder="bow", use_persona=False),
                       train=TrainConfig(epochs=2, batch_size=128, seed=seed), max_train=4000,
                       max_valid=200)  # fmt: skip
    result = train_retrieval(tmp_path / "ds", run, tmp_path / "ck")
    assert len(result["history"]) == 2 and result["history"][-1]["loss"] < result["history"][0]["loss"]
    model, tok, _ = checkpoint.load(tmp_path / "ck")
    test = read_split(tmp_path / "ds", "test").to_pylist()
    metrics = evaluate(RankerScorer(model, tok), test, n=20, seed=0)
    assert metrics["hits@1"] > 0.10, metrics  # twice chance, from 4,000 examples and 2 epochs
    assert join_turns(["a", "b"]) == "a __sep__ b"
    # the paper's Table 1 from the command line: the same numbers as above, beside the IR baseline
    ck, ds = str(tmp_path / "ck"), str(tmp_path / "ds")
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "table", "mazare1", "--model", ck, "--data", ds, "--candidates", "20",
                                 "--report", str(tmp_path / "t1"), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    baseline, row = json.loads(result.stdout)["rows"]
    assert row == {
        "model": ck,
        "encoder": "BOW",
        "persona": "No",
        "hits@1": round(100 * metrics["hits@1"], 1),
        "hits@3": round(100 * metrics["hits@3"], 1),
        "hits@10": round(100 * metrics["hits@10"], 1),
    }
    assert baseline["model"] == "tfidf" and baseline["encoder"] == "IR Baseline"
    assert "| tfidf | IR Baseline | No |" in (tmp_path / "t1" / "report.md").read_text()
    result = runner.invoke(app, ["eval", "table", "mazare3", "--model", ck, "--data", ds, "--report",
                                 str(tmp_path / "t3"), "--json"])  # fmt: skip
    assert json.loads(result.stdout)["rows"][0]["N"] == 0  # trained without the persona memory
    result = runner.invoke(app, ["eval", "table", "mazare4", "--model", ck, "--data", ds, "--data", ds,
                                 "--report", str(tmp_path / "t4"), "--json"])  # fmt: skip
    rows = json.loads(result.stdout)["rows"]
    assert [r["model"] for r in rows] == ["tfidf", ck] and len(rows[1]) == 3  # a column per dataset
    result = runner.invoke(app, ["eval", "ranking", "--model", ck, "--model", "tfidf", "--data", ds, "--candidates",
                                 "20", "--report", str(tmp_path / "r"), "--json"])  # fmt: skip
    ranked = json.loads(result.stdout)["results"]
    assert ranked[0]["hits@1"] == metrics["hits@1"] and ranked[1]["model"] == "tfidf"


def test_fasttext_vectors_initialise_known_words(tmp_path):
    from confab.retrieval.train import _load_fasttext

    tok = tokenizer()
    model = PersonaRanker(RankerConfig(encoder="bow", vocab_size=len(tok), embedding_dim=3))
    vec = tmp_path / "wiki.vec"
    vec.write_text("3 3\ndogs 0.5 0.25 -1\nzebra 1 1 1\nlondon 2 2 2\n")
    _load_fasttext(model, tok, vec)
    index = tok.dictionary.index
    assert model.embeddings.weight[index["dogs"]].tolist() == [0.5, 0.25, -1.0]
    assert model.embeddings.weight[index["london"]].tolist() == [2.0, 2.0, 2.0]
    bad = tmp_path / "bad.vec"
    bad.write_text("1 5\ndogs 1 2 3 4 5\n")
    with pytest.raises(ValueError, match="bad.vec:1"):
        _load_fasttext(model, tok, bad)


def test_fine_tuning_starts_from_a_checkpoint(fixtures, tmp_path):
    Build(BuildConfig(inputs=[str(fixtures / "personachat_fixture.txt")], examples="paths", valid_size=0,
                      test_size=0), tmp_path / "ds").run()  # fmt: skip
    tok = tokenizer()
    base = PersonaRanker(RankerConfig(encoder="bow", vocab_size=len(tok)))
    checkpoint.save(tmp_path / "base", base, tok, {})
    run = RetrievalRun(train=TrainConfig(epochs=1, batch_size=2), init=str(tmp_path / "base"))
    train_retrieval(tmp_path / "ds", run, tmp_path / "tuned")
    tuned, tuned_tok, meta = checkpoint.load(tmp_path / "tuned")
    assert tuned_tok.dictionary.tokens == tok.dictionary.tokens and meta.run["init"] == str(tmp_path / "base")
    assert not torch.equal(tuned.embeddings.weight, base.embeddings.weight)


def test_shared_encoders_are_one_module_and_round_trip(tmp_path):
    tok = tokenizer()
    model = PersonaRanker(RankerConfig(encoder="bow", vocab_size=len(tok), share_encoders=True))
    assert model.response_encoder is model.context_encoder
    checkpoint.save(tmp_path / "ck", model, tok, {})
    loaded, _, _ = checkpoint.load(tmp_path / "ck")
    assert loaded.response_encoder is loaded.context_encoder
    assert torch.equal(loaded.context_encoder.proj[0].weight, model.context_encoder.proj[0].weight)


def test_cosine_similarity_gives_unit_vectors_and_scaled_scores():
    tok = tokenizer()
    torch.manual_seed(0)
    model = PersonaRanker(RankerConfig(encoder="bow", vocab_size=len(tok), similarity="cosine", scale=20.0)).eval()
    batch = training_batch(EXAMPLES, tok, model.config)
    with torch.no_grad():
        joint = model.encode_query(batch).vector
        responses = model.encode(batch["response"], batch["response_mask"], "response")
        assert torch.allclose(joint.norm(dim=-1), torch.ones(3)) and torch.allclose(
            responses.norm(dim=-1), torch.ones(3)
        )
        expected = F.cross_entropy(20.0 * joint @ responses.T, torch.arange(3))
        assert torch.isclose(model(batch), expected, atol=1e-5)


def test_large_pools_of_unit_vectors_get_hnsw_and_dot_product_pools_stay_exact(tmp_path):
    import numpy as np

    from confab.retrieval.index import CandidateIndex, build_index, make_index

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert hasattr(make_index(unit, exact_max=1000, unit_vectors=True), "hnsw")
    assert not hasattr(make_index(vectors, exact_max=1000, unit_vectors=False), "hnsw")
    texts = [f"response {i}" for i in range(2000)]
    build_index(texts, lambda t: unit[[int(x.split()[1]) for x in t]], tmp_path / "idx", 1000, unit_vectors=True)
    index = CandidateIndex(tmp_path / "idx")
    assert index.meta["kind"] == "hnsw" and index.search(unit[7:8], 1)[0][0][0] == "response 7"


def test_ddp_on_two_gloo_processes_matches_one_process(tmp_path):
    """torchrun with 2 CPU processes: each encodes half of every batch, the responses of both halves are the
    negatives of each, so the trained weights agree with one process on whole batches."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    sample = resource_path("samples/topical_chat_valid_freq.json.gz")
    Build(BuildConfig(inputs=[str(sample)], persona="rules", valid_size=20, test_size=20, split_unit="thread"),
          tmp_path / "ds").run()  # fmt: skip
    script = str(Path(__file__).parent / "ddp_retrieval.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, script, str(tmp_path / "ds"), str(tmp_path / "one")], check=True, env=env)
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
              script, str(tmp_path / "ds"), str(tmp_path / "two")]  # fmt: skip
    subprocess.run(launch, check=True, env=env, timeout=600)
    one, two = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert sum(torch.allclose(one[k], two[k], atol=2e-4) for k in one) > 0.8 * len(one)
    # Parameters whose true gradient is zero (a bias added to every response or key shifts all scores alike) get
    # float noise, which Adam scales up to whole steps; so compare what the models compute: each context's scores
    # of its 20 candidates, less their mean
    test = read_split(tmp_path / "ds", "test").to_pylist()
    candidates, _ = candidate_sets(test, 20, 0)
    scores = []
    for folder in ("one", "two"):
        model, tok, _ = checkpoint.load(tmp_path / folder)
        scores.append(torch.stack([torch.as_tensor(s) for s in RankerScorer(model, tok)(test, candidates)]))
    centred = [s - s.mean(dim=1, keepdim=True) for s in scores]
    assert torch.allclose(*centred, atol=1e-3 * float(centred[0].abs().max()))


def test_streamed_training_shares_the_split_among_processes(tmp_path):
    """--stream: each process reads its own share of the train split from disk in every epoch."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    sample = resource_path("samples/topical_chat_valid_freq.json.gz")
    # most of the sample held out, ~500 examples left to train on; no personas: the persona memory sits out
    Build(BuildConfig(inputs=[str(sample)], persona="none", valid_size=20, test_size=10_600, split_unit="thread",
                      partition_mb=0.2), tmp_path / "ds").run()  # fmt: skip
    total = read_split(tmp_path / "ds", "train").num_rows
    script = str(Path(__file__).parent / "ddp_retrieval.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, script, str(tmp_path / "ds"), str(tmp_path / "one"), "stream"], check=True,
                   env=env, timeout=600)  # fmt: skip
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
              script, str(tmp_path / "ds"), str(tmp_path / "two"), "stream"]  # fmt: skip
    subprocess.run(launch, check=True, env=env, timeout=600)
    one, two = (json.loads((tmp_path / d / "config.json").read_text())["result"] for d in ("one", "two"))
    assert one["steps"] == 2 * (total // 32) and two["steps"] == 2 * (total // 2 // 16)  # 2 epochs
    assert (
        one["history"][1]["loss"] < one["history"][0]["loss"] and two["history"][1]["loss"] < two["history"][0]["loss"]
    )


@pytest.mark.trains
def test_a_run_that_only_gets_worse_keeps_its_start(tmp_path, seed):
    """The untrained encoder with its persona match validates at ~60 hits@1 on the bundled PERSONA-CHAT samples;
    a learning rate that wrecks the tuned layer makes every epoch worse, so the checkpoint is the start, which
    scores as bundled:minilm does."""
    samples = [str(resource_path(f"samples/knover_example_{s}.tsv.gz")) for s in ("train", "valid")]
    Build(BuildConfig(inputs=samples, format="knover", valid_size=100, test_size=100), tmp_path / "ds").run()
    ranker = RankerConfig(**checkpoint.ZERO_SHOT_RANKER, tuned_layers=1)
    run = RetrievalRun(ranker=ranker, max_train=64, max_valid=100,
                       train=TrainConfig(epochs=1, batch_size=32, lr=1.0, optimizer="adamw", seed=seed))  # fmt: skip
    result = train_retrieval(tmp_path / "ds", run, tmp_path / "ck")
    start, epoch = result["start"]["valid_hits@1"], result["history"][0]["valid_hits@1"]
    assert result["kept_start"] and start > 0.4 and epoch < start - 0.1, result
    model, tok, _ = checkpoint.load(tmp_path / "ck")
    untrained, untrained_tok, _ = checkpoint.zero_shot(tuned_layers=1)
    test = read_split(tmp_path / "ds", "test").to_pylist()[:40]
    cands = candidate_sets(test, 10, 0)[0]
    kept = RankerScorer(model, tok, precision="float32")(test, cands)
    assert all(
        _close(a, b)
        for a, b in zip(kept, RankerScorer(untrained, untrained_tok, precision="float32")(test, cands), strict=True)
    )


def test_the_shipped_recipe_is_a_config_file_that_train_retrieval_reads(tmp_path):
    """`confab demo` and `confab train retrieval --config shipped-retrieval` train from the same file; options given
    on the command line override it. The recipe reads context and persona as bundled:minilm does, so that the model
    starts where that untrained encoder stands."""
    from confab.config import load_config, recipe

    run = load_config(RetrievalRun, recipe("shipped-retrieval"))
    shipped = {k: v for k, v in vars(run.ranker).items() if k in checkpoint.ZERO_SHOT_RANKER}
    assert shipped == checkpoint.ZERO_SHOT_RANKER and run.ranker.tuned_layers == 2
    sample = resource_path("samples/knover_example_valid.tsv.gz")
    Build(BuildConfig(inputs=[str(sample)], format="knover", valid_size=10, test_size=0), tmp_path / "ds").run()
    result = CliRunner().invoke(app, ["train", "retrieval", "--config", "shipped-retrieval", "--data",
                                      str(tmp_path / "ds"), "--out", str(tmp_path / "ck"), "--max-train", "48",
                                      "--batch-size", "16", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    trained = json.loads((tmp_path / "ck" / "config.json").read_text())["run"]
    assert trained["train"]["batch_size"] == 16 and trained["max_train"] == 48  # given here
    assert trained["train"]["optimizer"] == "adamw" and trained["ranker"]["tuned_layers"] == 2  # from the file


def test_both_tokenizers_give_ids_and_the_batch_code_cuts_around_their_framing():
    """One tokenizer interface (`encode(text) -> ids`, `pad`): the batch code cuts a text to its role's length, a
    context keeping its end and a response its start, and keeps the pretrained tokenizer's [CLS] ... [SEP] around."""
    from confab.bundled import pretrained_folder
    from confab.retrieval.tokens import PretrainedTokenizer

    text = "one two three four five six"
    for tok in (tokenizer(), PretrainedTokenizer(pretrained_folder())):
        ids = tok.encode(text)
        assert isinstance(ids, list) and all(isinstance(i, int) for i in ids) and tok.pad not in ids
        head, tail = tok.framing
        words = ids[head : len(ids) - tail]
        end, _ = encode_texts(tok, [text, "one"], 3 + head + tail, keep_end=True)
        start, mask = encode_texts(tok, [text, "one"], 3 + head + tail, keep_end=False)
        assert end[0].tolist() == [*ids[:head], *words[-3:], *ids[len(ids) - tail :]]
        assert start[0].tolist() == [*ids[:head], *words[:3], *ids[len(ids) - tail :]]
        assert mask[1].sum() == len(tok.encode("one")) and (start[1][mask[1].logical_not()] == tok.pad).all()


def test_a_checkpoint_saved_with_bertmodels_names_loads_renamed(tmp_path):
    """Before the retrieval encoder ran confab's transformer, a fully tuned pretrained checkpoint held Hugging Face's
    BertModel tensors (`context_encoder.bert.*`) under a "ranker" config: it loads into the transformer and scores
    as the model it was."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    from confab.bundled import pretrained_folder
    from confab.retrieval.tokens import PretrainedTokenizer

    tok = PretrainedTokenizer(pretrained_folder())
    model = checkpoint.new_model(RankerConfig(**{**checkpoint.ZERO_SHOT_RANKER, "vocab_size": len(tok)})).eval()
    checkpoint.save(tmp_path / "ck", model, tok, {})
    tensors = {k: v for k, v in load_file(tmp_path / "ck" / "model.safetensors").items() if ".body." not in k}
    bert = AutoModel.from_pretrained(str(pretrained_folder()), local_files_only=True).state_dict()
    tensors |= {f"context_encoder.bert.{k}": v for k, v in bert.items() if "position_ids" not in k}
    save_file(tensors, tmp_path / "ck" / "model.safetensors")
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    old = {k: v for k, v in meta.items() if k not in ("config", "network", "weights")} | {"ranker": meta["config"]}
    (tmp_path / "ck" / "config.json").write_text(json.dumps(old))
    loaded, loaded_tok, _ = checkpoint.load(tmp_path / "ck")
    cands = [[e["response"] for e in EXAMPLES]] * len(EXAMPLES)
    before = RankerScorer(model, tok, precision="float32")(EXAMPLES, cands)
    after = RankerScorer(loaded, loaded_tok, precision="float32")(EXAMPLES, cands)
    assert all(_close(torch.as_tensor(a), torch.as_tensor(b)) for a, b in zip(before, after, strict=True))
