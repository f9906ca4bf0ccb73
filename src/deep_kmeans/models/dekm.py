"""DEKM's torch math — Deep Embedded K-Means Clustering (Guo, Lin & Ye, ICDMW 2021).

The within-cluster scatter ``S_w`` (:func:`within_cluster_scatter`), its eigenvectors in ascending
eigenvalue order (:func:`sorted_scatter_eigenvectors`, eigenvectors as COLUMNS of V, so ``y = h V`` for
row vectors), the targets ``y'`` whose last coordinate is that of the cluster centre
(:func:`dekm_targets`) and ``L4`` (:func:`dekm_loss`). The fit loop is :func:`deep_kmeans.methods.dekm.fit_dekm`.
"""

from __future__ import annotations

import torch

__all__ = ["dekm_loss", "dekm_targets", "sorted_scatter_eigenvectors", "within_cluster_scatter"]


def within_cluster_scatter(h: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """``S_w = Σ_k Σ_{h∈C_k} (h − μ_k)(h − μ_k)ᵀ`` for rows ``h`` (N, e), labels (N,), centres (K, e)."""
    d = h - centers[labels]
    return d.T @ d


def sorted_scatter_eigenvectors(h: torch.Tensor, labels: torch.Tensor,
                                centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of ``S_w``: ``(eigenvalues ascending (e,), V (e, e) with eigenvectors as columns)``."""
    s = within_cluster_scatter(h.double(), labels, centers.double())
    evals, evecs = torch.linalg.eigh((s + s.T) / 2)  # symmetric: real, ascending
    return evals.to(h.dtype), evecs.to(h.dtype)


def dekm_targets(h: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``y'``: ``y = h V`` with its last coordinate replaced by that of ``μ_k V`` (DEKM's greedy step)."""
    y = h @ v
    y_target = y.clone()
    y_target[:, -1] = (centers @ v)[labels, -1]
    return y_target


def dekm_loss(y: torch.Tensor, y_target: torch.Tensor) -> torch.Tensor:
    """DEKM eq. 6 per batch: ``mean_i ‖y_i − y'_i‖²``."""
    return (y - y_target).pow(2).sum(dim=1).mean()
