"""DCN's torch math — Deep Clustering Network, "Towards K-means-friendly spaces" (Yang, Fu,
Sidiropoulos & Hong, ICML 2017).

:func:`dcn_loss` (eq. 8: reconstruction plus ``λ/2 ‖f(x) − M s‖²``), :func:`update_centers` (eq. 10,
the per-sample ``1/c_k`` steps as a running mean) and :class:`DCNModel` (the autoencoder plus the
K-means state). The alternating fit loop is :func:`deep_kmeans.methods.dcn.fit_dcn`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from deep_kmeans.models.clustering import cluster_sums

__all__ = ["DCNModel", "dcn_loss", "update_centers"]


def dcn_loss(x: torch.Tensor, x_rec: torch.Tensor, z: torch.Tensor, assigned_centers: torch.Tensor,
             lam: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DCN eq. 8 per batch: ``mean_i ‖x_i − x̂_i‖² + λ/2 mean_i ‖z_i − M s_i‖²`` → (loss, rec, kmeans)."""
    if lam < 0:
        raise ValueError(f"lambda must be ≥ 0, got {lam}")
    rec = (x_rec - x).pow(2).sum(dim=1).mean()
    km = (z - assigned_centers).pow(2).sum(dim=1).mean()
    return rec + 0.5 * lam * km, rec, km


@torch.no_grad()
def update_centers(centers: torch.Tensor, counts: torch.Tensor, z: torch.Tensor,
                   labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DCN eq. 10 over a batch: the per-sample ``1/c_k`` steps, vectorised as a running mean.

    Returns new ``(centers, counts)``; ``counts`` are float (the running sample counts per cluster).
    """
    k = centers.shape[0]
    n_k = torch.bincount(labels, minlength=k).to(centers.dtype)
    sums = cluster_sums(z.to(centers.dtype), labels, k)
    new_counts = counts + n_k
    new_centers = (centers * counts[:, None] + sums) / new_counts.clamp(min=1e-12)[:, None]
    new_centers = torch.where((n_k > 0)[:, None], new_centers, centers)
    return new_centers, new_counts


class DCNModel(nn.Module):
    """The autoencoder plus the K-means state (centres and counts as buffers, so they are saved)."""

    def __init__(self, autoencoder: nn.Module, centers: np.ndarray, init_count: float):
        super().__init__()
        self.autoencoder = autoencoder
        c = torch.as_tensor(np.asarray(centers), dtype=torch.float32)
        self.register_buffer("centers", c.clone())
        self.register_buffer("counts", torch.full((c.shape[0],), float(init_count)))
