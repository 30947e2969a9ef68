import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from confab.data.build import Build, BuildConfig
from confab.data.schema import read_split
from confab.generation import checkpoint, scoring
from confab.generation.batches import Sequence, collate, layout, prefix_lm_mask, response_targets
from confab.generation.data import BatchConfig, encode, mask_tokens, micro_batch, plan
from confab.generation.decode import DecodeConfig, _first_step, _sample, generate
from confab.generation.limits import Limits
from confab.generation.model import as_network, network
from confab.generation.stages import Generation, LatentGeneration, make_stage
from confab.generation.train import PlatoRun, train_plato, training_texts
from confab.resources import resource_path
from confab.text.bpe import BpeTokenizer
from confab.training import TrainConfig
from confab.transformer.model import ROLE_PARTNER, ROLE_PERSONA, ROLE_SELF, SIZES, PlatoConfig, UnifiedTransformer
from tests.conftest import ended, free_port

TEXTS = [
    "hi , how are you today ?", "i am good , i just got back from the park with my dog .",
    "what do you do for a living ?", "i teach math at a school in london .", "i love to ski in the winter .",
    "do you have any pets ?", "yes , two cats and a dog .", "my favorite food is pizza .",
]  # fmt: skip


@pytest.fixture(scope="module")
def tok():
    return BpeTokenizer.train(TEXTS * 20, vocab_size=200)


def tiny(tok, seed: int = 0, role: str = "generator", **kw) -> UnifiedTransformer:
    """A tiny network: a stage-1 generator unless `role` and `kw` (latent_k=20: stage 2.1's) say otherwise."""
    torch.manual_seed(seed)
    return network(role, PlatoConfig(vocab_size=len(tok), **{**SIZES["tiny"], "dropout": 0.0, **kw}))


def test_bpe_specials_and_round_trip(tok, tmp_path):
    assert (tok.pad, tok.unk, tok.bos, tok.eos) == (0, 1, 2, 3)
    assert len({tok.latent, tok.cls, tok.mask}) == 3 and min(tok.latent, tok.cls, tok.mask) > 3
    assert tok.decode(tok.encode(TEXTS[3])) == TEXTS[3]
    tok.save(tmp_path)
    assert BpeTokenizer.load(tmp_path).encode(TEXTS[1]) == tok.encode(TEXTS[1])
    with pytest.raises(FileNotFoundError, match="confab tokenizer train"):
        BpeTokenizer.load(tmp_path / "nowhere")


def test_layout_roles_turns_and_truncation(tok):
    s = layout(tok, ["i love to ski in the winter ."], TEXTS[:3], TEXTS[3], Limits())
    assert s.tokens[0] == tok.latent and s.tokens[s.prefix] == tok.bos and s.tokens[-1] == tok.eos
    persona_end = 1 + len(tok.encode("i love to ski in the winter .")) + 1
    assert set(s.roles[1:persona_end]) == {ROLE_PERSONA}
    # turns count back from the response; the last context turn is the partner's
    last = len(tok.encode(TEXTS[2])) + 1
    assert set(s.turns[s.prefix - last : s.prefix]) == {1} and set(s.roles[s.prefix - last : s.prefix]) == {
        ROLE_PARTNER
    }
    assert s.roles[persona_end] == ROLE_PARTNER and s.turns[persona_end] == 3
    assert set(s.roles[s.prefix :]) == {ROLE_SELF} and set(s.turns[s.prefix :]) == {0}
    short = layout(tok, [], TEXTS[:3], TEXTS[3], Limits(max_context=last + 3))
    assert short.tokens[1 : short.prefix] == tok.encode(TEXTS[2]) + [tok.eos]  # only the most recent turn fits
    cut = layout(tok, [], TEXTS[:1], TEXTS[1], Limits(max_context=4, max_response=5))
    assert cut.prefix == 4 and len(cut.tokens) - cut.prefix == 5 and cut.tokens[-1] == tok.eos


def test_prefix_lm_mask_by_hand():
    # one row: 3 prefix positions, 2 response positions, 1 padding
    mask = prefix_lm_mask(torch.tensor([3]), torch.tensor([5]), 6)[0].int().tolist()
    assert mask == [
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],
    ]
    full = prefix_lm_mask(torch.tensor([3]), torch.tensor([5]), 6, causal=False)[0].int().tolist()
    assert full[0] == [1, 1, 1, 1, 1, 0]


def test_context_is_bidirectional_and_response_causal(tok):
    model = tiny(tok).eval()
    a = layout(tok, [], TEXTS[:2], TEXTS[2], Limits())
    b = layout(tok, [], TEXTS[:2], TEXTS[4], Limits())
    batch = collate([a, b])
    hidden = model(batch, prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1)))
    p = a.prefix
    same = next(i for i in range(p, len(a.tokens)) if a.tokens[i] != b.tokens[i])
    # the prefix, and the response up to the first different token, do not see the rest of the response
    assert torch.allclose(hidden[0, :same], hidden[1, :same], atol=1e-5)
    assert not torch.allclose(hidden[0, same], hidden[1, same], atol=1e-3)
    # a changed late context token changes the states of earlier context tokens (bidirectional)
    c = layout(tok, [], [TEXTS[0], TEXTS[3]], TEXTS[2], Limits())
    bc = collate([a, c])
    h2 = model(bc, prefix_lm_mask(bc["prefix"], bc["length"], bc["tokens"].size(1)))
    assert not torch.allclose(h2[0, 1], h2[1, 1], atol=1e-4)


