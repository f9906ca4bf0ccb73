"""End-to-end `kedro run --pipeline=take` (and its stages) on a 300-image digits subset."""

from __future__ import annotations

import warnings

import mlflow
import numpy as np
import pytest

from deep_kmeans.errors import UserError

from .conftest import TINY_TAKE, tiny_params


def latest_assignments(project, version: str | None = None) -> np.ndarray:
    return project.load("data/07_model_output/digits/take/assignments.pt", version)["labels"]


def test_take_end_to_end_logs_everything_to_mlflow(scratch_project, capsys):
    # the digits preset's start of KNet: UMAP + GMM on z
    scratch_project.run("take", tiny_params(take={"overrides": {"digits": {**TINY_TAKE, "knet_init": "umap_gmm"}},
                                                  "umap_neighbors": 15}))
    runs = scratch_project.runs()
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    for metric in ("acc", "nmi", "nmi_max", "ari", "train_seconds", "init_acc", "start_acc", "input_kmeans_acc"):
        assert np.isfinite(run[f"metrics.{metric}"]), metric
    # K-means on z (init_*) and KNet's start (start_*: the head's clusters) are both logged, and they differ
    init = scratch_project.load("data/05_model_input/digits/take/kmeans_init.pt")
    assert not np.array_equal(init["start_labels"], init["labels"])
    assert run["params.take.knet_init"] == "umap_gmm"
    # the run's closing summary puts the final scores beside K-means on z, KNet's start and K-means on the input
    summary = capsys.readouterr().out
    assert (f"init_acc {run['metrics.init_acc']:.4f} (K-means on the pretrained z)   start_acc "
            f"{run['metrics.start_acc']:.4f} (KNet's start: UMAP + GMM on z)   input_kmeans_acc "
            f"{run['metrics.input_kmeans_acc']:.4f} (K-means on the input)") in summary
    assert f"  acc {run['metrics.acc']:.4f}   nmi {run['metrics.nmi']:.4f}" in summary
    # the plain baseline in the same run: K-means on the same 300 pixel rows, same seed and n_init
    features = scratch_project.load("data/04_feature/digits/features.pt")
    from sklearn.cluster import KMeans
    from deep_kmeans.evaluation.metrics import cluster_accuracy

    km = KMeans(10, random_state=0, n_init=10).fit(features["x"].astype(np.float64))
    assert run["metrics.input_kmeans_acc"] == pytest.approx(cluster_accuracy(features["y"], km.labels_))
    assert run["metrics.acc"] > 0.4  # 10 classes: chance ≈ 0.1, and this is 8 epochs of a 1-block TAE
    assert run["metrics.nmi_max"] <= run["metrics.nmi"] + 1e-12
    assert run["tags.dataset"] == "digits" and run["tags.pipeline"] == "take" and run["tags.device"] == "cpu"
    assert run["tags.git_commit"]
    assert run["params.take.warmup_epochs"] == str(TINY_TAKE["warmup_epochs"])  # the value used: the preset merged
    client = mlflow.MlflowClient()
    # per-epoch losses as metric histories: warm-up + update epochs, then clustering epochs
    assert len(client.get_metric_history(run.run_id, "pretrain.l_r")) == 10
    assert [m.step for m in client.get_metric_history(run.run_id, "pretrain.l_cl")] == [9, 10]
    assert len(client.get_metric_history(run.run_id, "cluster.l_k")) == 2
    artifacts = {a.path for folder in (None, "weights", "outputs", "reports")
                 for a in client.list_artifacts(run.run_id, folder)}
    # the plots at the root, where MLflow's compare page finds the files two runs share
    assert {"confusion.png", "embedding.png", "losses.png", "weights/model.pt",
            "outputs/assignments.pt", "reports/scores.json"} <= artifacts
    labels = latest_assignments(scratch_project)
    assert labels.shape == (300,) and labels.dtype == np.int64
    # the pretraining's final state, kept while the clustering ran, is cleared with it: no checkpoint is left
    assert not list((scratch_project.path / "data/06_models/checkpoints").glob("*.pt"))
    # the MLflow model works outside the project: the training rows get the run's own clusters
    import pandas as pd

    served = mlflow.pyfunc.load_model(f"runs:/{run.run_id}/model")
    np.testing.assert_array_equal(np.asarray(served.predict(pd.DataFrame(features["x"]))), labels)


