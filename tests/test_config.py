import pytest

from confab.config import from_dict, load_config, save_config
from confab.data.build import BuildConfig
from confab.data.clean import CleanConfig


def test_config_round_trips_exactly(tmp_path):
    cfg = BuildConfig(inputs=["a.zst"], examples="paths", valid_size=10, clean=CleanConfig(skip=["url"], min_alpha=0.5))
    save_config(cfg, tmp_path / "config.json")
    assert load_config(BuildConfig, tmp_path / "config.json") == cfg


def test_misspelt_key_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown key.*max_personas"):
        from_dict(BuildConfig, {"inputs": ["a"], "max_personas": 3})
    with pytest.raises(ValueError, match=r"config.clean: unknown key.*min_alfa"):
        from_dict(BuildConfig, {"inputs": ["a"], "clean": {"min_alfa": 0.5}})


def test_wrong_types_and_values_are_errors():
    with pytest.raises(ValueError, match="config.max_persona: expected int"):
        from_dict(BuildConfig, {"inputs": ["a"], "max_persona": "many"})
    with pytest.raises(ValueError, match="config.examples"):
        from_dict(BuildConfig, {"inputs": ["a"], "examples": "trees"})
    with pytest.raises(ValueError, match="unknown cleaning rule"):
        CleanConfig(skip=["no_such_rule"])


def test_every_training_config_that_ships_loads_and_the_paper_ones_follow_its_table_6():
    from confab.config import load_config, recipe
    from confab.generation.train import PAPER_RECIPE, PlatoRun
    from confab.resources import resource_path
    from confab.retrieval.train import RetrievalRun
    from confab.transformer.model import SIZES

    names = sorted(p.stem for p in resource_path("configs").glob("*.json"))
    plato = [n for n in names if n != "shipped-retrieval"]
    assert len(plato) == 12 and all(load_config(PlatoRun, recipe(n)).stage in n for n in plato)
    assert load_config(RetrievalRun, recipe("shipped-retrieval")).ranker.encoder == "pretrained"
    for size in ("93M", "314M", "1.6B"):
        for stage, paper in PAPER_RECIPE.items():
            run = load_config(PlatoRun, recipe(f"paper-{size}-{stage}"))
            assert run.size == size and size in SIZES and run.stage == stage
            assert (run.train.lr, run.train.warmup_steps, run.batch.tokens_per_step) == (
                paper["lr"], paper["warmup_steps"], paper["tokens_per_step"])  # fmt: skip
    shipped = [load_config(PlatoRun, recipe(f"shipped-plato-{s}")) for s in ("1", "2.1", "2.2")]
    assert [r.init_encoder for r in shipped] == ["bundled:minilm", None, "bundled:minilm"]
    assert shipped[2].coherence == "dual" and shipped[2].limits.max_persona == 0


def test_the_trainers_options_default_to_their_configs_values():
    """One default per setting: every option of `train plato` and `train retrieval` defaults to the value of the
    run config it sets (where `over_config` puts it), but the deprecated flags and the options whose default means
    "decide from the encoder"."""
    import typer

    from confab.cli import app
    from confab.cli.train import PLATO_OPTIONS, RETRIEVAL_OPTIONS
    from confab.config import to_dict
    from confab.generation.train import PlatoRun
    from confab.retrieval.train import RetrievalRun

    not_in_run = {"data", "out", "config", "quiet"}
    decided_later = {"bf16", "zero", "persona_encoder", "persona_match"}  # deprecated, or "auto" by the encoder
    train = typer.main.get_command(app).commands["train"]
    checked, differ = 0, []
    for command, run, where in (("plato", PlatoRun(), PLATO_OPTIONS), ("retrieval", RetrievalRun(), RETRIEVAL_OPTIONS)):
        values = to_dict(run)
        for param in train.commands[command].params:
            if param.name in not_in_run | decided_later:
                continue
            value = values
            for part in where.get(param.name, param.name).split("."):
                value = value[part]
            checked += 1
            if param.default != value:
                differ.append(f"{command} --{param.name}: {param.default!r}, the config {value!r}")
    assert checked > 50 and not differ, differ
