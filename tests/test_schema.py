"""The one check of a run's parameters (src/deep_kmeans/schema.py), on the committed conf/base."""

import shutil

import pytest
from kedro.config import OmegaConfigLoader

from deep_kmeans.data.registry import DATASETS
from deep_kmeans.errors import ParameterError, UserError, user_error_in
from deep_kmeans.schema import METHOD_READERS, check_parameters, known_keys, parameter_problems
from deep_kmeans.settings import CONFIG_LOADER_ARGS


@pytest.fixture(scope="module")
def conf(project_root, tmp_path_factory):
    """conf/base alone (a developer's conf/local stays out of it)."""
    root = tmp_path_factory.mktemp("conf")
    shutil.copytree(project_root / "conf" / "base", root / "base")
    (root / "local").mkdir()
    return root


@pytest.fixture(scope="module")
def load(conf):
    def load(runtime=None):
        return OmegaConfigLoader(str(conf), **CONFIG_LOADER_ARGS, runtime_params=runtime or {})["parameters"]
    return load


def problems(load, runtime):
    return parameter_problems(load(runtime), runtime)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_the_committed_defaults_pass_on_every_data_set(load, dataset):
    assert problems(load, {"dataset": dataset}) == []


@pytest.mark.parametrize("preset", ["cpu"])
def test_the_committed_presets_pass(load, preset):
    assert problems(load, {"take": {"preset": preset}}) == []


def test_command_line_forms_pass(load):
    """What --params gives (OmegaConf's types; space-separated lists where kedro splits at commas)."""
    assert problems(load, {"sweep": {"methods": "kmeans dec", "seeds": "0 1"}, "compare": {"methods": "kmeans take"},
                           "take": {"lr": 1e-3, "knet_alpha": 0.001, "cluster_lr": None, "kmeans_n_init": "auto"},
                           "n_clusters": "auto", "progress": False}) == []


def test_every_method_has_its_reader(project_root):
    folder = project_root / "src/deep_kmeans/methods"
    methods = {p.stem for p in folder.glob("*.py")} - {"__init__", "kit", "config", "autoencoder", "distributed"}
    methods |= {p.parent.name for p in folder.glob("*/__init__.py")}  # a method that is a package (take)
    assert methods == set(METHOD_READERS)


def test_a_key_added_to_conf_base_does_not_escape(load):
    """A new parameter must be read by its method's reader (or the schema's) before conf/base may hold it."""
    params = load()
    params["dec"]["new_knob"] = 1
    params["features"]["views"]["new_knob"] = 1
    params["new_group"] = {}
    found = parameter_problems(params)
    assert "dec.new_knob: unknown parameter" in " ".join(found)
    assert "features.views.new_knob: unknown parameter" in " ".join(found)
    assert "new_group: unknown parameter" in " ".join(found)


