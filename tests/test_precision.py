"""The one precision policy: `auto` is bfloat16 only where the CPU has bfloat16 units, for training as for replies.

The dtypes checked are those of the matrix multiplies that actually execute (recorded below the autocast layer),
with the CPU's detection patched both ways, so each test says the same on a CPU with AMX and on one with AVX2 only.
The shapes are small, so emulated bfloat16 costs nothing where the CPU has no units for it.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from typer.testing import CliRunner

from confab import precision
from confab.agents import load_agent
from confab.cli import app
from confab.config import from_dict
from confab.data.build import Build, BuildConfig
from confab.generation.data import BatchConfig
from confab.generation.limits import Limits
from confab.generation.train import PlatoRun, train_plato
from confab.resources import resource_path
from confab.retrieval.checkpoint import ZERO_SHOT_RANKER
from confab.retrieval.model import RankerConfig
from confab.retrieval.train import RetrievalRun, train_retrieval
from confab.training import TrainConfig

# the ops that do a model's arithmetic: matrix multiplies, linear layers and attention
MATMULS = {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "_addmm_activation", "einsum",
           "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_attention_math"}  # fmt: skip


class MatmulDtypes(TorchDispatchMode):
    """Counts (op, dtype of its first input) of the matrix multiplies that execute, forward and backward."""

    def __init__(self):
        super().__init__()
        self.seen: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in MATMULS:
            first = next(a for a in args if isinstance(a, torch.Tensor))
            self.seen[name, first.dtype] += 1
        return func(*args, **(kwargs or {}))

    @property
    def dtypes(self) -> set[torch.dtype]:
        return {dtype for _, dtype in self.seen}

    def ran_in(self, expected: torch.dtype) -> bool:
        """Without bfloat16 units, every matrix multiply in float32; with them, the model's in bfloat16 (what runs
        outside the autocast, such as the validation's perplexity or a score of two vectors, stays float32)."""
        assert self.seen, "no matrix multiply was recorded"
        return self.dtypes == {torch.float32} if expected == torch.float32 else torch.bfloat16 in self.dtypes


