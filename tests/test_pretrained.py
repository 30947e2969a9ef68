"""The unified transformer started from a pretrained BERT-family encoder (the installed all-MiniLM-L6-v2)."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from confab.generation import checkpoint
from confab.generation.batches import coherence_view, collate, layout, prefix_lm_mask
from confab.generation.limits import Limits
from confab.generation.pretrained import from_encoder
from confab.text import subwords
from confab.text.wordpiece import WordPieceTokenizer
from confab.transformer.bert import encoder_folder
from confab.transformer.model import ROLE_SELF

CONTEXT = ["hi , how are you doing today ?", "great , i just got back from walking my two dogs ."]


@pytest.fixture(scope="module")
def minilm():
    return from_encoder("bundled:minilm", dropout=0.0, latent_k=20)  # a stage-2.1 generator


def batch_of(tok, responses):
    return collate([layout(tok, ["i love to ski ."], CONTEXT, r, Limits()) for r in responses], tok.pad)


def test_the_encoder_computes_what_bert_computes(minilm):
    from transformers import AutoModel

    model, tok, base = minilm
    bert = AutoModel.from_pretrained(str(encoder_folder("bundled:minilm"))).eval()
    batch = batch_of(tok, ["that sounds like fun !"])
    mask = prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1), causal=False)
    with torch.no_grad():
        ours = model.eval()(batch, mask)
        theirs = bert(input_ids=batch["tokens"], token_type_ids=(batch["roles"] == ROLE_SELF).long(),
                      position_ids=batch["positions"]).last_hidden_state  # fmt: skip
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    config = model.config
    assert (config.norm, config.embedding_norm, config.lm_transform, config.layers) == ("post", True, True, 6)
    assert base.encoder == "bundled:minilm" and len(base.sha256) == 64


def test_no_response_token_sees_a_later_one(minilm):
    model, tok, _ = minilm
    batch = batch_of(tok, ["i love dogs too , what breed ?", "i love dogs too , they are great"])
    start = int(batch["prefix"][0])
    same = next(i for i in range(start, batch["tokens"].size(1)) if batch["tokens"][0, i] != batch["tokens"][1, i])
    with torch.no_grad():
        hidden = model.eval()(batch, prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1)))
    assert torch.allclose(hidden[0, :same], hidden[1, :same], atol=1e-5)
    assert not torch.allclose(hidden[0, same], hidden[1, same], atol=1e-3)


def test_wordpiece_round_trip_and_specials(minilm, tmp_path):
    _, tok, _ = minilm
    ids = tok.encode("i have two dogs , do you ?")
    assert tok.decode(ids) == "i have two dogs, do you?" and tok.pad not in ids
    assert tok.decode(tok.encode("i don't know , i'm sure it's my dog's")) == "i don't know, i'm sure it's my dog's"
    assert tok.decode(tok.encode("he said ' hi ' to me")) == "he said ' hi ' to me"  # quotes are not contractions
    assert (tok.bos, tok.eos, tok.cls, tok.mask) == (101, 102, 101, 103) and tok.latent not in ids
    tok.save(tmp_path)
    again = subwords.load(tmp_path)
    assert isinstance(again, WordPieceTokenizer) and again.encode("i have two dogs") == tok.encode("i have two dogs")


def test_a_checkpoint_from_the_encoder_round_trips(minilm, tmp_path):
    model, tok, base = minilm
    checkpoint.save(tmp_path / "ck", model, tok, "2.1", Limits(), {"base": base})
    loaded, tok2, meta = checkpoint.load(tmp_path / "ck")
    assert meta.config["norm"] == "post" and meta.base == base and len(tok2) == len(tok)
    batch = batch_of(tok, ["that sounds like fun !"])
    mask = prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1))
    mine, theirs = model.state_dict(), loaded.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    with torch.no_grad():  # the same weights; the last bits may differ where a kernel picks its path by alignment
        torch.testing.assert_close(loaded(batch, mask), model.eval()(batch, mask), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(loaded.logits(loaded(batch, mask)[0, -1]), model.logits(model(batch, mask)[0, -1]),
                                   rtol=1e-5, atol=1e-4)  # fmt: skip


def small_bert_folder(tmp_path, mutate=None):
    """A two-layer BERT-style folder as other exports write it: `bert.` names, an MLM head, vocab.txt only."""
    source = encoder_folder("bundled:minilm")
    tensors = {f"bert.{k}": v for k, v in load_file(str(source / "model.safetensors")).items()
               if not any(f"layer.{i}." in k for i in range(2, 6))}  # fmt: skip
    hidden = tensors["bert.embeddings.word_embeddings.weight"].shape[1]
    tensors |= {"cls.predictions.transform.dense.weight": torch.eye(hidden) * 2,
                "cls.predictions.transform.dense.bias": torch.zeros(hidden),
                "cls.predictions.transform.LayerNorm.weight": torch.ones(hidden),
                "cls.predictions.transform.LayerNorm.bias": torch.zeros(hidden),
                "cls.predictions.bias": torch.full((tensors["bert.embeddings.word_embeddings.weight"].shape[0],), 0.5),
                "cls.seq_relationship.weight": torch.zeros(2, hidden)}  # fmt: skip
    if mutate:
        mutate(tensors)
    folder = tmp_path / "bert2"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"))
    config = json.loads((source / "config.json").read_text()) | {"num_hidden_layers": 2}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "vocab.txt").write_text((source / "vocab.txt").read_text())
    return folder


def test_any_bert_style_folder_loads_with_its_mlm_head(tmp_path):
    model, tok, base = from_encoder(small_bert_folder(tmp_path))
    assert model.config.layers == 2 and base.encoder == str(tmp_path / "bert2")
    assert torch.equal(model.lm_transform[0].weight, torch.eye(model.config.hidden) * 2)
    assert (model.lm_bias == 0.5).all()
    assert tok.encode("two dogs , three cats") == WordPieceTokenizer.from_encoder(
        encoder_folder("bundled:minilm")
    ).encode("two dogs , three cats")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.pop("bert.encoder.layer.1.output.dense.weight"), "lack bert.encoder.layer.1.output.dense.weight"),
        (lambda t: t.update({"bert.encoder.layer.1.extra.weight": torch.zeros(3)}), "encoder.layer.1.extra.weight"),
        (lambda t: t.update({"bert.pooler.dense.bias": torch.zeros(7)}), "pooler.0.bias (7,) (expected (384,))"),
    ],
)
def test_a_missing_unexpected_or_misshaped_tensor_is_named(tmp_path, mutate, message):
    with pytest.raises(ValueError, match=r"bert2: ") as error:
        from_encoder(small_bert_folder(tmp_path, mutate), "evaluator")  # the joint evaluator has the pooler
    assert message.replace("bert.", "") in str(error.value).replace("bert.", "")


def test_only_what_training_changed_is_stored_and_loads_back(tmp_path):
    from safetensors import safe_open

    model, tok, base = from_encoder(small_bert_folder(tmp_path), latent_k=20)  # a stage-2.1 generator
    with torch.no_grad():
        model.blocks[1].mlp[2].weight.add_(0.01)  # "training" changed one tensor (and the new heads are new)
    checkpoint.save(tmp_path / "ck", model, tok, "2.1", Limits(), {"base": base})
    dropped = checkpoint.keep_changed(tmp_path / "ck")
    assert "tokens.weight" in dropped and "blocks.1.mlp.2.weight" not in dropped and "blocks.0.mlp.2.weight" in dropped
    with safe_open(str(tmp_path / "ck" / "model.safetensors"), "pt") as f:
        stored = set(f.keys())
    assert {"blocks.1.mlp.2.weight", "latents.weight", "bow.weight"} <= stored and "tokens.weight" not in stored
    assert not any(k.startswith(("coherence.", "pooler.")) for k in stored)  # the generator has no evaluator heads
    loaded, _, meta = checkpoint.load(tmp_path / "ck")
    assert meta.weights == "changed-from-base" and meta.network == "generator" and "untrained" not in meta.extra
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    # another encoder's weights under the same name are refused
    weights = load_file(str(tmp_path / "bert2" / "model.safetensors"))
    weights["bert.pooler.dense.bias"] += 1
    save_file(weights, str(tmp_path / "bert2" / "model.safetensors"))
    from confab.transformer.bert import weights_sha256

    weights_sha256.cache_clear()
    with pytest.raises(ValueError, match="not the ones it was trained from"):
        checkpoint.load(tmp_path / "ck")


def test_latent_usage_on_a_constructed_case():
    from confab.generation.stages import latent_diagnostics

    k = 4
    # 6 examples: z=0 recognised three times, z=1 twice, z=3 once, z=2 never; the first row is sure, the rest even
    posterior = torch.full((6, k), 0.1)
    for row, z in enumerate([0, 0, 0, 1, 1, 3]):
        posterior[row, z] = 0.7
    posterior[0] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    d = latent_diagnostics(posterior)
    assert d["latent_usage"] == [0.5, pytest.approx(1 / 3, abs=1e-4), 0.0, pytest.approx(1 / 6, abs=1e-4)]
    assert d["latents_used"] == 3 and not d["latent_collapse"]
    usage = torch.tensor([0.5, 1 / 3, 1 / 6])
    assert d["usage_entropy"] == pytest.approx(float(-(usage * usage.log()).sum()), abs=1e-5)
    spread = -(0.7 * torch.log(torch.tensor(0.7)) + 3 * 0.1 * torch.log(torch.tensor(0.1)))
    assert d["posterior_entropy"] == pytest.approx(float(5 * spread / 6), abs=1e-5)  # the sure row has entropy 0
    assert latent_diagnostics(torch.eye(k)[[2] * 5 + [1]])["latent_collapse"]  # one value for most examples


def test_the_curriculum_from_an_encoder_on_the_command_line(tmp_path):
    """Stage 1 from a BERT-style folder, stages 2.1 and 2.2 from that stage 1, then a ranked reply."""
    from typer.testing import CliRunner

    from confab.cli import app
    from confab.data.build import Build, BuildConfig
    from confab.resources import resource_path

    sample = resource_path("samples/knover_example_valid.tsv.gz")
    Build(BuildConfig(inputs=[str(sample)], format="knover", valid_size=10, test_size=10), tmp_path / "ds").run()
    runner, encoder = CliRunner(), small_bert_folder(tmp_path)
    small = ["--data", str(tmp_path / "ds"), "--epochs", "1", "--max-train", "40", "--max-context", "48",
             "--max-persona", "16", "--max-response", "16", "--freeze-embeddings", "--quiet"]  # fmt: skip
    for stage, start in (("1", ["--init-encoder", str(encoder)]), ("2.1", ["--init", str(tmp_path / "s1")]),
                         ("2.2", ["--init", str(tmp_path / "s1")])):  # fmt: skip
        result = runner.invoke(app, ["train", "plato", "--stage", stage, *start, "--out", str(tmp_path / f"s{stage}"),
                                     *small])  # fmt: skip
        assert result.exit_code == 0, result.output
    bad = runner.invoke(app, ["train", "plato", "--stage", "2.1", "--init-encoder", str(encoder), "--out",
                              str(tmp_path / "x"), *small])  # fmt: skip
    assert bad.exit_code == 2 and "stage 2.1 starts from that stage 1" in " ".join(bad.output.split())
    evaluator = runner.invoke(app, ["train", "plato", "--stage", "2.2", "--init-encoder", str(encoder), "--out",
                                    str(tmp_path / "e"), "--mlm-weight", "0", *small])  # fmt: skip
    assert evaluator.exit_code == 0, evaluator.output  # the evaluator may start from the encoder itself
    config = json.loads((tmp_path / "s2.1" / "config.json").read_text())
    assert config["config"]["norm"] == "post" and config["base"]["encoder"] == str(encoder)
    for stage in ("1", "2.1", "2.2"):  # frozen: the embeddings are the encoder's
        model, _, _ = checkpoint.load(tmp_path / f"s{stage}")
        assert torch.equal(model.tokens.weight, from_encoder(encoder)[0].tokens.weight)
    result = runner.invoke(app, ["respond", "--agent", f"{tmp_path / 's2.1'},evaluator={tmp_path / 's2.2'}"],
                           input="do you have any pets ?\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    candidates = json.loads(result.output)["candidates"]
    assert len(candidates) == 20 and sorted(c["z"] for c in candidates) == list(range(20))
    # p(l=1|c,r) of the evaluator, less 1000 for a candidate that never ended or repeats itself
    assert all(0 <= c["score"] + (0 if c["finished"] and not c["repeats"] else 1e3) <= 1 for c in candidates)


def held_out_auc(model, tok, seqs) -> float:
    """Of every (true, random) pair of held-out coherence scores, the share ranked right (ROC AUC)."""
    import numpy as np

    from confab.generation.data import micro_batch

    batch = micro_batch(seqs, list(range(len(seqs))), tok, np.random.default_rng(0), pairs=True)
    with torch.no_grad():  # the text unmasked, as the evaluator scores it
        batch["tokens"] = torch.where(batch["mlm_targets"] >= 0, batch["mlm_targets"], batch["tokens"])
        batch, mask = coherence_view(batch, model.config.coherence == "dual")
        score = model.coherence_logits(model(batch, mask), batch["prefix"], batch["length"]).float().diff(dim=-1)[:, 0]
    true, random = score[batch["label"] == 1], score[batch["label"] == 0]
    return float((true[:, None] > random[None, :]).float().mean())


@pytest.mark.trains
def test_an_evaluator_from_the_encoder_learns_coherence_where_random_weights_do_not(seed):
    """PERSONA-CHAT pairs (the bundled sample): after 60 steps of 16 pairs, the true response vs a random one on 200
    held-out contexts (ROC AUC; chance 0.5)."""
    import numpy as np

    from confab.data.examples import examples_from_file
    from confab.generation.data import encode
    from confab.generation.model import Evaluator
    from confab.generation.stages import Evaluation
    from confab.precision import choose
    from confab.resources import resource_path
    from confab.transformer.bert import plato_config

    rows = examples_from_file(resource_path("samples/knover_example_train.tsv.gz"), "knover", kind="pairs")
    limits = Limits(max_context=24, max_persona=0, max_response=24)  # the last turn: what coherence hangs on
    aucs = {}
    for start in ("encoder", "random"):
        torch.manual_seed(seed)
        if start == "encoder":
            model, tok, _ = from_encoder("bundled:minilm", "evaluator", dropout=0.1)
        else:
            model = Evaluator(plato_config(encoder_folder("bundled:minilm"), dropout=0.1))
        train, held = encode(rows[:600], tok, limits), encode(rows[800:1000], tok, limits)
        objective = Evaluation(model, mlm_weight=0.0).train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        rng = np.random.default_rng(seed)
        for _ in range(60):
            with choose("auto").autocast():  # bfloat16 only where the CPU has the units for it
                loss = objective(objective.batch(train, list(rng.choice(len(train), 16, replace=False)), tok, rng))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        aucs[start] = held_out_auc(model.eval(), tok, held)
    # measured with seeds 0-2: the encoder about 0.69 after 60 steps, random weights 0.49-0.50 (chance)
    assert aucs["encoder"] > 0.6 and aucs["random"] < 0.57 and aucs["encoder"] - aucs["random"] > 0.08, aucs


def test_a_dual_evaluator_from_the_encoder_ranks_before_any_training():
    """The sentence encoder's cosine of the last turn and the response already tells the true one from a random one
    (the joint reading of the same weights, with an untrained head, does not)."""
    from confab.data.examples import examples_from_file
    from confab.generation.data import encode
    from confab.resources import resource_path

    rows = examples_from_file(resource_path("samples/knover_example_train.tsv.gz"), "knover", kind="pairs")[800:1000]
    limits = Limits(max_context=24, max_persona=0, max_response=24)
    aucs = {}
    for coherence in ("dual", "joint"):
        torch.manual_seed(0)
        model, tok, _ = from_encoder("bundled:minilm", "evaluator", dropout=0.0, coherence=coherence)
        aucs[coherence] = held_out_auc(model.eval(), tok, encode(rows, tok, limits))
    # measured: dual 0.80, joint 0.5 (chance)
    assert aucs["dual"] > 0.72 and aucs["joint"] < 0.62, aucs


def test_pooling_follows_the_encoder_and_ignores_padding(tmp_path):
    model, tok, _ = from_encoder("bundled:minilm", "evaluator", dropout=0.0)
    assert model.config.pooling == "mean"  # all-MiniLM-L6-v2's 1_Pooling/config.json: mean of the tokens
    assert from_encoder(small_bert_folder(tmp_path))[0].config.pooling == "first"  # a plain BERT: [CLS]
    batch = batch_of(tok, ["that sounds like fun !", "i love dogs too , what breed is yours ?"])
    mask = prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1), causal=False)
    alone = batch_of(tok, ["that sounds like fun !"])
    alone_mask = prefix_lm_mask(alone["prefix"], alone["length"], alone["tokens"].size(1), causal=False)
    with torch.no_grad():
        hidden = model.eval()(batch, mask)
        padded = model.coherence_logits(hidden, batch["prefix"], batch["length"])[0]
        unpadded = model.coherence_logits(model(alone, alone_mask), alone["prefix"], alone["length"])[0]
        n = int(batch["length"][0])
        by_hand = model.coherence(model.pooler(hidden[0, :n].mean(0)))
    assert torch.allclose(padded, unpadded, atol=1e-5) and torch.allclose(padded, by_hand, atol=1e-5)


def test_a_dual_evaluator_reads_context_and_response_apart():
    """coherence="dual": in one pass, the context's states are those of the prefix encoded alone and the
    response's those of the response encoded alone (positions from 0), and the score is a scaled cosine."""
    import torch.nn.functional as F

    model, tok, _ = from_encoder("bundled:minilm", "evaluator", dropout=0.0, coherence="dual")
    model.eval()
    batch, mask = coherence_view(batch_of(tok, ["that sounds like fun !", "i love dogs too , what breed ?"]), True)
    n = int(batch["prefix"][0])
    assert batch["positions"][0, n] == 0 and not mask[0, n:, :n].any() and not mask[0, :n, n:].any()
    with torch.no_grad():
        hidden = model(batch, mask)
        u, v = model.pair_vectors(hidden, batch["prefix"], batch["length"])
        logits = model.coherence_logits(hidden, batch["prefix"], batch["length"])
        for row, response in enumerate(["that sounds like fun !", "i love dogs too , what breed ?"]):
            alone = {k: t[row : row + 1, :n] for k, t in batch.items() if t.dim() == 2}
            context = model(alone, None)[0].mean(0)
            ids = [tok.bos, *tok.encode(response), tok.eos]
            said = {
                "tokens": torch.tensor([ids]),
                "roles": torch.full((1, len(ids)), ROLE_SELF),
                "turns": torch.zeros(1, len(ids), dtype=torch.long),
                "positions": torch.arange(len(ids))[None],
            }
            assert torch.allclose(u[row], context, atol=1e-4)  # the same context whatever the response
            assert torch.allclose(v[row], model(said, None)[0].mean(0), atol=1e-4)
    expected = model.similarity.weight[0, 0] * F.cosine_similarity(u, v) + model.similarity.bias[0]
    assert torch.allclose(logits[:, 1] - logits[:, 0], expected, atol=1e-5)