# The probe's cases: each names the parameter, the value and what is allowed.
@pytest.mark.parametrize("runtime,expected", [
    ({"take": {"knet_iters": 0}}, "take.knet_iters = 0 is invalid: expected an integer ≥ 1"),
    ({"take": {"predict_batch_size": 0}}, "take.predict_batch_size = 0 is invalid: expected an integer ≥ 1"),
    ({"take": {"kmeans_n_init": 0}}, "take.kmeans_n_init = 0 is invalid: expected an integer ≥ 1 or 'auto'"),
    ({"dec": {"kmeans_n_init": 0}}, "dec.kmeans_n_init = 0 is invalid: expected an integer ≥ 1"),
    ({"take": {"lr": "fast"}}, "take.lr = 'fast' is invalid: expected a number > 0 (default 0.001)"),
    ({"seed": "abc"}, "seed = 'abc' is invalid: expected an integer ≥ 0"),
    ({"take": {"warmup_epochs": 2.5}}, "take.warmup_epochs = 2.5 is invalid: expected an integer ≥ 0"),
    ({"take": {"cluster_epochs": -1}}, "take.cluster_epochs = -1 is invalid: expected an integer ≥ 0"),
    ({"dec": {"pretrain_epochs": -5}}, "dec.pretrain_epochs = -5 is invalid: expected an integer ≥ 0"),
    ({"n_cluster": 5}, "n_cluster: unknown parameter (did you mean 'n_clusters'?)"),
    ({"n_clusters": 1}, "n_clusters = 1 is invalid: expected an integer ≥ 2 or 'auto'"),
    ({"progress": "yes"}, "progress = 'yes' is invalid: expected true or false"),
    ({"take": {"knet_lambda": 2.0}}, "take.knet_lambda = 2.0 is invalid: expected a number in [0, 1]"),
    ({"take": {"assignment": "gmm"}}, "take.assignment = 'gmm' is invalid: expected one of knet, kmeans, umap_gmm"),
    ({"take": {"split": {"train_fraction": 1.5}}}, "take.split.train_fraction = 1.5 is invalid: expected a number in (0, 1)"),
    ({"take": {"preset": "gpu"}}, "take.preset = 'gpu' is invalid: expected null, auto or one of the presets (cpu, paper)"),
    # a preset's own data set blocks are checked like the data set blocks
    ({"take": {"presets": {"cpu": {"overrides": {"mnsit": {"depth": 2}}}}}},
     "take.presets.cpu.overrides.mnsit: unknown data set (did you mean 'mnist'?)"),
    ({"take": {"presets": {"cpu": {"overrides": {"mnist": {"knet_init": "gmm"}}}}}},
     "take.presets.cpu.overrides.mnist.knet_init = 'gmm' is invalid: expected one of kmeans, umap_gmm, auto"),
    ({"dataset": "mnist", "take": {"preset": "cpu", "presets": {"cpu": {"overrides": {"mnist": {"embed_dim": 0}}}}}},
     "take.presets.cpu.overrides.mnist.embed_dim = 0 is invalid: expected an integer ≥ 1"),
    ({"kmeans": {"n_init": 0}}, "kmeans.n_init = 0 is invalid"),
    ({"features": {"views": {"crop_scale": [0.9, 0.1]}}}, "features.views.crop_scale = [0.9, 0.1] is invalid"),
    ({"features": {"views": {"disabled_for": ["cifar"]}}},
     "features.views.disabled_for = ['cifar'] is invalid: expected a list of data set names among 2mnist, agnews"),
    ({"features": {"standardize": "robust"}}, "features.standardize = 'robust' is invalid: expected one of auto, zscore"),
    ({"features": {"tabular_views": {"corruption": 1.5}}},
     "features.tabular_views.corruption = 1.5 is invalid: expected a number in [0, 1]"),
    ({"features": {"tabular_views": {"noise": -1.0}}}, "features.tabular_views.noise = -1.0 is invalid: expected a number ≥ 0"),
    ({"custom": {"image_shape": "28by28"}}, "custom.image_shape = '28by28' is invalid: expected auto (detect images)"),
    ({"tune": {"trials": 0}}, "tune.trials = 0 is invalid: expected an integer ≥ 1"),
    ({"sweep": {"methods": ["dek"]}}, "sweep.methods: unknown method(s) 'dek'"),
    ({"sweep": {"seeds": [0, 0]}}, "sweep.seeds repeats an entry"),
    ({"compare": {"methods": "kmeans tak"}}, "compare.methods: 'tak' is not a method (did you mean 'take'?)"),
    ({"compare": {"seeds": "0 one"}}, "compare.seeds = '0 one' is invalid: expected null (every seed), a seed or a list"),
    ({"device": "gpu"}, "device = 'gpu' is invalid"),
])
def test_a_bad_value_names_the_parameter_the_value_and_what_is_allowed(load, runtime, expected):
    found = problems(load, runtime)
    assert any(expected in line for line in found), found


