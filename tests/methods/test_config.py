"""methods/config.py: how a run's parameters become one method's configuration."""

from pathlib import Path

import pytest
import yaml

from deep_kmeans.methods.config import chosen_preset, params_for, preset_layers

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


def test_the_take_cpu_preset_is_the_estimator_default_and_your_own_data_trains_the_digits_schedule():
    from deep_kmeans.methods.take import TAKE, TAKEConfig

    conf = yaml.safe_load((CONF / "parameters_take.yml").read_text())["take"]
    assert conf["preset"] == "auto"
    cpu, own = preset_layers(conf["presets"]["cpu"], "custom")
    assert cpu == TAKE.PRESETS["cpu"] and own == {}
    # your own data: the digits block (measured better than the cpu preset on an image array and two tables,
    # docs/results.md), its epochs sized to the data; so the digits as a .csv trains what dataset=digits trains
    # (its start chosen per run: knet_init auto, benchmarks/start_rule.py)
    assert conf["overrides"]["custom"] == {**conf["overrides"]["digits"], "sample_budget": 300_000,
                                           "min_cluster_steps": 150, "knet_init": "auto"}
    assert chosen_preset(conf, "custom", cuda=False) is None and chosen_preset(conf, "custom", cuda=True) is None
    # every key of the preset is a TAKE hyperparameter
    TAKEConfig.from_params(params_for({**conf, "preset": "cpu"}, "mnist"))


def test_a_preset_refines_itself_per_data_set_and_the_command_line_still_wins():
    from deep_kmeans.methods.config import command_line_wins

    params = {"depth": 8, "preset": "cpu", "overrides": {"mnist": {"depth": 6, "lambda1": 0.01}},
              "presets": {"cpu": {"depth": 2, "lr": 1e-2, "overrides": {"mnist": {"depth": 4}}}}}
    # data set block < preset < the preset's own block for the data set
    assert params_for(params, "mnist") == {"depth": 4, "lambda1": 0.01, "lr": 1e-2}
    assert params_for(params, "digits") == {"depth": 2, "lr": 1e-2}
    # a typed key beats every layer, the preset's data set block too
    typed = command_line_wins(params, {"depth": 3, "lr": 5e-3}, "mnist", log=False)
    assert params_for(typed, "mnist") == {"depth": 3, "lambda1": 0.01, "lr": 5e-3}
    assert params["presets"]["cpu"]["overrides"]["mnist"] == {"depth": 4}  # the group itself is left as it was


def test_the_take_paper_preset_is_the_paper():
    """The `paper` preset (a GPU's): the paper's TAE, schedule and KNet step size, views drawn every epoch, over the
    data set's own block (the paper's λ, depth and heads per data set)."""
    from deep_kmeans.methods.take import TAKEConfig

    conf = yaml.safe_load((CONF / "parameters_take.yml").read_text())["take"]
    cfg = TAKEConfig.from_params(params_for({**conf, "preset": "paper"}, "mnist"))
    assert (cfg.embed_dim, cfg.depth, cfg.heads, cfg.decoder_depth, cfg.mlp_ratio) == (128, 8, 8, 2, 4.0)
    assert (cfg.warmup_epochs, cfg.update_epochs, cfg.cluster_epochs, cfg.batch_size) == (150, 50, 50, 256)
    assert (cfg.lambda1, cfg.lambda2, cfg.lambda3, cfg.tau, cfg.knet_alpha) == (0.01, 0.01, 0.001, 0.07, 0.001)
    assert cfg.fresh_views and cfg.knet_centers == "learn" and cfg.knet_init == "kmeans"
    assert cfg.sample_budget is None and cfg.assignment == "knet"
    # the joint phase as the paper reads: α on z as it is, no self-training, K-means with 2023's 10 starts
    assert (cfg.knet_scale, cfg.knet_target_weight, cfg.kmeans_n_init, cfg.knet_tied) == ("none", 0.0, 10, True)
    cifar = TAKEConfig.from_params(params_for({**conf, "preset": "paper"}, "cifar10"))
    assert (cifar.depth, cifar.lambda3, cifar.embed_dim) == (2, 1e-5, 128)


