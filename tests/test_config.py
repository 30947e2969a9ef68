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
