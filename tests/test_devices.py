"""Devices: `--device` resolution and its errors, and every tensor of training, decoding and ranking made on the
model's device. There is no GPU here, so the check turns the question around: the model and its batches stay
on the CPU and the *default* device is `meta` (shapes without data). Any tensor that a forward, backward, decoding
or ranking step makes without saying where then lands on meta and fails against the model's CPU tensors, as it
would fail against CUDA ones on a GPU. (The model itself on `meta` cannot run these paths: the losses and the
decoding read values, `.item()` and boolean masks, which meta tensors do not have.) Data prepared before the
model's door says `device="cpu"` itself.

Ops that needed care (made without a device before): the decoding state (masks, positions, finished rows, log
probabilities, the sampling generator), the mask and target helpers of `generation.batches`, the in-batch targets
of the dual evaluator, the slot rows of the model, the latent one-hots of the agent, the retrieval scorer's slots
and the re-ranked index vectors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from confab.agents import load_agent
from confab.cli import app
from confab.data.examples import examples_from_file
from confab.devices import resolve, to_device
from confab.generation.data import encode
from confab.generation.limits import Limits
from confab.generation.model import network
from confab.generation.stages import make_stage
from confab.resources import resource_path
from confab.text.bpe import BpeTokenizer
from confab.transformer.model import PlatoConfig


def test_auto_is_the_cpu_without_a_gpu_and_a_missing_gpu_is_a_clear_error():
    assert resolve("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve("cpu") == torch.device("cpu") and resolve("CPU") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            resolve("cuda:0")
    for bad in ("tpu", "gpu0", ""):
        with pytest.raises(ValueError, match="choose auto, cpu, cuda or cuda:N"):
            resolve(bad)


def test_to_device_moves_tensors_and_keeps_the_rest():
    batch = {"tokens": torch.ones(2, 3), "weight": 0.5, "parts": [torch.zeros(1), "text"]}
    moved = to_device(batch, torch.device("meta"))
    assert moved["tokens"].is_meta and moved["parts"][0].is_meta and moved["weight"] == 0.5
    assert moved["parts"][1] == "text"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where there is no GPU")
@pytest.mark.parametrize("command", [["respond", "--agent", "bundled:plato2"],
                                     ["respond", "--agent", "bundled:retrieval"],
                                     ["train", "plato", "--data", "x", "--out", "y"],
                                     ["eval", "ranking", "--model", "bundled:retrieval", "--format", "parlai", "--data",
                                      "FIXTURE", "--report", "REPORT"]])  # fmt: skip
def test_asking_for_a_gpu_that_is_not_there_exits_2_with_the_reason(command, fixtures, tmp_path):
    command = [str(fixtures / "personachat_fixture.txt") if w == "FIXTURE" else str(tmp_path) if w == "REPORT" else w
               for w in command]  # fmt: skip
    result = CliRunner().invoke(app, [*command, "--device", "cuda"], input="hi\n")
    assert result.exit_code == 2, result.output
    assert "sees no CUDA GPU" in " ".join(result.output.split())


@pytest.fixture(scope="module")
def pairs():
    rows = examples_from_file(resource_path("samples/knover_example_train.tsv.gz"), "knover", kind="pairs")[:16]
    tok = BpeTokenizer.train([t for r in rows for t in [*r["context"], r["response"]]], 300)
    return encode(rows, tok, Limits(24, 8, 16)), tok


@pytest.mark.parametrize("stage", ["1", "2.1", "2.2"])
@pytest.mark.parametrize("coherence", ["joint", "dual"])
def test_a_plato_training_step_makes_nothing_off_the_models_device(stage, coherence, pairs):
    if coherence == "dual" and stage != "2.2":
        pytest.skip("the dual reading is the evaluator's")
    seqs, tok = pairs
    torch.manual_seed(0)
    config = PlatoConfig(vocab_size=len(tok), layers=2, hidden=32, heads=2, ffn=64, coherence=coherence,
                         latent_k=20 if stage == "2.1" else 0)  # fmt: skip
    model = network("evaluator" if stage == "2.2" else "generator", config)
    objective = make_stage(stage, model, latent_diversity=0.1)
    batch = objective.batch(seqs, list(range(8)), tok, np.random.default_rng(0))
    with torch.device("meta"):
        loss = objective(batch)
        loss.backward()
    assert loss.device.type == "cpu" and model.blocks[0].mlp[0].weight.grad.abs().sum() > 0


def test_a_retrieval_training_step_makes_nothing_off_the_models_device():
    from confab.bundled import pretrained_folder
    from confab.retrieval.batches import training_batch
    from confab.retrieval.checkpoint import ZERO_SHOT_RANKER, new_model
    from confab.retrieval.model import RankerConfig
    from confab.retrieval.tokens import PretrainedTokenizer

    rows = examples_from_file(resource_path("samples/knover_example_train.tsv.gz"), "knover", kind="paths")[:8]
    tok = PretrainedTokenizer(pretrained_folder())
    config = RankerConfig(**ZERO_SHOT_RANKER, tuned_layers=1, vocab_size=len(tok))
    model = new_model(config).train()
    batch = training_batch(rows, tok, config)
    with torch.device("meta"):
        loss = model(batch)
        loss.backward()
    assert loss.device.type == "cpu" and torch.isfinite(loss)


@pytest.mark.parametrize("name", ["bundled:plato2", "bundled:retrieval"])
@pytest.mark.parametrize("strategy", ["sampling", "beam"])
def test_a_reply_makes_nothing_off_the_models_device(name, strategy):
    options = {"decoding": {"strategy": strategy}} if name == "bundled:plato2" else {}
    if strategy == "beam" and name != "bundled:plato2":
        pytest.skip("beam search is a decoding of the generator")
    agent = load_agent(name, device="cpu", **options)
    with torch.device("meta"):  # a tensor made without saying where lands here, and fails against the CPU's
        reply = agent.respond(["hi ! what do you do for a living ?"], ["i work as a nurse ."])
    assert reply.text and len(reply.candidates) > 1


def test_the_retrieval_trainer_says_it_does_not_shard_weights(tmp_path):
    result = CliRunner().invoke(app, ["train", "retrieval", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                                      "--strategy", "fsdp", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 2 and "--strategy fsdp is PLATO-2's" in " ".join(result.output.split())
