"""DEC's and IDEC's torch math (Xie, Girshick & Farhadi, ICML 2016; Guo et al., IJCAI 2017).

``q_ij ∝ (1 + ‖z_i − μ_j‖²/α)^(−(α+1)/2)`` (Student's t, :func:`soft_assign`), the sharpened target
``p_ij ∝ q_ij² / f_j`` (:func:`target_distribution`), ``KL(P ‖ Q)`` (:func:`kl_divergence`), IDEC's
``L_r + γ L_c`` (:func:`idec_loss`) and :class:`DECModel`, the autoencoder plus the trainable centres.
The fit loops are :func:`deep_kmeans.methods.dec.fit_dec` and :func:`deep_kmeans.methods.idec.fit_idec`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from deep_kmeans.models.clustering import squared_distances

__all__ = ["DECModel", "idec_loss", "kl_divergence", "soft_assign", "target_distribution"]


def soft_assign(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """DEC eq. 1: Student's t kernel between embeddings ``z`` (N, d) and centres (K, d), rows summing to 1."""
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    q = (1.0 + squared_distances(z, centers) / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC eq. 3: ``p_ij = (q_ij² / f_j) / Σ_j' (q_ij'² / f_j')`` with soft frequencies ``f_j = Σ_i q_ij``."""
    w = q.pow(2) / q.sum(dim=0, keepdim=True)
    return w / w.sum(dim=1, keepdim=True)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """DEC eq. 2: ``KL(P ‖ Q) = Σ_j p_ij log(p_ij / q_ij)``, summed over clusters, averaged over the batch."""
    return (torch.special.xlogy(p, p) - p * torch.log(q.clamp(min=eps))).sum(dim=1).mean()


def idec_loss(rec: torch.Tensor, kl: torch.Tensor, gamma: float = 0.1) -> torch.Tensor:
    """IDEC eq. 7: ``L = L_r + γ L_c`` (``L_r`` the reconstruction loss, ``L_c`` DEC's KL)."""
    if gamma < 0:
        raise ValueError(f"gamma must be ≥ 0, got {gamma}")
    return rec + gamma * kl


class DECModel(nn.Module):
    """The autoencoder plus the clustering layer (the centres μ as a trainable (K, d) parameter)."""

    def __init__(self, autoencoder: nn.Module, centers: np.ndarray | torch.Tensor, alpha: float = 1.0):
        super().__init__()
        self.autoencoder = autoencoder
        self.centers = nn.Parameter(torch.as_tensor(np.asarray(centers), dtype=torch.float32).clone())
        self.alpha = float(alpha)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, q, x_rec)``."""
        z, xr = self.autoencoder(x)
        return z, soft_assign(z, self.centers, self.alpha), xr