@pytest.fixture(params=[None, "AMX"], ids=["no-bf16-units", "amx"])
def cpu(request, monkeypatch):
    """The CPU as detection reports it: without bfloat16 units, or with AMX; and the dtype `auto` must then run."""
    monkeypatch.delenv(precision.ENVIRONMENT, raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(precision, "cpu_bfloat16_units", lambda: request.param)
    return torch.bfloat16 if request.param else torch.float32


@pytest.fixture(scope="module")
def persona(tmp_path_factory) -> Path:
    """The bundled PERSONA-CHAT sample of the reference code, as a dataset."""
    out = tmp_path_factory.mktemp("precision") / "ds"
    samples = [str(resource_path(f"samples/knover_example_{s}.tsv.gz")) for s in ("train", "valid")]
    Build(BuildConfig(inputs=samples, format="knover", valid_size=20, test_size=20), out).run()
    return out


def test_auto_follows_the_cpu_and_the_environment(monkeypatch):
    monkeypatch.delenv(precision.ENVIRONMENT, raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(precision, "cpu_bfloat16_units", lambda: None)
    assert str(precision.choose("auto")) == "float32: this CPU has no bfloat16 units"
    monkeypatch.setattr(precision, "cpu_bfloat16_units", lambda: "AMX")
    assert str(precision.choose("auto")) == "bfloat16: this CPU has AMX"
    assert precision.choose("float32").dtype == torch.float32  # asked for: taken as asked
    monkeypatch.setenv(precision.ENVIRONMENT, "float32")
    assert str(precision.choose("auto")) == f"float32: {precision.ENVIRONMENT}=float32"
    assert precision.choose("bfloat16").dtype == torch.bfloat16
    monkeypatch.setenv(precision.ENVIRONMENT, "half")
    with pytest.raises(ValueError, match="CONFAB_PRECISION='half'"):
        precision.choose("auto")
    with pytest.raises(ValueError, match="precision 'fp8'"):
        precision.choose("fp8")


def test_onednn_capped_below_bfloat16_counts_the_units_as_absent(monkeypatch):
    own = precision.cpu_bfloat16_units()
    with monkeypatch.context() as env:
        precision.cpu_bfloat16_units.cache_clear()
        env.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
        assert precision.cpu_bfloat16_units() is None
        env.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
        precision.cpu_bfloat16_units.cache_clear()
        expected = "AMX" if torch.cpu._is_amx_tile_supported() else None
        expected = expected or ("AVX512-BF16" if torch.cpu._is_avx512_bf16_supported() else None)
        assert precision.cpu_bfloat16_units() == expected  # the cap allows them: the CPU decides
    # probed again under the process's own environment: an answer cached under the patched one would make every
    # later `auto` in this process follow it (bfloat16 emulated for the rest of a suite run with the cap)
    precision.cpu_bfloat16_units.cache_clear()
    precision.machine.cache_clear()
    assert precision.cpu_bfloat16_units() == own
    assert "bfloat16 units" in precision.machine() and "auto precision" in precision.machine()


def test_a_retrieval_training_step_runs_in_the_precision_auto_chose(cpu, persona, tmp_path):
    train = TrainConfig(epochs=1, batch_size=8, lr=1e-4, optimizer="adamw", validate_start=False)
    run = RetrievalRun(ranker=RankerConfig(**ZERO_SHOT_RANKER, tuned_layers=1), max_train=16, max_valid=4, train=train)
    with MatmulDtypes() as recorded:
        result = train_retrieval(persona, run, tmp_path / "ret")
    assert result["steps"] == 2 and recorded.ran_in(cpu), recorded.seen
    assert result["precision"].startswith(str(cpu).removeprefix("torch.") + ": ")
    assert result["history"][0]["precision"] == str(cpu).removeprefix("torch.")


@pytest.mark.parametrize("stage", ["1", "2.1", "2.2"])
def test_a_plato_training_step_of_each_stage_runs_in_the_precision_auto_chose(cpu, stage, persona, tmp_path):
    common = dict(limits=Limits(24, 8, 16), batch=BatchConfig(max_tokens=512, tokens_per_step=512), max_train=24,
                  max_valid=4)  # fmt: skip
    train = TrainConfig(epochs=1, lr=1e-3, optimizer="adam", validate_start=False, log_every=0)
    if stage == "1":
        run = PlatoRun(stage="1", size="tiny", vocab_size=300, train=train, **common)
    else:  # warm-started from a stage 1, as the curriculum does
        train_plato(persona, PlatoRun(stage="1", size="tiny", vocab_size=300, train=train, **common), tmp_path / "s1")
        run = PlatoRun(stage=stage, init=str(tmp_path / "s1"), train=train, **common)
    with MatmulDtypes() as recorded:
        result = train_plato(persona, run, tmp_path / "out")
    assert result["steps"] >= 1 and recorded.ran_in(cpu), recorded.seen


@pytest.mark.parametrize("model", ["bundled:plato2", "bundled:retrieval"])
def test_a_reply_of_each_agent_runs_in_the_precision_auto_chose(cpu, model):
    agent = load_agent(model)
    with MatmulDtypes() as recorded:
        reply = agent.respond(["hi ! do you have any pets ?"], ["i have two dogs ."])
    assert reply.text and recorded.ran_in(cpu), recorded.seen


def test_bf16_still_trains_in_bfloat16_and_warns(persona, tmp_path):
    out = tmp_path / "ret"
    result = CliRunner().invoke(app, ["train", "retrieval", "--data", str(persona), "--out", str(out), "--encoder",
                                      "bow", "--epochs", "1", "--batch-size", "64", "--bf16", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--bf16 is deprecated: use --precision bfloat16" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["run"]["train"]["precision"] == "bfloat16"
    assert config["result"]["precision"] == "bfloat16: asked for"
    clash = CliRunner().invoke(app, ["train", "retrieval", "--data", str(persona), "--out", str(tmp_path / "x"),
                                     "--bf16", "--precision", "float32"])  # fmt: skip
    assert clash.exit_code == 2 and "--bf16 and --precision float32" in clash.output
    wrong = CliRunner().invoke(app, ["train", "plato", "--data", str(persona), "--out", str(tmp_path / "y"),
                                     "--precision", "half"])  # fmt: skip
    assert wrong.exit_code == 2 and "--precision must be one of auto, float32, bfloat16" in wrong.output


def test_an_old_config_with_bf16_loads(tmp_path):
    """The shipped models' configs were written before `precision`: `"bf16": true` in their run."""
    from confab.bundled import bundled_folder
    from confab.generation import checkpoint

    copy = tmp_path / "plato2"
    shutil.copytree(bundled_folder() / "plato2", copy)
    old = json.loads((copy / "config.json").read_text())
    old["run"]["train"].pop("precision", None)  # as it was written before (models shipped later have it)
    old["run"]["train"]["bf16"] = True
    (copy / "config.json").write_text(json.dumps(old))
    assert from_dict(PlatoRun, old["run"]).train.precision == "bfloat16"
    assert from_dict(TrainConfig, {"bf16": False}).precision == "float32"
    model, _, meta = checkpoint.load(copy)  # and the checkpoint with that config loads
    assert meta.run["train"]["bf16"] is True and model.config.latent_k == 20
