"""The shared evaluation node: scores, the MLflow metric dict, and the line a user reads."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from deep_kmeans.pipelines.evaluation.nodes import as_mlflow_metrics, evaluate_assignments, history_metrics


def test_evaluate_assignments_scores_records_and_logs(caplog):
    y = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([1, 1, 0, 0, 0, 2])  # Hungarian map 1→0, 0→1, 2→2: 5 of 6 right
    features = {"name": "toy", "y": y}
    with caplog.at_level(logging.INFO, logger="deep_kmeans.pipelines.evaluation.nodes"):
        metrics, record = evaluate_assignments({"labels": labels, "train_seconds": 2.5}, features, method="take")
    assert metrics["acc"] == {"value": pytest.approx(5 / 6), "step": 0}
    assert metrics["train_seconds"]["value"] == 2.5
    assert record["method"] == "take" and record["dataset"] == "toy"
    assert record["n_samples"] == 6 and record["n_clusters_found"] == 3
    assert "take on toy (6 samples): ACC 0.8333" in caplog.text


def test_metric_helpers_drop_missing_values():
    assert as_mlflow_metrics({"a": 1, "b": None}, step=3) == {"a": {"value": 1.0, "step": 3}}
    assert history_metrics({"pretrain/l_cl": [None, 0.5], "pretrain/off": [None]}) == {
        "pretrain.l_cl": [{"value": 0.5, "step": 2}]}


def test_a_collapsed_clustering_is_loud(caplog, tmp_path):
    """3 of 4 clusters asked for are used: the record, the metrics, the log and the MLflow run say so."""
    import mlflow

    from deep_kmeans.hooks import RunHook

    assignments = {"labels": np.array([0, 0, 1, 1, 2, 2]), "centers": np.zeros((4, 2))}
    with caplog.at_level(logging.WARNING):
        metrics, record = evaluate_assignments(assignments, {"name": "toy", "y": np.array([0, 0, 1, 1, 2, 3])},
                                               method="emaec")
    assert record["n_clusters_found"] == 3 and record["n_clusters_asked"] == 4
    assert metrics["n_clusters_found"]["value"] == 3 and metrics["n_clusters_asked"]["value"] == 4
    assert record["warning"].startswith("emaec used only 3 of the 4 clusters asked for")
    assert "collapsed" in caplog.text and "try another seed" in caplog.text
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("collapsed")  # not an active experiment another test left behind
        with mlflow.start_run(experiment_id=experiment) as run:
            RunHook().after_dataset_saved("emaec.scores", record)
        assert mlflow.get_run(run.info.run_id).data.tags["warning"] == record["warning"]
        _, fine = evaluate_assignments({"labels": np.array([0, 1]), "centers": np.zeros((2, 2))},
                                       {"name": "toy", "y": np.array([0, 1])}, method="emaec")
        assert "warning" not in fine
    finally:
        mlflow.set_tracking_uri(None)
