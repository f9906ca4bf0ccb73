"""methods/config.py: how a run's parameters become one method's configuration."""

from pathlib import Path

import pytest
import yaml

from deep_kmeans.methods.config import params_for

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"


def test_params_for_merges_the_data_set_block_then_the_preset():
    params = {"lr": 1e-3, "depth": 8, "preset": None, "presets": {"cpu": {"depth": 2}},
              "overrides": {"mnist": {"depth": 6, "lambda1": 0.01}}}
    assert params_for(params, "mnist") == {"lr": 1e-3, "depth": 6, "lambda1": 0.01}
    assert params_for({**params, "preset": "cpu"}, "mnist") == {"lr": 1e-3, "depth": 2, "lambda1": 0.01}
    assert params_for({**params, "preset": "cpu"}, "digits") == {"lr": 1e-3, "depth": 2}


def test_an_unknown_preset_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"preset 'gpu' is not defined .*presets: cpu"):
        params_for({"preset": "gpu", "presets": {"cpu": {}}}, "digits")


def test_the_take_cpu_preset_is_the_custom_data_block_and_the_estimator_default():
    from deep_kmeans.methods.take import TAKE, TAKEConfig

    conf = yaml.safe_load((CONF / "parameters_take.yml").read_text())["take"]
    assert conf["preset"] is None
    assert conf["presets"]["cpu"] == TAKE.PRESETS["cpu"]
    # your own data: the cpu preset, its epochs sized to the data
    assert conf["overrides"]["custom"] == {**conf["presets"]["cpu"], "sample_budget": 300_000}
    # every key of the preset is a TAKE hyperparameter
    TAKEConfig.from_params(params_for({**conf, "preset": "cpu"}, "mnist"))
