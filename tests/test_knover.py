"""The released PLATO-2 in confab: Knover's vocabulary, converted checkpoints, and the reference's outputs
(`../shared/plato2_reference`: a tiny random PLATO-2 run by PaddleNLP's model code)."""

import json

import pytest

from confab.text import subwords
from confab.text.knover import KnoverTokenizer, normalise
from tests.test_paddle import reference


@pytest.fixture(scope="module")
def io_json():
    return json.loads(reference("io.json").read_text())


@pytest.fixture(scope="module")
def knover_tok():
    reference("spm.model")
    return KnoverTokenizer.load(reference("."))


def test_the_text_is_normalised_as_the_reference_does():
    assert normalise("  Caf\u00e9   \u201cgood\u201d \u2014 it\u2019s\x07 fine ") == 'Cafe "good" - it\'s fine'


def test_knover_pieces_and_ids_are_the_references(io_json, knover_tok, tmp_path):
    tok = knover_tok
    assert (tok.pad, tok.unk, tok.bos, tok.eos, tok.mask, len(tok)) == (0, 0, 1, 2, 8000, 8001)
    for case in io_json["cases"]:
        ids = [tok.bos]
        for turn in case["context"]:
            ids += [*tok.encode(turn), tok.eos]
        assert ids == case["infer_record"]["token_ids"]
        assert ["[CLS]", *[p for t in case["context"] for p in (*tok.tokenize(t), "[SEP]")]] == case[
            "infer_token_pieces"
        ]
        response = case["tf_record"]["token_ids"][len(ids) :]
        assert response == [tok.bos, *tok.encode(case["response"]), tok.eos]
        for candidate in case["decode_candidates"]:
            assert tok.decode(candidate["response_ids"]) == candidate["response"]
    tok.save(tmp_path / "t")
    again = subwords.load(tmp_path / "t")
    assert again.kind == "knover-sentencepiece" and again.digest() == tok.digest()


FORMATS = {"pdparams": "plato2_tiny.pdparams", "knover": "knover_static"}


@pytest.fixture(scope="module", params=sorted(FORMATS))
def converted(request, tmp_path_factory):
    """The reference's tiny PLATO-2 converted from one of its two formats."""
    from confab.generation.knover import convert

    out = tmp_path_factory.mktemp(request.param)
    return convert(reference(FORMATS[request.param]), out, heads=2)


@pytest.fixture(scope="module")
def arrays():
    import numpy as np

    return np.load(reference("io.npz"))


def loaded(folder):
    from confab.generation import checkpoint

    return checkpoint.load(folder, "float32")


def test_the_inputs_are_laid_out_as_the_reference_lays_them(converted, io_json, arrays):
    import numpy as np
    import torch

    from confab.generation.batches import collate, evaluator_view, layout, prefix_lm_mask
    from confab.generation.checkpoint import limits_of
    from confab.generation.limits import Limits

    model, tok, meta = loaded(converted["generator"])
    limits = limits_of(meta)
    for i, case in enumerate(io_json["cases"]):
        seq = layout(tok, [], case["context"], case["response"], limits)
        batch = collate([seq])
        assert batch["tokens"][0, 1:].tolist() == arrays[f"c{i}_tf_token_ids"][0, :, 0].tolist()
        assert batch["roles"][0, 1:].tolist() == arrays[f"c{i}_tf_type_ids"][0, :, 0].tolist()
        # the latent's column takes no position: the model counts positions from the column after it
        assert (batch["positions"][0, 1:] - 1).tolist() == arrays[f"c{i}_tf_pos_ids"][0, :, 0].tolist()
        mask = prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1))
        assert torch.equal(mask.float(), torch.from_numpy(arrays[f"c{i}_tf_generation_mask"]))
        prefix = layout(tok, [], case["context"], None, limits)
        assert prefix.tokens[1:-1] == case["infer_record"]["token_ids"]
        nsp = collate([evaluator_view(layout(tok, [], case["context"], p["response"], limits), tok, "knover")
                       for p in case["nsp_pairs"]])  # fmt: skip
        width = nsp["tokens"].size(1)
        assert np.array_equal(nsp["tokens"].numpy(), arrays[f"c{i}_nsp_token_ids"][:, :width])
        assert np.array_equal(nsp["roles"].numpy(), arrays[f"c{i}_nsp_type_ids"][:, :width])
    for name, case in io_json["reader_only"].items():
        if "truncate_first_turn" in name:
            continue  # the reader's option to cut a single long turn instead of dropping it: not taken
        short = Limits(**{**vars(limits), "max_context": 24})
        assert layout(tok, [], case["src"].split(" [SEP] "), None, short).tokens[1:-1] == case["token_ids"], name


