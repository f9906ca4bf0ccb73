"""Hard-assignment tensor math the deep K-means family shares, and K-means itself in torch for the GPU.

Centres are always ROWS, ``(K, d)``; labels are int64 tensors of cluster ids. The K-means
initialisation the CPU runs (scikit-learn) and the label change rate are in :mod:`deep_kmeans.methods.kit`;
K-means on the input, the baseline, is :mod:`deep_kmeans.methods.kmeans`. :func:`kmeans_torch` and
:func:`lloyd` are the same algorithm as scikit-learn's (k-means++ with local trials, Lloyd to its
tolerance, empty clusters moved to far points) on any device, with no host sync but one every
``check_every`` Lloyd iterations.
"""

from __future__ import annotations

import math

import torch

__all__ = ["cluster_means", "cluster_sums", "kmeans_torch", "lloyd", "nearest_center", "repair_empty_clusters",
           "squared_distances"]


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


# --------------------------------------------------------------------------------------------------
# K-means in torch: all restarts at once, (R, K, d) centres for R restarts


def kmeans_torch(z: torch.Tensor, n_clusters: int, seed: int = 0, n_init: int | str = 10, max_iter: int = 300,
                 tol: float = 1e-4, check_every: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """K-means of the rows of ``z`` (N, d) on ``z``'s device: k-means++ starts (scikit-learn's greedy variant,
    2 + ⌊ln K⌋ candidates per centre), ``n_init`` restarts run together, Lloyd iterations until the centres
    move less than ``tol`` × the mean per-feature variance of ``z`` (scikit-learn's rule) or ``max_iter``, an
    empty cluster's centre moved onto the farthest row from its own centre; the restart of least inertia wins.

    Returns ``(centres (K, d) float32, labels (N,) int64, inertia)``, the inertia a 0-d float64 tensor (reading
    it is the caller's sync), all on ``z``'s device. Computed in float64. ``n_init="auto"`` is 1, as
    scikit-learn's for k-means++.

    Deterministic: every random draw (the first centre, the k-means++ candidates) comes from a CPU
    ``torch.Generator`` seeded with ``seed``, in a fixed order, as uniform numbers that pick rows through a
    cumulative sum on the device; everything else is deterministic there (distances by matrix products, argmin
    with the first index on ties, cluster sums as one-hot products rather than atomic adds). The same seed on
    the same device and data gives the same result; a GPU and the CPU pick the same rows up to float rounding.
    """
    if z.ndim != 2:
        raise ValueError(f"features must be a 2-D tensor (samples × dims), got shape {tuple(z.shape)}")
    if not 2 <= n_clusters <= len(z):
        raise ValueError(f"n_clusters must lie in [2, {len(z)}] (the number of rows), got {n_clusters}")
    n_init = 1 if n_init == "auto" else int(n_init)
    if n_init < 1 or max_iter < 1:
        raise ValueError(f"n_init and max_iter must be ≥ 1, got {n_init} and {max_iter}")
    x = z.detach().double()
    gen = torch.Generator().manual_seed(int(seed))
    # restarts in groups whose (R, N, K) distance and one-hot tensors stay under ~512 MiB
    group = max(1, min(n_init, (1 << 29) // max(1, 8 * len(x) * n_clusters)))
    results = []
    for start in range(0, n_init, group):
        centers = _kmeans_plus_plus(x, n_clusters, min(group, n_init - start), gen)
        results.append(_best(*_lloyd(x, centers, max_iter, tol, check_every)))
    centers, labels, inertia = _best(*(torch.stack(parts) for parts in zip(*results)))
    return centers.float(), labels, inertia


def lloyd(z: torch.Tensor, centers: torch.Tensor, max_iter: int = 300, tol: float = 1e-4,
          check_every: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lloyd iterations from ``centers`` (K, d), on ``z``'s device (a warm start: cluster k stays cluster k, as
    scikit-learn's ``KMeans(init=centers, n_init=1)``). Returns ``(centres float32, labels, inertia)`` as
    :func:`kmeans_torch` does."""
    x = z.detach().double()
    centers, labels, inertia = _lloyd(x, centers.detach().to(x)[None], max_iter, tol, check_every)
    return centers[0].float(), labels[0], inertia[0]


def _kmeans_plus_plus(x: torch.Tensor, k: int, restarts: int, gen: torch.Generator) -> torch.Tensor:
    """(R, K, d) k-means++ starts: the first centre a uniform row, each next one the best (least potential) of
    2 + ⌊ln K⌋ rows drawn with probability ∝ the squared distance to the nearest centre so far."""
    n, trials = len(x), 2 + int(math.log(k))
    sq = x.pow(2).sum(1)  # (N,)

    def dist_to(rows: torch.Tensor) -> torch.Tensor:  # (..., ) row indices → (..., N) squared distances
        c = x[rows]
        return (sq + c.pow(2).sum(-1, keepdim=True) - 2.0 * c @ x.T).clamp(min=0.0)

    first = (torch.rand(restarts, generator=gen, dtype=torch.float64) * n).long().clamp(max=n - 1).to(x.device)
    chosen = [first]
    closest = dist_to(first)  # (R, N)
    for _ in range(1, k):
        u = torch.rand(restarts, trials, generator=gen, dtype=torch.float64).to(x.device, non_blocking=True)
        cum = closest.cumsum(1)
        rows = torch.searchsorted(cum, u * cum[:, -1:]).clamp(max=n - 1)  # (R, T)
        candidate = torch.minimum(closest[:, None, :], dist_to(rows))  # (R, T, N)
        pick = candidate.sum(-1).argmin(1)  # (R,)
        chosen.append(rows.gather(1, pick[:, None])[:, 0])
        closest = candidate[torch.arange(restarts, device=x.device), pick]
    return x[torch.stack(chosen, 1)]  # (R, K, d)


def _assign(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, N) labels and squared distances to the nearest of each restart's (R, K, d) centres."""
    d = (x.pow(2).sum(1)[None, :, None] - 2.0 * x @ centers.transpose(1, 2)
         + centers.pow(2).sum(-1)[:, None, :]).clamp(min=0.0)
    nearest, labels = d.min(-1)
    return labels, nearest


def _lloyd(x: torch.Tensor, centers: torch.Tensor, max_iter: int, tol: float, check_every: int):
    restarts, k, _ = centers.shape
    threshold = x.var(0, correction=0).mean() * tol  # scikit-learn's _tolerance
    done = torch.zeros(restarts, dtype=torch.bool, device=x.device)
    for it in range(max_iter):
        labels, nearest = _assign(x, centers)
        # (R, N, K); by comparison, not F.one_hot, whose range check reads the labels back on the CPU
        onehot = (labels[..., None] == torch.arange(k, device=x.device)).to(x.dtype)
        counts = onehot.sum(1)  # (R, K)
        means = (onehot.transpose(1, 2) @ x) / counts.clamp(min=1)[..., None]
        means = _move_empty(x, means, counts == 0, labels, nearest)
        shift = (means - centers).pow(2).sum((1, 2))
        centers = torch.where(done[:, None, None], centers, means)  # a converged restart keeps its centres
        done = done | (shift <= threshold)
        if (it + 1) % check_every == 0 and bool(done.all()):  # the one read, every check_every iterations
            break
    labels, nearest = _assign(x, centers)  # labels of the final centres (scikit-learn's last E-step)
    return centers, labels, nearest.sum(1)  # inertia per restart (R,)


def _move_empty(x, means, empty, labels, nearest):
    """Each restart's empty clusters (at most K) take, in order, its rows farthest from their own centres."""
    k = means.shape[1]
    far = nearest.topk(min(k, nearest.shape[1]), dim=1).indices  # (R, k') farthest rows first
    rank = (empty.long().cumsum(1) - 1).clamp(min=0, max=far.shape[1] - 1)  # j-th empty cluster → j-th far row
    moved = x[far.gather(1, rank)]  # (R, K, d)
    return torch.where(empty[..., None], moved, means)


def _best(centers: torch.Tensor, labels: torch.Tensor, inertia: torch.Tensor):
    """The restart of least inertia (the first on ties) of (R, K, d) centres, (R, N) labels, (R,) inertias,
    picked on the device."""
    i = inertia.argmin()[None]  # a 1-element index tensor: indexing with a 0-d one would read it on the host
    return centers[i][0], labels[i][0], inertia[i][0]
