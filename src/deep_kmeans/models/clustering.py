"""Hard-assignment tensor math the deep K-means family shares.

Centres are always ROWS, ``(K, d)``; labels are int64 tensors of cluster ids. The K-means
initialisation itself (scikit-learn) and the label change rate are in :mod:`deep_kmeans.methods.kit`;
K-means on the input, the baseline, is :mod:`deep_kmeans.methods.kmeans`.
"""

from __future__ import annotations

import torch

__all__ = ["cluster_means", "cluster_sums", "nearest_center", "repair_empty_clusters", "squared_distances"]


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


def repair_empty_clusters(z: torch.Tensor, labels: torch.Tensor,
                          centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """K-means' usual repair of empty clusters (Lloyd's, and scikit-learn's): each empty cluster's centre
    moves onto the row farthest from its own centre, among clusters that keep another row, and that row
    joins it. Returns new ``(centers, labels, n_repaired)``; the inputs are left as they are."""
    n_clusters = centers.shape[0]
    counts = torch.bincount(labels, minlength=n_clusters)
    empty = torch.nonzero(counts == 0).flatten().tolist()
    if not empty:
        return centers, labels, 0
    centers, labels, counts = centers.clone(), labels.clone(), counts.tolist()
    far_first = torch.argsort((z - centers[labels]).pow(2).sum(dim=1), descending=True, stable=True).tolist()
    candidates = iter(far_first)
    repaired = 0
    for k in empty:
        row = next((i for i in candidates if counts[int(labels[i])] > 1), None)
        if row is None:  # fewer rows than clusters: nothing left to give
            break
        counts[int(labels[row])] -= 1
        counts[k] = 1
        labels[row] = k
        centers[k] = z[row].to(centers.dtype)
        repaired += 1
    return centers, labels, repaired