@pytest.mark.slow
def test_same_seed_same_assignments_and_nothing_overwritten(scratch_project):
    scratch_project.run("take")
    scratch_project.run("take")
    versions = scratch_project.versions("data/07_model_output/digits/take/assignments.pt")
    assert len(versions) == 2  # versioned: the second run did not overwrite the first
    np.testing.assert_array_equal(latest_assignments(scratch_project, versions[0]),
                                  latest_assignments(scratch_project, versions[1]))
    # features come from the cache on the second run (one cache entry, two versioned copies)
    assert len(list((scratch_project.path / "data/04_feature/cache").glob("*.pt"))) == 1
    assert len(scratch_project.versions("data/04_feature/digits/features.pt")) == 2


@pytest.mark.slow
def test_recluster_without_pretraining(scratch_project, caplog):
    scratch_project.run("take")
    # a clustering option applies; a pretraining option (the TAE's width) cannot and is reported, while the
    # stored configuration of the pretrained model is used. cluster_contrastive: the stage hands the joint phase
    # the training rows' stored views, and it logs the view terms every epoch; knet_init input: KNet starts from the
    # head on the training rows themselves
    changed = {**TINY_TAKE, "lambda3": 0.5, "embed_dim": 32, "cluster_contrastive": 1.0, "knet_init": "input",
               "umap_neighbors": 10}
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO"):
        warnings.simplefilter("always")
        scratch_project.run("take_cluster", tiny_params(take={"overrides": {"digits": changed}}))
    assert not [w for w in caught if "take_cluster" in str(w.message)]  # no spurious "could not import"
    assert "embed_dim=16 kept" in caplog.text
    config = scratch_project.load("data/06_models/digits/take/model.pt")["config"]
    assert config["embed_dim"] == TINY_TAKE["embed_dim"] and config["lambda3"] == 0.5
    assert config["cluster_contrastive"] == 1.0 and "no stored views" not in caplog.text
    assert len(scratch_project.versions("data/06_models/digits/take/pretrained.pt")) == 1
    assert len(scratch_project.versions("data/06_models/digits/take/model.pt")) == 2
    runs = scratch_project.runs()
    assert list(runs["tags.pipeline"]) == ["take", "take_cluster"]
    assert runs.iloc[1]["status"] == "FINISHED" and np.isfinite(runs.iloc[1]["metrics.acc"])
    assert "KNet's start (UMAP + GMM on the input): acc" in caplog.text
    assert 0 < runs.iloc[1]["metrics.start_acc"] <= 1 and runs.iloc[1]["params.take.knet_init"] == "input"
    l_c = mlflow.MlflowClient().get_metric_history(runs.iloc[1]["run_id"], "cluster.l_c")
    assert len(l_c) == TINY_TAKE["cluster_epochs"] and all(m.value > 0 for m in l_c)


@pytest.mark.slow
def test_unseen_split_reports_both_parts(scratch_project):
    params = tiny_params()
    params["take"]["split"] = {"train_fraction": 0.5}
    scratch_project.run("take", params)
    run = scratch_project.runs().iloc[0]
    for metric in ("acc_train", "acc_unseen", "nmi_unseen"):
        assert 0 < run[f"metrics.{metric}"] <= 1


