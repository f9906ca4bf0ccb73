"""K-means on the input itself — the classic baseline: :func:`fit_kmeans`, :func:`predict_kmeans` and
the :class:`KMeansBaseline` estimator.

In this project ``features.x`` is raw pixels for gray image sets and backbone / sentence-encoder
features (or tf-idf) for the others, so one method, ``kmeans``, is both "K-means on the raw input"
and "K-means on the features" of the papers' tables. It runs scikit-learn through the kit's
:func:`~deep_kmeans.methods.kit.kmeans_init`, the same initialisation every deep method starts from.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.kit import (
    ClusterEstimator, ClusteringResult, ParamReader, check_inputs, kmeans_init, seed_everything,
)
from deep_kmeans.models.clustering import nearest_center

__all__ = ["KMeansBaseline", "fit_kmeans", "predict_kmeans"]


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """kmeans's parameters, checked (the fit and the run's parameter check read them here)."""
    return {"n_init": p.int("n_init", "auto", min=1, also=("auto",))}


def fit_kmeans(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0,
               device: str = "auto", views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """scikit-learn K-means on ``x`` through the kit's :func:`~deep_kmeans.methods.kit.kmeans_init`.

    Parameters: ``n_init`` (restarts; ``auto`` = scikit-learn's default, the papers' tables mostly use
    10-20). ``device``, ``views`` and ``progress`` are unused (scikit-learn runs on the CPU).
    Returns no embedding (the input itself is what was clustered); ``model`` holds the centres.
    """
    p = ParamReader(params, "kmeans")
    cfg = read_params(p, geometry, n_clusters)
    p.reject_unknown()
    n_init = cfg["n_init"]
    seed_everything(seed)
    x = check_inputs(x, geometry, "kmeans", n_clusters)
    start = time.perf_counter()
    centers, labels, inertia = kmeans_init(x, n_clusters, seed=seed, n_init=n_init)
    return ClusteringResult(
        labels=labels,
        embedding=None,
        history={"cluster/inertia": [inertia]},
        model={"centers": centers, "inertia": inertia, "n_init": n_init, "geometry": geometry.to_dict()},
        train_seconds=time.perf_counter() - start,
        centers=centers,
    )


def predict_kmeans(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """The nearest stored centre to each row of ``x`` (float64, as scikit-learn assigns; on the CPU)."""
    x = check_inputs(x, Geometry.from_dict(model["geometry"]), "kmeans")
    z = torch.from_numpy(x).double()
    return nearest_center(z, torch.as_tensor(model["centers"]).double()).numpy().astype(np.int64)


class KMeansBaseline(ClusterEstimator):
    """K-means on the input as a scikit-learn estimator (``params``: ``{"n_init": ...}``), for comparison
    with the deep methods under the same interface."""

    _fit = staticmethod(fit_kmeans)
    _predict = staticmethod(predict_kmeans)