def test_auto_is_the_cpu_preset_without_cuda_unless_the_data_set_sets_its_schedule(monkeypatch):
    group = {"depth": 8, "preset": "auto", "presets": {"cpu": {"depth": 2, "warmup_epochs": 40}},
             "overrides": {"mnist": {"lambda1": 0.01}, "digits": {"warmup_epochs": 30},
                           "custom": {"sample_budget": 300_000}}}
    assert chosen_preset(group, "mnist", cuda=False) == "cpu"
    assert chosen_preset(group, "mnist", cuda=True) is None            # a GPU: the data set's own settings
    assert chosen_preset(group, "digits", cuda=False) is None          # its block is sized for a CPU already
    assert chosen_preset(group, "custom", cuda=False) is None
    assert chosen_preset({**group, "presets": {}}, "mnist", cuda=False) is None  # no cpu preset to pick
    assert chosen_preset({**group, "preset": "cpu"}, "digits", cuda=True) == "cpu"  # a named preset is as given
    assert chosen_preset({**group, "preset": None}, "mnist", cuda=False) is None
    # params_for asks torch
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert params_for(group, "mnist") == {"depth": 2, "warmup_epochs": 40, "lambda1": 0.01}
    assert params_for(group, "digits") == {"depth": 8, "warmup_epochs": 30}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert params_for(group, "mnist") == {"depth": 8, "lambda1": 0.01}


def test_the_default_mnist_run_on_a_cpu_is_the_measured_cpu_schedule(monkeypatch):
    """`kedro run --env=offline --pipeline=take --params=dataset=mnist` on a laptop: the 30-minute schedule of
    docs/results.md (width 64, 20/20/10 epochs, KNet from UMAP + GMM on z as the head; Fashion-MNIST the same);
    on a GPU the paper's λ, depth and heads."""
    import torch

    from deep_kmeans.methods.take import TAKEConfig

    conf = yaml.safe_load((CONF / "parameters_take.yml").read_text())["take"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = TAKEConfig.from_params(params_for(conf, "mnist"))
    assert (cfg.embed_dim, cfg.depth, cfg.warmup_epochs, cfg.update_epochs, cfg.cluster_epochs) == (64, 2, 20, 20, 10)
    assert (cfg.assignment, cfg.knet_init) == ("knet", "umap_gmm")
    fashion = TAKEConfig.from_params(params_for(conf, "fashion_mnist"))
    assert (fashion.embed_dim, fashion.warmup_epochs, fashion.assignment) == (64, 20, "knet")
    digits = TAKEConfig.from_params(params_for(conf, "digits"))
    assert (digits.embed_dim, digits.warmup_epochs, digits.update_epochs) == (64, 30, 45)  # its own block
    # where UMAP + GMM on z measured the worse start: text from K-means, CIFAR-10's features chosen per run
    starts = {d: TAKEConfig.from_params(params_for(conf, d)).knet_init for d in ("reuters21578", "agnews", "cifar10")}
    assert starts == {"reuters21578": "kmeans", "agnews": "kmeans", "cifar10": "auto"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu = TAKEConfig.from_params(params_for(conf, "mnist"))
    assert (gpu.embed_dim, gpu.depth, gpu.warmup_epochs, gpu.lambda3) == (128, 8, 150, 0.001)


def test_listed_reads_a_list_parameter_as_the_command_line_gives_it():
    from deep_kmeans.methods.config import listed

    assert listed(None) is None
    assert listed("0 1  2") == ["0", "1", "2"]  # --params="compare.seeds=0 1 2"
    assert listed(3) == [3] and listed((1, 2)) == [1, 2] and listed(["kmeans"]) == ["kmeans"]


def test_the_paper_presets_joint_phase_is_the_estimators_and_the_defaults_are_the_configs():
    """Three places name the joint phase's settings; they must agree: conf/base's `presets.paper` and the estimator's
    `paper` preset (the paper's readings), conf/base's `take:` block and TAKEConfig's defaults (ours)."""
    import dataclasses

    from deep_kmeans.methods.take import TAKEConfig
    from deep_kmeans.methods.take.estimator import PAPER_JOINT

    conf = yaml.safe_load((CONF / "parameters_take.yml").read_text())["take"]
    assert {k: conf["presets"]["paper"][k] for k in PAPER_JOINT} == PAPER_JOINT
    defaults = {f.name: f.default for f in dataclasses.fields(TAKEConfig)}
    for key in PAPER_JOINT:
        assert conf[key] == defaults[key], key
