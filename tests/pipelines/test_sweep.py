"""`kedro run --pipeline=sweep`: methods × seeds in one run, each copy an MLflow child run, the compare table
in the parent; sequentially, with the project's ParallelRunner and on a 2-worker Dask LocalCluster."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from kedro.framework.project import pipelines as project_pipelines

from deep_kmeans.io import SafeTorchDataset
from deep_kmeans.pipelines.sweep.nodes import read_plan

from .conftest import tiny_params
from .test_family_pipelines import TINY_OVERRIDES

pytestmark = pytest.mark.usefixtures("one_thread")
KNOWN = ["take", "kmeans", "dec", "idec"]


def sweep_conf(project, methods, seeds) -> None:
    (project.path / "conf" / "local" / "parameters_sweep.yml").write_text(
        f"sweep:\n  methods: {list(methods)}\n  seeds: {list(seeds)}\n")


def sweep_params(methods, **extra) -> dict:
    return tiny_params(**{**{m: {"overrides": {"digits": TINY_OVERRIDES[m]}} for m in methods}, **extra})


def labels(path) -> np.ndarray:
    files = sorted(path.glob("*/assignments.pt"))
    assert files, path
    return SafeTorchDataset(filepath=str(files[-1])).load()["labels"]


@pytest.mark.parametrize("bad, message", [
    ({"methods": [], "seeds": [0]}, "sweep.methods is empty"),
    ({"methods": ["kmeans"], "seeds": []}, "sweep.seeds is empty"),
    ({"methods": ["kmeans", "nope"], "seeds": [0]}, "unknown method(s) 'nope'"),
    ({"methods": ["kmeans"], "seeds": [0, 0]}, "sweep.seeds repeats"),
    ({"methods": ["kmeans"], "seeds": ["x"]}, "must be integers"),
    ({"methods": ["kmeans"], "seeds": 1.5}, "must be integers"),
    ({"methods": ["kmeans"], "seeds": [0, 1.5]}, "must be integers"),
])
def test_plan_errors_name_the_fix(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        read_plan(bad, KNOWN)
    assert "parameters_sweep.yml" in str(err.value)


def test_plan_accepts_space_separated_cli_values():
    assert read_plan({"methods": "kmeans dec", "seeds": "0 1"}, KNOWN) == (["kmeans", "dec"], [0, 1])


def test_sweep_structure_shares_data_and_features(scratch_project):
    sweep_conf(scratch_project, ["kmeans", "dec"], [0, 1])
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(scratch_project.path)
    pipe = project_pipelines["sweep"]
    names = {n.name for n in pipe.nodes}
    assert sum(n.name == "extract_features" for n in pipe.nodes) == 1
    assert {f"sweep.{m}_s{s}.{m}_train" for m in ("kmeans", "dec") for s in (0, 1)} <= names
    # the seed of a copy comes from its open_run node, not from params:seed
    train = next(n for n in pipe.nodes if n.name == "sweep.dec_s1.dec_train")
    assert "sweep.dec_s1.dec.seed" in train.inputs and "params:seed" not in train.inputs
    # nothing of a copy goes to the plain factories that log to the parent run
    assert not any(o.endswith((".metrics", ".history", "_plot")) for o in pipe.all_outputs())


def test_take_copies_draw_their_views_with_their_own_seed(scratch_project):
    """TAKE trains on the stored views, which a plain run draws with its seed: each TAKE copy builds its
    features from the shared raw data with the copy's seed; the family still shares the one feature node."""
    sweep_conf(scratch_project, ["take", "kmeans"], [0, 1])
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(scratch_project.path)
    pipe = project_pipelines["sweep"]
    extract = {n.name: n for n in pipe.nodes if n.name.endswith("extract_features")}
    assert set(extract) == {"extract_features", "sweep.take_s0.extract_features", "sweep.take_s1.extract_features"}
    own = extract["sweep.take_s1.extract_features"]
    assert "sweep.take_s1.take.seed" in own.inputs and "params:seed" not in own.inputs
    assert "raw_data" in own.inputs and own.outputs == ["sweep.take_s1.features"]
    pretrain = next(n for n in pipe.nodes if n.name.startswith("sweep.take_s1.") and "sweep.take_s1.features" in n.inputs)
    assert "features" not in pretrain.inputs
    kmeans = next(n for n in pipe.nodes if n.name == "sweep.kmeans_s1.kmeans_train")
    assert "features" in kmeans.inputs

    sweep_conf(scratch_project, ["take"], [0, 1])  # no copy reads the shared features: none are built
    bootstrap_project(scratch_project.path)
    from deep_kmeans.pipeline_registry import register_pipelines

    assert "extract_features" not in {n.name for n in register_pipelines()["sweep"].nodes}


@pytest.mark.slow
def test_a_take_copy_is_the_plain_take_run_of_its_seed(scratch_project):
    sweep_conf(scratch_project, ["take"], [1])
    scratch_project.run("sweep", tiny_params())
    scratch_project.run("take", tiny_params(seed=1))
    plain = labels(scratch_project.path / "data/07_model_output/digits/take/assignments.pt")
    swept = labels(scratch_project.path / "data/07_model_output/digits/sweep/take_s1/assignments.pt")
    np.testing.assert_array_equal(plain, swept)