def test_encoder_states_and_logits_for_every_latent_are_the_references(converted, io_json, arrays):
    import numpy as np
    import torch

    from confab.generation.batches import collate, layout, prefix_lm_mask
    from confab.generation.checkpoint import limits_of

    model, tok, meta = loaded(converted["generator"])
    k = model.config.latent_k
    for i, case in enumerate(io_json["cases"]):
        batch = collate([layout(tok, [], case["context"], case["response"], limits_of(meta))] * k)
        with torch.no_grad():
            hidden = model(batch, prefix_lm_mask(batch["prefix"], batch["length"], batch["tokens"].size(1)),
                           slot=model.latent_embedding(torch.eye(k)))  # fmt: skip
            logits = model.logits(hidden[:, case["tf_rows"]])
        np.testing.assert_allclose(hidden.numpy(), arrays[f"c{i}_tf_enc_out"], atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(logits.numpy(), arrays[f"c{i}_tf_logits"], atol=1e-4, rtol=1e-4)


def test_first_steps_and_greedy_decodes_are_the_references(converted, io_json, arrays):
    import numpy as np
    import torch

    from confab.generation.batches import layout
    from confab.generation.checkpoint import limits_of
    from confab.generation.decode import DecodeConfig, _first_step, generate

    model, tok, meta = loaded(converted["generator"])
    k = model.config.latent_k
    slots = model.latent_embedding(torch.eye(k))
    config = DecodeConfig(strategy="greedy", max_length=16, min_length=1, no_repeat_ngram=0)
    for i, case in enumerate(io_json["cases"]):
        prefixes = [layout(tok, [], case["context"], None, limits_of(meta))] * k
        with torch.no_grad():
            first = _first_step(model, prefixes, slots, 16)[0]
        expected = arrays[f"c{i}_decode_raw_logits_first_steps"][0]  # [step, z, vocab]
        np.testing.assert_allclose(first.numpy(), expected, atol=1e-4, rtol=1e-4)
        outputs = generate(model, prefixes, tok.eos, config, slots, banned=tok.special_ids)
        for z, (out, ref) in enumerate(zip(outputs, case["decode_candidates"], strict=True)):
            assert out.ids == ref["response_ids"] and out.finished != ref["hit_max_dec_len"], z
            pred = arrays[f"c{i}_decode_pred_ids"][z, 1:].tolist()
            assert pred[: len(out.ids)] == out.ids


def test_nsp_probabilities_are_the_references(converted, io_json, arrays):
    import numpy as np

    from confab.generation import scoring
    from confab.generation.checkpoint import limits_of

    model, tok, meta = loaded(converted["evaluator"])
    for i, case in enumerate(io_json["cases"]):
        p = scoring.coherence(
            model, tok, limits_of(meta), [], case["context"], [x["response"] for x in case["nsp_pairs"]]
        )
        np.testing.assert_allclose(p.numpy(), arrays[f"c{i}_nsp_probs"][:, 1], atol=1e-5)


@pytest.mark.parametrize("variant", ["ids", "retokenised"])
def test_the_ranking_is_the_references(converted, io_json, variant):
    from confab.generation.agent import PlatoAgent
    from confab.generation.decode import DecodeConfig

    agent = PlatoAgent(converted["generator"], converted["evaluator"], precision="float32", evaluator_input=variant,
                       decode=DecodeConfig(strategy="greedy", max_length=16, no_repeat_ngram=0))  # fmt: skip
    for case in io_json["cases"]:
        reply = agent.respond(case["context"], [])
        by_z = {c.info["z"]: c for c in reply.candidates}
        if variant == "ids":  # Knover: the evaluator reads the pieces as generated
            expected = case["knover_tokenized_nsp"]
            assert [round(by_z[z].score, 5) for z in sorted(by_z)] == [round(s, 5) for s in expected["score"]]
            assert reply.candidates[0].info["z"] == expected["best_z"]
        else:  # PaddleNLP: context and candidates re-tokenised from their pieces
            for ref in case["decode_candidates"]:
                c = by_z[ref["z"]]
                assert c.score == pytest.approx(ref["score"], abs=1e-5)
                assert (c.info["repeats_context"], c.info["repeats"]) == (bool(ref["cross_turn_repetition"]),
                                                                        bool(ref["in_turn_repetition"]))  # fmt: skip
            assert reply.text == case["decode_result_paddlenlp"][0]["response"]


def test_the_repetition_checks_are_the_references(io_json):
    from confab.generation.agent import cross_turn_repetition, in_turn_repetition

    for case in io_json["ranking_helper_cases"]:
        assert cross_turn_repetition(case["context_words"], case["pred_words"]) == bool(case["cross_turn_repetition"])
        lowered = [w.lower() for w in case["pred_words"]]
        assert in_turn_repetition(lowered) == bool(case["in_turn_repetition_words"])
        assert in_turn_repetition(case["pred_ids"]) == bool(case["in_turn_repetition_ids"])


def test_convert_and_respond_on_the_command_line(io_json, tmp_path):
    from typer.testing import CliRunner

    from confab.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["convert", "plato2", str(reference("plato2_tiny.pdparams")), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    case = io_json["cases"][1]
    result = runner.invoke(app, ["respond", "--agent", f"{tmp_path / 'generator'},evaluator={tmp_path / 'evaluator'}",
                                 "--decoding", "greedy", "--max-length", "16", "--json"],
                           input="\n".join(case["context"]) + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    candidates = json.loads(result.output)["candidates"]
    expected = sorted(case["decode_candidates"], key=lambda c: -c["score"])  # ties: the lowest z first
    assert [c["z"] for c in candidates] == [c["z"] for c in expected]
    assert [c["score"] for c in candidates] == pytest.approx([c["score"] for c in expected], abs=1e-5)
    assert [c["text"] for c in candidates] == [c["response"] for c in expected]


def test_a_bfloat16_conversion_loads_and_stays_close(tmp_path, arrays, io_json):
    import torch

    from confab.generation import checkpoint
    from confab.generation.knover import convert

    written = convert(reference("knover_static/NSP"), tmp_path, "bfloat16", vocab=reference("."), heads=2)
    assert list(written) == ["evaluator"]  # one variable folder: the NSP model alone
    model, tok, meta = checkpoint.load(written["evaluator"], "bfloat16")
    assert model.tokens.weight.dtype == torch.bfloat16 and meta.precision == "bfloat16"
    # auto follows the hardware, not the stored weights: in float32 where bfloat16 would be emulated
    from confab.precision import choose

    assert checkpoint.load(written["evaluator"], "auto")[0].tokens.weight.dtype == choose("auto").dtype
    from confab.generation import scoring

    case = io_json["cases"][0]
    p = scoring.coherence(model, tok, checkpoint.limits_of(meta), [], case["context"], [case["response"]])
    assert abs(float(p[0]) - float(arrays["c0_nsp_probs"][0, 1])) < 0.02


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.pop("plato2_encoder.layers.1.fc2.bias"), "missing tensor plato2_encoder.layers.1.fc2.bias"),
        (lambda t: t.update({"plato2_encoder.extra": t["logits_bias"]}), "unexpected tensors plato2_encoder.extra"),
        (lambda t: t.update({"logits_fc_layer.weight": t["logits_fc_layer.weight"][:, :8]}),
         r"logits_fc_layer.weight is \(8, 16\), expected \(16, 16\)"),
    ],
)  # fmt: skip
def test_a_missing_unexpected_or_misshaped_tensor_is_named(tmp_path, mutate, message):
    import pickle

    from confab.generation.knover import convert
    from confab.generation.paddle import read_pdparams

    tensors = read_pdparams(reference("plato2_tiny.pdparams"))
    mutate(tensors)
    (tmp_path / "m.pdparams").write_bytes(pickle.dumps(tensors))
    with pytest.raises(ValueError, match=message):
        convert(tmp_path / "m.pdparams", tmp_path / "out", vocab=reference("."))


