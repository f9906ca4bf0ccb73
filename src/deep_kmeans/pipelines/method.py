"""The shape every clustering method's pipeline shares.

A method is a fit function ``fit(x, n_clusters, geometry, params, seed, device, views, progress)
-> ClusteringResult``. :func:`create_method_pipeline` puts it between the shared data and feature
pipelines and the shared evaluation, with outputs named ``<method>.assignments``, ``<method>.model``
and ``<method>.loss_history`` (catalog factories give them versioned files and MLflow artifacts).
Adding a method = a model module + a ``pipelines/<method>/pipeline.py`` calling this + a
``conf/base/parameters_<method>.yml``.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from kedro.pipeline import Pipeline, node

from deep_kmeans.data.registry import Geometry, get_dataset_info
from deep_kmeans.models.kmeans_init import check_n_clusters
from deep_kmeans.pipelines.data.pipeline import create_pipeline as create_data_pipeline
from deep_kmeans.evaluation.pipeline import create_evaluation_pipeline
from deep_kmeans.pipelines.features.pipeline import create_pipeline as create_features_pipeline
from deep_kmeans.training.result import ClusteringResult


def resolve_n_clusters(n_clusters: int | None, features: dict) -> int:
    """``n_clusters`` or, when null, the data set's number of classes; checked against the data."""
    k = get_dataset_info(features["name"]).n_classes if n_clusters is None else n_clusters
    check_n_clusters(k, len(features["x"]))
    return int(k)


def result_outputs(result: ClusteringResult, method: str) -> tuple[dict, object, dict]:
    """A ``ClusteringResult`` as the three catalog outputs of a method's training node."""
    assignments = {
        "method": method,
        "labels": np.asarray(result.labels, dtype=np.int64),
        "embedding": None if result.embedding is None else np.asarray(result.embedding, dtype=np.float32),
        "centers": result.centers,
        "train_seconds": float(result.train_seconds),
    }
    history = {k: [None if v is None else float(v) for v in vals] for k, vals in result.history.items()}
    return assignments, result.model, history


def params_for(params: dict | None, dataset: str) -> dict:
    """A method's parameters with its ``overrides[<dataset>]`` block merged in (and removed)."""
    params = dict(params or {})
    overrides = params.pop("overrides", None) or {}
    params.update(overrides.get(dataset) or {})
    return params


def fit_node(method: str, fit: Callable[..., ClusteringResult]) -> Callable:
    """Wrap a fit function as a Kedro node function over the ``features`` record."""

    def train(features: dict, params: dict, seed: int, device: str, n_clusters, progress: bool):
        k = resolve_n_clusters(n_clusters, features)
        start = time.perf_counter()
        result = fit(features["x"], k, Geometry.from_dict(features["geometry"]), params_for(params, features["name"]),
                     seed=seed, device=device, views=features.get("views"), progress=progress)
        if not result.train_seconds:
            result.train_seconds = time.perf_counter() - start
        return result_outputs(result, method)

    train.__name__ = f"train_{method}"
    train.__doc__ = f"Fit {method} on the features; return assignments, model and per-epoch losses."
    return train


def create_method_pipeline(method: str, fit: Callable[..., ClusteringResult]) -> Pipeline:
    """data → features → ``<method>`` fit → shared evaluation."""
    train = node(
        fit_node(method, fit),
        inputs=["features", f"params:{method}", "params:seed", "params:device", "params:n_clusters",
                "params:progress"],
        outputs=[f"{method}.assignments", f"{method}.model", f"{method}.loss_history"],
        name=f"{method}_train",
    )
    return create_data_pipeline() + create_features_pipeline() + Pipeline([train]) + create_evaluation_pipeline(method)
