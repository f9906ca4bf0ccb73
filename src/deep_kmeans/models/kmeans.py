"""K-means on the input itself — the classic baseline — and the hard-assignment helpers the deep
K-means family shares.

In this project ``features.x`` is raw pixels for gray image sets and backbone / sentence-encoder
features (or tf-idf) for the others, so one method, ``kmeans``, is both "K-means on the raw input"
and "K-means on the features" of the papers' tables.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.kmeans_init import kmeans_init
from deep_kmeans.training.autoencoder import ParamReader, check_inputs
from deep_kmeans.training.result import ClusteringResult
from deep_kmeans.training.runtime import seed_everything


def squared_distances(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """(N, K) matrix ``‖z_i − μ_k‖²`` for centres given as ROWS ``(K, d)``."""
    d = z.pow(2).sum(1, keepdim=True) - 2.0 * z @ centers.T + centers.pow(2).sum(1)[None, :]
    return d.clamp(min=0.0)


def nearest_center(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Hard assignment ``s_i = argmin_k ‖z_i − μ_k‖²`` (int64, on z's device)."""
    return squared_distances(z, centers).argmin(dim=1)


def cluster_sums(z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """(K, d) sum of the rows of each cluster, as a one-hot matmul (deterministic on CUDA, unlike
    ``index_add_``'s atomic adds; differentiable in ``z``)."""
    onehot = torch.nn.functional.one_hot(labels, n_clusters).to(z.dtype)
    return onehot.T @ z


def cluster_means(z: torch.Tensor, labels: torch.Tensor, n_clusters: int,
                  fallback: torch.Tensor | None = None) -> torch.Tensor:
    """(K, d) mean of the rows of each cluster; an empty cluster keeps ``fallback[k]`` (or zeros)."""
    sums = cluster_sums(z, labels, n_clusters)
    counts = torch.bincount(labels, minlength=n_clusters).to(z.dtype)
    means = sums / counts.clamp(min=1)[:, None]
    if fallback is not None:
        means = torch.where((counts > 0)[:, None], means, fallback.to(z.dtype))
    return means


def label_change_rate(previous, current, n_clusters: int | None = None, matched: bool = False) -> float:
    """Fraction of samples whose label changed between two assignments.

    ``matched=True`` first maps ``previous``'s cluster ids onto ``current``'s with the Hungarian
    algorithm (needed when the clusters are re-found from scratch, e.g. a fresh K-means each round,
    whose cluster numbering is arbitrary) — what DEKM's code does.
    """
    prev = np.asarray(previous.cpu() if isinstance(previous, torch.Tensor) else previous, dtype=np.int64)
    cur = np.asarray(current.cpu() if isinstance(current, torch.Tensor) else current, dtype=np.int64)
    if prev.shape != cur.shape:
        raise ValueError(f"assignments of different lengths: {prev.shape} and {cur.shape}")
    if len(cur) == 0:
        return 0.0
    if matched:
        k = int(max(prev.max(), cur.max()) + 1) if n_clusters is None else int(n_clusters)
        w = np.zeros((k, k), dtype=np.int64)
        np.add.at(w, (prev, cur), 1)
        rows, cols = linear_sum_assignment(-w)
        mapping = np.arange(k)
        mapping[rows] = cols
        prev = mapping[prev]
    return float(np.mean(prev != cur))


def fit_kmeans(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0,
               device: str = "auto", views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """scikit-learn K-means on ``x`` through the project's :func:`kmeans_init`.

    Parameters: ``n_init`` (restarts; ``auto`` = scikit-learn's default, the papers' tables mostly use
    10-20). ``device``, ``views`` and ``progress`` are unused (scikit-learn runs on the CPU).
    Returns no embedding (the input itself is what was clustered); ``model`` holds the centres.
    """
    p = ParamReader(params, "kmeans")
    n_init = p.get("n_init", "auto")
    if n_init != "auto":
        n_init = p.int("n_init", 10, min=1)
    seed_everything(seed)
    x = check_inputs(x, n_clusters, geometry, "kmeans")
    start = time.perf_counter()
    centers, labels, inertia = kmeans_init(x, n_clusters, seed=seed, n_init=n_init)
    return ClusteringResult(
        labels=labels,
        embedding=None,
        history={"cluster/inertia": [inertia]},
        model={"centers": centers, "inertia": inertia, "n_init": n_init},
        train_seconds=time.perf_counter() - start,
        centers=centers,
    )
