"""Evaluation nodes shared by every method: scores, plots, MLflow metric dicts."""

from __future__ import annotations

import logging

import numpy as np

from deep_kmeans.evaluation.metrics import clustering_scores, internal_scores
from deep_kmeans.evaluation.plots import cluster_sizes_figure, confusion_figure, embedding_figure, history_figure

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


def clustered_space(assignments: dict, features: dict) -> np.ndarray:
    """What the method clustered: its learned features z, or the input itself for methods without them."""
    z = assignments.get("embedding")
    return features["x"] if z is None else z


def label_free_scores(assignments: dict, features: dict, seed: int = 0) -> dict[str, float | None]:
    """Internal scores (silhouette, Calinski-Harabasz, Davies-Bouldin) of the assignment on the input
    (``*_input``) and, for methods with learned features, on z (``*_z``)."""
    labels = assignments["labels"]
    scores = {f"{k}_input": v for k, v in internal_scores(features["x"], labels, seed).items()}
    if assignments.get("embedding") is not None:
        scores.update({f"{k}_z": v for k, v in internal_scores(assignments["embedding"], labels, seed).items()})
    return scores


def evaluate_assignments(assignments: dict, features: dict, method: str) -> tuple[dict, dict]:
    """Scores of the final assignment: MLflow metrics and a JSON record with provenance.

    With ground-truth labels: ACC, NMI, NMI_max, ARI. Without (your own data): the internal scores of
    :func:`label_free_scores` instead.
    """
    y, labels = features["y"], assignments["labels"]
    scores = clustering_scores(y, labels) if y is not None else label_free_scores(assignments, features)
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
    centers = assignments.get("centers")
    asked = None if centers is None else int(np.asarray(centers).shape[0])
    if asked is not None:
        record["n_clusters_asked"] = extra["n_clusters_asked"] = asked
    if asked is not None and record["n_clusters_found"] < asked:
        # a collapsed clustering must not pass as a result: say so where the scores are read (the run's
        # MLflow tag `warning` too, set by hooks.RunHook from this record)
        record["warning"] = (f"{method} used only {record['n_clusters_found']} of the {asked} clusters asked for: "
                             "the clustering collapsed (docs/reliability.md: what to try)")
        logger.warning("%s (try another seed, a smaller learning rate or weight of the clustering loss)",
                       record["warning"])
    extra["n_clusters_found"] = record["n_clusters_found"]
    metrics = as_mlflow_metrics({**scores, **extra, **assignments.get("extra_scores", {})})
    # The line a user reads at the end of `kedro run`; the full record is in MLflow and scores.json.
    if y is not None:
        logger.info("%s on %s (%d samples): ACC %.4f  NMI %.4f  NMI_max %.4f  ARI %.4f", method, features["name"],
                    len(labels), scores["acc"], scores["nmi"], scores["nmi_max"], scores["ari"])
    else:
        logger.info("%s on %s (%d samples, no labels): %s", method, features["name"], len(labels),
                    "  ".join(f"{k} {v:.4f}" for k, v in scores.items() if v is not None))
    return metrics, record


def assignments_table(assignments: dict, features: dict):
    """The assignments as a table a user can join back to their data: ``id`` (the id column of custom data,
    or the row number), ``cluster``, the true ``label`` where known, ``distance`` to the cluster's centre in
    the method's space (where it has centres and an embedding, or clusters the input), and TAKE's soft
    assignment ``p_0 … p_{K-1}`` (KNet's s)."""
    import pandas as pd

    labels = np.asarray(assignments["labels"])
    ids = features.get("ids")
    table = pd.DataFrame({"id": ids if ids is not None else np.arange(len(labels)), "cluster": labels})
    if features["y"] is not None:
        classes = features.get("classes") or []
        table["label"] = [classes[i] if i < len(classes) else i for i in features["y"]] if classes else features["y"]
    z = clustered_space(assignments, features)
    centers = assignments.get("centers")
    if centers is not None and np.asarray(centers).shape[1:] == np.asarray(z).shape[1:]:
        c = np.asarray(centers, dtype=np.float64)[labels]
        table["distance"] = np.sqrt(((np.asarray(z, dtype=np.float64) - c) ** 2).sum(axis=1))
    soft = assignments.get("soft")
    if soft is not None:
        for k in range(soft.shape[1]):
            table[f"p_{k}"] = soft[:, k]
    return table


def plot_confusion(assignments: dict, features: dict):
    """The confusion matrix; without labels, the cluster sizes."""
    if features["y"] is None:
        return cluster_sizes_figure(assignments["labels"])
    return confusion_figure(features["y"], assignments["labels"], features.get("classes") or None)


def plot_embedding(assignments: dict, features: dict, seed: int):
    return embedding_figure(clustered_space(assignments, features), features["y"], assignments["labels"], seed=seed)


def plot_history(history: dict):
    return history_figure(history)
