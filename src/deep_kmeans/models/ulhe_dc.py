"""ULHE-DC's torch math — deep clustering with a uniform quasi-low-rank hypersphere embedding (ICLR 2024
submission).

The norm loss (eq. 2), the cosine cluster loss and assignment (eqs. 4, 6), the normalised cluster sums
and the centroid update (eqs. 7-8), the uniformity and compactness losses (eqs. 11-12; ``reduction``
``mean`` or the paper's ``sum``) and their weighted total (eq. 13, :func:`ulhe_loss`). The fit loop is
:func:`deep_kmeans.methods.ulhe_dc.fit_ulhe_dc`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deep_kmeans.models.clustering import cluster_sums

__all__ = ["batch_centroids", "compactness_loss", "cosine_assign", "cosine_cluster_loss", "norm_loss",
           "normalized_cluster_sums", "ulhe_loss", "uniformity_loss", "update_centroids"]


def norm_loss(z: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``mean_i (‖z_i‖ − 1)²``."""
    return (z.norm(dim=1) - 1.0).pow(2).mean()


def cosine_cluster_loss(z: torch.Tensor, assigned_centers: torch.Tensor) -> torch.Tensor:
    """Eq. 4: ``mean_i [1 − cos(z_i, M s_i)]``."""
    return (1.0 - F.cosine_similarity(z, assigned_centers, dim=1, eps=1e-8)).mean()


def cosine_assign(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Eq. 6: ``s_i = argmax_k cos(z_i, m_k)`` for centres as rows (K, d)."""
    return (F.normalize(z, dim=1) @ F.normalize(centers, dim=1).T).argmax(dim=1)


def normalized_cluster_sums(z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 7 for every cluster: ``Norm(Σ_{i∈C_k} z_i/‖z_i‖)`` (K, d) and the counts |C_k| (K,)."""
    zn = F.normalize(z, dim=1)
    sums = cluster_sums(zn, labels, n_clusters)
    counts = torch.bincount(labels, minlength=n_clusters)
    return F.normalize(sums, dim=1), counts


@torch.no_grad()
def update_centroids(centers: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``m_k ← Norm(m_k + K|C_k|/N · m̂_k)`` over the whole data set (an empty cluster keeps m_k)."""
    k = centers.shape[0]
    m_hat, counts = normalized_cluster_sums(z, labels, k)
    step = (k * counts.to(z.dtype) / len(z))[:, None]
    return F.normalize(centers + step * m_hat, dim=1)


def batch_centroids(z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """Unit centroids (eq. 7) of the clusters PRESENT in the batch, (K_present, d), differentiable."""
    m, counts = normalized_cluster_sums(z, labels, n_clusters)
    return m[counts > 0]


def uniformity_loss(m: torch.Tensor, reduction: str = "mean", eps: float = 1e-6) -> torch.Tensor:
    """Eq. 11 over unit centroids m (rows): ``1 / (1 − m_iᵀ m_j)`` over the pairs i ≠ j; 0 with fewer than two.

    ``reduction="sum"``: the paper's ``sum(·)`` over the K'(K'−1) off-diagonal entries;
    ``"mean"`` (default): their mean.
    """
    _check_reduction(reduction)
    if m.shape[0] < 2:
        return m.new_zeros(())
    gram = m @ m.T
    off = ~torch.eye(m.shape[0], dtype=torch.bool, device=m.device)
    energy = 1.0 / (1.0 - gram[off]).clamp(min=eps)
    return energy.sum() if reduction == "sum" else energy.mean()


def compactness_loss(z: torch.Tensor, labels: torch.Tensor, n_clusters: int, reduction: str = "mean") -> torch.Tensor:
    """Eq. 12 with ẑ = z/‖z‖: ``(1 − ẑ_iᵀ ẑ_j)`` over the pairs (i, j) of each cluster in the batch.

    ``reduction="sum"``: the paper's ``(1/K) Σ_k Σ_{i,j∈C_k}`` (K the total number of clusters);
    ``"mean"`` (default): the mean over the clusters present of the mean over their |C_k|² pairs.
    """
    _check_reduction(reduction)
    zn = F.normalize(z, dim=1)
    same = (labels[:, None] == labels[None, :]).to(z.dtype)
    dist = (1.0 - zn @ zn.T) * same
    if reduction == "sum":
        return dist.sum() / n_clusters
    counts = torch.bincount(labels, minlength=n_clusters).to(z.dtype)
    per_cluster = cluster_sums(dist.sum(dim=1, keepdim=True), labels, n_clusters).squeeze(1)
    present = counts > 0
    return (per_cluster[present] / counts[present].pow(2)).mean()


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def ulhe_loss(z: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, n_clusters: int,
              lambdas: tuple[float, float, float] = (2.0, 0.08, 0.40),
              reduction: str = "mean") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 13 on a batch → (loss, terms). ``centers`` (K, d) are the global unit centroids M."""
    l0, l1, l2 = lambdas
    terms = {
        "cos": cosine_cluster_loss(z, centers[labels]),
        "norm": norm_loss(z),
        "unif": uniformity_loss(batch_centroids(z, labels, n_clusters), reduction),
        "cmpt": compactness_loss(z, labels, n_clusters, reduction),
    }
    loss = terms["cos"] + l0 * terms["norm"] + l1 * terms["unif"] + l2 * terms["cmpt"]
    return loss, terms