@pytest.mark.parametrize("runtime,expected", [
    ({"take": {"warmup_epoch": 3}}, "take.warmup_epoch: unknown parameter (did you mean 'warmup_epochs'?)"),
    ({"take": {"overrides": {"digits": {"tua": 0.5}}}}, "take.overrides.digits.tua: unknown parameter (did you mean 'tau'?)"),
    ({"take": {"overrides": {"digitz": {}}}}, "take.overrides.digitz: unknown data set (did you mean 'digits'?)"),
    ({"take": {"presets": {"cpu": {"depht": 2}}}}, "take.presets.cpu.depht: unknown parameter (did you mean 'depth'?)"),
    ({"take": {"split": {"train_fractio": 0.5}}}, "take.split.train_fractio: unknown parameter (did you mean 'train_fraction'?)"),
    ({"dec": {"update_intervall": 3}}, "dec.update_intervall: unknown parameter (did you mean 'update_interval'?)"),
    ({"data": {"options": {"mnist": {"n_sample": 3}}}}, "data.options.mnist.n_sample: unknown parameter (did you mean 'n_samples'?)"),
    ({"features": {"view": {}}}, "features.view: unknown parameter (did you mean 'views'?)"),
    ({"features": {"views": {"max_rotaton": 3.0}}}, "features.views.max_rotaton: unknown parameter (did you mean 'max_rotation'?)"),
    ({"tune": {"space": {"lrr": {"low": 0.1, "high": 1.0}}}}, "tune.space.lrr: not a parameter of dec (did you mean 'lr'?)"),
    ({"custom": {"pth": "x.csv"}}, "custom.pth: unknown parameter (did you mean 'path'?)"),
    ({"features": {"tabular_views": {"corruptoin": 0.1}}},
     "features.tabular_views.corruptoin: unknown parameter (did you mean 'corruption'?)"),
])
def test_unknown_keys_at_every_level_name_the_closest_known_one(load, runtime, expected):
    found = problems(load, runtime)
    assert any(expected in line for line in found), found


def test_a_value_from_the_data_sets_block_is_named_by_that_block(load):
    found = problems(load, {"take": {"overrides": {"digits": {"heads": 3}}}})
    assert any(line.startswith("take.overrides.digits.heads = 3 is invalid: expected a divisor of embed_dim = 64")
               for line in found), found


def test_the_command_line_value_is_the_one_checked(load):
    """digits' block sets warmup_epochs; the command line's value wins there too (hooks.command_line_wins)."""
    assert problems(load, {"take": {"warmup_epochs": 5}}) == []
    assert problems(load, {"take": {"warmup_epochs": -5}}) == [
        "take.warmup_epochs = -5 is invalid: expected an integer ≥ 0 (default 150)"]


def test_every_problem_is_reported_at_once(load):
    runtime = {"seed": "abc", "n_cluster": 5, "take": {"lr": "fast", "knet_iters": 0}}
    with pytest.raises(ParameterError) as caught:
        check_parameters(load(runtime), runtime)
    assert len(caught.value.problems) == 4
    text = str(caught.value)
    assert text.startswith("4 invalid parameters, nothing was run:")
    for name in ("seed", "n_cluster", "take.lr", "take.knet_iters"):
        assert f"  - {name}" in text
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, UserError)


def test_the_fit_functions_read_through_the_same_readers():
    """The run's check and the fit share one definition of each parameter: the same message either way."""
    import numpy as np

    from deep_kmeans.methods.dec import DEC
    from deep_kmeans.methods.take import TAKEConfig

    with pytest.raises(ParameterError, match=r"dec.kmeans_n_init = 0 is invalid: expected an integer ≥ 1"):
        DEC(n_clusters=2, params={"kmeans_n_init": 0}).fit(np.zeros((10, 4), np.float32))
    with pytest.raises(ParameterError, match=r"take.knet_iters = 0 is invalid: expected an integer ≥ 1"):
        TAKEConfig.from_params({"knet_iters": 0})
    assert "knet_iters" in known_keys("take") and "update_interval" in known_keys("dec")


def test_user_errors_are_found_through_wrappers():
    try:
        try:
            raise ParameterError("bad")
        except ParameterError as err:
            raise RuntimeError("wrapped") from err
    except RuntimeError as outer:
        assert str(user_error_in(outer)) == "bad"
    assert user_error_in(ZeroDivisionError()) is None
    try:  # a bug while handling a user error is a bug
        try:
            raise ParameterError("bad")
        except ParameterError:
            1 / 0
    except ZeroDivisionError as bug:
        assert user_error_in(bug) is None