def test_response_only_outputs_equal_the_full_pass(tok):
    model = tiny(tok).eval()
    batch = collate([layout(tok, [], TEXTS[:2], TEXTS[2], Limits()), layout(tok, [], TEXTS[3:4], TEXTS[4], Limits())])
    mask = prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1))
    start = int(batch["prefix"].min())
    assert start > 0
    assert torch.allclose(model(batch, mask, outputs_from=start), model(batch, mask)[:, start:], atol=1e-5)
    full = F.cross_entropy(model.logits(model(batch, mask)).flatten(0, 1), response_targets(batch).flatten())
    assert torch.allclose(Generation(model)(batch), full, atol=1e-5)  # the stage-1 loss is unchanged


def test_targets_cover_the_response_only(tok):
    s = layout(tok, [], TEXTS[:1], TEXTS[1], Limits())
    t = response_targets(collate([s]))[0].tolist()
    assert t[: s.prefix] == [-100] * s.prefix
    assert t[s.prefix : len(s.tokens) - 1] == s.tokens[s.prefix + 1 :] and t[-1] == -100


@pytest.mark.trains
def test_stage_one_learns_and_stage_two_trains_the_latent(tok, seed):
    examples = [{"persona": [], "context": [TEXTS[i]], "response": TEXTS[i + 1]} for i in range(0, 8, 2)]
    seqs = encode(examples, tok, Limits())
    model = tiny(tok, seed)
    objective = Generation(model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = collate(seqs)
    first = None
    for _ in range(60):
        loss = objective(batch)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first / 4, (first, float(loss.detach()))
    model = as_network(model, "generator", latent_k=20)  # stage 2.1 gains z and its heads
    assert model.recognize is not None and model.config.latent_k == 20
    latent = LatentGeneration(model)
    latent.train()
    loss = latent(batch)
    loss.backward()
    assert set(latent.last) == {"nll", "bow"} and model.recognize.weight.grad.abs().sum() > 0
    assert model.latents.weight.grad.abs().sum() > 0 and model.bow.weight.grad.abs().sum() > 0


@pytest.mark.trains
def test_every_stage_overfits_a_batch_and_the_evaluator_ranks_true_above_random(tok, seed):
    examples = [{"persona": [], "context": [TEXTS[i]], "response": TEXTS[i + 1]} for i in range(7)]
    seqs = encode(examples, tok, Limits())
    for stage in ("2.1", "2.2"):
        model = tiny(tok, seed, "generator", latent_k=20) if stage == "2.1" else tiny(tok, seed, "evaluator")
        objective = make_stage(stage, model).train()
        # from random weights coherence sits at ln 2 for 90-220 steps (by seed) before it learns; 700 steps leave
        # every seed tried (12) ranking each true response first with a logit margin of 1.7 or more
        lr, steps = (3e-3, 120) if stage == "2.1" else (1e-3, 700)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        rng = np.random.default_rng(seed)
        losses = []
        for _ in range(steps):
            batch = objective.batch(seqs, list(range(7)), tok, rng) if stage == "2.2" else collate(seqs)
            loss = objective(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            # stage 2.2 draws new negatives and masks every step: its coherence loss is the one to overfit
            losses.append(objective.last["rce"] if stage == "2.2" else float(loss.detach()))
        assert np.mean(losses[-20:]) < losses[0] / 3, (stage, losses[0], losses[-20:])
    model.eval()
    # what the evaluator is for: ranking. Each context scores its own response above every other example's (the
    # level of p itself is not learnt to a margin: trained on 7+7 pairs a step, it lands anywhere around 0.5)
    responses = [e["response"] for e in examples]
    p = torch.stack([scoring.coherence(model, tok, Limits(), [], e["context"], responses) for e in examples])
    logit = (p / (1 - p)).log()
    margin = logit.diagonal() - logit.masked_fill(torch.eye(7, dtype=torch.bool), -torch.inf).amax(1)
    assert (margin > 0.5).all(), (seed, margin, p)


def test_information_of_examples_and_latents():
    from confab.generation.stages import information

    k, sure = 4, 30.0
    every_value_once = torch.eye(k) * sure  # each example sure of its own value: log K
    assert float(information(every_value_once)) == pytest.approx(math.log(k), abs=1e-4)
    assert float(information(torch.zeros(8, k))) == pytest.approx(0.0, abs=1e-6)  # unsure: z says nothing
    assert float(information(torch.eye(k)[[1] * 8] * sure)) == pytest.approx(0.0, abs=1e-4)  # collapsed
    two_values = torch.eye(k)[[0, 0, 1, 1]] * sure
    assert float(information(two_values)) == pytest.approx(math.log(2), abs=1e-4)


def test_the_stage_2_1_objective_with_the_information_term_and_faster_heads(tok):
    from confab.training import make_optimizer

    model = tiny(tok, 0, latent_k=20)
    objective = LatentGeneration(model, heads_lr=10.0, latent_diversity=0.5).train()
    seqs = encode([{"persona": [], "context": [TEXTS[i]], "response": TEXTS[i + 1]} for i in range(4)], tok, Limits())
    objective(collate(seqs)).backward()
    assert set(objective.last) == {"nll", "bow", "diversity"} and 0 <= objective.last["diversity"] <= math.log(20)
    assert model.recognize.weight.grad.abs().sum() > 0
    optimizer = make_optimizer(objective, TrainConfig(lr=1e-3, optimizer="adam"))
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lrs[id(model.recognize.weight)] == lrs[id(model.latents.weight)] == pytest.approx(1e-2)
    assert lrs[id(model.blocks[0].mlp[0].weight)] == pytest.approx(1e-3) and not hasattr(model, "pooler")


def test_evaluation_batches_pair_random_responses_and_mask(tok):
    examples = [{"persona": [], "context": [TEXTS[i]], "response": TEXTS[i + 1]} for i in range(7)]
    seqs = encode(examples, tok, Limits())
    batch = micro_batch(seqs, [0, 1, 2], tok, np.random.default_rng(0), pairs=True)
    assert batch["label"].tolist() == [1, 1, 1, 0, 0, 0] and (batch["tokens"][:, 0] == tok.cls).all()
    for i in range(3):  # a negative keeps its context and takes another example's response
        pos, neg = seqs[i], batch
        n = int(neg["length"][3 + i])
        assert n != len(pos.tokens) or neg["tokens"][3 + i, pos.prefix :].tolist() != pos.tokens[pos.prefix :]
    big = collate([seqs[0]] * 200)
    tokens, targets = mask_tokens(big, tok, np.random.default_rng(1))
    chosen = targets >= 0
    assert 0.12 < chosen.sum() / (big["length"] - 1).sum() < 0.18 and not chosen[:, 0].any()
    assert ((tokens == tok.mask) & chosen).sum() / chosen.sum() > 0.7


def test_plan_respects_the_token_budget_and_is_reproducible():
    lengths = list(np.random.default_rng(0).integers(5, 60, size=500))
    steps = plan(lengths, BatchConfig(max_tokens=512, tokens_per_step=2048), seed=3, epoch=1)
    micro = [m for s in steps for m in s]
    assert sorted(i for m in micro for i in m) == list(range(500))
    assert all(max(lengths[i] for i in m) * len(m) <= 512 for m in micro)
    assert steps == plan(lengths, BatchConfig(max_tokens=512, tokens_per_step=2048), seed=3, epoch=1)
    assert steps != plan(lengths, BatchConfig(max_tokens=512, tokens_per_step=2048), seed=3, epoch=2)


def test_cached_decoding_matches_recomputing_everything(tok):
    model = tiny(tok).eval()
    prefixes = [layout(tok, ["i love dogs ."], TEXTS[:1], None, Limits()), layout(tok, [], TEXTS[2:4], None, Limits())]
    outs = generate(model, prefixes, tok.eos, DecodeConfig(strategy="greedy", max_length=8, no_repeat_ngram=0))
    for p, o in zip(prefixes, outs, strict=True):
        ids = list(p.tokens)
        for _ in range(len(o.ids)):
            grown = len(ids) - len(p.tokens)
            s = collate([Sequence(ids, p.roles + [0] * grown, p.turns + [0] * grown, p.prefix)])
            h = model(s, prefix_lm_mask(s["prefix"], s["length"], len(ids)))
            ids.append(int(model.logits(h[0, -1]).argmax()))
        assert ids[len(p.tokens) :] == o.ids[: len(ids) - len(p.tokens)]
        # the first step's logits are the teacher-forced ones: the context does not see [BOS]
        s = collate([p])
        forced = model.logits(model(s, prefix_lm_mask(s["prefix"], s["length"], len(p.tokens)))[0, -1])
        assert torch.allclose(_first_step(model, [p], None, 8)[0][0], forced, atol=1e-5)


def test_sampling_filters_and_repetition_blocking(tok):
    model = tiny(tok).eval()
    prefix = [layout(tok, [], TEXTS[:1], None, Limits())] * 4
    config = DecodeConfig(top_k=5, top_p=0.9, max_length=12, no_repeat_ngram=2, seed=0, min_length=12)
    outs = generate(model, prefix, tok.eos, config)
    for o in outs:
        bigrams = list(zip(o.ids, o.ids[1:], strict=False))
        assert len(bigrams) == len(set(bigrams)) and len(o.ids) == 12 and not o.finished
    assert [o.ids for o in outs] == [o.ids for o in generate(model, prefix, tok.eos, config)]
    beam = generate(model, prefix[:1], tok.eos, DecodeConfig(strategy="beam", beam_size=3, max_length=6))
    assert len(beam) == 1 and len(beam[0].ids) <= 6


def test_sampling_draws_only_from_the_top_k_and_the_nucleus():
    logits = torch.log(torch.tensor([[0.05, 0.5, 0.3, 0.1, 0.05]] * 4000))
    g = torch.Generator().manual_seed(0)
    top2 = _sample(logits, DecodeConfig(top_k=2, top_p=1.0), g)
    assert set(top2.tolist()) == {1, 2} and abs(float((top2 == 1).float().mean()) - 0.5 / 0.8) < 0.03
    nucleus = _sample(logits, DecodeConfig(top_k=0, top_p=0.85), g)  # 0.5 + 0.3 + 0.1 reach 0.85
    assert set(nucleus.tolist()) == {1, 2, 3}
    blocked = logits.clone()
    blocked[:, 1] = -float("inf")  # a blocked token is never drawn, even inside the top-k
    assert 1 not in set(_sample(blocked, DecodeConfig(top_k=2, top_p=1.0), g).tolist())


@pytest.mark.trains
def test_curriculum_on_a_real_sample_and_checkpoints_round_trip(tmp_path, seed):
    sample = resource_path("samples/topical_chat_valid_freq.json.gz")
    Build(BuildConfig(inputs=[str(sample)], persona="none", examples="paths", valid_size=50, test_size=50,
                      split_unit="thread"), tmp_path / "ds").run()  # fmt: skip
    limits = Limits(max_context=48, max_persona=16, max_response=24)
    train = TrainConfig(
        epochs=1, lr=2e-3, optimizer="adam", warmup_steps=5, schedule="inverse_sqrt", log_every=2, seed=seed
    )
    common = dict(limits=limits, batch=BatchConfig(max_tokens=2048, tokens_per_step=4096), max_train=600, max_valid=50)
    logged = replace(train, tensorboard=str(tmp_path / "tb"))
    r1 = train_plato(tmp_path / "ds", PlatoRun(stage="1", size="tiny", vocab_size=500, train=logged, **common),
                     tmp_path / "s1")  # fmt: skip
    assert r1["history"][0]["valid_ppl"] < 500  # below the vocabulary size: it learned something
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert {"train/loss", "train/lr", "valid/ppl"} <= set(events.Tags()["scalars"])
    assert events.Scalars("valid/ppl")[0].value == pytest.approx(r1["history"][0]["valid_ppl"], rel=1e-5)
    with pytest.raises(ValueError, match="pass --init"):
        train_plato(tmp_path / "ds", PlatoRun(stage="2.1"), tmp_path / "bad")
    r21 = train_plato(tmp_path / "ds", PlatoRun(stage="2.1", init=str(tmp_path / "s1"), train=train, **common),
                      tmp_path / "s21")  # fmt: skip
    r22 = train_plato(tmp_path / "ds", PlatoRun(stage="2.2", init=str(tmp_path / "s1"), train=train, **common),
                      tmp_path / "s22")  # fmt: skip
    assert "valid_ppl" in r21["history"][0] and 0.0 <= r22["history"][0]["valid_accuracy"] <= 1.0
    usage = r21["history"][0]["valid_latent_usage"]
    assert len(usage) == 20 and abs(sum(usage) - 1) < 1e-3 and 1 <= r21["history"][0]["valid_latents_used"] <= 20
    steps = (tmp_path / "s1" / "train_steps.csv").read_text().splitlines()
    assert steps[0] == "step,epoch,loss,lr" and len(steps) > 2
    assert (tmp_path / "s1" / "training.png").read_bytes()[:4] == b"\x89PNG" and not (
        tmp_path / "s1" / ".train"
    ).exists()
    model, tok, meta = checkpoint.load(tmp_path / "s21")
    assert meta.stage == "2.1" and checkpoint.limits_of(meta) == limits and model.config.latent_k == 20
    again, _, _ = checkpoint.load(tmp_path / "s21")
    s = collate([layout(tok, [], ["hello there"], "hi", limits)])
    mask = prefix_lm_mask(s["prefix"], s["length"], s["tokens"].size(1))
    assert torch.equal(model(s, mask), again(s, mask))
    from confab.generation.agent import PlatoAgent

    fp32 = PlatoAgent(tmp_path / "s21", tmp_path / "s22", precision="float32")
    bf16 = PlatoAgent(tmp_path / "s21", tmp_path / "s22", precision="bfloat16")
    assert bf16.model.tokens.weight.dtype == bf16.evaluator.tokens.weight.dtype == torch.bfloat16
    texts = ["i like that movie", "what is it about ?", "the the the"]
    scores = [scoring.coherence(a.evaluator, a.tok, a.limits, [], ["hello there"], texts) for a in (fp32, bf16)]
    assert torch.allclose(*scores, atol=0.02)
    assert len(bf16.respond(["hello there"], ["i like movies ."]).candidates) == 20
    # several sessions in one batch (the server's batching) reply as each would alone
    fp32.decode = DecodeConfig(strategy="greedy", max_length=12)
    requests = [(["hello there"], ["i like movies ."]), (["what do you do for fun ?", "i read a lot ."], [])]
    batched = fp32.respond_batch(requests)
    for together, (history, persona) in zip(batched, requests, strict=True):
        alone = fp32.respond(history, persona)
        assert [c.text for c in together.candidates] == [c.text for c in alone.candidates]
        assert [c.score for c in together.candidates] == pytest.approx([c.score for c in alone.candidates], abs=1e-4)
    with pytest.raises(ValueError, match="precision 'half'"):
        PlatoAgent(tmp_path / "s21", precision="half")
    with pytest.raises(ValueError, match="not a PLATO-2 one"):
        (tmp_path / "fake").mkdir()
        (tmp_path / "fake" / "config.json").write_text('{"kind": "confab-retrieval"}')
        checkpoint.load(tmp_path / "fake")


def test_command_line_curriculum_and_respond(tmp_path):
    from typer.testing import CliRunner

    from confab.cli import app

    runner = CliRunner()
    sample = resource_path("samples/topical_chat_valid_freq.json.gz")
    Build(BuildConfig(inputs=[str(sample)], persona="none", examples="paths", valid_size=30, test_size=30,
                      split_unit="thread"), tmp_path / "ds").run()  # fmt: skip
    ds = str(tmp_path / "ds")
    ok = runner.invoke(app, ["tokenizer", "train", "--data", ds, "--vocab-size", "400", "--out", str(tmp_path / "bpe")])
    assert ok.exit_code == 0, ok.output
    small = ["--epochs", "1", "--max-train", "200", "--max-context", "40", "--max-persona", "8", "--max-response",
             "20", "--quiet"]  # fmt: skip
    for stage, init in (("1", None), ("2.1", "s1"), ("2.2", "s1")):
        args = ["train", "plato", "--data", ds, "--stage", stage, "--out", str(tmp_path / f"s{stage}"), *small]
        args += (
            ["--size", "tiny", "--tokenizer", str(tmp_path / "bpe")]
            if init is None
            else ["--init", str(tmp_path / init)]
        )
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    bad = runner.invoke(app, ["train", "plato", "--data", ds, "--stage", "2.2", "--out", str(tmp_path / "x"), *small])
    assert bad.exit_code == 2 and "pass --init" in " ".join(bad.output.split())
    # a config file is the run; the options given on the command line override it, the others keep its values
    from dataclasses import replace

    from confab.config import load_config, recipe, save_config
    from confab.generation.train import PlatoRun

    shipped = load_config(PlatoRun, recipe("shipped-plato-1"))
    save_config(replace(shipped, size="tiny", init_encoder=None, freeze_embeddings=False,
                        tokenizer=str(tmp_path / "bpe"), limits=Limits(40, 8, 20)), tmp_path / "run.json")  # fmt: skip
    result = runner.invoke(app, ["train", "plato", "--data", ds, "--config", str(tmp_path / "run.json"), "--out",
                                 str(tmp_path / "c1"), "--max-train", "100", "--lr", "5e-4", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "c1" / "config.json").read_text())["run"]
    assert run["size"] == "tiny" and run["limits"]["max_response"] == 20 and run["train"]["warmup_steps"] == 20
    assert run["train"]["lr"] == 5e-4 and run["max_train"] == 100 and run["train"]["epochs"] == 1
    missing = runner.invoke(app, ["train", "plato", "--data", ds, "--config", "tiny", "--out", str(tmp_path / "y")])
    assert missing.exit_code == 2 and "shipped-plato-1" in missing.output  # names the configs there are
    result = runner.invoke(app, ["respond", "--agent", f"{tmp_path / 's2.1'},evaluator={tmp_path / 's2.2'}",
                                 "--persona", "i like movies ."], input="hi there\ndo you like movies ?\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    reply = json.loads(result.output)
    candidates = reply["candidates"]
    assert len(candidates) == 20 and sorted(c["z"] for c in candidates) == list(range(20))
    assert [c["score"] for c in candidates] == sorted((c["score"] for c in candidates), reverse=True)
    assert reply["response"] == candidates[0]["text"]
    back = ["train", "plato", "--data", ds, "--stage", "1", "--backward", "--size", "tiny", "--tokenizer",
            str(tmp_path / "bpe"), "--out", str(tmp_path / "back"), *small]  # fmt: skip
    assert runner.invoke(app, back).exit_code == 0
    backward = f"{tmp_path / 's2.1'},ranking=backward,backward={tmp_path / 'back'}"
    result = runner.invoke(app, ["respond", "--agent", backward],
                           input="do you like movies ?\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = [c["score"] for c in json.loads(result.output)["candidates"]]
    assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)  # log-likelihoods
    not_backward = f"{tmp_path / 's2.1'},backward={tmp_path / 's1'},ranking=backward"
    nope = runner.invoke(app, ["respond", "--agent", not_backward],
                         input="hi\n")  # fmt: skip
    assert nope.exit_code == 2 and "not a backward model" in " ".join(nope.output.split())
    dd = str(Path(__file__).parent / "fixtures" / "dailydialogpp_fixture.jsonl")
    models = [x for name in ("s2.2", "s1", "back") for x in ("--model", str(tmp_path / name))]
    result = runner.invoke(app, ["eval", "selection", *models, "--data", dd, "--json", "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    evaluator, forward, backward = json.loads(result.stdout)["results"]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["results"]["results"][0]["metrics"] == evaluator["metrics"] and (tmp_path / "r" / "map.png").exists()
    assert report["command"].startswith("confab eval selection --model ") and "--precision auto" in report["command"]
    assert {i["path"] for i in report["inputs"]} == {dd, *models[1::2]} and report["versions"]["torch"]
    assert "| p(l=1\\|c,r) |" in (tmp_path / "r" / "report.md").read_text()  # a | inside a cell is escaped
    assert [evaluator["score"], forward["score"], backward["score"]] == ["p(l=1|c,r)", "log p(r|c)", "log p(c|r)"]
    assert set(evaluator["metrics"]) == {"random", "adversarial", "both"}
    assert 0 <= evaluator["metrics"]["both"]["accuracy"] <= 1 and "accuracy" not in forward["metrics"]["both"]
    log = tmp_path / "replies.jsonl"
    result = runner.invoke(app, ["eval", "responses", "--agent", f"{tmp_path / 's2.1'},evaluator={tmp_path / 's2.2'}",
                                 "--data", ds, "--split", "valid", "--max-examples", "4",
                                 "--out", str(log), "--quiet", "--json", "--report", str(tmp_path / "r2")])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert (tmp_path / "r2" / "latent_usage.png").exists()
    assert metrics["responses"] == 4 and 0 < metrics["distinct-1"] <= 1 and 1 <= metrics["latents_chosen"] <= 4
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(r["response"] == r["candidates"][0]["text"] and len(r["candidates"]) == 20 for r in rows)
    chats = tmp_path / "selfchat.jsonl"
    result = runner.invoke(app, ["selfchat", "--agent", f"{tmp_path / 's2.1'},evaluator={tmp_path / 's2.2'}",
                                 "--partner", str(tmp_path / "s1"), "--max-dialogues", "2", "--turns", "4",
                                 "--out", str(chats), "--quiet", "--json",
                                 "--report", str(tmp_path / "r3")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["responses"] == 6  # 2 dialogues x 3 generated utterances
    dialogues = [json.loads(line) for line in chats.read_text().splitlines()]
    assert [d["start"] for d in dialogues] == ["what is two plus two ?", "what is your name ?"]
    assert [t["z"] is None for t in dialogues[0]["turns"]] == [True, False, True, False]  # P1: the stage-1 partner
    result = runner.invoke(app, ["eval", "perplexity", "--model", str(tmp_path / "s1"), "--model",
                                 str(tmp_path / "s2.1"), "--data", ds, "--split", "valid", "--json",
                                 "--report", str(tmp_path / "r4")])  # fmt: skip
    assert result.exit_code == 0, result.output
    stage1, stage21 = json.loads(result.stdout)["results"]
    assert stage1["ppl"] > 1 and stage21["ppl"] > 1 and 1 <= stage21["latents_used"] <= 20
    # per word: the same total log-likelihood over the references' words (a word is one or more tokens: less likely)
    words = sum(len(r["response"].split()) for r in read_split(Path(ds), "valid").to_pylist())
    assert stage1["words"] == words and stage1["word_ppl"] > stage1["ppl"]
    assert math.log(stage1["word_ppl"]) * words == pytest.approx(stage1["nll"] * stage1["tokens"], rel=1e-6)
    result = runner.invoke(app, ["eval", "table", "plato8", *models, "--data", dd, "--json", "--report",
                                 str(tmp_path / "t8")])  # fmt: skip
    rows = json.loads(result.stdout)["rows"]
    assert [r["score function"] for r in rows] == ["p(l=1|c,r)", "log p(r|c)", "log p(c|r)"]
    assert rows[0]["MAP"] == evaluator["metrics"]["both"]["map"] and (tmp_path / "t8" / "selection.png").exists()
    static = ["eval", "static", str(Path(__file__).parent / "fixtures" / "knover_fixture.tsv"), "--agent",
              f"plato={tmp_path / 's2.1'},evaluator={tmp_path / 's2.2'}", "--agent", str(tmp_path / "s1"),
              "--max-contexts", "2", "--out", str(tmp_path / "static.jsonl"), "--quiet", "--json"]  # fmt: skip
    result = runner.invoke(app, [*static, "--report", str(tmp_path / "r5")])
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["metrics"]) == ["plato", "s1"]
    assert "| context | reference | plato | s1 |" in (tmp_path / "r5" / "report.md").read_text()
    result = runner.invoke(app, [*static[:4], f"plato={tmp_path / 's2.1'},evaluator={tmp_path / 's2.2'}", "--agent",
                                 f"plato={tmp_path / 's1'}", *static[7:]])  # fmt: skip
    assert result.exit_code == 2 and "names plato, plato repeat" in " ".join(result.output.split())
    result = runner.invoke(app, ["eval", "table", "plato1", str(chats), "--json", "--report", str(tmp_path / "t1")])
    (row,) = json.loads(result.stdout)["rows"]
    assert row["system"] == "selfchat" and row["coherence"] is None and 0 < row["distinct-1"] <= 1
    latent = runner.invoke(app, ["eval", "selection", "--model", str(tmp_path / "s2.1"), "--data", dd])
    assert latent.exit_code == 2 and "score with its stage-1 model" in " ".join(latent.output.split())
    wrong = runner.invoke(app, ["respond", "--agent", f"{tmp_path / 's2.1'},evaluator={tmp_path / 's2.1'}"],
                          input="hi\n")  # fmt: skip
    assert wrong.exit_code == 2 and "the evaluator is stage 2.2" in " ".join(wrong.output.split())


RESUMABLE = """
import sys
from confab.generation.limits import Limits
from confab.generation.data import BatchConfig
from confab.generation.train import PlatoRun, train_plato, training_texts
from confab.training import TrainConfig
train = TrainConfig(epochs=2, lr=2e-3, optimizer="adam", warmup_steps=3, schedule="inverse_sqrt", save_every=2)
run = PlatoRun(stage=sys.argv[3], size="tiny", tokenizer=sys.argv[4], init=sys.argv[5] or None,
               limits=Limits(32, 8, 16), batch=BatchConfig(max_tokens=512, tokens_per_step=1024), train=train,
               max_train=300, max_valid=20)
train_plato(sys.argv[1], run, sys.argv[2])
"""


def test_training_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    """Stage 2.1 (after a stage-1 run): dropout and Gumbel noise must replay exactly after the restart."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from safetensors.torch import load_file

    sample = resource_path("samples/topical_chat_valid_freq.json.gz")
    Build(BuildConfig(inputs=[str(sample)], persona="none", examples="paths", valid_size=20, test_size=20,
                      split_unit="thread"), tmp_path / "ds").run()  # fmt: skip
    BpeTokenizer.train(training_texts(read_split(tmp_path / "ds", "train").to_pylist()), 300).save(tmp_path / "bpe")

    def command(out, stage="2.1", init=str(tmp_path / "s1")):
        return [sys.executable, "-c", RESUMABLE, str(tmp_path / "ds"), str(out), stage, str(tmp_path / "bpe"), init]

    subprocess.run(command(tmp_path / "s1", "1", ""), check=True)
    subprocess.run(command(tmp_path / "whole"), check=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(command(killed))
    state = killed / ".train" / "train_state.pt"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "model.safetensors").exists()
    subprocess.run(command(killed), check=True)
    whole, resumed = load_file(tmp_path / "whole" / "model.safetensors"), load_file(killed / "model.safetensors")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


@pytest.fixture(scope="module")
def topical(tmp_path_factory):
    """A dataset built from the Topical-Chat sample that ships with confab, and a BPE vocabulary of it."""
    root = tmp_path_factory.mktemp("topical")
    sample = resource_path("samples/topical_chat_valid_freq.json.gz")
    Build(BuildConfig(inputs=[str(sample)], persona="none", examples="paths", valid_size=20, test_size=20,
                      split_unit="thread"), root / "ds").run()  # fmt: skip
    BpeTokenizer.train(training_texts(read_split(root / "ds", "train").to_pylist()), 300).save(root / "bpe")
    return root


def ddp_plato(args: list[str], world: int, port: int) -> None:
    import os
    import subprocess
    import sys

    script = str(Path(__file__).parent / "ddp_plato.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}  # a rank that crashes shows where
    launch = ["-m", "torch.distributed.run", "--nproc_per_node", str(world), "--master_port", str(port)]
    subprocess.run([sys.executable, *(launch if world > 1 else []), script, *args], check=True, env=env, timeout=600)


def test_ddp_on_two_gloo_processes_matches_one_process(topical, tmp_path):
    """torchrun with 2 CPU processes: each takes half of every step's micro-batches; the summed gradients give
    the single-process step, so the trained weights agree within float tolerance; the same with the Adam state
    sharded between the two (ZeRO-1), whose resume points gather it on rank 0, and with weights, gradients and Adam
    state sharded (FSDP2 through Lightning Fabric)."""
    from safetensors.torch import load_file

    for world, out, extra in ((1, "one", []), (2, "two", []), (2, "zero", ["zero"]), (2, "fsdp", ["fsdp"])):
        ddp_plato([str(topical / "ds"), str(tmp_path / out), str(topical / "bpe"), *extra], world, free_port())
    one = load_file(tmp_path / "one" / "model.safetensors")
    for other in ("two", "zero", "fsdp"):
        weights = load_file(tmp_path / other / "model.safetensors")
        assert all(torch.allclose(one[k], weights[k], atol=2e-4) for k in one), other
    fresh = network("generator", checkpoint.load(tmp_path / "one")[0].config)  # training moved the weights
    assert not torch.allclose(one["blocks.0.mlp.0.weight"], fresh.blocks[0].mlp[0].weight, atol=1e-3)


def test_a_sharded_run_killed_with_sigkill_resumes_to_the_same_weights(topical, tmp_path):
    """FSDP over 2 gloo processes: the resume point gathers the sharded weights and Adam state whole on rank 0, and
    a run killed (every process at once) and started again ends with the weights of a run never interrupted."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil
    from safetensors.torch import load_file

    args = [str(topical / "ds"), None, str(topical / "bpe"), "fsdp", "resumable"]
    ddp_plato([*args[:1], str(tmp_path / "whole"), *args[2:]], 2, free_port())
    killed = tmp_path / "killed"
    launch = ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port())]
    script = str(Path(__file__).parent / "ddp_plato.py")
    proc = subprocess.Popen([sys.executable, *launch, script, args[0], str(killed), *args[2:]], start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"})  # fmt: skip
    state = killed / ".train" / "train_state.pt"
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    # torchrun and both of its workers at once: torchrun starts each worker in a session of its own, so killing
    # torchrun's group alone would leave them training (and writing into the folder the resumed run reads)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len(workers) >= 2
    for p in [psutil.Process(proc.pid), *workers]:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    proc.wait()
    psutil.wait_procs(workers, timeout=30)  # gone, or zombies whoever reaps them
    assert all(ended(w) for w in workers) and not (killed / "model.safetensors").exists()
    ddp_plato([args[0], str(killed), *args[2:]], 2, free_port())
    whole, resumed = load_file(tmp_path / "whole" / "model.safetensors"), load_file(killed / "model.safetensors")
    assert all(torch.allclose(whole[k], resumed[k], atol=1e-6) for k in whole)


@pytest.mark.parametrize("stage", ["1", "2.2"])
def test_streamed_steps_hold_every_example_once_across_ranks(topical, stage):
    """Each rank plans its stream chunk by chunk; together the ranks' micro-batches hold each example once."""
    from confab.data.stream import stream
    from confab.generation.data import streamed_steps

    tok, limits = BpeTokenizer.load(topical / "bpe"), Limits(32, 8, 16)
    rows = read_split(topical / "ds", "train").to_pylist()
    expected = sorted(tuple(s.tokens[1:]) for s in encode(rows, tok, limits))  # without the slot token
    seen, config = [], BatchConfig(max_tokens=256, tokens_per_step=512)
    for rank in range(2):
        share = stream(topical / "ds", "train", rank, 2, epoch=1, seed=4, buffer=50)
        pairs = stage == "2.2"
        for step in streamed_steps(share, tok, limits, config, pairs, seed=4, epoch=1, rank=rank, chunk=97):
            assert sum(m["weight"] for m in step) == pytest.approx(1.0)
            for m in step:
                n = len(m["length"]) // (2 if stage == "2.2" else 1)  # 2.2: the true responses come first
                tokens = (
                    m["tokens"] if stage == "1" else torch.where(m["mlm_targets"] >= 0, m["mlm_targets"], m["tokens"])
                )
                seen += [tuple(tokens[i, 1 : m["length"][i]].tolist()) for i in range(n)]
    assert sorted(seen) == expected


def _equal_steps_rank(rank: int, init: str, counts: list[int], out: str) -> None:
    import torch.distributed as dist

    from confab.generation.train import equal_steps

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    steps = iter([[{"length": torch.ones(1), "weight": 0.5}, {"length": torch.ones(1), "weight": 0.5}]] * counts[rank])
    got = [[m["weight"] for m in step] for step in equal_steps(steps, 2)]
    Path(out, f"{rank}.json").write_text(json.dumps(got))
    dist.destroy_process_group()


def test_equal_steps_lets_a_rank_that_ran_out_join_with_weight_zero(tmp_path):
    """Ranks stream shares of different token counts: all run as many steps as the longest, the one that ran
    out with a weight-0 step, and a step is the mean over the ranks that still had data."""
    import torch.multiprocessing as mp

    mp.spawn(_equal_steps_rank, args=(f"file://{tmp_path}/rendezvous", [3, 1], str(tmp_path)), nprocs=2)
    zero, one = (json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1))
    assert zero == [[0.25, 0.25], [0.5, 0.5], [0.5, 0.5]] and one == [[0.25, 0.25], [0.0], [0.0]]


def test_streamed_training_under_torchrun(topical, tmp_path):
    """--stream with 2 processes: each reads its own share from disk; both finish (equal steps) and learn."""
    ddp_plato([str(topical / "ds"), str(tmp_path / "two"), str(topical / "bpe"), "stream"], 2, free_port())
    result = json.loads((tmp_path / "two" / "config.json").read_text())["result"]
    first, last = result["history"][0], result["history"][-1]
    assert result["steps"] > 0 and last["valid_ppl"] < first["valid_ppl"] < 300


def test_gradient_checkpointing_gives_the_same_gradients(tok):
    batch = collate(encode([{"persona": [], "context": [TEXTS[0]], "response": TEXTS[1]}], tok, Limits()))
    grads = []
    for checkpointing in (False, True):
        model = tiny(tok, gradient_checkpointing=checkpointing)
        Generation(model)(batch).backward()
        grads.append(model.blocks[0].mlp[0].weight.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6) and grads[0].abs().sum() > 0


def test_dry_run_plans_memory_and_takes_a_step():
    from confab.generation.dryrun import memory_plan, parameter_count
    from confab.transformer.model import SIZES

    parameters = parameter_count(PlatoConfig(vocab_size=8000, **SIZES["1.6B"]))  # on the meta device
    assert 1.5e9 < parameters < 1.8e9 and memory_plan(parameters) == {"weights": 4 * parameters,
                                                                      "gradients": 4 * parameters,
                                                                      "adam": 8 * parameters}  # fmt: skip
    assert memory_plan(parameters, world=64, strategy="zero")["adam"] == math.ceil(8 * parameters / 64)
    sharded = memory_plan(parameters, world=64, strategy="fsdp", layer=1000)
    assert sharded["weights"] == math.ceil(4 * parameters / 64) and sharded["gathered_layers"] == 8000
    assert 90e6 < parameter_count(PlatoConfig(vocab_size=8000, **SIZES["93M"])) < 110e6
    assert 300e6 < parameter_count(PlatoConfig(vocab_size=8000, **SIZES["314M"])) < 330e6
    result = runner_json(["train", "dry-run", "--size", "tiny", "--world-size", "2", "--max-tokens", "512"])
    assert result["step"].startswith("forward, backward and an Adam step") and result["finite_loss"]
    assert result["micro_batches_per_process_per_step"] == 524_288 // (2 * 512)


def runner_json(args: list[str]) -> dict:
    from typer.testing import CliRunner

    from confab.cli import app

    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_checkpoint_of_the_one_module_layout_loads_as_its_stages_network(tok, tmp_path):
    """Before the generator and the evaluator were two classes, every checkpoint held all heads (the unused ones
    listed as "untrained") and no "network": a stage-1 one loads as a generator without latent, with the outputs
    it had; a stage-2.2 one as an evaluator; a converted release's generator without its recognition heads."""
    from safetensors.torch import load_file, save_file

    model = tiny(tok).eval()
    checkpoint.save(tmp_path / "old", model, tok, "1", Limits(), {})
    meta = json.loads((tmp_path / "old" / "config.json").read_text())
    del meta["network"]
    meta["model"] = meta.pop("config")  # the layout's key
    meta["model"]["latent_k"], meta["untrained"] = 20, ["recognize", "bow", "pooler", "coherence"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    hidden = model.config.hidden
    old_heads = {"latents.weight": torch.zeros(20, hidden), "recognize.weight": torch.zeros(20, hidden),
                 "pooler.0.weight": torch.zeros(hidden, hidden), "pooler.0.bias": torch.zeros(hidden),
                 "coherence.weight": torch.zeros(2, hidden), "coherence.bias": torch.zeros(2)}  # fmt: skip
    weights = tmp_path / "old" / "model.safetensors"
    save_file({**load_file(weights), **old_heads}, weights)
    loaded, _, _ = checkpoint.load(tmp_path / "old")
    assert loaded.network == "generator" and loaded.config.latent_k == 0 and loaded.heads() == ()
    batch = collate([layout(tok, [], TEXTS[:1], TEXTS[1], Limits())])
    mask = prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1))
    assert torch.equal(loaded(batch, mask), model(batch, mask))
    for stage, network_name, heads in (("2.2", "evaluator", ("pooler", "coherence")),
                                       ("2.1", "generator", ("latents",))):  # fmt: skip
        meta["stage"] = stage  # 2.1: as a release's generator, whose "recognize" was untrained
        (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
        loaded, _, _ = checkpoint.load(tmp_path / "old")
        assert loaded.network == network_name and loaded.heads() == heads
    assert not loaded.config.recognition