@pytest.mark.slow
def test_sweep_children_match_plain_runs_and_parent_has_the_table(scratch_project):
    methods, seeds = ["kmeans", "dec"], [0, 1]
    sweep_conf(scratch_project, methods, seeds)
    params = sweep_params(methods)
    scratch_project.run("sweep", params)

    runs = scratch_project.runs()
    parent = runs[runs["tags.pipeline"] == "sweep"]
    assert len(parent) == 1 and parent.iloc[0]["status"] == "FINISHED"
    parent_id = parent.iloc[0]["run_id"]
    children = runs[runs["tags.mlflow.parentRunId"] == parent_id]
    assert len(children) == len(methods) * len(seeds)
    assert set(children["status"]) == {"FINISHED"}
    assert sorted(zip(children["tags.method"], children["tags.seed"])) == sorted(
        (m, str(s)) for m in methods for s in seeds)
    assert (children["tags.dataset"] == "digits").all()
    assert children["metrics.acc"].gt(0.3).all()

    client = mlflow.MlflowClient()
    dec_child = children[(children["tags.method"] == "dec") & (children["tags.seed"] == "1")].iloc[0]
    artifacts = {a.path for a in client.list_artifacts(dec_child.run_id)}
    assert "confusion.png" in artifacts
    assert len(client.get_metric_history(dec_child.run_id, "pretrain.loss")) == TINY_OVERRIDES["dec"]["pretrain_epochs"]
    assert client.get_run(dec_child.run_id).data.params["dec.max_iter"] == str(TINY_OVERRIDES["dec"]["max_iter"])

    reports = {a.path for a in client.list_artifacts(parent_id, "reports")}
    assert {"reports/sweep_table.md", "reports/sweep_table.csv"} <= reports
    parent_metrics = client.get_run(parent_id).data.metrics
    assert parent_metrics["dec.n_runs"] == 2 and parent_metrics["kmeans.n_runs"] == 2
    acc = children.groupby("tags.method")["metrics.acc"].mean()
    assert parent_metrics["dec.acc_mean"] == pytest.approx(acc["dec"])
    assert scratch_project.versions("data/08_reporting/digits/sweep/table.csv")

    # each child's labels are a plain `kedro run --pipeline=<m> --params=seed=<s>`'s labels
    for method, seed in (("kmeans", 1), ("dec", 0)):
        scratch_project.run(method, {**params, "seed": seed})
        plain = labels(scratch_project.path / f"data/07_model_output/digits/{method}/assignments.pt")
        swept = labels(scratch_project.path / f"data/07_model_output/digits/sweep/{method}_s{seed}/assignments.pt")
        np.testing.assert_array_equal(plain, swept)


def test_sweep_stops_when_params_ask_for_another_sweep(scratch_project):
    from deep_kmeans.errors import ParameterError

    sweep_conf(scratch_project, ["kmeans"], [0])
    with pytest.raises(ParameterError, match="--params cannot change them"):
        scratch_project.run("sweep", sweep_params(["kmeans"], sweep={"methods": ["kmeans"], "seeds": [0, 1]}))
    # the parameter check says it (schema.pipeline_problems): before the MLflow run opens, no parent, no child
    assert scratch_project.runs().empty


def test_failed_copy_is_a_failed_child(scratch_project, monkeypatch):
    from deep_kmeans.methods import kmeans

    def broken(*args, **kwargs):  # a copy that fails in its node (bad parameters stop the sweep before it opens)
        raise ValueError("n_init: K-means broke")

    monkeypatch.setattr(kmeans, "kmeans_init", broken)
    sweep_conf(scratch_project, ["kmeans"], [0])
    with pytest.raises(ValueError, match="n_init"):
        scratch_project.run("sweep", sweep_params(["kmeans"]))
    runs = scratch_project.runs()
    child = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(child) == 1 and child.iloc[0]["status"] == "FAILED"
    assert child.iloc[0]["tags.error"]


@pytest.mark.slow
def test_sweep_with_the_parallel_runner(scratch_project):
    from deep_kmeans.runners import ParallelRunner

    sweep_conf(scratch_project, ["kmeans"], [0, 1])
    scratch_project.run("sweep", sweep_params(["kmeans"]), runner=ParallelRunner(max_workers=2))
    runs = scratch_project.runs()
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(children) == 2 and set(children["status"]) == {"FINISHED"}


@pytest.mark.slow
def test_sweep_on_a_two_worker_dask_cluster(scratch_project):
    distributed = pytest.importorskip("distributed")
    from deep_kmeans.runners import DaskRunner

    sweep_conf(scratch_project, ["kmeans"], [0, 1])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        scratch_project.run("sweep", sweep_params(["kmeans"]), runner=DaskRunner(client=client))
        workers = set(client.run(lambda: 1))
    assert len(workers) == 2
    runs = scratch_project.runs()
    parent = runs[runs["tags.pipeline"] == "sweep"].iloc[0]
    children = runs[runs["tags.mlflow.parentRunId"] == parent.run_id]
    assert parent["status"] == "FINISHED"
    assert len(children) == 2 and set(children["status"]) == {"FINISHED"}
    assert "reports/sweep_table.md" in {a.path for a in mlflow.MlflowClient().list_artifacts(parent.run_id, "reports")}