def test_a_dual_evaluator_reads_a_shared_context_once():
    """Ranking K candidates of one context: the context is encoded once and the responses apart, with the scores
    of the one-pass block-diagonal reading of each (context, response) pair."""
    from confab.generation import scoring
    from confab.generation.batches import collate, evaluator_view, layout

    model, tok, _ = from_encoder("bundled:minilm", "evaluator", dropout=0.0, coherence="dual")
    model.eval()
    limits, context = Limits(max_context=32, max_persona=16), ["hi ! do you have any pets ?", "yes , two cats ."]
    persona, responses = ["i love dogs ."], ["that sounds like fun !", "i love dogs too , what breed ?", "no ."]
    calls = []
    model.register_forward_hook(lambda m, args, out: calls.append(args[0]["tokens"].shape))
    shared = scoring.coherence(model, tok, limits, persona, context, responses)
    assert len(calls) == 2 and calls[0][0] == 1 and calls[1][0] == len(responses)  # the context once, then K
    seqs = [evaluator_view(layout(tok, persona, context, r, limits), tok, limits.layout) for r in responses]
    with torch.no_grad():
        batch, mask = coherence_view(collate(seqs, tok.pad), True)
        one_pass = model.coherence_logits(model(batch, mask), batch["prefix"], batch["length"]).softmax(-1)[:, 1]
    assert torch.allclose(shared, one_pass, atol=1e-5), (shared, one_pass)