@pytest.mark.parametrize("params,match,checked_by", [
    ({"n_clusters": 1}, "n_clusters = 1 is invalid: expected an integer ≥ 2", "schema"),
    ({"n_clusters": 301}, "larger than the number of samples", "node"),
    ({"take": {"knet_lambda": 2.0}}, r"\[0, 1\]", "schema"),
    ({"take": {"overrides": {"digits": {**TINY_TAKE, "heads": 3}}}}, "divisible", "schema"),
    ({"features": {"patch": 3}}, "does not divide", "node"),
    ({"take": {"umap_neighbors": 300, "overrides": {"digits": {**TINY_TAKE, "assignment": "umap_gmm"}}}},
     r"take.umap_neighbors = 300 must be smaller than the 300 training rows for take.assignment=umap_gmm", "node"),
])
def test_bad_parameters_fail_fast_and_mark_the_run_failed(scratch_project, params, match, checked_by):
    """What the parameters alone show is refused before the MLflow run opens (schema.py); what needs the data
    (K against the rows, a patch against the image side) fails the first node that sees it: a FAILED run."""
    base = tiny_params()
    for key, value in params.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    with pytest.raises(UserError, match=match):
        scratch_project.run("take", base)
    runs = scratch_project.runs()
    assert (list(runs["status"]) if len(runs) else []) == ([] if checked_by == "schema" else ["FAILED"])
    assert scratch_project.versions("data/06_models/digits/take/pretrained.pt") == []


def test_unknown_dataset_lists_the_known_ones(scratch_project):
    with pytest.raises(Exception, match="known data sets: 2mnist, agnews, cifar10, custom, digits"):
        scratch_project.run("take", tiny_params(dataset="imagenet"))


def test_missing_raw_files_name_the_folder(scratch_project):
    with pytest.raises(FileNotFoundError, match="data/01_raw/mnist"):
        scratch_project.run("data", tiny_params(dataset="mnist"))


@pytest.mark.slow
def test_a_parameter_on_the_command_line_wins_over_the_data_set_preset(scratch_project):
    # TINY_TAKE (the digits preset in these tests) says 2 clustering epochs; the command line says 1
    params = tiny_params()
    params["take"] = {**params["take"], "cluster_epochs": 1}
    scratch_project.run("take", params)
    run = scratch_project.runs().iloc[0]
    assert len(mlflow.MlflowClient().get_metric_history(run.run_id, "cluster.l_k")) == 1
    assert run["params.take.cluster_epochs"] == "1"  # and MLflow records the value that ran


@pytest.mark.parametrize("pipeline", ["take_evaluate", "take_cluster", "data"])
def test_a_dataset_name_that_is_a_path_is_refused_everywhere(scratch_project, pipeline):
    with pytest.raises(Exception, match="unknown dataset '../../elsewhere'; known data sets"):
        scratch_project.run(pipeline, tiny_params(dataset="../../elsewhere"))
    assert not (scratch_project.path.parent / "elsewhere").exists()
    assert not any(scratch_project.path.parent.glob("*/*/elsewhere"))


@pytest.mark.slow  # 22 s: a run with the UMAP + GMM head, then serving it
def test_a_umap_gmm_head_is_stored_as_plain_arrays_and_serves_the_same_clusters(scratch_project):
    import pandas as pd

    from deep_kmeans.methods.umap_gmm import is_state

    params = tiny_params(take={"assignment": "umap_gmm", "umap_neighbors": 10, "overrides": {"digits": TINY_TAKE}})
    scratch_project.run("take", params)
    run = scratch_project.runs().iloc[0]
    assert run["status"] == "FINISHED" and run["metrics.acc"] > 0.3
    model = scratch_project.load("data/06_models/digits/take/model.pt")
    assert is_state(model["head"]) and model["knet"] is None
    labels = latest_assignments(scratch_project)
    features = scratch_project.load("data/04_feature/digits/features.pt")
    served = mlflow.pyfunc.load_model(f"runs:/{run.run_id}/model")
    np.testing.assert_array_equal(np.asarray(served.predict(pd.DataFrame(features["x"]))), labels)


def test_view_targets_train_the_training_rows_views_and_say_when_there_are_none(caplog):
    """take.knet_view_targets: the clustering stage hands the joint phase the stored views of its training rows;
    a data set built without views trains on the rows alone, and the log says so."""
    from deep_kmeans.pipelines.take.nodes import _train_views

    views = np.arange(5 * 4 * 2, dtype=np.float32).reshape(5, 4, 2)
    np.testing.assert_array_equal(_train_views({"views": views, "name": "d"}, {"train_rows": np.array([0, 2])}),
                                  views[[0, 2]])
    with caplog.at_level("WARNING"):
        assert _train_views({"views": None, "name": "reuters21578"}, {"train_rows": np.array([0])}) is None
    assert "reuters21578 was built without views" in caplog.text
