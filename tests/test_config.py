"""The configuration as users get it: base parameters, the offline environment, the registry."""

from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings
from kedro.framework.startup import bootstrap_project

from deep_kmeans.data.registry import DATASETS


def load_params(project_root, env):
    bootstrap_project(project_root)
    loader = OmegaConfigLoader(conf_source=str(project_root / "conf"), env=env, **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]


def test_offline_environment_overrides_single_keys(project_root):
    base = load_params(project_root, "local")
    offline = load_params(project_root, "offline")
    assert base["dataset"] == "digits" and base["features"]["backbone"] == "resnet50"
    assert offline["features"]["backbone"] == "efficientnet_lite0"
    assert offline["features"]["text_encoder"] == "minilm"
    # soft merge: keys the offline env does not name keep their base values
    # and within a nested block: the offline env adds only the stand-in's CIFAR-10 without views
    assert offline["features"]["views"] == {**base["features"]["views"], "disabled_for": ["cifar10"]}
    # AG News' synonym views read WordNet from the nltk root scripts/fetch_offline_data.sh builds
    assert offline["features"]["text_augment"] == {**base["features"]["text_augment"], "wordnet_dir": "data/nltk_data"}
    assert base["features"]["views"]["disabled_for"] == []
    assert offline["data"]["options"]["cifar10"] == base["data"]["options"]["cifar10"]
    assert offline["data"]["options"]["agnews"]["per_class"] == 1900
    assert offline["data"]["raw_dirs"]["reuters21578"].endswith("shared/datasets/reuters21578")
    # and KNet's start on the stand-in's CIFAR-10 features: the head on the features; the rest of the block is base's
    assert offline["take"]["overrides"]["cifar10"] == {**base["take"]["overrides"]["cifar10"], "knet_init": "input"}
    # text: self-labelling (AG News with one of its WordNet views per row), over the base blocks (2026-12-07)
    assert offline["take"]["overrides"]["agnews"] == {**base["take"]["overrides"]["agnews"], "knet_target": "self",
                                                      "knet_confidence": 0.9, "knet_view_targets": True}
    assert offline["take"]["overrides"]["reuters21578"] == {**base["take"]["overrides"]["reuters21578"],
                                                            "knet_target": "self", "knet_confidence": 0.9}
    assert offline["take"]["preset"] == base["take"]["preset"]


def test_every_dataset_has_take_overrides_and_every_method_has_parameters(project_root):
    params = load_params(project_root, "local")
    assert set(params["take"]["overrides"]) == set(DATASETS)
    for method in ("take", "kmeans", "dec", "idec", "dcn", "dekm", "emaec", "ulhe_dc", "dckm", "umap_gmm"):
        assert method in params, method


def test_registered_pipelines(project_root):
    import warnings

    bootstrap_project(project_root)
    from deep_kmeans.pipeline_registry import register_pipelines

    with warnings.catch_warnings(record=True) as caught:  # `kedro registry list` must not warn a newcomer
        warnings.simplefilter("always")
        pipelines = register_pipelines()
    assert not [str(w.message) for w in caught if "deep_kmeans.pipelines" in str(w.message)]
    for name in ("__default__", "take", "take_pretrain", "take_cluster", "take_evaluate", "data", "features",
                 "kmeans", "dec", "idec", "dcn", "dekm", "emaec", "ulhe_dc", "dckm", "umap_gmm", "compare"):
        assert name in pipelines, name
    assert "evaluation" not in pipelines  # a stage, composed into every method, not a run of its own
    assert pipelines["__default__"].outputs() == pipelines["take"].outputs()
    # take_cluster reads what take_pretrain wrote: re-cluster without re-pretraining
    assert {"take.pretrained", "features"} <= pipelines["take_cluster"].inputs()


def test_registry_composes_each_method_from_the_shared_stages(project_root):
    bootstrap_project(project_root)
    from deep_kmeans.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    shared = {n.name for n in pipelines["features"].nodes}  # data + features, defined once
    for method in ("take", "kmeans", "dec", "umap_gmm"):
        names = {n.name for n in pipelines[method].nodes}
        assert shared <= names, method
        # the evaluation stage, one template namespaced by the method
        assert {f"{method}.evaluate", f"{method}.plot_confusion", f"{method}.log_losses"} <= names, method
        assert {f"{method}.metrics", f"{method}.scores", f"{method}.confusion_plot"} <= pipelines[method].all_outputs()
    own_dec = {n.name for n in pipelines["dec"].nodes} - shared
    evaluation = ("evaluate", "log_losses", "assignments_table", "plot_confusion", "plot_embedding", "plot_losses")
    assert own_dec == {"dec_train"} | {f"dec.{n}" for n in evaluation}


def test_the_cpu_preset_self_labels_mnist_on_confident_rows_and_their_views(project_root):
    """The cpu preset's MNIST / Fashion-MNIST block (measured 2026-12-07, docs/take_joint_phase.md): the first epoch
    self-trains the rows 9 of whose 10 neighbours share their start label, then each row's own cluster where the
    classifier is 0.9 sure (``knet_target: self``), with one stored view each; the offline env's AG News the same;
    digits keeps its start as the target for every row and no view."""
    from deep_kmeans.methods.config import params_for

    take = load_params(project_root, "local")["take"]
    for dataset in ("mnist", "fashion_mnist"):
        params = params_for({**take, "preset": "cpu"}, dataset)
        assert (params["knet_target"], params["knet_confidence"], params["knet_view_targets"]) == ("self", 0.9, True)
    digits = params_for({**take, "preset": "cpu"}, "digits")
    assert (digits["knet_target"], digits["knet_confidence"], digits["knet_view_targets"]) == ("start", 0.0, False)
    offline = load_params(project_root, "offline")["take"]  # AG News with its WordNet views, on a CPU
    agnews = params_for({**offline, "preset": "cpu"}, "agnews")
    assert (agnews["knet_target"], agnews["knet_confidence"], agnews["knet_view_targets"]) == ("self", 0.9, True)
    assert agnews["knet_init"] == "kmeans"
    paper = params_for({**take, "preset": "paper"}, "mnist")  # the paper's joint phase: no self-training at all
    assert paper["knet_target_weight"] == 0