def test_the_latent_embeddings_start_at_the_scale_of_the_words(minilm):
    model, _, _ = minilm
    with torch.no_grad():
        words, latents = model.tokens.weight.norm(dim=1).mean(), model.latents.weight.norm(dim=1).mean()
    assert 0.8 < float(latents / words) < 1.25, (latents, words)


def test_recognition_reads_the_slot_standardised_across_the_batch(minilm):
    model, tok, _ = minilm
    assert model.config.recognition_norm  # the encoder's slot states share one direction: standardised
    batch = batch_of(tok, ["that sounds like fun !", "i love dogs too .", "where do you ski ?", "no , never ."])
    mask = prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1), causal=False)
    with torch.no_grad():
        hidden = model.eval()(batch, mask)
        model.train()
        slot = hidden[:, 0]
        standard = (slot - slot.mean(0)) / (slot.var(0, unbiased=False) + 1e-5).sqrt()
        assert torch.allclose(model.recognition_logits(hidden), model.recognize(standard), atol=1e-4)
        assert model.recognition_logits(hidden[:1]).shape == (1, 20)  # one example: the running statistics
        model.eval().to(torch.bfloat16)  # inference precision: the statistics are read in float32
        assert model.recognition_logits(hidden.to(torch.bfloat16)).shape == (4, 20)
    model.float()
