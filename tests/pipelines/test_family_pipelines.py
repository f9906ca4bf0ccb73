"""End-to-end `kedro run --pipeline=<method>` for each method of the deep K-means family, on a 300-image
digits subset with schedules cut to a few epochs (merged into each method's `overrides.digits`)."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from .conftest import tiny_params

# Small nets and a handful of epochs: enough to beat chance (0.1) clearly, a few seconds each on 2 cores.
TINY_AE = {"hidden": [64, 64, 128], "batch_size": 64, "pretrain_epochs": 20, "kmeans_n_init": 3}

TINY_OVERRIDES = {
    "kmeans": {"n_init": 3},
    "dec": {**TINY_AE, "update_interval": 5, "max_iter": 30},
    "idec": {**TINY_AE, "update_interval": 5, "max_iter": 30},
    "dcn": {**TINY_AE, "cluster_epochs": 3},
    "dekm": {**TINY_AE, "iters": 3, "update_interval": 5},
    "emaec": {**TINY_AE, "hidden": [64, 32, 64], "pretrain_epochs": 30, "rounds": 3, "finetune_iters": 5},
    "ulhe_dc": {**TINY_AE, "cluster_epochs": 3},
    "dckm": {"rounds": 3, "inner_epochs": 2, "kmeans_n_init": 3},
    "umap_gmm": {"n_neighbors": 10, "n_init": 2},
}
METHODS = list(TINY_OVERRIDES)
pytestmark = pytest.mark.usefixtures("one_thread")


def family_params(method: str) -> dict:
    return tiny_params(**{method: {"overrides": {"digits": TINY_OVERRIDES[method]}}})


# Three run in the default suite (K-means, UMAP + GMM, DEC: the kinds of fit); the other six, 8-11 s each, with
# `pytest -m slow` (CI runs both), which keeps the default suite under 10 minutes on 2 cores.
DEFAULT_SUITE = ("kmeans", "umap_gmm", "dec")


@pytest.mark.parametrize("method", [m if m in DEFAULT_SUITE else pytest.param(m, marks=pytest.mark.slow)
                                    for m in METHODS])
def test_method_pipeline_runs_and_logs_to_mlflow(scratch_project, method):
    scratch_project.run(method, family_params(method))
    runs = scratch_project.runs()
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.pipeline"] == method and run["tags.dataset"] == "digits"
    for metric in ("acc", "nmi", "nmi_max", "ari", "train_seconds"):
        assert np.isfinite(run[f"metrics.{metric}"]), metric
    assert run["metrics.acc"] > 0.3, run["metrics.acc"]  # 10 classes: chance ≈ 0.1
    client = mlflow.MlflowClient()
    metric_names = set(client.get_run(run.run_id).data.metrics)
    if method != "kmeans":  # the trained ones log per-epoch losses
        assert any(m.startswith("cluster.") for m in metric_names), sorted(metric_names)
        if method not in ("dckm", "umap_gmm"):  # no pretraining
            history = client.get_metric_history(run.run_id, "pretrain.loss")
            assert len(history) == TINY_OVERRIDES[method]["pretrain_epochs"]
            assert all(np.isfinite(m.value) for m in history)
    artifacts = {a.path for a in client.list_artifacts(run.run_id)}
    assert "confusion.png" in artifacts  # at the root: MLflow's compare page shows the root's shared files
    assert scratch_project.versions(f"data/07_model_output/digits/{method}/assignments.pt")
