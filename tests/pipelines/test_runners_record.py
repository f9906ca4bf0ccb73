"""Every runner records the run truthfully: under the project's DaskRunner (a LocalCluster) and ParallelRunner
the MLflow run of `kedro run` holds the parameters, metrics and artifacts the sequential runner records, and no
other run is opened. Before 2026-12-04 a Dask run ended FINISHED with 0 parameters and 0 metrics; its scores went
to runs with random names that stayed RUNNING forever."""

from __future__ import annotations

import mlflow
import pytest

from .conftest import tiny_params

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
FOLDERS = (None, "outputs", "reports", "weights")  # None: the run's root, where the plots are


def record(run_id: str) -> dict:
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    return {"status": run.info.status, "params": run.data.params, "metrics": run.data.metrics,
            "artifacts": sorted(a.path for f in FOLDERS for a in client.list_artifacts(run_id, f)),
            "models": sorted(o.model_id is not None for o in (run.outputs.model_outputs if run.outputs else []))}


def run_on_dask(project, pipeline: str, processes: bool) -> None:
    """``pipeline`` with the project's DaskRunner on a LocalCluster of two workers (processes, or threads)."""
    distributed = pytest.importorskip("distributed")
    from deep_kmeans.runners import DaskRunner

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        project.run(pipeline, tiny_params(), runner=DaskRunner(client=client))


def test_dask_and_parallel_runs_hold_what_the_sequential_run_holds(scratch_project):
    """K-means on 300 digits three times: sequentially, on a LocalCluster of two in-process workers (threads:
    MLflow's active run is per thread, so they have none, as worker processes have none) and with the
    ParallelRunner (two forked processes). The same parameters, metric values and artifacts; three runs in all."""
    from deep_kmeans.runners import ParallelRunner

    scratch_project.run("kmeans", tiny_params())
    run_on_dask(scratch_project, "kmeans", processes=False)
    scratch_project.run("kmeans", tiny_params(), runner=ParallelRunner(max_workers=2))
    runs = scratch_project.runs()
    assert len(runs) == 3, runs[["run_id", "tags.mlflow.runName", "status"]]  # no stray run
    sequential, dask, parallel = (record(r) for r in runs["run_id"])
    # the parameters that apply to K-means on digits (run_record.py): its group, the data set's, the pixels'
    assert sequential["status"] == "FINISHED" and len(sequential["params"]) >= 10
    assert {"dataset", "seed", "data.options.digits.n_samples", "features.views.enabled"} <= set(sequential["params"])
    assert {"acc", "nmi", "ari", "n_clusters_found"} <= set(sequential["metrics"])
    assert {"embedding.png", "outputs/assignments.csv", "reports/scores.json"} <= set(sequential["artifacts"])
    for other in (dask, parallel):
        assert other["status"] == "FINISHED"
        assert other["params"] == sequential["params"]
        assert other["metrics"].keys() == sequential["metrics"].keys()
        for key in ("acc", "nmi", "ari", "n_clusters_found"):
            assert other["metrics"][key] == pytest.approx(sequential["metrics"][key]), key
        assert other["artifacts"] == sequential["artifacts"]


def test_take_on_dask_worker_processes_logs_its_model_into_the_run(scratch_project):
    """TAKE on a LocalCluster of two worker processes: the pyfunc model too lands in the run of `kedro run`
    (MLflow's Model.log with that run's id), with what it takes and the run's final metrics."""
    run_on_dask(scratch_project, "take", processes=True)
    runs = scratch_project.runs()
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED", runs[["tags.mlflow.runName", "status"]]
    run = record(runs.iloc[0]["run_id"])
    assert "acc" in run["metrics"] and "init_acc" in run["metrics"] and run["params"]["take.embed_dim"] == "16"
    assert {"weights/model.pt", "embedding.png", "outputs/assignments.pt"} <= set(run["artifacts"])
    info = mlflow.models.get_model_info(f"runs:/{runs.iloc[0]['run_id']}/model")
    assert info.signature is None and info.metadata["input_width"] == 64  # rows of the model input's width
    metrics = {m.key: m.value for m in mlflow.get_logged_model(info.model_id).metrics}
    assert metrics["acc"] == pytest.approx(run["metrics"]["acc"])


def test_a_collapse_on_dask_is_tagged_on_the_run(scratch_project, monkeypatch):
    """The `warning` tag of a collapsed clustering (set by the hook that watches saves, which does not run on
    Dask workers) is set at the end from the scores the run wrote."""
    import numpy as np

    from deep_kmeans.methods import kmeans

    def two_of_ten(x, k, seed=0, n_init="auto"):  # the in-process workers see the patch
        return np.zeros((k, x.shape[1]), np.float32), (np.arange(len(x)) % 2).astype(np.int64), 1.0

    monkeypatch.setattr(kmeans, "kmeans_init", two_of_ten)
    run_on_dask(scratch_project, "kmeans", processes=False)
    run = scratch_project.runs().iloc[-1]
    assert run["tags.warning"].startswith("kmeans used only 2 of the 10 clusters asked for")