def test_a_persona_goes_in_as_leading_context_turns(converted, io_json):
    from typer.testing import CliRunner

    from confab.cli import app
    from confab.generation.batches import layout
    from confab.generation.checkpoint import limits_of

    _, tok, meta = loaded(converted["generator"])
    case = io_json["cases"][2]  # the reference's persona case: persona sentences as the first turns
    prefix = layout(tok, ["i love to go skiing .", "i have two dogs ."], ["do you have any pets ?"], None,
                    limits_of(meta))  # fmt: skip
    assert prefix.tokens[1:-1] == case["infer_record"]["token_ids"]
    result = CliRunner().invoke(app, ["chat", "--agent", f"{converted['generator']},evaluator={converted['evaluator']}",
                                      "--persona", "i have two dogs ."],
                                input="do you have any pets ?\n/quit\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no persona segment" in " ".join(result.output.split())


def test_selfchat_and_ranking_take_a_converted_model(converted, tmp_path):
    from typer.testing import CliRunner

    from confab.cli import app
    from tests.conftest import FIXTURES

    runner = CliRunner()
    gen, ev = str(converted["generator"]), str(converted["evaluator"])
    out, report = str(tmp_path / "s.jsonl"), str(tmp_path / "r1")
    result = runner.invoke(app, ["selfchat", "--agent", f"{gen},evaluator={ev}", "--out", out, "--max-dialogues", "1",
                                 "--turns", "2", "--report", report, "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0])["turns"]) >= 2
    result = runner.invoke(app, ["eval", "ranking", "--model", ev, "--data", str(FIXTURES / "personachat_fixture.txt"),
                                 "--format", "parlai", "--report", str(tmp_path / "r2")])  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_converted_generator_fine_tunes_in_its_own_layout(converted, tmp_path):
    """A converted model is a confab checkpoint like any other: stage 2.1 goes on from it, in the reference's layout."""
    from confab.data.build import Build, BuildConfig
    from confab.generation.data import BatchConfig
    from confab.generation.train import PlatoRun, train_plato
    from confab.resources import resource_path
    from confab.training import TrainConfig

    sample = resource_path("samples/knover_example_valid.tsv.gz")  # 100 PERSONA-CHAT examples
    Build(BuildConfig(inputs=[str(sample)], persona="none", valid_size=10, test_size=0), tmp_path / "ds").run()
    train = TrainConfig(epochs=1, lr=1e-3, optimizer="adam", warmup_steps=2, schedule="inverse_sqrt", log_every=2)
    batch = BatchConfig(max_tokens=1024, tokens_per_step=1024)
    run = PlatoRun(stage="2.1", init=str(converted["generator"]), batch=batch, train=train, max_train=48)
    result = train_plato(tmp_path / "ds", run, tmp_path / "tuned")
    model, tok, meta = loaded(tmp_path / "tuned")
    assert (
        meta.limits["layout"] == "knover"
        and model.config.latent_slot == "bare"
        and tok.kind == "knover-sentencepiece"
    )
    assert result["history"][-1]["valid_ppl"] > 0
