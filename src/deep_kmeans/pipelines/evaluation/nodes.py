"""Evaluation nodes shared by every method: scores, plots, MLflow metric dicts."""

from __future__ import annotations

import logging

import numpy as np

from deep_kmeans.evaluation.metrics import clustering_scores
from deep_kmeans.evaluation.plots import confusion_figure, embedding_figure, history_figure

logger = logging.getLogger(__name__)


def as_mlflow_metrics(values: dict[str, float], step: int = 0) -> dict:
    """``{name: value}`` → the ``{name: {"value", "step"}}`` that kedro-mlflow's metrics dataset logs."""
    return {k: {"value": float(v), "step": step} for k, v in values.items() if v is not None}


def history_metrics(history: dict[str, list[float]]) -> dict:
    """Per-epoch losses as MLflow metric histories (one step per epoch)."""
    return {
        key.replace("/", "."): [{"value": float(v), "step": i + 1} for i, v in enumerate(values) if v is not None]
        for key, values in history.items()
        if any(v is not None for v in values)
    }


def evaluate_assignments(assignments: dict, features: dict, method: str) -> tuple[dict, dict]:
    """Scores of the final assignment: MLflow metrics and a JSON record with provenance."""
    y, labels = features["y"], assignments["labels"]
    scores = clustering_scores(y, labels)
    extra = {"train_seconds": assignments.get("train_seconds")}
    record = {
        "method": method,
        "dataset": features["name"],
        "n_samples": int(len(labels)),
        "n_clusters_found": int(len(np.unique(labels))),
        "extractor": features.get("extractor"),
        **scores,
        **{k: v for k, v in extra.items() if v is not None},
        "nmi_note": "nmi: arithmetic-mean normalisation (scikit-learn default); nmi_max: max-normalised, the TAKE paper's eq. 17",
    }
    for k, v in assignments.get("extra_scores", {}).items():
        record[k] = v
    metrics = as_mlflow_metrics({**scores, **extra, **assignments.get("extra_scores", {})})
    # The line a user reads at the end of `kedro run`; the full record is in MLflow and scores.json.
    logger.info("%s on %s (%d samples): ACC %.4f  NMI %.4f  NMI_max %.4f  ARI %.4f", method, features["name"],
                len(labels), scores["acc"], scores["nmi"], scores["nmi_max"], scores["ari"])
    return metrics, record


def plot_confusion(assignments: dict, features: dict):
    return confusion_figure(features["y"], assignments["labels"], features.get("classes") or None)


def plot_embedding(assignments: dict, features: dict, seed: int):
    z = assignments.get("embedding")
    if z is None:
        z = features["x"]
    return embedding_figure(z, features["y"], assignments["labels"], seed=seed)


def plot_history(history: dict):
    return history_figure(history)
