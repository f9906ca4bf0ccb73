"""DCKM's torch modules and math — Deep Convolutional K-Means clustering by transform learning (Goel,
Majumdar, Chouzenoux & Chierchia, ICIP 2022).

:class:`ConvTransform` (``T1•x → max-pool → SELU → T2• → max-pool``, no bias) and :class:`DCKMModel` (the
transform plus the free representation Z), the transform-learning regulariser ``‖T‖²_F − log det T``
(:func:`transform_penalty`, with :func:`log_det_term` for non-square filter matrices), the K-means term
(:func:`kmeans_penalty`, and :func:`projection_residual`, its literal matrix form) and the relative move
of the centres between two K-means runs (:func:`center_shift`). The fit loop and the modelling choices
are :mod:`deep_kmeans.methods.dckm`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from deep_kmeans.data.registry import Geometry

__all__ = ["ConvTransform", "DCKMModel", "center_shift", "filter_matrix", "kmeans_penalty", "log_det_term",
           "projection_residual", "transform_penalty"]


def filter_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A conv weight (n_filters, C_in, k, k) as the paper's T: filters flattened as COLUMNS, (C_in·k², n_filters)."""
    return weight.flatten(1).T


def log_det_term(t: torch.Tensor) -> torch.Tensor:
    """``log|det T|`` for a square T, else ``½ log det(TᵀT)`` (= Σ log σ_j(T); the two agree when square)."""
    if t.shape[0] == t.shape[1]:
        return torch.linalg.slogdet(t)[1]
    gram = t.T @ t if t.shape[0] > t.shape[1] else t @ t.T
    return 0.5 * torch.linalg.slogdet(gram)[1]


def transform_penalty(t: torch.Tensor) -> torch.Tensor:
    """``‖T‖²_F − log det T`` (transform learning's regulariser; log det as in :func:`log_det_term`)."""
    return t.pow(2).sum() - log_det_term(t)


def kmeans_penalty(z: torch.Tensor, cluster_centers: torch.Tensor) -> torch.Tensor:
    """``mean_i ‖z_i − c_{h(i)}‖²`` — ``‖Z − Z Hᵀ(HHᵀ)⁻¹H‖²_F / N`` when c are Z's cluster means."""
    return (z - cluster_centers).pow(2).sum(dim=1).mean()


def projection_residual(z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """``‖Z − Z Hᵀ(HHᵀ)⁻¹H‖²_F`` computed literally (Z as d × N columns, H as K × N indicators); for tests."""
    zc = z.T  # (d, N)
    h = F.one_hot(labels, n_clusters).to(z.dtype).T  # (K, N)
    h = h[h.sum(dim=1) > 0]  # empty clusters would make HHᵀ singular
    proj = zc @ h.T @ torch.linalg.inv(h @ h.T) @ h
    return (zc - proj).pow(2).sum()


def center_shift(old_centers: np.ndarray, old_labels: np.ndarray, new_centers: np.ndarray, new_labels: np.ndarray,
                 n_clusters: int) -> float:
    """Relative move of the centres between two K-means runs: ``‖C_new − C_old∘π‖_F / ‖C_old‖_F``.

    π matches the old cluster numbers to the new ones (Hungarian algorithm on the label overlap),
    since every K-means run numbers its clusters arbitrarily.
    """
    w = np.zeros((n_clusters, n_clusters), dtype=np.int64)
    np.add.at(w, (np.asarray(new_labels), np.asarray(old_labels)), 1)
    rows, cols = linear_sum_assignment(-w)
    matched = np.asarray(old_centers)[cols[np.argsort(rows)]]
    return float(np.linalg.norm(new_centers - matched) / max(np.linalg.norm(old_centers), 1e-12))


class ConvTransform(nn.Module):
    """``T1•x → max-pool → SELU → T2• → max-pool`` on flat inputs laid out with ``geometry``; no bias."""

    def __init__(self, geometry: Geometry, n_filters: int = 3, kernel_size: int = 9, pool: int = 2):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"dckm.kernel_size must be a positive odd number, got {kernel_size}")
        side = geometry.side // pool // pool
        if side < 1:
            raise ValueError(
                f"dckm: a {geometry.side}×{geometry.side} image is too small for two {pool}×{pool} max-pools; "
                f"lower `pool` in conf/base/parameters_dckm.yml (pool ≤ {max(1, int(geometry.side ** 0.5))})")
        self.geometry = geometry
        self.pool = pool
        self.t1 = nn.Conv2d(geometry.channels, n_filters, kernel_size, padding=kernel_size // 2, bias=False)
        self.t2 = nn.Conv2d(n_filters, n_filters, kernel_size, padding=kernel_size // 2, bias=False)
        self.out_dim = n_filters * side * side
        for conv in (self.t1, self.t2):
            nn.init.xavier_uniform_(conv.weight)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        img = F.pad(x.flatten(1), (0, g.padded_dim - g.dim)).view(-1, g.channels, g.side, g.side)
        h = F.selu(F.max_pool2d(self.t1(img), self.pool))
        return F.max_pool2d(self.t2(h), self.pool).flatten(1)

    forward = encode

    def filter_matrices(self) -> list[torch.Tensor]:
        return [filter_matrix(self.t1.weight), filter_matrix(self.t2.weight)]

    def regularizer(self) -> torch.Tensor:
        """``Σ_i (‖T_i‖²_F − log det T_i)`` over the two layers."""
        return sum(transform_penalty(t) for t in self.filter_matrices())


class DCKMModel(nn.Module):
    """The transform and the free representation Z (one row per sample)."""

    def __init__(self, transform: ConvTransform, z_init: torch.Tensor):
        super().__init__()
        self.transform = transform
        self.z = nn.Embedding(z_init.shape[0], z_init.shape[1], sparse=True)
        with torch.no_grad():
            self.z.weight.copy_(z_init)
