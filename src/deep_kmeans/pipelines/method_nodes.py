"""The one node every family method's pipeline holds: its fit function over the ``features`` record.

A method is ``methods/<name>.py`` with ``fit_<name>(x, n_clusters, geometry, params, seed, device, views,
progress) -> ClusteringResult``. :func:`create_method_pipeline` wraps it as the node ``<name>_train`` with
outputs ``<name>.assignments``, ``<name>.model`` and ``<name>.loss_history``; the registry composes the
shared data, features and evaluation stages around it (``pipeline_registry.py``).
"""

from __future__ import annotations

import time
from functools import partial, update_wrapper
from typing import Callable

import numpy as np
from kedro.pipeline import Pipeline, node

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.config import params_for, resolve_n_clusters
from deep_kmeans.methods.kit import ClusteringResult
from deep_kmeans.methods.umap_gmm import model_state as umap_gmm_state


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
    model = result.model
    if isinstance(model, dict) and set(model) == {"umap", "gmm"}:
        # umap_gmm's fitted objects as plain arrays: <method>.model is a file read without unpickling code
        model = umap_gmm_state(model)
    return assignments, model, history


def train_method(features: dict, params: dict, seed: int, device: str, n_clusters, progress: bool, *, method: str,
                 fit: Callable[..., ClusteringResult]) -> tuple[dict, object, dict]:
    """Fit ``method`` (its function ``fit``) on the features; return assignments, model and per-epoch losses."""
    k = resolve_n_clusters(n_clusters, features)
    start = time.perf_counter()
    result = fit(features["x"], k, Geometry.from_dict(features["geometry"]), params_for(params, features["name"]),
                 seed=seed, device=device, views=features.get("views"), progress=progress)
    if not result.train_seconds:
        result.train_seconds = time.perf_counter() - start
    return result_outputs(result, method)


def fit_node(method: str, fit: Callable[..., ClusteringResult]) -> Callable:
    """Wrap a fit function as a Kedro node function over the ``features`` record (a partial of a module
    function, so that ``ParallelRunner`` and Dask can pickle it)."""
    train = update_wrapper(partial(train_method, method=method, fit=fit), train_method)
    train.__name__ = f"train_{method}"
    train.__doc__ = f"Fit {method} on the features; return assignments, model and per-epoch losses."
    return train


def create_method_pipeline(method: str, fit: Callable[..., ClusteringResult]) -> Pipeline:
    """The method's own node: ``features`` → ``<method>.assignments``, ``.model``, ``.loss_history``."""
    return Pipeline([node(
        fit_node(method, fit),
        inputs=["features", f"params:{method}", "params:seed", "params:device", "params:n_clusters",
                "params:progress"],
        outputs=[f"{method}.assignments", f"{method}.model", f"{method}.loss_history"],
        name=f"{method}_train",
    )])
